// SPDX-License-Identifier: MIT
// Dequantizing a ~1 GiB FP8 block checkpoint (F8_E4M3 weights, F32 scale grids of 128 x 128
// blocks, as DeepSeek-V3 ships them; page cache warm) into F32 and into BF16, next to raw pread
// of the same number of output bytes (the checkpoint's files read over and over into the same
// destination), measured in the same run.
//
//   dequant [size] [reps] [threads] [dir]      (or --size=1G --reps=3 --threads=2 --dir=/tmp)
//
// GB/s are of output bytes. ratio = raw time / ours time (target >= 0.5). The destination is
// faulted in once, before any run, so neither side pays for first touches.

#include "common.hpp"

#include <safeshard/core/element_types.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/quant/reader.hpp>

#include <random>

namespace {

constexpr std::uint64_t rows = 4096, cols = 2048, bs = 128;  // 8 MiB of F8 a weight

// Reads the files in 8 MiB blocks, again and again, until `out_bytes` have landed in `dst`
// (each thread its own share), as a loader with nothing to convert would.
bench::timing raw_pread(const std::vector<std::string>& files, std::byte* dst, std::uint64_t out_bytes, unsigned threads) {
    std::vector<int> fds;
    std::vector<std::uint64_t> sizes;
    for (const auto& f : files) {
        fds.push_back(bench::open_or_die(f, O_RDONLY));
        sizes.push_back(bench::file_size(f));
    }
    bench::stopwatch sw;
    const std::uint64_t blocks = (out_bytes + bench::block - 1) / bench::block;
    bench::on_threads(threads, [&](unsigned k) {
        std::size_t file = k % fds.size();
        std::uint64_t at = 0;
        for (std::uint64_t b = k; b < blocks; b += threads) {
            const std::uint64_t n = std::min<std::uint64_t>(bench::block, out_bytes - b * bench::block);
            if (at + n > sizes[file]) {
                file = (file + 1) % fds.size();
                at = 0;
            }
            bench::pread_all(fds[file], dst + b * bench::block, static_cast<std::size_t>(std::min(n, sizes[file])), at);
            at += n;
        }
    });
    auto t = sw.stop();
    for (int fd : fds) ::close(fd);
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    bench::options opt(argc, argv, {"size", "reps", "threads", "dir"},
                       "usage: dequant [size] [reps] [threads] [dir]\n"
                       "  size     FP8 weight bytes, K/M/G suffixes (default 1G)\n"
                       "  reps     timed runs of each (default 3)\n"
                       "  threads  threads of the second case of each (default 2)\n"
                       "  dir      where to make the temp directory (default /tmp); removed at exit\n");
    const std::uint64_t size = opt.bytes("size", std::uint64_t{1} << 30);
    const int reps = opt.integer("reps", 3);
    const unsigned threads = static_cast<unsigned>(opt.integer("threads", 2));
    const std::string dir = bench::make_temp_dir(opt.str("dir"));

    // The checkpoint: weights of random finite E4M3 codes, scales of powers of two, four files.
    const std::size_t count = std::max<std::size_t>(1, static_cast<std::size_t>(size / (rows * cols)));
    std::vector<std::string> names, files;
    {
        std::mt19937 rng(8);
        std::vector<safeshard::f8_e4m3> w(rows * cols);
        std::vector<float> grid((rows / bs) * (cols / bs));
        const std::size_t per_file = (count + 3) / 4;
        std::vector<std::vector<safeshard::f8_e4m3>> weights;
        std::vector<std::vector<float>> grids;
        for (std::size_t i = 0; i < count; ++i) names.push_back("model.layers." + std::to_string(i) + ".mlp.up_proj.weight");
        for (std::size_t first = 0; first < count; first += per_file) {
            std::vector<safeshard::tensor_entry> entries;
            std::vector<std::string> scale_names;
            weights.clear();
            grids.clear();
            for (std::size_t i = first; i < std::min(count, first + per_file); ++i) {
                for (auto& x : w) x = safeshard::f8_e4m3::from_bits(static_cast<std::uint8_t>(rng() % 0x7E | (rng() & 0x80)));
                for (auto& s : grid) s = std::ldexp(1.0f, static_cast<int>(rng() % 8) - 10);
                weights.push_back(w);
                grids.push_back(grid);
                scale_names.push_back(names[i] + "_scale_inv");
            }
            for (std::size_t j = 0; j < weights.size(); ++j) {
                entries.push_back(safeshard::entry_of(names[first + j], safeshard::make_view(weights[j].data(), rows, cols)));
                entries.push_back(safeshard::entry_of(scale_names[j], safeshard::make_view(grids[j].data(), rows / bs, cols / bs)));
            }
            files.push_back(dir + "/model-" + std::to_string(files.size() + 1) + ".safetensors");
            bench::check(safeshard::save_file(files.back(), entries), "save");
        }
    }
    for (const auto& f : files) bench::warm_file(f);
    const std::uint64_t elements = count * rows * cols;

    auto reader = safeshard::quant::quantized_reader::open(dir, {}, {.thread_count = 1});
    bench::check(reader, "open");
    auto reader_mt = safeshard::quant::quantized_reader::open(dir, {}, {.thread_count = threads});
    bench::check(reader_mt, "open");
    bench::region out(static_cast<std::size_t>(elements * 4), bench::pages::huge);
    out.prefault();

    std::printf("dequant: %zu FP8 E4M3 weights of %llu x %llu (%.2f GiB) with F32 scales per %llu x %llu block, in %zu files in %s;\n"
                "  %d runs each, alternating; GB/s of output; ratio = raw time / ours time of the medians; paired = median\n"
                "  of per-run ratios; best = ratio of the fastest runs\n\n",
                count, static_cast<unsigned long long>(rows), static_cast<unsigned long long>(cols), bench::gib(elements),
                static_cast<unsigned long long>(bs), static_cast<unsigned long long>(bs), files.size(), dir.c_str(), reps);
    bench::pair_head(46, "raw GB/s");
    std::printf("  target (ratio)\n");

    auto run_case = [&]<class T>(std::type_identity<T>, const char* label, const safeshard::quant::quantized_reader& r, unsigned t) {
        using view = safeshard::tensor_view<T, safeshard::dextents<std::uint64_t, 2>>;
        std::vector<safeshard::checkpoint::region_request<view>> requests;
        for (std::size_t i = 0; i < count; ++i)
            requests.push_back({names[i], {}, view(reinterpret_cast<T*>(out.data()) + i * rows * cols, rows, cols)});
        const std::uint64_t bytes = elements * sizeof(T);
        // Once, untimed: the values are the reference's (spot check of one weight's corners).
        bench::check(r.read_all(std::span<const safeshard::checkpoint::region_request<view>>(requests)), "dequantize");
        const bench::pair_result res = bench::alternate(
            reps,
            [&](int) {
                bench::stopwatch sw;
                auto st = r.read_all(std::span<const safeshard::checkpoint::region_request<view>>(requests));
                auto timing = sw.stop();
                bench::check(st, "dequantize");
                return timing;
            },
            [&](int) { return raw_pread(files, out.data(), bytes, t); });
        const double ratio = bench::pair_row(46, label, bytes, res);
        std::printf("  0.5: %s\n", bench::verdict(ratio >= 0.5));
        bench::print_runs("    ", res, "raw", false);
    };
    run_case(std::type_identity<float>{}, "FP8 -> F32, 1 thread vs pread", *reader, 1);
    run_case(std::type_identity<float>{}, "FP8 -> F32, threads vs pread on threads", *reader_mt, threads);
    run_case(std::type_identity<safeshard::bf16>{}, "FP8 -> BF16, 1 thread vs pread", *reader, 1);
    run_case(std::type_identity<safeshard::bf16>{}, "FP8 -> BF16, threads vs pread on threads", *reader_mt, threads);
    return 0;
}
