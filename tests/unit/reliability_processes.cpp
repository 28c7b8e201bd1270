// SPDX-License-Identifier: MIT
// Reliability, part 1 of 2: other processes and threads acting at the same time.
// * Saves and consolidations killed with SIGKILL at random points, and while the index's temp
//   file exists, never leave a partial file under a final name, never touch another
//   checkpoint, leave only recognisable temp files, and the next successful save removes those.
// * Many threads read one open checkpoint; readers while another process saves see one whole
//   version, never a torn file.

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/consolidate.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/io/atomic_file.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/files.hpp"
#include "../support/reliability.hpp"
#include "../support/sharding.hpp"

using namespace safeshard;
using namespace safeshard::checkpoint;
using namespace safeshard::test;

TEST_SUITE("reliability") {

TEST_CASE("crash safety: saves and consolidations killed at random points") {
    temp_dir dir("crash");
    const auto v1 = model(1), v2 = model(2);
    // The other checkpoint, which no crash may touch.
    REQUIRE(hf_storage_writer<mapped_files>(dir / "prev", mapped_files({{"embed", 1}, {"layers.0.w", 2}, {"norm", 2}})).save(whole(v1)).has_value());
    const auto prev = snapshot(dir / "prev");
    // Both versions' sharded inputs, and what a full save and a consolidation of each give.
    save_placed(dir / "sh1", v1, {2}, {{S(0)}, {S(1)}, {R()}});
    save_placed(dir / "sh2", v2, {2}, {{S(0)}, {S(1)}, {R()}});
    std::map<std::string, std::vector<std::vector<std::byte>>> live_ok, out_ok;
    for (int v : {1, 2}) {
        temp_dir once("crash-once");
        REQUIRE(hf_storage_writer<>(once / "live").save(whole(v == 1 ? v1 : v2)).has_value());
        REQUIRE(consolidate(dir / ("sh" + std::to_string(v)), once / "out").has_value());
        for (auto& [n, b] : snapshot(once / "live")) live_ok[n].push_back(b);
        for (auto& [n, b] : snapshot(once / "out")) out_ok[n].push_back(b);
    }
    REQUIRE(hf_storage_writer<>(dir / "live").save(whole(v1)).has_value());
    REQUIRE(consolidate(dir / "sh1", dir / "out").has_value());

    // How long one round takes, to spread the kills over it.
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(hf_storage_writer<>(dir / "live").save(whole(v2)).has_value());
    REQUIRE(consolidate(dir / "sh2", dir / "out").has_value());
    const auto round_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();

    std::mt19937_64 rng(99);
    std::size_t leftovers = 0;
    for (int kill = 0; kill < 30; ++kill) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            for (std::uint64_t i = 0;; ++i) {
                const bool odd = i % 2;
                if (!hf_storage_writer<>(dir / "live").save(whole(odd ? v2 : v1))) ::_exit(3);
                if (!consolidate(dir / (odd ? "sh2" : "sh1"), dir / "out")) ::_exit(4);
            }
        }
        ::usleep(static_cast<useconds_t>(std::uniform_int_distribution<long>(0, 2 * round_us + 1000)(rng)));
        ::kill(pid, SIGKILL);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
        CHECK(snapshot(dir / "prev") == prev);
        CHECK(only_final_names_or_temp(dir / "live", live_ok));
        CHECK(only_final_names_or_temp(dir / "out", out_ok));
        leftovers += temp_files(dir / "live") + temp_files(dir / "out");
        // Whatever was killed, the checkpoint there opens and reads.
        auto r = storage_reader::open(dir / "live");
        INFO(why(r));
        CHECK(r.has_value());
    }
    MESSAGE(leftovers, " temp files were left by the 30 kills");
    // The next successful save and consolidation clean up after the killed ones.
    REQUIRE(hf_storage_writer<>(dir / "live").save(whole(v1)).has_value());
    REQUIRE(consolidate(dir / "sh1", dir / "out").has_value());
    CHECK(temp_files(dir / "live") == 0);
    CHECK(temp_files(dir / "out") == 0);
    CHECK(only_final_names_or_temp(dir / "live", live_ok));
}

TEST_CASE("crash safety: killed in the middle of the index write") {
    temp_dir dir("crash-index");
    const auto v1 = model(1), v2 = model(2);
    std::map<std::string, std::vector<std::vector<std::byte>>> ok;
    for (int v : {1, 2}) {
        temp_dir once("crash-index-once");
        REQUIRE(hf_storage_writer<>(once.path).save(whole(v == 1 ? v1 : v2)).has_value());
        for (auto& [n, b] : snapshot(once.path)) ok[n].push_back(b);
    }
    REQUIRE(hf_storage_writer<>(dir.path).save(whole(v1)).has_value());
    // The child saves in a loop; the parent watches the directory and kills it as soon as the
    // index's temp file exists: between its creation and its rename.
    int caught = 0;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (caught < 5 && std::chrono::steady_clock::now() < give_up) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            for (std::uint64_t i = 0;; ++i)
                if (!hf_storage_writer<>(dir.path).save(whole(i % 2 ? v1 : v2))) ::_exit(3);
        }
        bool seen = false;
        const auto round_end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (!seen && std::chrono::steady_clock::now() < round_end) {
            DIR* d = ::opendir(dir.path.c_str());
            REQUIRE(d != nullptr);
            while (dirent* e = ::readdir(d)) {
                std::string_view n = e->d_name;
                if (io::is_temp_file_name(n) && n.starts_with(".model.safetensors.index.json")) seen = true;
            }
            ::closedir(d);
        }
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        if (!seen) continue;
        ++caught;
        CHECK(only_final_names_or_temp(dir.path, ok));
        auto r = storage_reader::open(dir.path);
        INFO(why(r));
        CHECK(r.has_value());
    }
    MESSAGE("killed ", caught, " times while the index was being written");
    CHECK(caught > 0);
    REQUIRE(hf_storage_writer<>(dir.path).save(whole(v2)).has_value());
    CHECK(temp_files(dir.path) == 0);
}

TEST_CASE("concurrency: many threads read one open checkpoint at once") {
    temp_dir dir("threads");
    const auto v1 = model(1);
    save_placed(dir.path, v1, {4}, {{S(0)}, {S(1)}, {R()}});
    auto reader = storage_reader::open(dir.path, {.thread_count = 2});
    REQUIRE(reader.has_value());
    std::atomic<int> bad{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 8; ++t)
        pool.emplace_back([&, t] {
            std::mt19937_64 rng(static_cast<std::uint64_t>(t));
            for (int k = 0; k < 40; ++k) {
                const auto& g = v1[static_cast<std::size_t>(k) % v1.size()];
                dims off(g.shape.size()), len(g.shape.size());
                for (std::size_t d = 0; d < g.shape.size(); ++d) {
                    off[d] = std::uniform_int_distribution<std::uint64_t>(0, g.shape[d])(rng);
                    len[d] = std::uniform_int_distribution<std::uint64_t>(0, g.shape[d] - off[d])(rng);
                }
                std::vector<std::byte> got(numel(len) * g.elem());
                if (!reader->read_raw(g.name, off, len, got) || !same_bytes(got, slice_bytes(g.bytes, g.shape, off, len, g.elem())))
                    ++bad;
                if (g.type == dtype::F32 && g.shape.size() == 2) {
                    std::vector<float> rows(len[0] * g.shape[1]);
                    dims o2 = {off[0], 0};
                    if (!reader->read_region(g.name, o2, make_view(rows.data(), len[0], g.shape[1])) ||
                        !same_bytes(std::as_bytes(std::span(rows)), slice_bytes(g.bytes, g.shape, o2, {len[0], g.shape[1]}, 4)))
                        ++bad;
                }
            }
        });
    for (auto& t : pool) t.join();
    CHECK(bad.load() == 0);
}

TEST_CASE("concurrency: readers while another process saves see one whole version, never a torn file") {
    temp_dir dir("live");
    const auto v1 = model(1), v2 = model(2);
    REQUIRE(hf_storage_writer<>(dir.path).save(whole(v1)).has_value());
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        for (std::uint64_t i = 0;; ++i)
            if (!hf_storage_writer<>(dir.path).save(whole(i % 2 ? v1 : v2))) ::_exit(3);
    }
    std::atomic<int> bad{0}, reads{0};
    std::vector<std::thread> pool;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    for (int t = 0; t < 3; ++t)
        pool.emplace_back([&] {
            while (std::chrono::steady_clock::now() < until) {
                auto r = storage_reader::open(dir.path);
                if (!r) {
                    ++bad;
                    continue;
                }
                bool is1 = true, is2 = true;
                for (std::size_t k = 0; k < v1.size(); ++k) {
                    std::vector<std::byte> got(v1[k].bytes.size());
                    if (!r->read_raw(v1[k].name, {}, {}, got)) {
                        ++bad;
                        break;
                    }
                    is1 = is1 && same_bytes(got, v1[k].bytes);
                    is2 = is2 && same_bytes(got, v2[k].bytes);
                }
                if (!is1 && !is2) ++bad;
                ++reads;
            }
        });
    for (auto& t : pool) t.join();
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    MESSAGE(reads.load(), " whole-checkpoint reads during saves");
    CHECK(reads.load() > 0);
    CHECK(bad.load() == 0);
}

}  // TEST_SUITE
