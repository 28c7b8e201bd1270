// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_SHARDING_HPP
#define SAFESHARD_TESTS_SUPPORT_SHARDING_HPP

// Sharding helpers shared by the checkpoint and consolidation tests: global tensors of
// position-dependent bytes, DTensor-like placements on a device mesh (the local box of each
// rank, as DTensor computes it), saving them as DCP chunks with in-process ranks, and checking
// loads byte for byte against slices of the global tensor.

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "files.hpp"

namespace safeshard::test {

using namespace safeshard::checkpoint;
using dims = std::vector<std::uint64_t>;

inline std::string text(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

inline std::vector<float> arange(std::size_t n, float start = 0) {
    std::vector<float> v(n);
    std::iota(v.begin(), v.end(), start);
    return v;
}

// The error of a result or status, for INFO (empty on success).
template <class Result>
std::string why(const Result& r) {
    if (r) return {};
    return r.error().to_string();
}

inline std::uint64_t numel(const dims& shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

// Row-major bytes of the box [off, off+len) of a global row-major tensor of `shape`.
inline std::vector<std::byte> slice_bytes(std::span<const std::byte> global, const dims& shape, const dims& off, const dims& len,
                                   std::size_t elem) {
    std::vector<std::byte> out(numel(len) * elem);
    if (out.empty()) return out;
    const std::size_t r = shape.size();
    dims idx(r, 0);
    for (std::size_t k = 0; k < numel(len); ++k) {
        std::uint64_t src = 0;
        for (std::size_t d = 0; d < r; ++d) src = src * shape[d] + off[d] + idx[d];
        std::memcpy(out.data() + k * elem, global.data() + src * elem, elem);
        for (std::size_t d = r; d-- > 0;) {
            if (++idx[d] < len[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

// A DTensor-like placement: per mesh dimension, replicate or shard tensor dimension `dim`.
struct placement {
    bool shard = false;
    std::size_t dim = 0;
};
inline placement R() { return {false, 0}; }
inline placement S(std::size_t d) { return {true, d}; }

// The local box of mesh rank `rank` (row-major mesh coordinates), as DTensor computes it:
// each sharding mesh dimension splits the current piece in ceil-sized parts; ranks past the
// end get an empty piece at the end.
inline std::pair<dims, dims> local_box(const dims& global, const std::vector<std::size_t>& mesh, const std::vector<placement>& pl,
                                std::size_t rank) {
    dims off(global.size(), 0), len = global;
    std::vector<std::size_t> coord(mesh.size());
    for (std::size_t m = mesh.size(); m-- > 0;) {
        coord[m] = rank % mesh[m];
        rank /= mesh[m];
    }
    for (std::size_t m = 0; m < mesh.size(); ++m) {
        if (!pl[m].shard) continue;
        const std::size_t d = pl[m].dim;
        const std::uint64_t n = len[d], k = mesh[m], c = (n + k - 1) / k, start = c * coord[m];
        const std::uint64_t size = start >= n ? 0 : std::min(n, start + c) - start;
        off[d] += std::min(start, n);
        len[d] = size;
    }
    return {off, len};
}

// Chunks with owned bytes for a rank's state.
struct owned_chunk {
    std::string name;
    dtype type;
    dims global, off, len;
    std::vector<std::byte> bytes;
};

inline rank_state state_of(const std::vector<owned_chunk>& chunks) {
    rank_state s;
    for (const auto& c : chunks) s.push_back(save_chunk{c.name, c.type, c.global, c.off, c.len, c.bytes});
    return s;
}

// A global tensor of random bytes (valid for its dtype: BOOL gets 0/1).
struct global_tensor {
    std::string name;
    dtype type;
    dims shape;
    std::vector<std::byte> bytes;
    std::size_t elem() const { return bits(type) / 8; }
};

inline global_tensor make_global(std::string name, dtype t, dims shape, std::uint64_t seed) {
    global_tensor g{std::move(name), t, std::move(shape), {}};
    g.bytes = pattern(numel(g.shape) * g.elem(), seed);
    if (t == dtype::BOOL)
        for (auto& b : g.bytes) b = static_cast<std::byte>(static_cast<unsigned>(b) & 1u);
    return g;
}

// Saves `tensors` placed on `mesh` with `pl` (per tensor), DCP-chunked, into `dir`.
inline void save_placed(const std::string& dir, const std::vector<global_tensor>& tensors, const std::vector<std::size_t>& mesh,
                 const std::vector<std::vector<placement>>& pl, storage_writer_options opt = {}) {
    std::size_t ws = 1;
    for (auto m : mesh) ws *= m;
    std::vector<std::vector<owned_chunk>> owned(ws);
    for (std::size_t r = 0; r < ws; ++r)
        for (std::size_t t = 0; t < tensors.size(); ++t) {
            const auto& g = tensors[t];
            auto [off, len] = local_box(g.shape, mesh, pl[t], r);
            owned[r].push_back(owned_chunk{g.name, g.type, g.shape, off, len, slice_bytes(g.bytes, g.shape, off, len, g.elem())});
        }
    std::vector<rank_state> ranks;
    for (auto& o : owned) ranks.push_back(state_of(o));
    auto res = dcp_storage_writer<>(dir, {}, opt).save(ranks);
    INFO(why(res));
    REQUIRE(res.has_value());
}

// Reads every destination rank's box as raw bytes (read_raw) and compares them.
inline void check_placed_load(const std::string& dir, const std::vector<global_tensor>& tensors, const std::vector<std::size_t>& mesh,
                       const std::vector<std::vector<placement>>& pl) {
    auto reader = storage_reader::open(dir);
    INFO(why(reader));
    REQUIRE(reader.has_value());
    std::size_t ws = 1;
    for (auto m : mesh) ws *= m;
    for (std::size_t r = 0; r < ws; ++r)
        for (std::size_t t = 0; t < tensors.size(); ++t) {
            const auto& g = tensors[t];
            auto [off, len] = local_box(g.shape, mesh, pl[t], r);
            std::vector<std::byte> got(numel(len) * g.elem());
            auto st = reader->read_raw(g.name, off, len, got);
            INFO(why(st));
            REQUIRE(st.ok());
            CHECK(same_bytes(got, slice_bytes(g.bytes, g.shape, off, len, g.elem())));
        }
}

}  // namespace safeshard::test

#endif
