// SPDX-License-Identifier: MIT
// Checkpoints that must be refused, with an error naming the file and tensor: holes (a tail
// hole too), overlaps, stale shards of an earlier save, one tensor in two files, bad sharding
// info, index entries naming missing files or files outside the directory, plans the writer
// must not write, and a worker's I/O error, whatever the thread count.

#include <safeshard/checkpoint/layout.hpp>
#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/format/checkpoint_json_emit.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include "../support/files.hpp"
#include "../support/sharding.hpp"

namespace {

using namespace safeshard;
using namespace safeshard::checkpoint;
using namespace safeshard::test;

// Writes one shard file by hand: tensor `name` of `shape` at `offsets`, float bytes.
void write_shard(const std::string& path, const std::string& name, dims shape, dims offsets, dtype t = dtype::F32,
                 std::string info = {}) {
    std::vector<std::byte> bytes(numel(shape) * (bits(t) / 8), std::byte{0});
    if (info.empty()) {
        dims none;
        sharding_info_entry e[] = {{name, offsets, none}};
        info = sharding_info_json(e);
    }
    metadata_entry meta[] = {{"DCP_SHARDING_INFO", info}, {"DCP_VERSION", "1.0"}, {"format", "pt"}};
    REQUIRE(save_file(path, std::vector{tensor_entry{name, t, shape, bytes}}, meta).ok());
}

errc open_code(const std::string& path, std::string* message = nullptr) {
    auto cp = checkpoint_metadata::open(path);
    if (message && !cp) *message = cp.error().to_string();
    return cp.code();
}

}  // namespace

TEST_SUITE("checkpoint_refusals") {

TEST_CASE("a hole is an error, never a smaller tensor") {
    temp_dir dir("ckhole");
    write_shard(dir / "shard-00001-model-00001-of-00001.safetensors", "t", {2, 4}, {0, 0});
    write_shard(dir / "shard-00002-model-00001-of-00001.safetensors", "t", {2, 2}, {2, 0});
    std::string msg;
    CHECK(open_code(dir.path, &msg) == errc::chunk_hole);
    CHECK(msg.find("12 of the 16") != std::string::npos);
    CHECK(msg.find("tensor 't'") != std::string::npos);
}

TEST_CASE("a tail hole: seen with global_shape recorded; without it, a load of the right size is refused") {
    temp_dir dir("cktail");
    auto g = arange(16);
    dims gs = {4, 4}, off = {0, 0}, sz = {3, 4};
    rank_state rank0 = {{"t", dtype::F32, gs, off, sz, std::as_bytes(std::span(g)).first(48)}};
    // The writer refuses to make such a checkpoint at all.
    CHECK(dcp_storage_writer<>(dir.path).save(rank0).code() == errc::chunk_hole);
    // Written by another tool, with safeshard's global_shape: a hole.
    dims none;
    sharding_info_entry e[] = {{"t", off, gs}};
    write_shard(dir / "shard-00001-model-00001-of-00001.safetensors", "t", sz, off, dtype::F32, sharding_info_json(e, true));
    CHECK(open_code(dir.path) == errc::chunk_hole);
    // Without it (PyTorch's files), the tensor looks 3x4; a 4x4 destination is refused.
    write_shard(dir / "shard-00001-model-00001-of-00001.safetensors", "t", sz, off);
    auto reader = storage_reader::open(dir.path);
    REQUIRE(reader.has_value());
    std::vector<float> dst(16);
    CHECK(reader->read("t", make_view(dst.data(), 4, 4)).code() == errc::shape_mismatch);
}

TEST_CASE("overlaps, stale shards of an earlier save and the same tensor in two files are refused") {
    {
        temp_dir dir("ckover");
        write_shard(dir / "shard-00001-model-00001-of-00001.safetensors", "t", {3, 4}, {0, 0});
        write_shard(dir / "shard-00002-model-00001-of-00001.safetensors", "t", {2, 4}, {2, 0});
        std::string msg;
        CHECK(open_code(dir.path, &msg) == errc::chunk_overlap);
        CHECK(msg.find("shard-00001") != std::string::npos);
        CHECK(msg.find("shard-00002") != std::string::npos);
    }
    {
        temp_dir dir("ckstale");
        auto g = make_global("t", dtype::F32, {8, 2}, 5);
        save_placed(dir.path, {g}, {4}, {{S(0)}});
        save_placed(dir.path, {g}, {2}, {{S(0)}});  // shards 3 and 4 of the first save remain
        std::string msg;
        CHECK(open_code(dir.path, &msg) == errc::chunk_overlap);
        CHECK(msg.find("shard-00003") != std::string::npos);
    }
    {
        temp_dir dir("cktwice");
        auto v = arange(4);
        REQUIRE(save_file(dir / "a.safetensors", std::vector{entry_of("w", make_view(v.data(), 4))}).ok());
        REQUIRE(save_file(dir / "b.safetensors", std::vector{entry_of("w", make_view(v.data(), 4))}).ok());
        CHECK(open_code(dir.path) == errc::chunk_overlap);
    }
}

TEST_CASE("bad sharding info: not JSON, missing tensor, wrong rank, naming an absent tensor, dtype disagreement") {
    auto one = [](const std::string& info, errc want) {
        temp_dir dir("ckinfo");
        write_shard(dir / "shard-00001-model-00001-of-00001.safetensors", "t", {2, 2}, {0, 0}, dtype::F32, info);
        std::string msg;
        CHECK(open_code(dir.path, &msg) == want);
        CHECK(msg.find("shard-00001-model-00001-of-00001.safetensors") != std::string::npos);
    };
    one("{not json", errc::bad_checkpoint_metadata);
    one(R"({"other": {"saved_offsets": [0, 0]}})", errc::bad_checkpoint_metadata);
    one(R"({"t": {"saved_offsets": [0]}})", errc::bad_checkpoint_metadata);
    one(R"({"t": {"saved_offsets": [0, 0]}, "ghost": {"saved_offsets": [0, 0]}})", errc::bad_checkpoint_metadata);
    one(R"({"t": {"saved_offsets": [18446744073709551615, 0]}})", errc::size_overflow);
    temp_dir dir("ckdtype");
    write_shard(dir / "shard-00001-model-00001-of-00001.safetensors", "t", {2, 4}, {0, 0}, dtype::F32);
    write_shard(dir / "shard-00002-model-00001-of-00001.safetensors", "t", {2, 4}, {2, 0}, dtype::BF16);
    std::string msg;
    CHECK(open_code(dir.path, &msg) == errc::chunk_mismatch);
    CHECK(msg.find("BF16") != std::string::npos);
}

TEST_CASE("index entries: missing files, paths outside the directory, and disagreement with the files") {
    auto with_index = [](const std::string& json, errc want, const char* word) {
        temp_dir dir("ckidx");
        auto v = arange(4);
        REQUIRE(save_file(dir / "model-00001-of-00001.safetensors", std::vector{entry_of("w", make_view(v.data(), 4))}).ok());
        write_file(dir / "model.safetensors.index.json", std::as_bytes(std::span(json.data(), json.size())));
        std::string msg;
        CHECK(open_code(dir.path, &msg) == want);
        INFO(msg);
        CHECK(msg.find(word) != std::string::npos);
    };
    with_index(R"({"weight_map": {"w": "model-00001-of-00001.safetensors"}})", errc::ok, "");
    with_index(R"({"weight_map": {"w": "model-00001-of-00001.safetensors", "x": "gone.safetensors"}})", errc::file_not_found, "gone");
    with_index(R"({"weight_map": {"w": "../outside.safetensors"}})", errc::path_outside_checkpoint, "outside");
    with_index(R"({"weight_map": {"w": "/etc/passwd"}})", errc::path_outside_checkpoint, "passwd");
    with_index(R"({"weight_map": {"w": "model-00001-of-00001.safetensors", "x": "model-00001-of-00001.safetensors"}})",
               errc::bad_checkpoint_metadata, "'x'");
    with_index(R"({"weight_map": {}})", errc::ok, "");  // no files: an empty checkpoint
    with_index(R"({"weight_map": {"w": "model-00001-of-00001.safetensors"}, "metadata": {"total_size": 16}})", errc::ok, "");
    with_index("{\"weight_map\": ", errc::bad_checkpoint_metadata, "index");
    // A symlink leading out of the directory.
    temp_dir outside("ckout");
    temp_dir dir("cklink");
    auto v = arange(4);
    REQUIRE(save_file(outside / "real.safetensors", std::vector{entry_of("w", make_view(v.data(), 4))}).ok());
    REQUIRE(::symlink((outside / "real.safetensors").c_str(), (dir / "model-00001-of-00001.safetensors").c_str()) == 0);
    std::string msg;
    CHECK(open_code(dir.path, &msg) == errc::path_outside_checkpoint);
    CHECK(open_code(dir / "nothing") == errc::file_not_found);
}

TEST_CASE("a file the index does not list a tensor of is refused; a file outside the index is ignored") {
    temp_dir dir("ckextra");
    auto v = arange(4);
    REQUIRE(save_file(dir / "a.safetensors", std::vector{entry_of("w", make_view(v.data(), 4)), entry_of("x", make_view(v.data(), 4))}).ok());
    std::string json = R"({"weight_map": {"w": "a.safetensors"}})";
    write_file(dir / "model.safetensors.index.json", std::as_bytes(std::span(json.data(), json.size())));
    CHECK(open_code(dir.path) == errc::bad_checkpoint_metadata);
    json = R"({"weight_map": {"w": "a.safetensors", "x": "a.safetensors"}})";
    write_file(dir / "model.safetensors.index.json", std::as_bytes(std::span(json.data(), json.size())));
    REQUIRE(save_file(dir / "stray.safetensors", std::vector{entry_of("w", make_view(v.data(), 4))}).ok());
    CHECK(open_code(dir.path) == errc::ok);
}

// ---- writer refusals -----------------------------------------------------------------------------

TEST_CASE("the writer refuses plans that would make a broken checkpoint, before writing anything") {
    temp_dir dir("ckplan");
    auto g = arange(16);
    auto bytes = std::as_bytes(std::span(g));
    dims gs = {4, 4}, o0 = {0, 0}, o1 = {1, 0}, o2 = {2, 0}, s2 = {2, 4}, s3 = {3, 4};
    auto chunk = [&](dims off, dims sz, dtype t = dtype::F32) {
        return save_chunk{"t", t, gs, off, sz, bytes.first(numel(sz) * 4)};
    };
    std::vector<rank_state> overlap = {{chunk(o0, s3)}, {chunk(o1, s3)}};
    CHECK(dcp_storage_writer<>(dir.path).save(overlap).code() == errc::chunk_overlap);
    std::vector<rank_state> mismatch = {{chunk(o0, s2)}, {save_chunk{"t", dtype::I32, gs, o2, s2, bytes.first(32)}}};
    CHECK(dcp_storage_writer<>(dir.path).save(mismatch).code() == errc::chunk_mismatch);
    std::vector<rank_state> partial = {{chunk(o0, s2)}, {chunk(o2, s2)}};
    CHECK(hf_storage_writer<>(dir.path).save(partial).code() == errc::invalid_argument);
    rank_state twice = {chunk(o0, s2), chunk(o2, s2)};
    CHECK(dcp_storage_writer<>(dir.path).save(twice).code() == errc::invalid_argument);
    rank_state short_data = {save_chunk{"t", dtype::F32, gs, o0, gs, bytes.first(60)}};
    CHECK(dcp_storage_writer<>(dir.path).save(short_data).code() == errc::size_mismatch);
    // Full tensors on two ranks mapped to one file: DCP would let one overwrite the other.
    dims s4 = {4};
    std::vector<rank_state> two_writers = {{save_chunk{"a", dtype::F32, s4, {0}, s4, bytes.first(16)}},
                                           {save_chunk{"b", dtype::F32, s4, {0}, s4, bytes.first(16)}}};
    CHECK(hf_storage_writer<>(dir.path).save(two_writers).code() == errc::invalid_argument);
    CHECK(hf_storage_writer<mapped_files>(dir.path, mapped_files({{"a", 1}})).save(two_writers).code() == errc::invalid_argument);
    CHECK(list_dir(dir.path).empty());
    // Mapped to different files, two ranks may save full tensors.
    REQUIRE(hf_storage_writer<mapped_files>(dir.path, mapped_files({{"a", 1}, {"b", 2}})).save(two_writers).has_value());
    CHECK(list_dir(dir.path).size() == 3);
}

TEST_CASE("(h) a worker's I/O error surfaces with its file, whatever the thread count") {
    temp_dir dir("ckio");
    auto g = make_global("t", dtype::F32, {64, 64}, 8);
    save_placed(dir.path, {g}, {4}, {{S(0)}});
    for (unsigned threads : {1u, 2u, 4u}) {
        auto reader = storage_reader::open(dir.path, {.thread_count = threads});
        REQUIRE(reader.has_value());
        // Cut a shard short after the checkpoint was opened: its reads now fail.
        REQUIRE(::truncate((dir / "shard-00003-model-00001-of-00001.safetensors").c_str(), 200) == 0);
        std::vector<float> dst(64 * 64);
        auto st = reader->read("t", make_view(dst.data(), 64, 64));
        CHECK(!st.ok());
        CHECK(st.error().to_string().find("shard-00003") != std::string::npos);
        save_placed(dir.path, {g}, {4}, {{S(0)}});
    }
}

TEST_CASE("headers read on several threads: the same checkpoint, and the same error (the first file's in name order)") {
    temp_dir dir("ckthreads");
    auto g = make_global("t", dtype::F32, {64, 64}, 8);
    save_placed(dir.path, {g}, {8}, {{S(0)}});
    auto one = checkpoint_metadata::open(dir.path);
    REQUIRE(one.has_value());
    for (unsigned threads : {2u, 3u, 8u}) {
        checkpoint_options opt;
        opt.thread_count = threads;
        auto many = checkpoint_metadata::open(dir.path, opt);
        REQUIRE(many.has_value());
        REQUIRE(many->files().size() == one->files().size());
        for (std::size_t i = 0; i < one->files().size(); ++i) CHECK(many->files()[i].name == one->files()[i].name);
        const auto* a = one->find("t");
        const auto* b = many->find("t");
        REQUIRE((a && b));
        REQUIRE(a->chunks.size() == b->chunks.size());
        for (std::size_t c = 0; c < a->chunks.size(); ++c) {
            CHECK(a->chunks[c].file == b->chunks[c].file);
            CHECK(std::vector<std::uint64_t>(a->boxes[c].offsets.begin(), a->boxes[c].offsets.end()) ==
                  std::vector<std::uint64_t>(b->boxes[c].offsets.begin(), b->boxes[c].offsets.end()));
        }
    }
    // Two broken files: whatever the threads, the error names the first of them.
    const std::string junk = "not a safetensors file";
    write_file(dir / "shard-00003-model-00001-of-00001.safetensors", std::as_bytes(std::span(junk)));
    write_file(dir / "shard-00006-model-00001-of-00001.safetensors", std::as_bytes(std::span(junk)));
    for (unsigned threads : {1u, 2u, 8u}) {
        auto r = storage_reader::open(dir.path, {.thread_count = threads});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().to_string().find("shard-00003") != std::string::npos);
    }
}

}  // TEST_SUITE
