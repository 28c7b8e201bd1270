// SPDX-License-Identifier: MIT
// Reliability under crashes, full disks, signals and concurrency:
// * saves and consolidations killed with SIGKILL at random points never leave a partial file
//   under a final name, never touch another checkpoint, leave only recognisable temp files,
//   and the next successful save removes those;
// * a save or consolidation that runs out of space (RLIMIT_FSIZE in a child process: the same
//   failed write a full disk gives) fails with a clear error, leaves the previous checkpoint
//   byte-identical and removes its temp files;
// * reads and writes interrupted by signals (EINTR) complete correctly;
// * many threads reading one open checkpoint, and readers while another process saves.

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
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "../support/files.hpp"
#include "../support/sharding.hpp"

namespace {

using namespace safeshard;
using namespace safeshard::checkpoint;
using namespace safeshard::test;

// Two versions of one model: same names and shapes, different bytes.
std::vector<global_tensor> model(std::uint64_t version) {
    return {make_global("embed", dtype::BF16, {256, 512}, 10 * version + 1), make_global("layers.0.w", dtype::F32, {512, 256}, 10 * version + 2),
            make_global("norm", dtype::F32, {512}, 10 * version + 3)};
}

rank_state whole(const std::vector<global_tensor>& m) {
    rank_state s;
    for (const auto& g : m) s.push_back(save_chunk{g.name, g.type, g.shape, dims(g.shape.size(), 0), g.shape, g.bytes});
    return s;
}

// Every file of `dir` by name, with its bytes.
std::map<std::string, std::vector<std::byte>> snapshot(const std::string& dir) {
    std::map<std::string, std::vector<std::byte>> out;
    for (const auto& n : list_dir(dir)) out[n] = read_file(dir + "/" + n);
    return out;
}

bool only_final_names_or_temp(const std::string& dir, const std::map<std::string, std::vector<std::vector<std::byte>>>& allowed) {
    for (const auto& n : list_dir(dir)) {
        if (io::is_temp_file_name(n)) continue;
        auto it = allowed.find(n);
        if (it == allowed.end()) {
            MESSAGE("unexpected file ", n, " in ", dir);
            return false;
        }
        auto bytes = read_file(dir + "/" + n);
        bool match = false;
        for (const auto& v : it->second) match = match || same_bytes(bytes, v);
        if (!match) {
            MESSAGE(n, " in ", dir, " is neither the old nor the new complete file (", bytes.size(), " bytes)");
            return false;
        }
    }
    return true;
}

std::size_t temp_files(const std::string& dir) {
    std::size_t n = 0;
    for (const auto& f : list_dir(dir)) n += io::is_temp_file_name(f) ? 1 : 0;
    return n;
}

// Runs `body` in a child process; returns its exit status (or 128 + signal).
template <class Body>
int in_child(Body&& body) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(body());
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

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

TEST_CASE("full disk: a save or consolidation that cannot write fails cleanly and changes nothing") {
    temp_dir dir("full");
    const auto v1 = model(1), v2 = model(2);
    REQUIRE(hf_storage_writer<mapped_files>(dir / "ckpt", mapped_files({{"embed", 1}, {"layers.0.w", 2}, {"norm", 2}})).save(whole(v1)).has_value());
    save_placed(dir / "sh", v2, {2}, {{S(0)}, {S(1)}, {R()}});
    REQUIRE(consolidate(dir / "sh", dir / "out").has_value());
    save_placed(dir / "sh", v1, {2}, {{S(0)}, {S(1)}, {R()}});
    const auto ckpt = snapshot(dir / "ckpt"), out = snapshot(dir / "out");
    // The file size limit makes write() fail with EFBIG past 64 KiB, as ENOSPC would.
    auto limited = [](auto&& work, rlim_t bytes = 64 << 10) {
        return [&work, bytes] {
            ::signal(SIGXFSZ, SIG_IGN);
            rlimit lim{bytes, bytes};
            if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return 10;
            auto st = work();
            if (st) return 1;  // it should not have fitted
            const std::string msg = st.error().to_string();
            return st.code() == errc::io_error && msg.find("write") != std::string::npos ? 0 : 2;
        };
    };
    CHECK(in_child(limited([&] {
              return hf_storage_writer<mapped_files>(dir / "ckpt", mapped_files({{"embed", 1}, {"layers.0.w", 2}, {"norm", 2}}))
                  .save(whole(v2));
          })) == 0);
    CHECK(snapshot(dir / "ckpt") == ckpt);
    CHECK(in_child(limited([&] { return consolidate(dir / "sh", dir / "out"); })) == 0);
    CHECK(snapshot(dir / "out") == out);
    CHECK(in_child(limited([&] {
              return dcp_storage_writer<>(dir / "ckpt").save(whole(v2));
          })) == 0);
    CHECK(snapshot(dir / "ckpt") == ckpt);
    // The first file fits (the embedding, 256 KiB), the second does not: the first must not
    // replace its old version either, or the checkpoint would mix two saves.
    CHECK(in_child(limited(
              [&] {
                  return hf_storage_writer<mapped_files>(dir / "ckpt", mapped_files({{"embed", 1}, {"layers.0.w", 2}, {"norm", 2}}))
                      .save(whole(v2));
              },
              300 << 10)) == 0);
    CHECK(snapshot(dir / "ckpt") == ckpt);
}

TEST_CASE("hostile checkpoints: refused by the reader and by consolidate, naming the file and the tensor") {
    struct hostile {
        const char* what;
        errc want;
        const char* file;    // expected in the message
        const char* tensor;  // expected in the message ("" when the problem is not a tensor's)
        void (*make)(const std::string& dir);
    };
    // One DCP shard file: tensor "t" F32 of `shape`, with the given sharding info text.
    static auto shard = [](const std::string& path, dims shape, const std::string& info, dtype type = dtype::F32,
                           const char* name = "t") {
        std::vector<std::byte> bytes(numel(shape) * (bits(type) / 8));
        metadata_entry meta[] = {{"DCP_SHARDING_INFO", info}, {"DCP_VERSION", "1.0"}, {"format", "pt"}};
        REQUIRE(save_file(path, std::vector{tensor_entry{name, type, shape, bytes}}, meta).ok());
    };
    static auto mk = [](const std::string& dir) { REQUIRE(::mkdir(dir.c_str(), 0755) == 0); };
    static auto text_file = [](const std::string& path, const std::string& t) {
        write_file(path, std::as_bytes(std::span(t.data(), t.size())));
    };
    const hostile cases[] = {
        {"sharding info that is not JSON", errc::bad_checkpoint_metadata, "shard-00001", "",
         [](const std::string& d) { mk(d); shard(d + "/shard-00001-model-00001-of-00001.safetensors", {2, 2}, "{\"t\": [0, 0"); }},
        {"wrong-rank offsets", errc::bad_checkpoint_metadata, "shard-00001", "t",
         [](const std::string& d) { mk(d); shard(d + "/shard-00001-model-00001-of-00001.safetensors", {2, 2}, R"({"t": {"saved_offsets": [0]}})"); }},
        {"sharding info naming a tensor the file lacks", errc::bad_checkpoint_metadata, "shard-00001", "u",
         [](const std::string& d) { mk(d); shard(d + "/shard-00001-model-00001-of-00001.safetensors", {2, 2}, R"({"u": {"saved_offsets": [0, 0]}})"); }},
        {"a tensor the sharding info lacks", errc::bad_checkpoint_metadata, "shard-00001", "t",
         [](const std::string& d) { mk(d); shard(d + "/shard-00001-model-00001-of-00001.safetensors", {2, 2}, "{}"); }},
        {"dtype disagreement across shards", errc::chunk_mismatch, "shard-00002", "t",
         [](const std::string& d) {
             mk(d);
             shard(d + "/shard-00001-model-00001-of-00001.safetensors", {2, 2}, R"({"t": {"saved_offsets": [0, 0]}})");
             shard(d + "/shard-00002-model-00001-of-00001.safetensors", {2, 2}, R"({"t": {"saved_offsets": [2, 0]}})", dtype::I32);
         }},
        {"a chunk at an absurd offset", errc::chunk_hole, "", "t",
         [](const std::string& d) {
             mk(d);
             shard(d + "/shard-00001-model-00001-of-00001.safetensors", {2, 2}, R"({"t": {"saved_offsets": [1099511627776, 0]}})");
         }},
        {"offsets that overflow", errc::size_overflow, "shard-00001", "t",
         [](const std::string& d) {
             mk(d);
             shard(d + "/shard-00001-model-00001-of-00001.safetensors", {2, 2}, R"({"t": {"saved_offsets": [18446744073709551615, 0]}})");
         }},
        {"stale shards of an earlier save", errc::chunk_overlap, "shard-00003", "t",
         [](const std::string& d) {
             auto g = make_global("t", dtype::F32, {8, 2}, 1);
             save_placed(d, {g}, {4}, {{S(0)}});
             save_placed(d, {g}, {2}, {{S(0)}});
         }},
        {"the same tensor in two files", errc::chunk_overlap, "b.safetensors", "t",
         [](const std::string& d) {
             mk(d);
             shard(d + "/a.safetensors", {2, 2}, R"({"t": {"saved_offsets": [0, 0]}})");
             shard(d + "/b.safetensors", {2, 2}, R"({"t": {"saved_offsets": [0, 0]}})");
         }},
        {"an index naming a missing file", errc::file_not_found, "gone.safetensors", "",
         [](const std::string& d) {
             mk(d);
             shard(d + "/a.safetensors", {2, 2}, R"({"t": {"saved_offsets": [0, 0]}})");
             text_file(d + "/model.safetensors.index.json", R"({"weight_map": {"t": "a.safetensors", "u": "gone.safetensors"}})");
         }},
        {"an index naming ../", errc::path_outside_checkpoint, "model.safetensors.index.json", "",
         [](const std::string& d) {
             mk(d);
             text_file(d + "/model.safetensors.index.json", R"({"weight_map": {"t": "../a.safetensors"}})");
         }},
        {"an index naming an absolute path", errc::path_outside_checkpoint, "model.safetensors.index.json", "",
         [](const std::string& d) {
             mk(d);
             text_file(d + "/model.safetensors.index.json", R"({"weight_map": {"t": "/tmp/a.safetensors"}})");
         }},
        {"a symlink out of the directory", errc::path_outside_checkpoint, "a.safetensors", "",
         [](const std::string& d) {
             mk(d);
             shard(d + "-outside.safetensors", {2, 2}, R"({"t": {"saved_offsets": [0, 0]}})");
             REQUIRE(::symlink((d + "-outside.safetensors").c_str(), (d + "/a.safetensors").c_str()) == 0);
             text_file(d + "/model.safetensors.index.json", R"({"weight_map": {"t": "a.safetensors"}})");
         }},
    };
    temp_dir dir("hostile");
    int k = 0;
    for (const auto& c : cases) {
        INFO(std::string(c.what));
        const std::string d = dir / ("case" + std::to_string(k++));
        c.make(d);
        auto r = storage_reader::open(d);
        REQUIRE(!r.has_value());
        const std::string msg = r.error().to_string();
        INFO(msg);
        CHECK(r.code() == c.want);
        CHECK(msg.find(c.file) != std::string::npos);
        if (*c.tensor) CHECK(msg.find(std::string("'") + c.tensor + "'") != std::string::npos);
        auto out = consolidate(d, d + "-out");
        REQUIRE(!out.has_value());
        CHECK(out.code() == c.want);
        CHECK(out.error().to_string() == msg);  // the same check, the same words
        CHECK(!exists(d + "-out"));
    }
}

TEST_CASE("full disk: a real one (a small tmpfs), where the test may mount it") {
    temp_dir dir("tmpfs");
    const std::string mnt = dir / "disk";
    REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1200k") != 0) {
        MESSAGE("SKIPPED: cannot mount a tmpfs here (", std::strerror(errno), "); the RLIMIT_FSIZE case covers full disks");
        return;
    }
    struct unmount {
        std::string at;
        ~unmount() { ::umount2(at.c_str(), MNT_DETACH); }
    } guard{mnt};
    const auto v1 = model(1), v2 = model(2);
    // One model fits; a second beside it (the new files before the old ones are replaced) does not.
    REQUIRE(hf_storage_writer<>(mnt + "/ckpt").save(whole(v1)).has_value());
    const auto before = snapshot(mnt + "/ckpt");
    auto r = hf_storage_writer<>(mnt + "/ckpt").save(whole(v2));
    REQUIRE(!r.has_value());
    CHECK(r.code() == errc::io_error);
    CHECK(r.error().to_string().find("No space left") != std::string::npos);
    CHECK(snapshot(mnt + "/ckpt") == before);
    save_placed(dir / "sh", v2, {2}, {{S(0)}, {S(1)}, {R()}});
    auto c = consolidate(dir / "sh", mnt + "/ckpt");
    REQUIRE(!c.has_value());
    CHECK(c.error().to_string().find("No space left") != std::string::npos);
    CHECK(snapshot(mnt + "/ckpt") == before);
    // With the space back, the same save succeeds.
    std::filesystem::remove_all(mnt + "/ckpt");
    CHECK(hf_storage_writer<>(mnt + "/ckpt").save(whole(v2)).has_value());
}

TEST_CASE("signals: reads and writes interrupted by a timer still complete exactly") {
    temp_dir dir("eintr");
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sa.sa_flags = 0;  // no SA_RESTART: interrupted calls return EINTR
    struct sigaction old {};
    REQUIRE(::sigaction(SIGALRM, &sa, &old) == 0);
    itimerval every{{0, 200}, {0, 200}};
    REQUIRE(::setitimer(ITIMER_REAL, &every, nullptr) == 0);
    const auto v1 = model(1);
    for (int round = 0; round < 3; ++round) {
        save_placed(dir / "sh", v1, {4}, {{S(1)}, {S(0)}, {R()}});
        auto r = consolidate(dir / "sh", dir / "out", single_file{}, {.threads = 2});
        CHECK(r.has_value());
        auto reader = storage_reader::open(dir / "sh", {.thread_count = 2});
        REQUIRE(reader.has_value());
        for (const auto& g : v1) {
            std::vector<std::byte> got(g.bytes.size());
            CHECK(reader->read_raw(g.name, {}, {}, got).ok());
            CHECK(same_bytes(got, g.bytes));
        }
    }
    itimerval stop{};
    ::setitimer(ITIMER_REAL, &stop, nullptr);
    ::sigaction(SIGALRM, &old, nullptr);
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
