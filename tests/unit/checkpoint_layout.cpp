// SPDX-License-Identifier: MIT
// File layouts (which file each tensor goes to: one file, a mapping, Hugging Face's size
// split), the read planner's overlaps of requested and saved chunks, and the tiling check that
// names overlaps, holes and chunks outside a tensor.

#include <safeshard/checkpoint/chunks.hpp>
#include <safeshard/checkpoint/layout.hpp>

#include <doctest/doctest.h>

#include <cstdint>
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

}  // TEST_SUITE
