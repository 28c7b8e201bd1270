// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_DIST_SCENARIOS_HPP
#define SAFESHARD_TESTS_SUPPORT_DIST_SCENARIOS_HPP

// The distributed save and load scenarios, written once over any communicator: the dist suite
// runs them with ranks as threads, tests/dist/mpi_scenarios.cpp under mpirun with processes.
// A small transformer-shaped model whose every element is computed from its tensor and index,
// so any rank can build any chunk, and any load can be checked element by element.

#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/consolidating_writer.hpp>
#include <safeshard/dist/load.hpp>
#include <safeshard/dist/save.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace safeshard::test {

enum class split { rows, columns, replicated };

struct model_tensor {
    std::string name;
    dtype type;
    std::vector<std::uint64_t> shape;
    split how;
};

/// BF16 and F32, row-split, column-split and replicated, uneven over any number of ranks, a
/// scalar: the shapes of a small transformer.
inline std::vector<model_tensor> test_model() {
    return {
        {"model.embed_tokens.weight", dtype::BF16, {37, 24}, split::rows},
        {"model.layers.0.input_layernorm.weight", dtype::F32, {24}, split::replicated},
        {"model.layers.0.mlp.down_proj.weight", dtype::F32, {24, 40}, split::columns},
        {"model.layers.0.mlp.up_proj.weight", dtype::BF16, {40, 24}, split::rows},
        {"model.layers.0.self_attn.o_proj.weight", dtype::F32, {24, 24}, split::columns},
        {"model.layers.1.mlp.down_proj.weight", dtype::BF16, {24, 40}, split::columns},
        {"model.norm.weight", dtype::F32, {24}, split::replicated},
        {"model.scale", dtype::F32, {}, split::replicated},
    };
}

/// The bytes of element `i` of tensor `t` (number `k` of the model) in model `version` (two
/// versions differ in every element, so a save over an older one is seen to change it).
inline void element_bytes(const model_tensor& t, std::size_t k, std::uint64_t i, std::byte* out, std::uint32_t version) {
    const float v = static_cast<float>(k * 1000 + i % 997) * 0.25f - static_cast<float>(i % 13) + static_cast<float>(version * 64);
    if (t.type == dtype::F32) {
        std::memcpy(out, &v, 4);
    } else {  // BF16: the top half of the float (exact for these values' magnitudes)
        std::uint32_t bits;
        std::memcpy(&bits, &v, 4);
        const auto top = static_cast<std::uint16_t>(bits >> 16);
        std::memcpy(out, &top, 2);
    }
}

/// The box of a tensor `split` gives rank `rank` of `world` (rows or columns [n*r/W, n*(r+1)/W),
/// or all of it).
inline void box_of(const model_tensor& t, split how, std::uint32_t rank, std::uint32_t world, std::vector<std::uint64_t>& off,
                   std::vector<std::uint64_t>& len) {
    off.assign(t.shape.size(), 0);
    len = t.shape;
    if (how == split::replicated || t.shape.empty()) return;
    const std::size_t d = how == split::rows ? 0 : t.shape.size() - 1;
    const std::uint64_t n = t.shape[d];
    off[d] = n * rank / world;
    len[d] = n * (rank + 1) / world - off[d];
}

/// The row-major bytes of box (off, len) of tensor `k`.
inline std::vector<std::byte> box_bytes(const model_tensor& t, std::size_t k, const std::vector<std::uint64_t>& off,
                                        const std::vector<std::uint64_t>& len, std::uint32_t version = 1) {
    const std::size_t esize = bits(t.type) / 8, rank = t.shape.size();
    std::uint64_t count = 1;
    for (auto l : len) count *= l;
    std::vector<std::byte> out(static_cast<std::size_t>(count) * esize);
    std::vector<std::uint64_t> idx(rank, 0);
    for (std::uint64_t n = 0; n < count; ++n) {
        std::uint64_t lin = 0;
        for (std::size_t d = 0; d < rank; ++d) lin = lin * t.shape[d] + off[d] + idx[d];
        element_bytes(t, k, lin, out.data() + n * esize, version);
        for (std::size_t d = rank; d-- > 0;) {
            if (++idx[d] < len[d]) break;
            idx[d] = 0;
        }
    }
    return out;
}

/// A rank's chunks of the model and the names and bytes they borrow.
struct rank_chunks {
    std::vector<model_tensor> model;
    std::vector<std::vector<std::byte>> bytes;
    checkpoint::rank_state state;
};

inline rank_chunks model_state(std::uint32_t rank, std::uint32_t world, std::uint32_t version = 1) {
    rank_chunks out;
    out.model = test_model();
    const auto& model = out.model;
    out.bytes.reserve(model.size());
    for (std::size_t k = 0; k < model.size(); ++k) {
        const auto& t = model[k];
        std::vector<std::uint64_t> off, len;
        box_of(t, t.how, rank, world, off, len);
        out.bytes.push_back(box_bytes(t, k, off, len, version));
        out.state.push_back(checkpoint::save_chunk{t.name, t.type, t.shape, off, len, out.bytes.back()});
    }
    return out;
}

/// Saves model `version` from this rank with consolidation into `dir` (shards in `dir/sharded`).
template <class Comm>
status save_model(const Comm& comm, const std::string& dir, std::uint32_t version = 1) {
    auto mine = model_state(comm.rank(), comm.size(), version);
    checkpoint::consolidating_storage_writer<> writer(dir);
    auto r = dist::save(comm, writer, mine.state);
    if (!r) return r.error();
    return {};
}

/// Loads the checkpoint at `path` on this rank with another split than it was saved with (the
/// other dimension, so every rank needs pieces of several saved chunks) and compares every
/// element with the model. An error says which tensor differs.
template <class Comm>
status load_and_check(const Comm& comm, const std::string& path, std::uint32_t version = 1) {
    auto reader = dist::open_reader(comm, path);
    if (!reader) return reader.error();
    const auto model = test_model();
    for (std::size_t k = 0; k < model.size(); ++k) {
        const auto& t = model[k];
        const split other = t.how == split::rows ? split::columns : split::rows;
        std::vector<std::uint64_t> off, len;
        box_of(t, other, comm.rank(), comm.size(), off, len);
        const auto want = box_bytes(t, k, off, len, version);
        std::vector<std::byte> got(want.size());
        if (auto st = reader->read_raw(t.name, off, len, got); !st) return st;
        if (got != want)
            return error_info(errc::invalid_argument).at_tensor(t.name).with_detail(
                "rank " + std::to_string(comm.rank()) + " read other bytes than the model's");
    }
    return {};
}

}  // namespace safeshard::test

#endif
