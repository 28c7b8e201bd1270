// SPDX-License-Identifier: MIT
// A training job's checkpoint over MPI. Every rank holds its shard of a transformer-shaped model
// (rows, columns or replicas, BF16 and F32, split unevenly), the same model whatever the number
// of ranks, so its consolidated files are the same bytes on any N.
//   mpirun -np N mpi_checkpoint save DIR [MB]   DCP shards in DIR/sharded, then consolidated in
//                                               parallel into DIR/model-0000i-of-0000K + index
//   mpirun -np M mpi_checkpoint load DIR [MB]   DIR/sharded on M ranks, split the other way;
//                                               exit 0 only if every element is the original
#include <safeshard/dist/load.hpp>
#include <safeshard/dist/mpi.hpp>
#include <safeshard/dist/save.hpp>
#include <safeshard/safeshard.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace safeshard;

struct tensor {
    std::string name;
    dtype type;
    std::vector<std::uint64_t> shape;
    int split;  // dimension split over ranks; -1: replicated
};

std::vector<tensor> model(std::uint64_t mb) {  // hidden size from the target size, 4 layers
    const auto h = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(mb << 20) / 120.0)) | 1;  // odd: uneven splits
    std::vector<tensor> m = {{"model.embed_tokens.weight", dtype::BF16, {4 * h, h}, 0}, {"model.norm.weight", dtype::F32, {h}, -1}};
    for (int l = 0; l < 4; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        m.push_back({p + "self_attn.q_proj.weight", dtype::BF16, {h, h}, 0});
        m.push_back({p + "self_attn.o_proj.weight", dtype::BF16, {h, h}, 1});
        m.push_back({p + "mlp.up_proj.weight", dtype::F32, {3 * h, h}, 0});
        m.push_back({p + "mlp.down_proj.weight", dtype::F32, {h, 3 * h}, 1});
        m.push_back({p + "input_layernorm.weight", dtype::F32, {h}, -1});
    }
    return m;
}

// Rank r's box of tensor t split along `dim` (rows or columns [n*r/N, n*(r+1)/N)), and its bytes.
void box(const tensor& t, int dim, std::uint32_t r, std::uint32_t n, std::vector<std::uint64_t>& off, std::vector<std::uint64_t>& len) {
    off.assign(t.shape.size(), 0);
    len = t.shape;
    if (dim < 0) return;
    const auto d = static_cast<std::size_t>(dim);
    off[d] = t.shape[d] * r / n;
    len[d] = t.shape[d] * (r + 1) / n - off[d];
}
std::vector<std::byte> bytes(const tensor& t, std::size_t k, const std::vector<std::uint64_t>& off, const std::vector<std::uint64_t>& len) {
    const std::size_t es = bits(t.type) / 8, cols = t.shape.size() == 2 ? len[1] : len[0], rows = t.shape.size() == 2 ? len[0] : 1;
    std::vector<std::byte> out(rows * cols * es);
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) {
            const std::uint64_t lin = t.shape.size() == 2 ? (off[0] + i) * t.shape[1] + off[1] + j : off[0] + j;
            const float v = static_cast<float>((lin * 2654435761u + k) % 4096) / 64.0f;
            std::uint32_t b;
            std::memcpy(&b, &v, 4);
            if (t.type == dtype::BF16) b >>= 16;
            std::memcpy(out.data() + (i * cols + j) * es, &b, es);
        }
    return out;
}

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rc = 1;
    if (auto comm = dist::mpi_communicator::create(MPI_COMM_WORLD); !comm) {
        std::fprintf(stderr, "%s\n", comm.error().to_string().c_str());
    } else if (argc < 3 || (std::string(argv[1]) != "save" && std::string(argv[1]) != "load")) {
        if (comm->rank() == 0) std::fprintf(stderr, "usage: mpi_checkpoint save|load DIR [MB, 64 by default]\n");
    } else {
        const bool save = std::string(argv[1]) == "save";
        const std::string dir = argv[2];
        const auto m = model(argc > 3 ? std::stoull(argv[3]) : 64);
        const std::uint32_t r = comm->rank(), n = comm->size();
        std::vector<std::vector<std::byte>> held;  // what this rank holds (save) or must read (load)
        std::vector<std::vector<std::uint64_t>> offs(m.size()), lens(m.size());
        for (std::size_t k = 0; k < m.size(); ++k) {
            const int dim = save ? m[k].split : (m[k].split == 0 ? 1 : 0);  // a load splits the other way
            box(m[k], m[k].shape.size() == 1 && !save ? -1 : dim, r, n, offs[k], lens[k]);
            held.push_back(bytes(m[k], k, offs[k], lens[k]));
        }
        std::uint64_t mine = 0;
        for (const auto& b : held) mine += b.size();
        const auto start = std::chrono::steady_clock::now();
        status st;
        if (save) {
            checkpoint::rank_state state;
            for (std::size_t k = 0; k < m.size(); ++k) state.push_back({m[k].name, m[k].type, m[k].shape, offs[k], lens[k], held[k]});
            checkpoint::consolidating_storage_writer<checkpoint::size_capped> writer(dir, checkpoint::size_capped{16 << 20});
            if (auto saved = dist::save(*comm, writer, state); !saved) st = saved.error();
        } else if (auto reader = dist::open_reader(*comm, dir + "/sharded"); !reader) {
            st = reader.error();
        } else {
            for (std::size_t k = 0; k < m.size() && st; ++k) {
                std::vector<std::byte> got(held[k].size());
                st = reader->read_raw(m[k].name, offs[k], lens[k], got);
                if (st && got != held[k]) st = error_info(errc::invalid_argument).at_tensor(m[k].name).with_detail("differs from the model");
            }
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::uint64_t total = 0;
        MPI_Reduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
        if (!st) std::fprintf(stderr, "rank %u: %s\n", r, st.error().to_string().c_str());
        else std::printf("rank %u: %s %.1f MB in %.3f s, %.0f MB/s\n", r, save ? "saved" : "loaded and checked", mine / 1e6, secs, mine / 1e6 / secs);
        if (r == 0 && st)
            std::printf("%s %s on %u ranks: %.1f MB, %.0f MB/s in total\n", save ? "saved and consolidated" : "loaded", dir.c_str(), n,
                        total / 1e6, total / 1e6 / secs);
        rc = st ? 0 : 1;
    }
    MPI_Finalize();
    return rc;
}
