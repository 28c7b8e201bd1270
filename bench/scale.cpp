// SPDX-License-Identifier: MIT
// How the coordinator's plan and a checkpoint's open grow with the number of ranks: a
// tensor-parallel model of 192 tensors (q, k, v split by rows, o by columns, two norms per
// layer replicated) saved by 64, 512, 1,024 and 4,096 ranks. The plan is timed on metadata; the open
// on the real DCP checkpoint (one shard file per rank, 192 chunks each, tiny data), written to
// `dir` (/dev/shm by default, so that writing 4,096 files costs little) and opened warm.
//
//   scale [steps] [reps] [dir]      (default 64,512,1024,4096; 3; /dev/shm)
//
// Growth = time over the previous step's time, per doubling of the ranks (2.00 is linear).
// Targets (issue 13): plan of 4,096 ranks under 1 s, growth per doubling at most a little over 2;
// open of the 1,024-file checkpoint in 0.3 s or less.

#include "common.hpp"

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace safeshard;
namespace ck = safeshard::checkpoint;

std::vector<ck::rank_state> states_of(const std::vector<bench::tp_tensor>& m, std::uint32_t n, const std::vector<std::byte>& zeros) {
    std::vector<ck::rank_state> states(n);
    std::vector<std::uint64_t> off, len;
    for (std::uint32_t r = 0; r < n; ++r)
        for (const auto& t : m) {
            bench::tp_chunk(t, r, n, off, len);
            std::uint64_t bytes = 2;
            for (auto l : len) bytes *= l;
            states[r].push_back(ck::save_chunk{t.name, dtype::BF16, t.shape, off, len, std::span(zeros.data(), static_cast<std::size_t>(bytes))});
        }
    return states;
}

}  // namespace

int main(int argc, char** argv) {
    bench::options opt(argc, argv, {"steps", "reps", "dir"},
                       "usage: scale [steps] [reps] [dir]\n"
                       "  steps  rank counts, comma-separated (default 64,512,1024,4096)\n"
                       "  reps   timed runs of each (default 3)\n"
                       "  dir    where to write the checkpoints (default /dev/shm); removed at exit\n");
    std::vector<std::uint32_t> steps;
    {
        std::stringstream in(opt.str("steps", "64,512,1024,4096"));
        for (std::string s; std::getline(in, s, ',');) steps.push_back(static_cast<std::uint32_t>(std::stoul(s)));
    }
    const int reps = opt.integer("reps", 3);
    const std::string dir = bench::make_temp_dir(opt.str("dir", "/dev/shm"));
    const std::vector<std::byte> zeros(64);
    std::printf("scale: a tensor-parallel model of 192 tensors (q, k, v by rows, o by columns, norms replicated), saved by N\n"
                "  ranks (one DCP shard file each); the coordinator's plan on metadata, and storage_reader::open of the\n"
                "  checkpoint (page cache warm, thread_count 1 and 2) in %s; medians of %d runs\n\n", dir.c_str(), reps);
    std::printf("  %6s %8s | %10s %6s | %12s %6s | %12s %6s\n", "ranks", "chunks", "plan ms", "growth", "open ms (1)", "growth",
                "open ms (2)", "growth");
    double last[3] = {0, 0, 0};
    std::uint32_t last_n = 0;
    for (std::uint32_t n : steps) {
        // Each split dimension has `n` elements and the other 8: a chunk is one row or column
        // of 8 BF16 values.
        const auto m = bench::tp_model(n, 8);
        const auto states = states_of(m, n, zeros);
        ck::dcp_storage_writer<> writer(dir + "/ck" + std::to_string(n));
        bench::samples plan_s, open1, open2;
        for (int r = 0; r < reps; ++r) {
            bench::stopwatch sw;
            auto plan = writer.plan(states);
            plan_s.add(sw.stop());
            bench::check(plan, "plan");
        }
        auto saved = writer.save(states);
        bench::check(saved, "save");
        for (int r = 0; r < reps; ++r)
            for (unsigned threads : {1u, 2u}) {
                bench::stopwatch sw;
                auto reader = ck::storage_reader::open(std::string(writer.path()), {.thread_count = threads});
                (threads == 1 ? open1 : open2).add(sw.stop());
                bench::check(reader, "open");
            }
        const double now[3] = {plan_s.median() * 1e3, open1.median() * 1e3, open2.median() * 1e3};
        auto growth = [&](int k) {
            // per doubling: (t / t_prev) ^ (1 / log2(n / n_prev))
            if (last_n == 0) return std::string("     -");
            char b[16];
            std::snprintf(b, sizeof b, "%6.2f", std::pow(now[k] / last[k], 1.0 / std::log2(static_cast<double>(n) / last_n)));
            return std::string(b);
        };
        std::printf("  %6u %8zu | %10.1f %s | %12.1f %s | %12.1f %s\n", n, static_cast<std::size_t>(n) * m.size(), now[0],
                    growth(0).c_str(), now[1], growth(1).c_str(), now[2], growth(2).c_str());
        std::fflush(stdout);
        for (int k = 0; k < 3; ++k) last[k] = now[k];
        last_n = n;
        std::filesystem::remove_all(std::string(writer.path()));
    }
    std::printf("\n  targets: plan of 4,096 ranks < 1000 ms; growth per doubling at most a little over 2; open of 1,024 files <= 300 ms\n");
    return 0;
}
