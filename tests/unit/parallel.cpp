// SPDX-License-Identifier: MIT
// The two parallel loops of detail/parallel.hpp against their contracts: run_tasks reports the
// lowest failing index whatever the timing; run_pipeline writes in order, never refills a slot
// before it is written, and stops at the first error. Buffers here are plain ints, so the
// ThreadSanitizer leg checks the ordering the contract promises.

#include <safeshard/detail/parallel.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <vector>

using namespace safeshard;

TEST_SUITE("parallel") {

TEST_CASE("run_tasks: every task once; of several failures, the lowest index's") {
    for (unsigned threads : {1u, 2u, 4u, 16u}) {
        INFO("threads ", threads);
        std::vector<std::atomic<int>> runs(100);
        auto ok = detail::run_tasks(runs.size(), threads, [&](std::size_t i) {
            runs[i].fetch_add(1);
            return error_info{};
        });
        CHECK(ok.code() == errc::ok);
        for (auto& r : runs) CHECK(r.load() == 1);
        auto e = detail::run_tasks(100, threads, [&](std::size_t i) {
            if (i == 9) return error_info(errc::io_error).at_offset(9);
            if (i == 5) return error_info(errc::io_error).at_offset(5);
            return error_info{};
        });
        CHECK(e.code() == errc::io_error);
        CHECK(e.offset() == 5);
        CHECK(detail::run_tasks(0, threads, [](std::size_t) { return error_info(errc::io_error); }).code() == errc::ok);
    }
}

TEST_CASE("run_pipeline: writes in order, each slot written before it is filled again") {
    for (unsigned threads : {1u, 2u, 3u, 8u})
        for (std::size_t slots : {1u, 2u, 3u, 8u})
            for (std::size_t n : {0u, 1u, 2u, 57u}) {
                INFO("threads ", threads, ", slots ", slots, ", n ", n);
                const bool serial = threads <= 1 || n <= 1;
                std::vector<std::size_t> slot_item(slots, ~std::size_t{0});  // the item each slot holds
                std::vector<std::size_t> written;
                std::atomic<int> bad_slots{0};
                auto fill = [&](std::size_t i, std::size_t slot) {
                    if (slot != (serial ? 0 : i % slots)) bad_slots.fetch_add(1);
                    slot_item[slot] = i;
                    return error_info{};
                };
                auto write = [&](std::size_t i, std::size_t slot) {
                    CHECK(slot_item[slot] == i);  // filled, and not yet refilled by a later item
                    written.push_back(i);
                    return error_info{};
                };
                CHECK(detail::run_pipeline(n, threads, slots, fill, write).code() == errc::ok);
                CHECK(bad_slots.load() == 0);
                REQUIRE(written.size() == n);
                for (std::size_t i = 0; i < n; ++i) CHECK(written[i] == i);
            }
}

TEST_CASE("run_pipeline: the first error stops it and is returned; nothing after it is written") {
    for (unsigned threads : {1u, 2u, 4u}) {
        INFO("threads ", threads);
        std::vector<std::size_t> written;
        auto fill_fails = detail::run_pipeline(
            40, threads, 3, [](std::size_t i, std::size_t) { return i == 7 ? error_info(errc::unexpected_eof).at_offset(7) : error_info{}; },
            [&](std::size_t i, std::size_t) {
                written.push_back(i);
                return error_info{};
            });
        CHECK(fill_fails.code() == errc::unexpected_eof);
        CHECK(fill_fails.offset() == 7);
        CHECK(written.size() <= 7);
        for (std::size_t i = 0; i < written.size(); ++i) CHECK(written[i] == i);
        std::atomic<std::size_t> fills{0};
        written.clear();
        auto write_fails = detail::run_pipeline(
            40, threads, 2,
            [&](std::size_t, std::size_t) {
                fills.fetch_add(1);
                return error_info{};
            },
            [&](std::size_t i, std::size_t) {
                written.push_back(i);
                return i == 3 ? error_info(errc::io_error) : error_info{};
            });
        CHECK(write_fails.code() == errc::io_error);
        CHECK(written == std::vector<std::size_t>{0, 1, 2, 3});
        CHECK(fills.load() <= 5);  // items 0 to 4 at most: fills run up to `slots` items ahead of the writes
    }
}

}  // TEST_SUITE
