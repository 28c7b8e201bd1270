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

constexpr std::size_t block = std::size_t{8} << 20;
constexpr std::uint64_t ranks = 4;

void sync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::syncfs(fd);
        ::close(fd);
    }
}

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

// Peak resident memory since the last reset, in KiB (VmHWM); reset writes 5 to clear_refs.
void reset_peak_rss() {
    if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
        std::fputs("5", f);
        std::fclose(f);
    }
}
long peak_rss_kib() {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmHWM: %ld kB", &v) == 1) break;
    std::fclose(f);
    return v;
}

double copy_files(const std::vector<std::string>& inputs, const std::string& out_dir) {
    static bench::region buf(block, bench::pages::huge);
    buf.prefault();
    double t0 = bench::now();
    std::filesystem::create_directories(out_dir);
    for (const auto& in : inputs) {
        int src = ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
        std::string out = out_dir + "/" + std::filesystem::path(in).filename().string();
        int dst = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (src < 0 || dst < 0) bench::die("open", std::strerror(errno));
        for (;;) {
            ssize_t n = ::read(src, buf.data(), block);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) bench::die("read", std::strerror(errno));
            if (n == 0) break;
            bench::write_all(dst, buf.data(), static_cast<std::size_t>(n));
        }
        if (::fsync(dst) != 0) bench::die("fsync", std::strerror(errno));
        ::close(src);
        ::close(dst);
    }
    return bench::now() - t0;
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
        std::vector<std::uint64_t> at(set.size());
        std::uint64_t pos = 0;
        for (std::size_t i = 0; i < set.size(); ++i) {
            at[i] = pos;
            bench::fill_pattern(arena.data() + pos, set.bytes[i], i);
            pos += set.bytes[i];
        }
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
    for (const auto& f : inputs) input_bytes += std::filesystem::file_size(f);

    std::printf("consolidate: %zu F32 tensors (%.2f GiB; largest %.0f MiB column-sharded), %llu ranks -> 1 file, "
                "%d threads, in %s; %d runs each, alternating\n",
                set.size(), bench::gib(set.total), bench::mib(set.bytes[largest]), static_cast<unsigned long long>(ranks),
                threads, dir.c_str(), reps);
    std::fflush(stdout);

    auto run_ours = [&](const std::string& out) {
        for (const auto& f : inputs) bench::warm_file(f);
        reset_peak_rss();
        double t0 = bench::now();
        auto r = safeshard::checkpoint::consolidate(in_dir, out, safeshard::checkpoint::single_file{},
                                                   {.threads = static_cast<unsigned>(threads)});
        double t = bench::now() - t0;
        bench::check(r, "consolidate");
        return std::pair(t, peak_rss_kib());
    };

    // Once, untimed: the output holds every tensor, byte for byte where the pattern is checked.
    {
        run_ours(dir + "/check");
        auto f = safeshard::file_reader::open(dir + "/check/model-00001-of-00001.safetensors");
        bench::check(f, "open consolidated");
        for (std::size_t i = 0; i < set.size(); ++i) {
            auto b = f->bytes(*f->find(set.names[i]));
            bench::check(b, "consolidated bytes");
            if (!bench::check_pattern(b->data(), set.bytes[i], i)) bench::die("consolidate", "wrong bytes in " + set.names[i]);
        }
        remove_tree(dir + "/check");
        sync_dir(dir);
    }

    bench::samples s_ours, s_copy;
    long peak = 0;
    for (int r = 0; r < reps; ++r) {
        for (int side = 0; side < 2; ++side) {
            const bool is_ours = (side == 0) == (r % 2 == 0);
            const std::string out = dir + "/out";
            if (is_ours) {
                auto [t, rss] = run_ours(out);
                s_ours.add(t);
                peak = std::max(peak, rss);
            } else {
                for (const auto& f : inputs) bench::warm_file(f);
                s_copy.add(copy_files(inputs, out));
            }
            remove_tree(out);
            sync_dir(dir);
        }
    }

    const double gb = static_cast<double>(input_bytes) / 1e9;
    const double o = gb / s_ours.median(), c = gb / s_copy.median();
    std::printf("  GB/s = shard file bytes (%.2f GB) / time; ratio = copy time / ours time of the medians; paired =\n"
                "  median of per-run ratios; best = ratio of the fastest runs\n\n", gb);
    std::printf("  %-50s %9s %9s %7s %7s %7s  %s\n", "case", "ours GB/s", "copy GB/s", "ratio", "paired", "best",
                "target >= 0.91 (<= 1.1x copy time)");
    std::printf("  %-50s %9.2f %9.2f %7.3f %7.3f %7.3f  %s\n", "consolidate 4 ranks -> 1 file vs cp + fsync", o, c, o / c,
                bench::paired_ratio(s_copy, s_ours), s_copy.best() / s_ours.best(), o / c >= 1 / 1.1 ? "met" : "NOT met");
    std::printf("  peak resident memory during consolidation: %.1f MiB (target < 256 MiB)\n", static_cast<double>(peak) / 1024.0);
    std::printf("  runs (s), ours:");
    for (double t : s_ours.v) std::printf(" %.3f", t);
    std::printf("; copy:");
    for (double t : s_copy.v) std::printf(" %.3f", t);
    std::printf("\n");
    return 0;
}
