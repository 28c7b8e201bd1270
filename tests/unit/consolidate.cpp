// SPDX-License-Identifier: MIT
// Consolidation: DCP's scenarios (spec/dcp-hf.md §7, 6–12 and 20) with the upstream bugs fixed,
// not reproduced (integer and bool tensors, scalars, names in the mapping without data, inputs
// without DCP metadata, holes and overlaps refused before anything is written), every dtype,
// row/column/block shardings of 1-D to 5-D tensors over uneven rank grids with empty chunks,
// every result compared byte for byte with the global tensor through the file layer, output
// independent of the number of saving ranks, and an output directory that a failed run leaves
// exactly as it was.

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/file/region_copy.hpp>
#include <safeshard/consolidate/consolidate.hpp>
#include <safeshard/consolidate/consolidating_writer.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/format/checkpoint_json_parse.hpp>
#include <safeshard/io/memory.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "../support/files.hpp"
#include "../support/sharding.hpp"

namespace {

using namespace safeshard;
using namespace safeshard::checkpoint;
using namespace safeshard::test;

// The fixture of test_consolidate_hf_safetensors.py: arange(16) as 4x4, `dtensor` row-sharded
// and `dtensor_col` column-sharded over 2 ranks.
std::vector<global_tensor> fixture() {
    auto g = arange(16);
    auto b = std::as_bytes(std::span(g));
    global_tensor rows{"dtensor", dtype::F32, {4, 4}, std::vector<std::byte>(b.begin(), b.end())};
    global_tensor cols = rows;
    cols.name = "dtensor_col";
    return {rows, cols};
}

void save_fixture(const std::string& dir) { save_placed(dir, fixture(), {2}, {{S(0)}, {S(1)}}); }

// Every tensor of `tensors` must be in the consolidated checkpoint `dir`, in the file the
// index names, byte-exact, read through the file layer.
void check_consolidated(const std::string& dir, const std::vector<global_tensor>& tensors) {
    auto idx = parse_index(text(read_file(dir + "/model.safetensors.index.json")));
    REQUIRE(idx.has_value());
    std::uint64_t total = 0;
    for (const auto& g : tensors) total += g.bytes.size();
    CHECK(idx->total_size() == total);
    CHECK(idx->weight_map().size() == tensors.size());
    for (const auto& g : tensors) {
        auto e = std::find_if(idx->weight_map().begin(), idx->weight_map().end(), [&](const index_entry& x) { return x.tensor == g.name; });
        REQUIRE(e != idx->weight_map().end());
        auto f = pread_file_reader::open(dir + "/" + std::string(e->file));
        INFO(why(f));
        REQUIRE(f.has_value());
        CHECK(f->header().metadata_value("format") == "pt");
        CHECK(!f->header().metadata_value("DCP_SHARDING_INFO").has_value());
        auto t = f->info(g.name);
        REQUIRE(t.has_value());
        CHECK((*t)->dtype == g.type);
        CHECK(dims((*t)->shape.begin(), (*t)->shape.end()) == g.shape);
        std::vector<std::byte> got((*t)->byte_size());
        REQUIRE(f->read_bytes(**t, got).ok());
        INFO(g.name);
        CHECK(same_bytes(got, g.bytes));
    }
}

}  // namespace

TEST_SUITE("consolidate") {

TEST_CASE("scenario 6: to one file") {
    temp_dir dir("co6");
    save_fixture(dir / "in");
    auto r = consolidate(dir / "in", dir / "out", mapped_files({{"dtensor", 1}, {"dtensor_col", 1}}));
    INFO(why(r));
    REQUIRE(r.has_value());
    CHECK(list_dir(dir / "out") == std::vector<std::string>{"model-00001-of-00001.safetensors", "model.safetensors.index.json"});
    CHECK(text(read_file(dir / "out/model.safetensors.index.json")) ==
          "{\n  \"metadata\": {\n    \"total_size\": 128\n  },\n  \"weight_map\": {\n    \"dtensor\": "
          "\"model-00001-of-00001.safetensors\",\n    \"dtensor_col\": \"model-00001-of-00001.safetensors\"\n  }\n}");
    check_consolidated(dir / "out", fixture());
    // The default layout is one file too.
    REQUIRE(consolidate(dir / "in", dir / "out2").has_value());
    CHECK(same_bytes(read_file(dir / "out/model-00001-of-00001.safetensors"), read_file(dir / "out2/model-00001-of-00001.safetensors")));
}

TEST_CASE("scenario 7: to two files") {
    temp_dir dir("co7");
    save_fixture(dir / "in");
    auto r = consolidate(dir / "in", dir / "out", mapped_files({{"dtensor", 1}, {"dtensor_col", 2}}), {.thread_count = 2});
    REQUIRE(r.has_value());
    REQUIRE(r->files.size() == 2);
    CHECK(r->files[0].tensors == std::vector<std::string>{"dtensor"});
    CHECK(r->files[1].tensors == std::vector<std::string>{"dtensor_col"});
    CHECK(r->total_size == 128);
    auto f2 = pread_file_reader::open(dir / "out/model-00002-of-00002.safetensors");
    REQUIRE(f2.has_value());
    CHECK(f2->tensors().size() == 1);
    CHECK(f2->find("dtensor_col") != nullptr);
    check_consolidated(dir / "out", fixture());
}

// DCP's _calculate_max_contiguous_elements(indices, sub, full) is the run its copy takes from
// sub-tensor index `indices` when the sub-tensor sits in a tensor of shape `full`. Here the
// region engine plans the same copy, box [indices, sub) of a stored `sub` into a row-major
// `full` destination, and its first run must have DCP's length. It merges every whole trailing
// dimension, not just the last three.
TEST_CASE("scenario 9: the region engine's runs are DCP's contiguous runs, and longer past 3-D") {
    auto first_run = [](dims idx, dims sub, dims full) {
        dims len(sub.size());
        for (std::size_t d = 0; d < sub.size(); ++d) len[d] = sub[d] - idx[d];
        std::vector<std::int64_t> strides(full.size());
        std::int64_t step = 1;
        for (std::size_t d = full.size(); d-- > 0;) {
            strides[d] = step;
            step *= static_cast<std::int64_t>(full[d]);
        }
        safeshard::detail::box_runs runs;
        REQUIRE(runs.plan({0, sub, idx, len, 4}, {strides, 0}));
        return runs.run();
    };
    CHECK(first_run({2}, {5}, {10}) == 3);
    CHECK(first_run({1, 0}, {3, 4}, {6, 4}) == 8);
    CHECK(first_run({1, 2}, {3, 4}, {6, 8}) == 2);
    CHECK(first_run({1, 0, 0}, {3, 2, 4}, {5, 2, 4}) == 16);
    CHECK(first_run({2, 3}, {3, 4}, {6, 8}) == 1);
    CHECK(first_run({0, 0}, {2, 5}, {4, 5}) == 10);
    CHECK(first_run({1, 0}, {3, 2}, {4, 8}) == 2);
    CHECK(first_run({0, 0}, {2, 3}, {6, 10}) == 3);
    // Beyond DCP's last three dimensions: whole trailing dimensions merge all the way.
    CHECK(first_run({1, 0, 0, 0}, {3, 2, 2, 2}, {9, 2, 2, 2}) == 16);
}

// DCP's validations of that helper become the public calls' own checks: a scalar (DCP's empty
// lists, which it then fails to copy) reads exactly; a region of the wrong rank, or one past
// the tensor, is refused naming the tensor; a chunk larger than its tensor is refused at open
// (the tiling tests).
TEST_CASE("scenario 8: what DCP's contiguity helper refuses, the reader refuses by name") {
    temp_dir dir("co8");
    std::vector<global_tensor> g = fixture();
    const float pi = 3.25f;
    auto pb = std::as_bytes(std::span(&pi, 1));
    g.push_back(global_tensor{"scalar", dtype::F32, {}, std::vector<std::byte>(pb.begin(), pb.end())});
    save_placed(dir / "in", g, {2}, {{S(0)}, {S(1)}, {R()}});
    auto reader = storage_reader::open(dir / "in");
    REQUIRE(reader.has_value());
    float got = 0;
    REQUIRE(reader->read_raw("scalar", {}, {}, std::as_writable_bytes(std::span(&got, 1))).ok());
    CHECK(got == pi);
    std::vector<std::byte> buf(64);
    const dims one{1}, two_three{2, 3}, three_one{3, 1};
    status rank = reader->read_raw("dtensor", one, two_three, std::span(buf).first(24));
    CHECK(rank.code() == errc::invalid_argument);
    CHECK(std::string_view(rank.error().tensor()) == "dtensor");
    status past = reader->read_raw("dtensor", three_one, two_three, std::span(buf).first(24));
    CHECK(past.code() == errc::out_of_bounds);
    CHECK(std::string_view(past.error().tensor()) == "dtensor");
}
TEST_CASE("scenarios 10, 11: on every rank, then one index") {
    for (auto mapping : {std::vector<std::pair<std::string, std::uint32_t>>{{"dtensor", 1}, {"dtensor_col", 2}},
                         std::vector<std::pair<std::string, std::uint32_t>>{{"dtensor", 1}, {"dtensor_col", 1}}}) {
        temp_dir dir("co10");
        save_fixture(dir / "in");
        std::vector<consolidation> parts(2);
        std::vector<error_info> errors(2);
        std::vector<std::thread> ranks;
        for (std::uint32_t r = 0; r < 2; ++r)
            ranks.emplace_back([&, r] {
                auto p = consolidate_part(dir / "in", dir / "out", mapped_files(mapping), r, 2);
                if (p) parts[r] = std::move(*p);
                else errors[r] = p.error();
            });
        for (auto& t : ranks) t.join();
        REQUIRE(errors[0].code() == errc::ok);
        REQUIRE(errors[1].code() == errc::ok);
        // Index i goes to rank i % 2: with one file, rank 0 has nothing to do (and returns).
        for (const auto& f : parts[0].files) CHECK(f.index % 2 == 0);
        for (const auto& f : parts[1].files) CHECK(f.index % 2 == 1);
        CHECK(!exists(dir / "out/model.safetensors.index.json"));
        REQUIRE(write_consolidated_index(dir / "out", parts).ok());
        check_consolidated(dir / "out", fixture());
    }
}

TEST_CASE("scenario 12: a sub-tensor lands in the right rows, or columns, of the full tensor") {
    auto place = [](dims full, dims sub, dims off) {
        auto src = arange(numel(sub));
        io::memory_source mem(std::as_bytes(std::span(src)), "sub");
        std::vector<float> out(numel(full), 0.f);
        dims zero(sub.size(), 0);
        std::vector<std::int64_t> strides(full.size());
        std::int64_t step = 1, origin = 0;
        for (std::size_t d = full.size(); d-- > 0;) {
            strides[d] = step;
            origin += static_cast<std::int64_t>(off[d]) * step;
            step *= static_cast<std::int64_t>(full[d]);
        }
        safeshard::detail::byte_target target{reinterpret_cast<std::byte*>(out.data()), 4};
        REQUIRE(safeshard::detail::copy_box(mem, {0, sub, zero, sub, 4}, {strides, origin}, target).code() == errc::ok);
        return out;
    };
    auto a = place({4, 6}, {2, 6}, {1, 0});
    for (std::size_t i = 0; i < 24; ++i) CHECK(a[i] == (i >= 6 && i < 18 ? static_cast<float>(i - 6) : 0.f));
    auto b = place({3, 8}, {3, 2}, {0, 3});
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t c = 0; c < 8; ++c) CHECK(b[r * 8 + c] == (c == 3 || c == 4 ? static_cast<float>(r * 2 + c - 3) : 0.f));
}

TEST_CASE("scenario 20: the consolidating writer (enable_consolidation) writes shards to sharded/, then the checkpoint") {
    temp_dir dir("co20");
    auto g = fixture();
    g.pop_back();
    std::vector<rank_state> ranks(2);
    std::vector<std::vector<owned_chunk>> owned(2);
    for (std::size_t r = 0; r < 2; ++r) {
        auto [off, len] = local_box(g[0].shape, {2}, {S(0)}, r);
        owned[r].push_back(owned_chunk{g[0].name, g[0].type, g[0].shape, off, len, slice_bytes(g[0].bytes, g[0].shape, off, len, 4)});
        ranks[r] = state_of(owned[r]);
    }
    auto r = consolidating_storage_writer<>(dir.path, {}, {}, 2).save(ranks);
    INFO(why(r));
    REQUIRE(r.has_value());
    CHECK(list_dir(dir / "sharded") == std::vector<std::string>{"shard-00001-model-00001-of-00001.safetensors",
                                                               "shard-00002-model-00001-of-00001.safetensors"});
    CHECK(list_dir(dir.path) ==
          std::vector<std::string>{"model-00001-of-00001.safetensors", "model.safetensors.index.json", "sharded"});
    check_consolidated(dir.path, g);
}

TEST_CASE("(c, d) every dtype, scalars and zero-size tensors, where DCP crashes or writes zeros") {
    temp_dir dir("codt");
    std::vector<global_tensor> all;
    std::uint64_t seed = 3;
    for (dtype d : all_dtypes) {
        if (bits(d) % 8) continue;
        all.push_back(make_global("t_" + std::string(name(d)), d, {5, 3}, seed++));
    }
    all.push_back(make_global("scalar", dtype::I64, {}, 77));
    all.push_back(make_global("empty", dtype::BOOL, {0, 3}, 78));
    std::vector<std::vector<placement>> pl(all.size(), {S(0)});
    pl[pl.size() - 2] = {R()};
    save_placed(dir / "in", all, {3}, pl);
    auto r = consolidate(dir / "in", dir / "out", size_capped{40}, {.thread_count = 2, .block_bytes = 4096});
    INFO(why(r));
    REQUIRE(r.has_value());
    CHECK(r->files.size() > 1);
    check_consolidated(dir / "out", all);
}

TEST_CASE("a sub-byte tensor consolidates from one chunk and is refused when split") {
    temp_dir dir("cof4");
    std::vector<std::byte> packed = pattern(6, 4);  // 12 F4 values
    dims shape = {3, 4}, zero = {0, 0};
    rank_state one = {save_chunk{"q", dtype::F4, shape, zero, shape, packed}};
    REQUIRE(dcp_storage_writer<>(dir / "in").save(one).has_value());
    REQUIRE(consolidate(dir / "in", dir / "out").has_value());
    check_consolidated(dir / "out", {global_tensor{"q", dtype::F4, shape, packed}});
    dims half = {3, 2}, off = {0, 2};
    std::vector<rank_state> split = {{save_chunk{"q", dtype::F4, shape, zero, half, std::span(packed).first(3)}},
                                     {save_chunk{"q", dtype::F4, shape, off, half, std::span(packed).last(3)}}};
    REQUIRE(dcp_storage_writer<>(dir / "in2").save(split).has_value());
    CHECK(consolidate(dir / "in2", dir / "out2").code() == errc::unsupported_conversion);
}

TEST_CASE("(e) mapping names: without data, or data not mapped, are errors listing them; or sent to a chosen file") {
    temp_dir dir("coe");
    save_fixture(dir / "in");
    auto tied = consolidate(dir / "in", dir / "out", mapped_files({{"dtensor", 1}, {"dtensor_col", 1}, {"lm_head.weight", 1}}));
    CHECK(tied.code() == errc::invalid_argument);
    CHECK(tied.error().to_string().find("lm_head.weight") != std::string::npos);
    auto unmapped = consolidate(dir / "in", dir / "out", mapped_files({{"dtensor", 1}}));
    CHECK(unmapped.code() == errc::invalid_argument);
    CHECK(unmapped.error().to_string().find("dtensor_col") != std::string::npos);
    CHECK(!exists(dir / "out"));
    auto sent = consolidate(dir / "in", dir / "out", mapped_files({{"dtensor", 1}}, 3));
    REQUIRE(sent.has_value());
    CHECK(list_dir(dir / "out") == std::vector<std::string>{"model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors",
                                                            "model.safetensors.index.json"});
    check_consolidated(dir / "out", fixture());
}

TEST_CASE("(f) holes, overlaps, stale shards and files without DCP metadata are refused before anything is written") {
    temp_dir dir("cof");
    auto v = arange(4);
    REQUIRE(::mkdir((dir / "plain").c_str(), 0755) == 0);
    REQUIRE(save_file(dir / "plain/model.safetensors", std::vector{entry_of("w", make_view(v.data(), 4))}).ok());
    auto plain = consolidate(dir / "plain", dir / "out");
    CHECK(plain.code() == errc::bad_checkpoint_metadata);
    CHECK(plain.error().to_string().find("DCP_SHARDING_INFO") != std::string::npos);
    CHECK(consolidate(dir / "plain", dir / "out", single_file{}, {.require_dcp_metadata = false}).has_value());
    auto g = make_global("t", dtype::F32, {8, 2}, 5);
    save_placed(dir / "stale", {g}, {4}, {{S(0)}});
    save_placed(dir / "stale", {g}, {2}, {{S(0)}});
    CHECK(consolidate(dir / "stale", dir / "out2").code() == errc::chunk_overlap);
    CHECK(!exists(dir / "out2"));
}

TEST_CASE("a failure mid-way leaves an existing output exactly as it was, with no temp files") {
    temp_dir dir("comid");
    auto a = make_global("a", dtype::F32, {64, 64}, 1), b = make_global("b", dtype::BF16, {32, 64}, 2);
    save_placed(dir / "in", {a, b}, {2}, {{S(1)}, {S(0)}});
    REQUIRE(consolidate(dir / "in", dir / "out", mapped_files({{"a", 1}, {"b", 2}})).has_value());
    std::vector<std::vector<std::byte>> before;
    const auto names = list_dir(dir / "out");
    for (const auto& n : names) before.push_back(read_file(dir / "out/" + n));
    // Cut an input short after the first block is written: the next read fails.
    bool cut = false;
    auto progress = [&](std::uint64_t, std::uint64_t) {
        if (!cut) REQUIRE(::truncate((dir / "in/shard-00002-model-00001-of-00001.safetensors").c_str(), 300) == 0);
        cut = true;
    };
    for (unsigned threads : {1u, 2u}) {
        save_placed(dir / "in", {a, b}, {2}, {{S(1)}, {S(0)}});
        cut = false;
        auto r = consolidate(dir / "in", dir / "out", single_file{}, {.thread_count = threads, .block_bytes = 4096}, progress);
        CHECK(!r.has_value());
        CHECK(r.error().to_string().find("shard-00002") != std::string::npos);
        CHECK(list_dir(dir / "out") == names);
        for (std::size_t i = 0; i < names.size(); ++i) CHECK(same_bytes(read_file(dir / "out/" + names[i]), before[i]));
    }
}

TEST_CASE("a new consolidation replaces an earlier one's files, stale ones included") {
    temp_dir dir("costale");
    save_fixture(dir / "in");
    REQUIRE(consolidate(dir / "in", dir / "out", size_capped{64}).has_value());
    CHECK(list_dir(dir / "out").size() == 3);
    REQUIRE(consolidate(dir / "in", dir / "out").has_value());
    CHECK(list_dir(dir / "out") == std::vector<std::string>{"model-00001-of-00001.safetensors", "model.safetensors.index.json"});
    check_consolidated(dir / "out", fixture());
}

TEST_CASE("property: 1-D to 5-D tensors, row/column/block shardings over uneven grids; output independent of rank count") {
    std::mt19937_64 rng(4242);
    auto pick = [&](std::uint64_t lo, std::uint64_t hi) { return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng); };
    const dtype types[] = {dtype::F32, dtype::BF16, dtype::I8, dtype::I64, dtype::BOOL, dtype::U32, dtype::F64};
    for (int round = 0; round < 12; ++round) {
        temp_dir dir("coprop");
        std::vector<global_tensor> tensors;
        for (std::size_t t = 0; t < pick(1, 4); ++t) {
            dims shape(pick(1, 5));
            for (auto& d : shape) d = pick(1, 6);
            tensors.push_back(make_global("layers." + std::to_string(t) + ".w", types[pick(0, 6)], shape, pick(0, 1u << 30)));
        }
        // Two saves of the same tensors: different meshes and placements.
        auto random_pl = [&](const std::vector<std::size_t>& mesh) {
            std::vector<std::vector<placement>> pl;
            for (const auto& g : tensors) {
                std::vector<placement> p;
                for (std::size_t m = 0; m < mesh.size(); ++m) p.push_back(pick(0, 3) ? S(pick(0, g.shape.size() - 1)) : R());
                pl.push_back(p);
            }
            return pl;
        };
        const std::vector<std::size_t> mesh_a = {pick(1, 3), pick(1, 3)}, mesh_b = {pick(1, 5)};
        save_placed(dir / "a", tensors, mesh_a, random_pl(mesh_a));
        save_placed(dir / "b", tensors, mesh_b, random_pl(mesh_b));
        const consolidate_options opt{.thread_count = static_cast<unsigned>(pick(1, 3)), .block_bytes = 4096 + pick(0, 3) * 64};
        const size_capped layout{pick(100, 3000)};
        auto ra = consolidate(dir / "a", dir / "out_a", layout, opt);
        INFO(why(ra));
        REQUIRE(ra.has_value());
        check_consolidated(dir / "out_a", tensors);
        // The same checkpoint saved by another number of ranks: byte-identical output.
        auto rb = consolidate(dir / "b", dir / "out_b", layout, opt);
        REQUIRE(rb.has_value());
        const auto files = list_dir(dir / "out_a");
        CHECK(list_dir(dir / "out_b") == files);
        for (const auto& f : files) CHECK(same_bytes(read_file(dir / "out_a/" + f), read_file(dir / "out_b/" + f)));
    }
}

}  // TEST_SUITE
