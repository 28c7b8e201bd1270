// SPDX-License-Identifier: MIT
// Reliability, part 2 of 2: calls that fail or are interrupted.
// * A save or consolidation that runs out of space (RLIMIT_FSIZE in a child process: the same
//   failed write a full disk gives) fails with a clear error, leaves the previous checkpoint
//   byte-identical and removes its temp files. (A real full disk, a small tmpfs, is
//   reliability_tmpfs.cpp: it needs a mount, so it may be skipped.)
// * Hostile checkpoints are refused by the reader and by consolidate with the same message,
//   naming the file and the tensor.
// * Reads and writes interrupted by signals (EINTR) complete correctly.

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/consolidate.hpp>
#include <safeshard/file/writer.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../support/files.hpp"
#include "../support/reliability.hpp"
#include "../support/sharding.hpp"

using namespace safeshard;
using namespace safeshard::checkpoint;
using namespace safeshard::test;

TEST_SUITE("reliability") {

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
        auto r = consolidate(dir / "sh", dir / "out", single_file{}, {.thread_count = 2});
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

}  // TEST_SUITE
