// SPDX-License-Identifier: MIT
// Consolidating a ~1 GiB model saved by 4 in-process ranks (its largest tensor column-sharded,
// so its pieces are 1 KiB runs, the rest row-sharded) into one Hugging Face file, next to
// copying the same shard files (read in 8 MiB blocks, written, fsynced: what `cp` plus a sync
// does), measured in the same run, with the peak resident memory of each consolidation.
//
//   consolidate [size] [reps] [threads] [dir]      (or --size=1G --reps=3 --threads=2 --dir=/tmp)
//
// Outputs are removed (and the file system synced) between runs, untimed, and the inputs are
// read once right before each run so both start warm. Ours and copy alternate order.
// ratio = copy time / ours time (target >= 0.91, i.e. at most 1.1x the copy time).

#include "common.hpp"

#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/consolidate.hpp>
#include <safeshard/file/reader.hpp>

#include <filesystem>

namespace {

constexpr std::uint64_t ranks = 4;

void remove_tree(const std::string& dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

std::vector<std::string> shard_files(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
}

bench::timing copy_files(const std::vector<std::string>& inputs, const std::string& out_dir) {
    static bench::region buf(bench::block, bench::pages::huge);
    buf.prefault();
    bench::stopwatch sw;
    std::filesystem::create_directories(out_dir);
    for (const auto& in : inputs) {
        int src = bench::open_or_die(in, O_RDONLY);
        int dst = bench::open_or_die(out_dir + "/" + std::filesystem::path(in).filename().string(), O_WRONLY | O_CREAT | O_TRUNC);
        for (;;) {
            ssize_t n = ::read(src, buf.data(), bench::block);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) bench::die("read", std::strerror(errno));
            if (n == 0) break;
            bench::write_all(dst, buf.data(), static_cast<std::size_t>(n));
        }
        if (::fsync(dst) != 0) bench::die("fsync", std::strerror(errno));
        ::close(src);
        ::close(dst);
    }
    return sw.stop();
}

}  // namespace

int main(int argc, char** argv) {
    bench::options opt(argc, argv, {"size", "reps", "threads", "dir"},
                       "usage: consolidate [size] [reps] [threads] [dir]\n"
                       "  size     total tensor bytes, K/M/G suffixes (default 1G)\n"
                       "  reps     timed runs of each (default 3)\n"
                       "  threads  consolidation threads (default 2)\n"
                       "  dir      where to make the temp directory (default /tmp); removed at exit\n");
    const std::uint64_t size = opt.bytes("size", std::uint64_t{1} << 30);
    const int reps = opt.integer("reps", 3);
    const int threads = opt.integer("threads", 2);
    const std::string dir = bench::make_temp_dir(opt.str("dir"));
    const std::string in_dir = dir + "/in";

    // The model: the tensor set of the other benchmarks, its largest tensor column-sharded
    // over 4 ranks and every other one row-sharded (uneven where rows do not divide).
    bench::tensor_set set = bench::make_tensor_set(size);
    std::size_t largest = 0;
    for (std::size_t i = 1; i < set.size(); ++i)
        if (set.bytes[i] > set.bytes[largest]) largest = i;
    {
        bench::region arena(static_cast<std::size_t>(set.total), bench::pages::huge);
        const std::vector<std::uint64_t> at = bench::fill_set(set, arena.data());
        std::vector<std::vector<std::byte>> columns(ranks);
        std::vector<safeshard::checkpoint::rank_state> states(ranks);
        for (std::uint64_t r = 0; r < ranks; ++r)
            for (std::size_t i = 0; i < set.size(); ++i) {
                const auto [rows, cols] = set.shapes[i];
                std::vector<std::uint64_t> global = {rows, cols};
                if (i == largest) {
                    const std::uint64_t w = cols / ranks, c0 = r * w;
                    columns[r].resize(rows * w * 4);
                    for (std::uint64_t row = 0; row < rows; ++row)
                        std::memcpy(columns[r].data() + row * w * 4, arena.data() + at[i] + (row * cols + c0) * 4, w * 4);
                    states[r].push_back({set.names[i], safeshard::dtype::F32, global, {0, c0}, {rows, w}, columns[r]});
                } else {
                    const std::uint64_t per = (rows + ranks - 1) / ranks, r0 = std::min(rows, r * per),
                                        n = std::min(rows, r0 + per) - r0;
                    states[r].push_back({set.names[i], safeshard::dtype::F32, global, {r0, 0}, {n, cols},
                                         {arena.data() + at[i] + r0 * cols * 4, static_cast<std::size_t>(n * cols * 4)}});
                }
            }
        auto saved = safeshard::checkpoint::dcp_storage_writer<>(in_dir).save(states);
        bench::check(saved, "dcp save");
    }
    const auto inputs = shard_files(in_dir);
    std::uint64_t input_bytes = 0;
    for (const auto& f : inputs) input_bytes += bench::file_size(f);

    std::printf("consolidate: %zu F32 tensors (%.2f GiB; largest %.0f MiB column-sharded), %llu ranks -> 1 file, "
                "%d threads, in %s; %d runs each, alternating\n",
                set.size(), bench::gib(set.total), bench::mib(set.bytes[largest]), static_cast<unsigned long long>(ranks),
                threads, dir.c_str(), reps);
    std::fflush(stdout);

    // Each run starts with its inputs warm; ours also records its peak resident memory.
    long peak = 0;
    auto run_ours = [&](const std::string& out) {
        for (const auto& f : inputs) bench::warm_file(f);
        bench::reset_peak_rss();
        bench::stopwatch sw;
        auto r = safeshard::checkpoint::consolidate(in_dir, out, safeshard::checkpoint::single_file{},
                                                   {.thread_count = static_cast<unsigned>(threads)});
        bench::timing t = sw.stop();
        bench::check(r, "consolidate");
        peak = std::max(peak, bench::peak_rss_kib());
        return t;
    };
    auto run_copy = [&](const std::string& out) {
        for (const auto& f : inputs) bench::warm_file(f);
        return copy_files(inputs, out);
    };

    // Once, untimed: the output holds every tensor, byte for byte where the pattern is checked.
    {
        run_ours(dir + "/check");
        auto f = safeshard::file_reader::open(dir + "/check/model-00001-of-00001.safetensors");
        bench::check(f, "open consolidated");
        bench::verify_file(*f, set, 1, "consolidate");
        remove_tree(dir + "/check");
        bench::sync_fs(dir);
        peak = 0;
    }

    const std::string out = dir + "/out";
    auto settle = [&] {
        remove_tree(out);
        bench::sync_fs(dir);
    };
    const bench::pair_result res = bench::alternate(
        reps,
        [&](int) {
            auto t = run_ours(out);
            settle();
            return t;
        },
        [&](int) {
            auto t = run_copy(out);
            settle();
            return t;
        });

    std::printf("  GB/s = shard file bytes (%.2f GB) / time; ratio = copy time / ours time of the medians; paired =\n"
                "  median of per-run ratios; best = ratio of the fastest runs\n\n", static_cast<double>(input_bytes) / 1e9);
    bench::pair_head(50, "copy GB/s");
    std::printf("  %s\n", "target >= 0.91 (<= 1.1x copy time)");
    const double ratio = bench::pair_row(50, "consolidate 4 ranks -> 1 file vs cp + fsync", input_bytes, res);
    std::printf("  %s\n", bench::verdict(ratio >= 1 / 1.1));
    std::printf("  peak resident memory during consolidation: %.1f MiB (target < 256 MiB)\n", static_cast<double>(peak) / 1024.0);
    bench::print_runs("  ", res, "copy", false);
    return 0;
}
