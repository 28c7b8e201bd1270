// SPDX-License-Identifier: MIT
// A checkpoint saved by 4 MPI processes and loaded by 3, each next to the raw I/O of the same
// bytes, measured in the same run. Run under mpirun with 4 ranks (bench/run_dist.sh does):
//
//   mpirun -np 4 dist_mpi [size] [reps] [dir]      (default 1G, 3, /tmp)
//
// * save: `dist::save` of a DCP checkpoint into a new directory (each rank its row or column
//   chunk of every tensor) against each rank writing the same bytes to a new file of its own in
//   8 MiB writes and fsync;
// * load 4 -> 3: `dist::open_reader` on 3 of the ranks, then each reads its third of the rows
//   of every tensor into pre-faulted memory, against the 3 ranks `pread`ing a third of the shard
//   files' bytes each in 8 MiB blocks (page cache warm).
// A run's time is the slowest rank's, from a barrier to a barrier. The metadata exchange (the
// plan's gather and scatter in a save; rank 0's header read and broadcast and the rebuild in a
// load) is timed on its own and shown as a share of the whole. Targets: save 0.9x, load 0.8x.

#include "common.hpp"

#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/dist/load.hpp>
#include <safeshard/dist/messages.hpp>
#include <safeshard/dist/mpi.hpp>
#include <safeshard/dist/save.hpp>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace safeshard;
namespace ck = safeshard::checkpoint;

struct tensor {
    std::string name;
    dtype type;
    std::vector<std::uint64_t> shape;
    int split;  // the dimension the save splits; the load splits rows
};

// A transformer's tensors, hidden size from the total: embedding and attention in BF16, MLP in
// F32; o_proj and down_proj split by columns, the rest by rows, norms whole on every rank.
std::vector<tensor> model(std::uint64_t bytes) {
    const auto h = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(bytes) / 120.0)) | 1;
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

void box(const tensor& t, int dim, std::uint32_t r, std::uint32_t n, std::vector<std::uint64_t>& off, std::vector<std::uint64_t>& len) {
    off.assign(t.shape.size(), 0);
    len = t.shape;
    if (dim < 0 || static_cast<std::size_t>(dim) >= t.shape.size()) return;
    const auto d = static_cast<std::size_t>(dim);
    off[d] = t.shape[d] * r / n;
    len[d] = t.shape[d] * (r + 1) / n - off[d];
}

std::uint64_t box_bytes(const tensor& t, const std::vector<std::uint64_t>& len) {
    std::uint64_t n = bits(t.type) / 8;
    for (auto l : len) n *= l;
    return n;
}

// The slowest rank's time of fn(), from a barrier to a barrier.
template <class Fn>
double slowest(MPI_Comm comm, Fn&& fn) {
    MPI_Barrier(comm);
    const double t0 = bench::now();
    fn();
    MPI_Barrier(comm);
    double mine = bench::now() - t0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_DOUBLE, MPI_MAX, comm);
    return all;
}

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    {
        bench::options opt(argc, argv, {"size", "reps", "dir"},
                           "usage: mpirun -np 4 dist_mpi [size] [reps] [dir]\n  size  model bytes, K/M/G suffixes (default 1G)\n"
                           "  reps  timed runs of each case (default 3)\n  dir   where the temp directory goes (default /tmp)\n");
        auto made = dist::mpi_communicator::create(MPI_COMM_WORLD);
        auto& comm = bench::check(made, "MPI communicator");
        const std::uint32_t rank = comm.rank(), world = comm.size();
        if (world != 4) {
            if (rank == 0) std::fprintf(stderr, "dist_mpi: run it on 4 ranks (mpirun -np 4), not %u\n", world);
            MPI_Finalize();
            return 2;
        }
        const int reps = opt.integer("reps", 3);
        std::string root;
        if (rank == 0) root = bench::make_temp_dir(opt.str("dir", "/tmp"));
        dist::buffer name(root.size());
        std::memcpy(name.data(), root.data(), root.size());
        bench::check(comm.broadcast(name, 0), "broadcast");
        root.assign(reinterpret_cast<const char*>(name.data()), name.size());

        // This rank's chunks, with bytes.
        const auto m = model(opt.bytes("size", 1ull << 30));
        std::vector<std::vector<std::byte>> held;
        ck::rank_state state;
        std::uint64_t mine = 0, total = 0;
        for (std::size_t k = 0; k < m.size(); ++k) {
            std::vector<std::uint64_t> off, len;
            box(m[k], m[k].split, rank, world, off, len);
            held.emplace_back(box_bytes(m[k], len));
            for (std::size_t i = 0; i < held.back().size(); i += 4096) held.back()[i] = static_cast<std::byte>(k + i / 4096);
            state.push_back(ck::save_chunk{m[k].name, m[k].type, m[k].shape, off, len, held.back()});
            mine += held.back().size();
        }
        MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        std::vector<std::byte> flat;  // the raw writer's bytes: this rank's chunks back to back
        for (const auto& b : held) flat.insert(flat.end(), b.begin(), b.end());

        // ---- save ----
        // Each save goes to a new directory, as a job saves step after step, and each raw run to
        // a new file: neither pays for freeing the blocks of an older one (that happens after
        // the timing, as the raw file's removal does).
        bench::pair_result save;
        const std::string ours_dir = root + "/ours";
        bench::interleave(reps, 2, [&](int, int side) {
            if (side == 0) {
                if (rank == 0) {
                    std::error_code ec;
                    std::filesystem::remove_all(ours_dir, ec);
                    bench::sync_fs(root);
                }
                save.ours.add(slowest(MPI_COMM_WORLD, [&] {
                    ck::dcp_storage_writer<> writer(ours_dir);
                    auto r = dist::save(comm, writer, state);
                    bench::check(r, "dist::save");
                }));
            } else {
                const std::string raw = root + "/raw-" + std::to_string(rank);
                save.raw.add(slowest(MPI_COMM_WORLD, [&] { bench::write_file_synced(raw, {}, flat); }));
                std::filesystem::remove(raw);
            }
            if (rank == 0) bench::sync_fs(root);
            MPI_Barrier(MPI_COMM_WORLD);
        });
        // The save's parts on their own: the plan's exchange (gather the chunks, plan on rank 0,
        // scatter the parts), then every rank's files written and synced under temp names (the
        // rest of a save is publishing them, the agreements and the results).
        bench::samples exchange, writing;
        for (int r = 0; r < reps; ++r) {
            ck::save_plan mine_plan;
            exchange.add(slowest(MPI_COMM_WORLD, [&] {
                std::vector<dist::buffer> states, parts;
                bench::check(comm.gather(dist::encode_rank_state(state), states, 0), "gather");
                if (rank == 0) {
                    std::vector<ck::rank_state> all;
                    for (std::uint32_t k = 0; k < world; ++k) all.push_back(*dist::decode_rank_state(states[k], k));
                    auto plan = ck::dcp_storage_writer<>(ours_dir).plan(all);
                    bench::check(plan, "plan");
                    for (std::uint32_t k = 0; k < world; ++k) parts.push_back(dist::encode_plan_part(*plan, k));
                }
                dist::buffer part;
                bench::check(comm.scatter(parts, part, 0), "scatter");
                auto p = dist::decode_plan_part(part, rank, 0);
                mine_plan = std::move(bench::check(p, "plan part"));
            }));
            std::vector<io::atomic_file_sink> prepared;
            writing.add(slowest(MPI_COMM_WORLD, [&] {
                auto w = ck::dcp_storage_writer<>(ours_dir).prepare_rank(mine_plan, rank, state, prepared);
                bench::check(w, "prepare_rank");
            }));
        }  // the prepared files are dropped: removed

        // ---- load 4 -> 3, on ranks 0..2 (rank 3 waits) ----
        MPI_Comm three;
        MPI_Comm_split(MPI_COMM_WORLD, rank < 3 ? 0 : MPI_UNDEFINED, static_cast<int>(rank), &three);
        bench::pair_result load;
        bench::samples opening;
        std::uint64_t loaded = 0;
        if (rank < 3) {
            auto sub = dist::mpi_communicator::create(three);
            auto& c3 = bench::check(sub, "sub-communicator");
            std::vector<std::string> files;
            std::vector<std::uint64_t> sizes;
            std::uint64_t file_bytes = 0;
            for (const auto& e : std::filesystem::directory_iterator(ours_dir)) {
                files.push_back(e.path().string());
                sizes.push_back(bench::file_size(files.back()));
                file_bytes += sizes.back();
                bench::warm_file(files.back());
            }
            // Where this rank's rows go (pre-faulted), and the raw reader's third of the bytes.
            std::vector<std::vector<std::uint64_t>> offs(m.size()), lens(m.size());
            std::vector<std::uint64_t> at(m.size());
            std::uint64_t want = 0;
            for (std::size_t k = 0; k < m.size(); ++k) {
                box(m[k], 0, rank, 3, offs[k], lens[k]);
                at[k] = want;
                want += box_bytes(m[k], lens[k]);
            }
            const std::uint64_t lo = file_bytes * rank / 3, hi = file_bytes * (rank + 1) / 3;
            bench::region arena(std::max<std::uint64_t>(want, hi - lo), bench::pages::huge);
            arena.prefault();
            loaded = want;
            bench::interleave(reps, 2, [&](int, int side) {
                if (side == 0) {
                    double opened = 0;
                    load.ours.add(slowest(three, [&] {
                        const double t0 = bench::now();
                        auto reader = dist::open_reader(c3, ours_dir);
                        bench::check(reader, "dist::open_reader");
                        opened = bench::now() - t0;
                        for (std::size_t k = 0; k < m.size(); ++k)
                            bench::check(reader->read_raw(m[k].name, offs[k], lens[k],
                                                          std::span(arena.data() + at[k], box_bytes(m[k], lens[k]))),
                                         "read_raw");
                    }));
                    double slow = 0;
                    MPI_Allreduce(&opened, &slow, 1, MPI_DOUBLE, MPI_MAX, three);
                    opening.add(slow);
                } else {
                    load.raw.add(slowest(three, [&] {
                        std::uint64_t pos = 0, out = 0;
                        for (std::size_t f = 0; f < files.size(); pos += sizes[f], ++f) {
                            const std::uint64_t a = std::max(lo, pos), b = std::min(hi, pos + sizes[f]);
                            if (a >= b) continue;
                            int fd = bench::open_or_die(files[f], O_RDONLY);
                            for (std::uint64_t x = a; x < b; x += bench::block) {
                                const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(bench::block, b - x));
                                bench::pread_all(fd, arena.data() + out, n, x - pos);
                                out += n;
                            }
                            ::close(fd);
                        }
                    }));
                }
            });
            MPI_Comm_free(&three);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        std::uint64_t all_loaded = 0;
        MPI_Reduce(&loaded, &all_loaded, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);

        if (rank == 0) {
            std::printf("dist_mpi: %zu tensors, %.2f GiB, saved by 4 MPI processes and loaded by 3 (page cache warm); in %s\n",
                        m.size(), bench::gib(total), root.c_str());
            std::printf("  ratio = raw time / ours time of the medians (the slowest rank's time, barrier to barrier);\n"
                        "  paired = median of per-run ratios; best = fastest runs\n\n");
            bench::pair_head(44, " raw GB/s");
            std::printf("  target (ratio)\n");
            const double s = bench::pair_row(44, "save, 4 ranks (DCP shards) vs write + fsync", total, save);
            std::printf("  0.9: %s\n", bench::verdict(s >= 0.9));
            bench::print_runs("    ", save, "raw", false);
            const double whole = save.ours.median();
            std::printf("    of which: the plan's exchange (gather, plan on rank 0, scatter) %.1f ms (%.1f%%); the files\n"
                        "    written and synced under temp names %.3f s (%.1f%%); publishing, agreements, results %.3f s (%.1f%%)\n",
                        exchange.median() * 1e3, 100 * exchange.median() / whole, writing.median(), 100 * writing.median() / whole,
                        whole - exchange.median() - writing.median(), 100 * (whole - exchange.median() - writing.median()) / whole);
            const double l = bench::pair_row(44, "load 4 -> 3 row slabs vs pread 8 MiB", all_loaded, load);
            std::printf("  0.8: %s\n", bench::verdict(l >= 0.8));
            bench::print_runs("    ", load, "raw", false);
            std::printf("    of which opening (rank 0 reads the headers and sends them, the others rebuild them): %.1f ms, %.1f%% of the load\n",
                        opening.median() * 1e3, 100 * opening.median() / load.ours.median());
        }
    }
    MPI_Finalize();
    return 0;
}
