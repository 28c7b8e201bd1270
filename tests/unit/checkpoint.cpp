// SPDX-License-Identifier: MIT
// The checkpoint layer: DCP's Hugging Face storage scenarios (spec/dcp-hf.md §7, 1–5, 15–18,
// 21–25, with in-process ranks in place of torch.distributed), the JSON DCP writes byte for
// byte, file layouts, checkpoints that must be refused (holes, overlaps, stale shards, bad
// sharding info, escaping or missing index entries), and property tests: random global shapes
// of rank 0 to 4 chunked unevenly over random rank grids (empty chunks included), saved by N
// ranks and read back as random regions and on M ranks, always byte-exact.

#include <safeshard/checkpoint/chunks.hpp>
#include <safeshard/format/checkpoint_json_emit.hpp>
#include <safeshard/checkpoint/layout.hpp>
#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/naming.hpp>
#include <safeshard/checkpoint/sharding.hpp>
#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/core/element_types.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/format/checkpoint_json_parse.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "../support/files.hpp"
#include "../support/sharding.hpp"

namespace {

using namespace safeshard;
using namespace safeshard::checkpoint;
using namespace safeshard::test;
// MyTestModule's state dict (spec/dcp-hf.md §7).
struct test_module {
    std::vector<std::pair<std::string, dims>> shapes = {
        {"linear_1.weight", {5, 5}}, {"linear_1.bias", {5}}, {"linear_2.weight", {1, 5}}, {"linear_2.bias", {1}}, {"emb.weight", {5, 10}}};
    std::vector<std::vector<float>> values;
    test_module() {
        for (std::size_t i = 0; i < shapes.size(); ++i) values.push_back(arange(numel(shapes[i].second), 100.f * static_cast<float>(i)));
    }
    rank_state state() const {
        rank_state s;
        for (std::size_t i = 0; i < shapes.size(); ++i) {
            const auto& [name, shape] = shapes[i];
            s.push_back(save_chunk{name, dtype::F32, shape, dims(shape.size(), 0), shape, std::as_bytes(std::span(values[i]))});
        }
        return s;
    }
};

}  // namespace

TEST_SUITE("checkpoint") {

// ---- JSON text and names ---------------------------------------------------------------------

TEST_CASE("file names pad every number to five digits and never cut longer ones") {
    CHECK(file_name(1, 2) == "model-00001-of-00002.safetensors");
    CHECK(file_name(1, 1, 2) == "shard-00002-model-00001-of-00001.safetensors");
    CHECK(file_name(123456, 1234567) == "model-123456-of-1234567.safetensors");
    CHECK(file_name(7, 99999, 100000) == "shard-100000-model-00007-of-99999.safetensors");
}

TEST_CASE("the index is Python's json.dump(indent=2) text (scenario 4)") {
    std::pair<std::string_view, std::string_view> map[] = {{"tensor_0", "model-00001-of-00001"}, {"tensor_1", "model-00001-of-00001"}};
    CHECK(index_json(200, map) ==
          "{\n  \"metadata\": {\n    \"total_size\": 200\n  },\n  \"weight_map\": {\n    \"tensor_0\": \"model-00001-of-00001\",\n"
          "    \"tensor_1\": \"model-00001-of-00001\"\n  }\n}");
    CHECK(index_json(0, {}) == "{\n  \"metadata\": {\n    \"total_size\": 0\n  },\n  \"weight_map\": {}\n}");
    // ensure_ascii: non-ASCII as \uXXXX (astral planes as surrogate pairs), DEL and controls too.
    std::pair<std::string_view, std::string_view> odd[] = {{"caf\xc3\xa9 \xf0\x9f\x98\x80\x7f\x01\"\\\n", "f"}};
    CHECK(index_json(1, odd) == "{\n  \"metadata\": {\n    \"total_size\": 1\n  },\n  \"weight_map\": {\n    "
                                "\"caf\\u00e9 \\ud83d\\ude00\\u007f\\u0001\\\"\\\\\\n\": \"f\"\n  }\n}");
}

TEST_CASE("DCP_SHARDING_INFO is Python's json.dumps text, in plan order") {
    dims a = {2, 0}, b = {0, 2}, none = {};
    sharding_info_entry e[] = {{"dtensor", a, {}}, {"dtensor_col", b, {}}, {"scalar", none, {}}};
    CHECK(sharding_info_json(e) ==
          R"({"dtensor": {"saved_offsets": [2, 0]}, "dtensor_col": {"saved_offsets": [0, 2]}, "scalar": {"saved_offsets": []}})");
    dims g = {4, 4};
    sharding_info_entry with[] = {{"t", a, g}};
    CHECK(sharding_info_json(with, true) == R"({"t": {"saved_offsets": [2, 0], "global_shape": [4, 4]}})");
    CHECK(sharding_info_json({}) == "{}");
}

TEST_CASE("sharding info and index parsing: what they hold, and malformed input refused") {
    auto info = parse_sharding_info(R"({"b": {"saved_offsets": [2, 0], "extra": 1}, "a": {"saved_offsets": [], "global_shape": [3]}})");
    REQUIRE(info.has_value());
    REQUIRE(info->entries().size() == 2);
    REQUIRE(info->find("b") != nullptr);
    CHECK(dims(info->find("b")->saved_offsets.begin(), info->find("b")->saved_offsets.end()) == dims{2, 0});
    CHECK(info->find("a")->has_global_shape);
    CHECK(info->find("c") == nullptr);
    for (const char* bad : {"not json", "[1]", R"({"a": 1})", R"({"a": {}})", R"({"a": {"saved_offsets": [-1]}})",
                            R"({"a": {"saved_offsets": [1.5]}})", R"({"a": {"saved_offsets": [0]}, "a": {"saved_offsets": [0]}})",
                            R"({"a": {"saved_offsets": [0], "saved_offsets": [1]}})"}) {
        INFO(bad);
        CHECK(parse_sharding_info(bad).code() == errc::bad_checkpoint_metadata);
    }
    auto idx = parse_index(R"({"metadata": {"total_size": 12}, "weight_map": {"x": "b.safetensors", "y": "a.safetensors", "z": "b.safetensors"}})");
    REQUIRE(idx.has_value());
    CHECK(idx->total_size() == 12u);
    REQUIRE(idx->files().size() == 2);
    CHECK(idx->files()[0] == "b.safetensors");
    CHECK(idx->weight_map()[1].tensor == "y");
    for (const char* bad : {"{}", R"({"weight_map": []})", R"({"weight_map": {"x": 1}})", R"({"weight_map": {"x": "a", "x": "b"}})",
                            R"({"weight_map": {}, "weight_map": {}})", R"({"metadata": {"total_size": -3}, "weight_map": {}})"}) {
        INFO(bad);
        CHECK(parse_index(bad).code() == errc::bad_checkpoint_metadata);
    }
}

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
    CHECK(check_tiling("t", g, good, where).code == errc::ok);
    chunk_box overlap[] = {{o00, s24}, {o10, s34}};
    auto e = check_tiling("t", g, overlap, where);
    CHECK(e.code == errc::chunk_overlap);
    CHECK(e.to_string().find("file0") != std::string::npos);
    CHECK(e.to_string().find("file1") != std::string::npos);
    chunk_box hole[] = {{o00, s24}, {o30, s14}};
    CHECK(check_tiling("t", g, hole, where).code == errc::chunk_hole);
    chunk_box outside[] = {{o00, s24}, {o30, s24}};
    CHECK(check_tiling("t", g, outside, where).code == errc::out_of_bounds);
    dims one = {4};
    chunk_box rank1[] = {{one, one}};
    CHECK(check_tiling("t", g, rank1, where).code == errc::chunk_mismatch);
    // Empty chunks overlap nothing; a scalar is one element.
    dims s04 = {0, 4};
    chunk_box with_empty[] = {{o00, s24}, {o20, s24}, {o20, s04}, {o00, s04}};
    CHECK(check_tiling("t", g, with_empty, where).code == errc::ok);
    chunk_box scalar[] = {{{}, {}}};
    CHECK(check_tiling("s", {}, scalar, where).code == errc::ok);
    chunk_box two_scalars[] = {{{}, {}}, {{}, {}}};
    CHECK(check_tiling("s", {}, two_scalars, where).code == errc::chunk_overlap);
    CHECK(check_tiling("s", {}, {}, where).code == errc::chunk_hole);
}

// ---- §7 scenarios ----------------------------------------------------------------------------

TEST_CASE("scenario 1: write with a mapping puts each tensor in its file") {
    temp_dir dir("ck1");
    auto t0 = arange(4), t1 = arange(10);
    dims s0 = {4}, s1 = {10}, z = {0};
    rank_state st = {{"tensor_0", dtype::F32, s0, z, s0, std::as_bytes(std::span(t0))},
                     {"tensor_1", dtype::F32, s1, z, s1, std::as_bytes(std::span(t1))}};
    hf_storage_writer<mapped_files> w(dir.path, mapped_files({{"tensor_0", 1}, {"tensor_1", 2}}));
    auto res = w.save(st);
    REQUIRE(res.has_value());
    REQUIRE(res->size() == 1);
    const auto& r = (*res)[0];
    REQUIRE(r.size() == 2);
    CHECK(r[0].fqn == "tensor_0");
    CHECK(r[0].offsets == dims{0});
    CHECK(r[0].length == 16);
    CHECK(r[0].file == "model-00001-of-00002.safetensors");
    CHECK(r[1].length == 40);
    CHECK(r[1].file == "model-00002-of-00002.safetensors");
    CHECK(list_dir(dir.path) == std::vector<std::string>{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                                         "model.safetensors.index.json"});
    CHECK(text(read_file(dir / "model.safetensors.index.json")) ==
          "{\n  \"metadata\": {\n    \"total_size\": 56\n  },\n  \"weight_map\": {\n    \"tensor_0\": "
          "\"model-00001-of-00002.safetensors\",\n    \"tensor_1\": \"model-00002-of-00002.safetensors\"\n  }\n}");
}

TEST_CASE("scenario 2: save_distributed names files by shard and writes no index") {
    temp_dir dir("ck2");
    auto t0 = arange(4), t1 = arange(10);
    dims s0 = {4}, s1 = {10}, z = {0};
    rank_state st = {{"tensor_0", dtype::F32, s0, z, s0, std::as_bytes(std::span(t0))},
                     {"tensor_1", dtype::F32, s1, z, s1, std::as_bytes(std::span(t1))}};
    auto res = dcp_storage_writer<>(dir.path).save(st);
    REQUIRE(res.has_value());
    for (const auto& w : (*res)[0]) CHECK(w.file == "shard-00001-model-00001-of-00001.safetensors");
    CHECK((*res)[0][0].length == 16);
    CHECK((*res)[0][1].length == 40);
    CHECK(list_dir(dir.path) == std::vector<std::string>{"shard-00001-model-00001-of-00001.safetensors"});
    // (a) the metadata DCP writes, and a header padded to 8 bytes.
    auto f = pread_file_reader::open(dir / "shard-00001-model-00001-of-00001.safetensors");
    REQUIRE(f.has_value());
    CHECK(f->header().metadata_value("DCP_VERSION") == "1.0");
    CHECK(f->header().metadata_value("format") == "pt");
    CHECK(f->header().metadata_value("DCP_SHARDING_INFO") == R"({"tensor_0": {"saved_offsets": [0]}, "tensor_1": {"saved_offsets": [0]}})");
    CHECK(f->header().header_size() % 8 == 0);
}

TEST_CASE("scenario 3: a region read of a file's tensor") {
    temp_dir dir("ck3");
    std::vector<float> v = {1, 2, 3, 4};
    REQUIRE(save_file(dir / "model-00001-of-00001.safetensors", std::vector{entry_of("tensor_0", make_view(v.data(), 1, 4))}).ok());
    auto reader = storage_reader::open(dir.path);
    REQUIRE(reader.has_value());
    std::vector<float> target(4, 0.f);
    dims off = {0, 0};
    REQUIRE(reader->read_region("tensor_0", off, make_view(target.data(), 1, 4)).ok());
    CHECK(target == v);
}

TEST_CASE("scenario 5 and (g): metadata of a plain file is one whole chunk at offset 0") {
    temp_dir dir("ck5");
    auto v = arange(50);
    REQUIRE(save_file(dir / "test.safetensors", std::vector{entry_of("tensor_0", make_view(v.data(), 5, 10))}).ok());
    auto cp = checkpoint_metadata::open(dir.path);
    REQUIRE(cp.has_value());
    REQUIRE(cp->tensors().size() == 1);
    const auto& t = cp->tensors()[0];
    CHECK(t.name == "tensor_0");
    CHECK(t.dtype == dtype::F32);
    CHECK(t.shape == dims{5, 10});
    REQUIRE(t.chunks.size() == 1);
    CHECK(dims(t.boxes[0].offsets.begin(), t.boxes[0].offsets.end()) == dims{0, 0});
    CHECK(dims(t.boxes[0].sizes.begin(), t.boxes[0].sizes.end()) == dims{5, 10});
    CHECK(cp->files()[t.chunks[0].file].name == "test.safetensors");
    CHECK(cp->total_size() == 200);
}

TEST_CASE("scenario 15: a full-tensor save gives one file equal to the state dict, and the index") {
    temp_dir dir("ck15");
    test_module m;
    REQUIRE(hf_storage_writer<>(dir.path).save(m.state()).has_value());
    CHECK(list_dir(dir.path) == std::vector<std::string>{"model-00001-of-00001.safetensors", "model.safetensors.index.json"});
    auto f = pread_file_reader::open(dir / "model-00001-of-00001.safetensors");
    REQUIRE(f.has_value());
    for (std::size_t i = 0; i < m.shapes.size(); ++i) {
        std::vector<float> got(m.values[i].size());
        auto t = f->info(m.shapes[i].first);
        REQUIRE(t.has_value());
        REQUIRE(f->read_bytes(**t, std::as_writable_bytes(std::span(got))).ok());
        CHECK(got == m.values[i]);
    }
    auto idx = parse_index(text(read_file(dir / "model.safetensors.index.json")));
    REQUIRE(idx.has_value());
    CHECK(idx->total_size() == 344u);
    CHECK(idx->weight_map().size() == 5);
    // (b) data order: dtype descending, then name.
    CHECK(f->find("emb.weight")->begin == 0);
    CHECK(f->find("linear_1.bias")->begin == 200);
}

TEST_CASE("scenarios 16, 17: a non-DCP file loads into a state dict, or into an empty one") {
    temp_dir dir("ck16");
    test_module m;
    std::vector<tensor_entry> entries;
    for (std::size_t i = 0; i < m.shapes.size(); ++i)
        entries.push_back(tensor_entry{m.shapes[i].first, dtype::F32, m.shapes[i].second, std::as_bytes(std::span(m.values[i]))});
    REQUIRE(save_file(dir / "model-00001-of-00001.safetensors", entries).ok());
    auto reader = storage_reader::open(dir.path);
    REQUIRE(reader.has_value());
    // 16: into a state dict of known shapes.
    for (std::size_t i = 0; i < m.shapes.size(); ++i) {
        const auto& shape = m.shapes[i].second;
        std::vector<float> got(numel(shape));
        status st = shape.size() == 1 ? reader->read(m.shapes[i].first, make_view(got.data(), shape[0]))
                                      : reader->read(m.shapes[i].first, make_view(got.data(), shape[0], shape[1]));
        REQUIRE(st.ok());
        CHECK(got == m.values[i]);
    }
    // 17: from the keys alone, allocating by the metadata's shape and dtype.
    CHECK(reader->tensors().size() == m.shapes.size());
    for (const auto& t : reader->tensors()) {
        std::vector<std::byte> got(t.byte_size());
        REQUIRE(reader->read_raw(t.name, {}, {}, got).ok());
        auto it = std::find_if(m.shapes.begin(), m.shapes.end(), [&](const auto& s) { return s.first == t.name; });
        REQUIRE(it != m.shapes.end());
        CHECK(t.shape == it->second);
        CHECK(same_bytes(got, std::as_bytes(std::span(m.values[static_cast<std::size_t>(it - m.shapes.begin())]))));
    }
    // A destination of another size is refused (DCP: "Size mismatch between saved … and current").
    std::vector<float> wrong(30);
    CHECK(reader->read("emb.weight", make_view(wrong.data(), 5, 6)).code() == errc::shape_mismatch);
    std::vector<double> other(50);
    CHECK(reader->read("emb.weight", make_view(other.data(), 5, 10)).code() == errc::dtype_mismatch);
    auto conv = converting_storage_reader::open(dir.path);
    REQUIRE(conv.has_value());
    REQUIRE(conv->read("emb.weight", make_view(other.data(), 5, 10)).ok());
    CHECK(other[49] == 449.0);
}

TEST_CASE("scenario 18: two files by mapping (i % 2 + 1), loaded with two threads") {
    temp_dir dir("ck18");
    test_module m;
    std::vector<std::pair<std::string, std::uint32_t>> mapping;
    for (std::size_t i = 0; i < m.shapes.size(); ++i) mapping.emplace_back(m.shapes[i].first, static_cast<std::uint32_t>(i % 2 + 1));
    REQUIRE(hf_storage_writer<mapped_files>(dir.path, mapped_files(mapping)).save(m.state()).has_value());
    auto f1 = pread_file_reader::open(dir / "model-00001-of-00002.safetensors");
    REQUIRE(f1.has_value());
    REQUIRE(f1->tensors().size() == 3);
    CHECK((f1->find("emb.weight")->begin == 0 && f1->find("emb.weight")->end == 200));
    CHECK((f1->find("linear_1.weight")->begin == 200 && f1->find("linear_1.weight")->end == 300));
    CHECK((f1->find("linear_2.weight")->begin == 300 && f1->find("linear_2.weight")->end == 320));
    auto f2 = pread_file_reader::open(dir / "model-00002-of-00002.safetensors");
    REQUIRE(f2.has_value());
    CHECK(f2->tensors().size() == 2);
    auto reader = storage_reader::open(dir.path, {.thread_count = 2});
    REQUIRE(reader.has_value());
    CHECK(reader->metadata().has_index());
    for (std::size_t i = 0; i < m.shapes.size(); ++i) {
        std::vector<float> got(m.values[i].size());
        REQUIRE(reader->read_raw(m.shapes[i].first, {}, {}, std::as_writable_bytes(std::span(got))).ok());
        CHECK(got == m.values[i]);
    }
}

TEST_CASE("the consolidation fixture: 4x4 row- and column-sharded over 2 ranks, read whole") {
    temp_dir dir("ckfix");
    auto g = arange(16);
    global_tensor rows{"dtensor", dtype::F32, {4, 4}, std::vector<std::byte>(std::as_bytes(std::span(g)).begin(), std::as_bytes(std::span(g)).end())};
    global_tensor cols = rows;
    cols.name = "dtensor_col";
    save_placed(dir.path, {rows, cols}, {2}, {{S(0)}, {S(1)}});
    CHECK(list_dir(dir.path) == std::vector<std::string>{"shard-00001-model-00001-of-00001.safetensors",
                                                         "shard-00002-model-00001-of-00001.safetensors"});
    auto f = pread_file_reader::open(dir / "shard-00002-model-00001-of-00001.safetensors");
    REQUIRE(f.has_value());
    CHECK(f->header().metadata_value("DCP_SHARDING_INFO") ==
          R"({"dtensor": {"saved_offsets": [2, 0]}, "dtensor_col": {"saved_offsets": [0, 2]}})");
    auto reader = storage_reader::open(dir.path, {.thread_count = 2});
    REQUIRE(reader.has_value());
    for (const char* name : {"dtensor", "dtensor_col"}) {
        std::vector<float> got(16, -1.f);
        REQUIRE(reader->read(name, make_view(got.data(), 4, 4)).ok());
        CHECK(got == g);
    }
    // Into a strided destination: the transpose of a 4x4 buffer, columns 1..2 only.
    std::vector<float> t(16, -1.f);
    std::array<std::size_t, 2> strides = {1, 4};
    auto full = make_view(t.data(), layout_stride::mapping<dextents<std::size_t, 2>>(dextents<std::size_t, 2>(4, 4), strides));
    auto part = subview(full, {0, 1}, {4, 2});
    dims off = {0, 1};
    REQUIRE(reader->read_region("dtensor_col", off, part).ok());
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 4; ++j) CHECK(t[j * 4 + i] == (j == 1 || j == 2 ? g[i * 4 + j] : -1.f));
}

TEST_CASE("scenario 21: 1-D placement change, replicate ↔ shard") {
    auto g = make_global("t", dtype::F32, {4, 4}, 21);
    for (auto [save, load] : {std::pair(R(), S(0)), std::pair(S(0), R())}) {
        temp_dir dir("ck21");
        save_placed(dir.path, {g}, {4}, {{save}});
        // Replicated chunks are written once (by one rank), so the checkpoint tiles exactly.
        auto cp = checkpoint_metadata::open(dir.path);
        REQUIRE(cp.has_value());
        CHECK(cp->tensors()[0].chunks.size() == (save.shard ? 4u : 1u));
        check_placed_load(dir.path, {g}, {4}, {{load}});
    }
}

TEST_CASE("scenarios 22-24: every pair of 2-D placements, and 1-D ↔ 2-D meshes") {
    std::vector<std::vector<placement>> two_d = {{R(), R()}, {R(), S(0)}, {S(0), R()}, {S(0), S(0)}};
    std::vector<std::vector<placement>> one_d = {{R()}, {S(0)}};
    auto g = make_global("t", dtype::F32, {4, 4}, 22);
    auto h = make_global("u", dtype::BF16, {5, 3}, 23);  // uneven: 5 rows over 2 and 4
    for (const auto& a : two_d)
        for (const auto& b : two_d) {
            if (a.size() == b.size() && a[0].shard == b[0].shard && a[1].shard == b[1].shard) continue;
            temp_dir dir("ck22");
            save_placed(dir.path, {g, h}, {2, 2}, {a, a});
            check_placed_load(dir.path, {g, h}, {2, 2}, {b, b});
        }
    for (const auto& a : one_d)
        for (const auto& b : two_d) {
            temp_dir d1("ck23");
            save_placed(d1.path, {g, h}, {4}, {a, a});
            check_placed_load(d1.path, {g, h}, {2, 2}, {b, b});
            temp_dir d2("ck24");
            save_placed(d2.path, {g, h}, {2, 2}, {b, b});
            check_placed_load(d2.path, {g, h}, {4}, {a, a});
        }
}

TEST_CASE("scenario 25: a one-element tensor sharded over 4 ranks (three empty chunks) loads on [S0, S0]") {
    temp_dir dir("ck25");
    auto g = make_global("t", dtype::F32, {1}, 25);
    save_placed(dir.path, {g}, {4}, {{S(0)}});
    auto cp = checkpoint_metadata::open(dir.path);
    REQUIRE(cp.has_value());
    const auto& t = cp->tensors()[0];
    CHECK(t.shape == dims{1});
    // Ranks 1-3 hold the same empty chunk at [1]: like DCP, it is written once.
    REQUIRE(t.chunks.size() == 2);
    CHECK(dims(t.boxes[1].offsets.begin(), t.boxes[1].offsets.end()) == dims{1});
    CHECK(dims(t.boxes[1].sizes.begin(), t.boxes[1].sizes.end()) == dims{0});
    check_placed_load(dir.path, {g}, {2, 2}, {{S(0), S(0)}});
}

TEST_CASE("scalars, zero-size tensors and every whole-byte dtype round-trip through DCP chunks") {
    temp_dir dir("ckdt");
    std::vector<global_tensor> all;
    std::uint64_t seed = 1;
    for (dtype d : all_dtypes) {
        if (bits(d) % 8) continue;
        all.push_back(make_global("t_" + std::string(name(d)), d, {3, 5}, seed++));
    }
    all.push_back(make_global("scalar", dtype::F64, {}, 99));
    all.push_back(make_global("empty", dtype::I32, {0, 4}, 98));
    std::vector<std::vector<placement>> pl(all.size(), {S(1)});
    pl[pl.size() - 2] = {R()};
    save_placed(dir.path, all, {3}, pl);
    check_placed_load(dir.path, all, {2}, std::vector<std::vector<placement>>(all.size(), {R()}));
    std::vector<std::vector<placement>> rows(all.size(), {S(0)});
    rows[rows.size() - 2] = {R()};
    check_placed_load(dir.path, all, {2}, rows);
}

// ---- refused checkpoints -----------------------------------------------------------------------

namespace {
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

TEST_CASE("record_global_shape writes the extension and the reader honours it") {
    temp_dir dir("ckgs");
    auto g = make_global("t", dtype::F32, {5, 3}, 9);
    save_placed(dir.path, {g}, {2}, {{S(0)}}, {.thread_count = 1, .record_global_shape = true});
    auto f = pread_file_reader::open(dir / "shard-00002-model-00001-of-00001.safetensors");
    REQUIRE(f.has_value());
    CHECK(f->header().metadata_value("DCP_SHARDING_INFO") == R"({"t": {"saved_offsets": [3, 0], "global_shape": [5, 3]}})");
    check_placed_load(dir.path, {g}, {3}, {{S(1)}});
}

// ---- property tests -------------------------------------------------------------------------------

TEST_CASE("property: random shapes, uneven grids with empty chunks, N ranks saved, random regions and M ranks loaded") {
    std::mt19937_64 rng(20261129);
    auto pick = [&](std::uint64_t lo, std::uint64_t hi) { return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng); };
    const dtype types[] = {dtype::F32, dtype::BF16, dtype::I8, dtype::I64, dtype::F64, dtype::BOOL, dtype::U16, dtype::F8_E4M3};
    for (int round = 0; round < 40; ++round) {
        temp_dir dir("ckprop");
        const std::size_t n_tensors = pick(1, 4);
        std::vector<global_tensor> tensors;
        std::vector<std::vector<std::pair<dims, dims>>> grids;  // per tensor, its chunk boxes
        std::size_t ranks = 1;
        for (std::size_t t = 0; t < n_tensors; ++t) {
            const std::size_t rank = pick(0, 4);
            dims shape(rank);
            for (auto& d : shape) d = pick(0, 7);
            if (pick(0, 4) == 0 && rank) shape[0] = pick(0, 1);
            tensors.push_back(make_global("t" + std::to_string(t) + (t % 2 ? ".weight" : ""), types[pick(0, 7)], shape,
                                          static_cast<std::uint64_t>(round * 10) + t));
            // Uneven cuts per dimension (equal cuts make empty chunks), cartesian product.
            std::vector<dims> cuts(rank);
            for (std::size_t d = 0; d < rank; ++d) {
                const std::size_t parts = pick(1, 3);
                cuts[d].push_back(0);
                for (std::size_t p = 1; p < parts; ++p) cuts[d].push_back(pick(0, shape[d]));
                cuts[d].push_back(shape[d]);
                std::sort(cuts[d].begin(), cuts[d].end());
            }
            std::vector<std::pair<dims, dims>> boxes;
            dims pos(rank, 0);
            for (bool done = false; !done;) {
                dims off(rank), len(rank);
                for (std::size_t d = 0; d < rank; ++d) off[d] = cuts[d][pos[d]], len[d] = cuts[d][pos[d] + 1] - cuts[d][pos[d]];
                boxes.emplace_back(off, len);
                done = true;
                for (std::size_t d = rank; d-- > 0;) {
                    if (++pos[d] + 1 < cuts[d].size()) {
                        done = false;
                        break;
                    }
                    pos[d] = 0;
                }
            }
            std::shuffle(boxes.begin(), boxes.end(), rng);
            ranks = std::max(ranks, boxes.size());
            grids.push_back(std::move(boxes));
        }
        // Chunk i of each tensor goes to rank i; some chunks are replicated on a second rank.
        std::vector<std::vector<owned_chunk>> owned(ranks);
        for (std::size_t t = 0; t < n_tensors; ++t) {
            const auto& g = tensors[t];
            bool replicated = false;  // the last rank may hold one other rank's chunk too
            for (std::size_t i = 0; i < grids[t].size(); ++i) {
                const auto& [off, len] = grids[t][i];
                owned_chunk c{g.name, g.type, g.shape, off, len, slice_bytes(g.bytes, g.shape, off, len, g.elem())};
                if (!replicated && ranks > grids[t].size() && pick(0, 2) == 0) {
                    owned[ranks - 1].push_back(c);
                    replicated = true;
                }
                owned[i].push_back(std::move(c));
            }
        }
        std::vector<rank_state> states;
        for (auto& o : owned) states.push_back(state_of(o));
        auto saved = dcp_storage_writer<>(dir.path, {}, {.thread_count = static_cast<unsigned>(pick(1, 3))}).save(states);
        INFO(why(saved));
        REQUIRE(saved.has_value());
        auto reader = storage_reader::open(dir.path, {.thread_count = static_cast<unsigned>(pick(1, 3))});
        INFO(why(reader));
        REQUIRE(reader.has_value());
        for (const auto& g : tensors) {
            const auto* m = reader->find(g.name);
            REQUIRE(m != nullptr);
            CHECK(m->shape == g.shape);
            CHECK(m->dtype == g.type);
            // Random regions.
            for (int k = 0; k < 6; ++k) {
                dims off(g.shape.size()), len(g.shape.size());
                for (std::size_t d = 0; d < g.shape.size(); ++d) {
                    off[d] = pick(0, g.shape[d]);
                    len[d] = pick(0, g.shape[d] - off[d]);
                }
                std::vector<std::byte> got(numel(len) * g.elem());
                REQUIRE(reader->read_raw(g.name, off, len, got).ok());
                CHECK(same_bytes(got, slice_bytes(g.bytes, g.shape, off, len, g.elem())));
            }
            // M destination ranks: split dimension 0 (or nothing for scalars) in M uneven parts.
            const std::size_t M = pick(1, 5);
            dims cut = {0};
            for (std::size_t p = 1; p < M; ++p) cut.push_back(g.shape.empty() ? 0 : pick(0, g.shape[0]));
            cut.push_back(g.shape.empty() ? 0 : g.shape[0]);
            std::sort(cut.begin(), cut.end());
            for (std::size_t p = 0; p < M; ++p) {
                dims off(g.shape.size(), 0), len = g.shape;
                if (!g.shape.empty()) off[0] = cut[p], len[0] = cut[p + 1] - cut[p];
                std::vector<std::byte> got(numel(len) * g.elem());
                REQUIRE(reader->read_raw(g.name, off, len, got).ok());
                CHECK(same_bytes(got, slice_bytes(g.bytes, g.shape, off, len, g.elem())));
            }
        }
    }
}

TEST_CASE("property: typed batched loads into strided destinations on M ranks") {
    std::mt19937_64 rng(7);
    auto pick = [&](std::uint64_t lo, std::uint64_t hi) { return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng); };
    for (int round = 0; round < 15; ++round) {
        temp_dir dir("cktyped");
        std::vector<global_tensor> tensors;
        std::vector<std::vector<placement>> pl;
        for (int t = 0; t < 3; ++t) {
            tensors.push_back(make_global("w" + std::to_string(t), dtype::F32, {pick(1, 9), pick(1, 9)}, pick(0, 1000)));
            pl.push_back({pick(0, 1) ? S(pick(0, 1)) : R(), pick(0, 1) ? S(pick(0, 1)) : R()});
        }
        const std::vector<std::size_t> mesh = {pick(1, 3), pick(1, 3)};
        save_placed(dir.path, tensors, mesh, pl);
        auto reader = storage_reader::open(dir.path, {.thread_count = 2});
        REQUIRE(reader.has_value());
        const std::size_t M = pick(1, 4);
        for (std::size_t r = 0; r < M; ++r) {
            // Each destination rank reads a column block of every tensor into the transposed
            // layout of its own buffer, all in one batch.
            using view = strided_view<float, std::size_t, 2>;
            std::vector<std::vector<float>> bufs;
            std::vector<dims> offs;
            std::vector<region_request<view>> reqs;
            for (const auto& g : tensors) {
                auto [off, len] = local_box(g.shape, {M}, {S(1)}, r);
                bufs.emplace_back(numel(len) + 1, -7.f);
                offs.push_back(off);
            }
            for (std::size_t t = 0; t < tensors.size(); ++t) {
                auto [off, len] = local_box(tensors[t].shape, {M}, {S(1)}, r);
                std::array<std::size_t, 2> strides = {1, static_cast<std::size_t>(std::max<std::uint64_t>(len[0], 1))};
                auto v = make_view(bufs[t].data(), layout_stride::mapping<dextents<std::size_t, 2>>(
                                                       dextents<std::size_t, 2>(len[0], len[1]), strides));
                reqs.push_back(region_request<view>{tensors[t].name, offs[t], v});
            }
            REQUIRE(reader->read_all(std::span<const region_request<view>>(reqs)).ok());
            for (std::size_t t = 0; t < tensors.size(); ++t) {
                const auto& g = tensors[t];
                auto [off, len] = local_box(g.shape, {M}, {S(1)}, r);
                auto want = slice_bytes(g.bytes, g.shape, off, len, 4);
                for (std::size_t i = 0; i < len[0]; ++i)
                    for (std::size_t j = 0; j < len[1]; ++j)
                        CHECK(std::memcmp(&bufs[t][j * len[0] + i], want.data() + (i * len[1] + j) * 4, 4) == 0);
                CHECK(bufs[t].back() == -7.f);
            }
        }
    }
}

}  // TEST_SUITE
