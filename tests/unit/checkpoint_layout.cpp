// SPDX-License-Identifier: MIT
// File layouts (which file each tensor goes to: one file, a mapping, Hugging Face's size
// split), the read planner's overlaps of requested and saved chunks, the order and tasks its
// reads run in, and the tiling check that names overlaps, holes and chunks outside a tensor.

#include <safeshard/checkpoint/chunks.hpp>
#include <safeshard/checkpoint/layout.hpp>
#include <safeshard/checkpoint/read_schedule.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace safeshard;
using namespace safeshard::checkpoint;

using dims = std::vector<std::uint64_t>;

}  // namespace

TEST_SUITE("checkpoint_layout") {

// ---- layouts -----------------------------------------------------------------------------------

TEST_CASE("size_capped splits as huggingface_hub does") {
    auto split = [](std::vector<std::uint64_t> sizes, std::uint64_t cap) {
        std::vector<planned_tensor> t;
        for (auto s : sizes) t.push_back(planned_tensor{"x", dtype::U8, {}, s});
        auto a = size_capped{cap}.assign(t);
        REQUIRE(a.has_value());
        return std::pair(a->index, a->largest);
    };
    // The docstring's example: [6, 6, 2, 6, 2, 2] GB with 10 GB files gives [6], [6+2], [6+2+2].
    CHECK(split({6, 6, 2, 6, 2, 2}, 10) == std::pair(std::vector<std::uint32_t>{1, 2, 2, 3, 3, 3}, 3u));
    // A tensor over the cap gets its own file at once, before the open one closes.
    CHECK(split({6, 10, 30, 2, 2}, 10) == std::pair(std::vector<std::uint32_t>{1, 3, 2, 4, 4}, 4u));
    CHECK(split({}, 10).second == 1u);
    CHECK(size_capped{0}.assign({}).code() == errc::invalid_argument);
}

TEST_CASE("mapped_files: unmapped names are listed, not a bare KeyError; largest counts unused indices") {
    planned_tensor t[] = {{"a", dtype::F32, {}, 4}, {"b", dtype::F32, {}, 4}, {"c", dtype::F32, {}, 4}};
    auto ok = mapped_files({{"a", 1}, {"b", 2}, {"c", 2}, {"unused", 7}}).assign(t);
    REQUIRE(ok.has_value());
    CHECK(ok->index == std::vector<std::uint32_t>{1, 2, 2});
    CHECK(ok->largest == 7u);
    auto missing = mapped_files({{"a", 1}}).assign(t);
    CHECK(missing.code() == errc::invalid_argument);
    CHECK(missing.error().to_string().find("b, c") != std::string::npos);
    auto fallback = mapped_files({{"a", 1}}, 3).assign(t);
    REQUIRE(fallback.has_value());
    CHECK(fallback->index == std::vector<std::uint32_t>{1, 3, 3});
    CHECK(mapped_files({{"a", 0}}).assign(t).code() == errc::invalid_argument);
}

// ---- the planner -------------------------------------------------------------------------------

TEST_CASE("planner: the worked example of §5 (row-saved, column-loaded)") {
    dims a_off = {0, 0}, b_off = {2, 0}, sz = {2, 4};
    chunk_box saved[] = {{a_off, sz}, {b_off, sz}};
    dims r0 = {0, 0}, r1 = {0, 2}, len = {4, 2};
    read_plan plan;
    plan.add(0, chunk_box{r0, len}, saved);
    plan.add(1, chunk_box{r1, len}, saved);
    auto items = plan.items();
    REQUIRE(items.size() == 4);
    auto v = [](std::span<const std::uint64_t> s) { return dims(s.begin(), s.end()); };
    CHECK((items[0].request == 0 && items[0].chunk == 0));
    CHECK(v(plan.storage_offsets(items[0], 2)) == dims{0, 0});
    CHECK(v(plan.dest_offsets(items[0], 2)) == dims{0, 0});
    CHECK(v(plan.lengths(items[0], 2)) == dims{2, 2});
    CHECK(v(plan.storage_offsets(items[1], 2)) == dims{0, 0});
    CHECK(v(plan.dest_offsets(items[1], 2)) == dims{2, 0});
    CHECK(v(plan.storage_offsets(items[2], 2)) == dims{0, 2});
    CHECK(v(plan.dest_offsets(items[2], 2)) == dims{0, 0});
    CHECK(v(plan.storage_offsets(items[3], 2)) == dims{0, 2});
    CHECK(v(plan.dest_offsets(items[3], 2)) == dims{2, 0});
    CHECK(v(plan.lengths(items[3], 2)) == dims{2, 2});
}

TEST_CASE("tiling: overlap, hole, outside and rank mismatch are each named") {
    auto where = [](std::uint32_t i) { return "file" + std::to_string(i); };
    dims g = {4, 4}, o00 = {0, 0}, o20 = {2, 0}, o10 = {1, 0}, s24 = {2, 4}, s34 = {3, 4}, s14 = {1, 4}, o30 = {3, 0};
    chunk_box good[] = {{o00, s24}, {o20, s24}};
    CHECK(check_tiling("t", g, good, where).code() == errc::ok);
    chunk_box overlap[] = {{o00, s24}, {o10, s34}};
    auto e = check_tiling("t", g, overlap, where);
    CHECK(e.code() == errc::chunk_overlap);
    CHECK(e.to_string().find("file0") != std::string::npos);
    CHECK(e.to_string().find("file1") != std::string::npos);
    chunk_box hole[] = {{o00, s24}, {o30, s14}};
    CHECK(check_tiling("t", g, hole, where).code() == errc::chunk_hole);
    chunk_box outside[] = {{o00, s24}, {o30, s24}};
    CHECK(check_tiling("t", g, outside, where).code() == errc::out_of_bounds);
    dims one = {4};
    chunk_box rank1[] = {{one, one}};
    CHECK(check_tiling("t", g, rank1, where).code() == errc::chunk_mismatch);
    // Empty chunks overlap nothing; a scalar is one element.
    dims s04 = {0, 4};
    chunk_box with_empty[] = {{o00, s24}, {o20, s24}, {o20, s04}, {o00, s04}};
    CHECK(check_tiling("t", g, with_empty, where).code() == errc::ok);
    chunk_box scalar[] = {{{}, {}}};
    CHECK(check_tiling("s", {}, scalar, where).code() == errc::ok);
    chunk_box two_scalars[] = {{{}, {}}, {{}, {}}};
    CHECK(check_tiling("s", {}, two_scalars, where).code() == errc::chunk_overlap);
    CHECK(check_tiling("s", {}, {}, where).code() == errc::chunk_hole);
}

// ---- the read schedule -------------------------------------------------------------------------

TEST_CASE("read schedule: one thread reads file by file, front to back, every read whole") {
    // item: file, position, bytes, cuttable
    const std::vector<read_extent> ex = {{2, 100, 50, 5}, {0, 900, 10, 1}, {2, 0, 40, 4}, {0, 100, 3000, 30}, {1, 5, 8, 2}};
    const read_schedule s = schedule_reads(ex, 1);
    REQUIRE(s.pieces.size() == 5);
    std::vector<std::uint32_t> order;
    for (const read_piece& p : s.pieces) {
        order.push_back(p.item);
        CHECK(p.begin == 0);
        CHECK(p.count == ex[p.item].cuttable);
    }
    CHECK(order == std::vector<std::uint32_t>{3, 1, 4, 2, 0});
    CHECK(s.task_starts == std::vector<std::size_t>{0, 2, 3, 5});  // a task per file
    CHECK(s.task_count() == 3);
    CHECK(schedule_reads({}, 1).task_count() == 0);
    CHECK(schedule_reads({}, 4).task_count() == 0);
}

TEST_CASE("read schedule: on several threads, tasks are cut by bytes and large reads are cut") {
    // One 64 KiB read in file 1 and small ones in file 0: 2 threads x 8 tasks of 4 KiB.
    std::vector<read_extent> ex = {{1, 0, 65536, 16}, {0, 0, 100, 1}, {0, 200, 100, 1}};
    const read_schedule s = schedule_reads(ex, 2, 1);
    std::uint64_t covered = 0;
    std::uint64_t next = 0;
    for (const read_piece& p : s.pieces) {
        if (p.item != 0) continue;
        CHECK(p.begin == next);
        next = p.begin + p.count;
        covered += p.count;
        CHECK(p.count == 1);  // 4 KiB per index: one index per 4 KiB share
    }
    CHECK(covered == 16);
    CHECK(s.pieces.front().item == 1);  // file 0 first
    CHECK(s.pieces[1].item == 2);
    CHECK(s.task_count() == 17);  // the two small reads share a task, then one per 4 KiB
    // The floor: with min_task at 1 MiB, the same batch is one task, nothing cut.
    const read_schedule one = schedule_reads(ex, 2);
    CHECK(one.task_count() == 1);
    CHECK(one.pieces.size() == 3);
}

TEST_CASE("property: a schedule reads every index of every read exactly once, in file order") {
    std::mt19937_64 rng(13);
    auto pick = [&](std::uint64_t lo, std::uint64_t hi) { return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng); };
    for (int round = 0; round < 200; ++round) {
        std::vector<read_extent> ex(pick(0, 40));
        for (auto& e : ex) {
            e.file = static_cast<std::uint32_t>(pick(0, 4));
            e.position = pick(0, 1000);
            e.cuttable = pick(0, 3) == 0 ? 1 : pick(1, 50);
            e.bytes = e.cuttable * pick(0, 64);
        }
        const unsigned threads = static_cast<unsigned>(pick(1, 5));
        const std::uint64_t min_task = pick(1, 512);
        const read_schedule s = schedule_reads(ex, threads, min_task);
        std::map<std::uint32_t, std::uint64_t> next;  // per item: the next index expected
        for (std::size_t k = 0; k < s.pieces.size(); ++k) {
            const read_piece& p = s.pieces[k];
            REQUIRE(p.item < ex.size());
            CHECK(p.begin == next[p.item]);
            CHECK(p.count >= 1);
            next[p.item] = p.begin + p.count;
            if (k) {
                const read_extent &a = ex[s.pieces[k - 1].item], &b = ex[p.item];
                CHECK((a.file < b.file || (a.file == b.file && a.position <= b.position)));
            }
        }
        CHECK(next.size() == ex.size());
        for (const auto& [item, n] : next) CHECK(n == ex[item].cuttable);
        if (ex.empty()) {
            CHECK(s.task_count() == 0);
            continue;
        }
        REQUIRE(s.task_starts.size() >= 2);
        CHECK(s.task_starts.front() == 0);
        CHECK(s.task_starts.back() == s.pieces.size());
        for (std::size_t t = 0; t + 1 < s.task_starts.size(); ++t) CHECK(s.task_starts[t] < s.task_starts[t + 1]);
    }
}

}  // TEST_SUITE
