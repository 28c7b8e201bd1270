// SPDX-License-Identifier: MIT
// Saving ~1 GiB of tensors with save_file (atomic: temp file, write, fsync, rename, fsync of
// the directory), next to a raw sequential write of the same bytes to the same directory
// (open, write in 8 MiB blocks, fsync, close), measured in the same run.
//
//   write [size] [reps] [dir]      (or --size=1G --reps=3 --dir=/tmp)
//
// The file is removed (and the file system synced) between runs, untimed; ours and raw
// alternate order. GB/s = file bytes / time; ratio = raw time / ours time (target >= 0.9).

#include "common.hpp"

#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>

namespace {

bench::timing ours(const std::string& path, std::span<const safeshard::tensor_entry> entries) {
    bench::stopwatch sw;
    bench::check(safeshard::save_file(path, entries), "save_file");
    return sw.stop();
}

bench::timing raw(const std::string& path, const std::string& header, std::span<const std::byte> data) {
    bench::stopwatch sw;
    bench::write_file_synced(path, std::as_bytes(std::span<const char>(header)), data);
    return sw.stop();
}

}  // namespace

int main(int argc, char** argv) {
    bench::options opt(argc, argv, {"size", "reps", "dir"},
                       "usage: write [size] [reps] [dir]\n"
                       "  size  total tensor bytes, K/M/G suffixes (default 1G)\n"
                       "  reps  timed runs of each (default 3)\n"
                       "  dir   where to make the temp directory (default /tmp); removed at exit\n");
    const std::uint64_t size = opt.bytes("size", std::uint64_t{1} << 30);
    const int reps = opt.integer("reps", 3);
    const std::string dir = bench::make_temp_dir(opt.str("dir"));
    const std::string path = dir + "/write.safetensors";

    // The tensors, laid out in one arena in the canonical data order, so that the raw writer
    // writes exactly the bytes save_file writes: the header, then the arena front to back.
    bench::tensor_set set = bench::make_tensor_set(size);
    std::vector<safeshard::tensor_spec> specs;
    for (std::size_t i = 0; i < set.size(); ++i) specs.push_back({set.names[i], safeshard::dtype::F32, set.shapes[i]});
    auto layout = safeshard::emit_header(specs);
    bench::check(layout, "emit_header");
    bench::region arena(static_cast<std::size_t>(layout->data_size), bench::pages::huge);
    bench::fill_set(set, arena.data(), layout->begin);
    std::vector<safeshard::tensor_entry> entries;
    for (std::size_t i = 0; i < set.size(); ++i)
        entries.push_back({set.names[i], safeshard::dtype::F32, {set.shapes[i][0], set.shapes[i][1]},
                           {arena.data() + layout->begin[i], static_cast<std::size_t>(set.bytes[i])}});
    const std::span<const std::byte> data(arena.data(), static_cast<std::size_t>(layout->data_size));
    const std::uint64_t bytes = layout->file_size();

    std::printf("write: %zu F32 tensors, %.2f GiB file, in %s; %d runs each, alternating, file removed between runs\n",
                set.size(), bench::gib(bytes), dir.c_str(), reps);
    std::fflush(stdout);

    // Check once, untimed, that both write the same file, and that it reads back.
    {
        ours(path, entries);
        if (bench::file_size(path) != bytes) bench::die("save_file", "unexpected file size");
        auto r = safeshard::file_reader::open(path);
        bench::check(r, "file_reader::open");
        bench::verify_file(*r, set, 7, "save_file");
        if (r->header().data_offset() != layout->bytes.size()) bench::die("save_file", "header differs from emit_header's");
        bench::remove_and_sync({path}, dir);
    }

    // After each run, untimed: the whole file is there, then it goes.
    auto settle = [&](const char* what) {
        if (bench::file_size(path) != bytes) bench::die(what, "unexpected file size");
        bench::remove_and_sync({path}, dir);
    };
    const bench::pair_result res = bench::alternate(
        reps,
        [&](int) {
            auto t = ours(path, entries);
            settle("save_file");
            return t;
        },
        [&](int) {
            auto t = raw(path, layout->bytes, data);
            settle("raw write");
            return t;
        });

    std::printf("  ratio = raw time / ours time (= ours GB/s / raw GB/s) of the medians; paired = median of the\n"
                "  per-run ratios (run i of ours against run i of raw); best = ratio of the fastest runs\n\n");
    bench::pair_head(50, "raw GB/s");
    std::printf("  %s\n", "target >= 0.9 (ratio)");
    const double ratio = bench::pair_row(50, "save_file (atomic, fsync) vs write 8 MiB + fsync", bytes, res);
    std::printf("  %s\n", bench::verdict(ratio >= 0.9));
    bench::print_runs("  ", res, "raw", false);
    return 0;
}
