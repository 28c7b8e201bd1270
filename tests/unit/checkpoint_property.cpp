// SPDX-License-Identifier: MIT
// Property tests of the checkpoint layer: random global shapes of rank 0 to 4 chunked unevenly
// over random rank grids (empty chunks included), saved by N ranks and read back as random
// regions and on M ranks, and typed batched loads into strided destinations; always
// byte-exact.

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/core/layout_stride.hpp>
#include <safeshard/core/subview.hpp>
#include <safeshard/core/tensor_view.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../support/files.hpp"
#include "../support/sharding.hpp"

namespace {

using namespace safeshard;
using namespace safeshard::checkpoint;
using namespace safeshard::test;

}  // namespace

TEST_SUITE("checkpoint_property") {

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
        // Tasks of a few bytes, so that reads are cut between the threads (rows, or columns of
        // a one-row piece).
        auto reader = storage_reader::open(dir.path, {.thread_count = static_cast<unsigned>(pick(2, 3)), .min_task_bytes = pick(1, 64)});
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
