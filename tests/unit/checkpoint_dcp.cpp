// SPDX-License-Identifier: MIT
// DCP's Hugging Face storage scenarios (spec/dcp-hf.md §7, 1–5, 15–18, 21–25, with in-process
// ranks in place of torch.distributed): saves with and without a mapping, per-rank files,
// region reads, plain files read as one whole chunk, resharding loads between placements and
// meshes, every whole-byte dtype, scalars and zero-size tensors, and the global_shape
// extension.

#include <safeshard/checkpoint/layout.hpp>
#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/core/layout_stride.hpp>
#include <safeshard/core/subview.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/format/checkpoint_json_parse.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

TEST_SUITE("checkpoint_dcp") {

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

TEST_CASE("record_global_shape writes the extension and the reader honours it") {
    temp_dir dir("ckgs");
    auto g = make_global("t", dtype::F32, {5, 3}, 9);
    save_placed(dir.path, {g}, {2}, {{S(0)}}, {.thread_count = 1, .record_global_shape = true});
    auto f = pread_file_reader::open(dir / "shard-00002-model-00001-of-00001.safetensors");
    REQUIRE(f.has_value());
    CHECK(f->header().metadata_value("DCP_SHARDING_INFO") == R"({"t": {"saved_offsets": [3, 0], "global_shape": [5, 3]}})");
    check_placed_load(dir.path, {g}, {3}, {{S(1)}});
}

}  // TEST_SUITE
