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

constexpr std::size_t block = std::size_t{8} << 20;

void remove_and_sync(const std::string& path, const std::string& dir) {
    if (::unlink(path.c_str()) != 0) bench::die("unlink", path + ": " + std::strerror(errno));
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::syncfs(fd);  // let the freed blocks and the journal settle before the next run
        ::close(fd);
    }
}

double ours(const std::string& path, std::span<const safeshard::tensor_entry> entries) {
    double t0 = bench::now();
    bench::check(safeshard::save_file(path, entries), "save_file");
    return bench::now() - t0;
}

double raw(const std::string& path, const std::string& header, std::span<const std::byte> data) {
    double t0 = bench::now();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) bench::die("open", path + ": " + std::strerror(errno));
    bench::write_all(fd, reinterpret_cast<const std::byte*>(header.data()), header.size());
    for (std::size_t at = 0; at < data.size(); at += block)
        bench::write_all(fd, data.data() + at, std::min(block, data.size() - at));
    if (::fsync(fd) != 0) bench::die("fsync", std::strerror(errno));
    if (::close(fd) != 0) bench::die("close", std::strerror(errno));
    return bench::now() - t0;
}

std::uint64_t file_size(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) bench::die("stat", path + ": " + std::strerror(errno));
    return static_cast<std::uint64_t>(st.st_size);
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
    std::vector<safeshard::tensor_entry> entries;
    for (std::size_t i = 0; i < set.size(); ++i) {
        std::byte* at = arena.data() + layout->begin[i];
        bench::fill_pattern(at, set.bytes[i], i);
        entries.push_back({set.names[i], safeshard::dtype::F32, {set.shapes[i][0], set.shapes[i][1]},
                           {at, static_cast<std::size_t>(set.bytes[i])}});
    }
    const std::span<const std::byte> data(arena.data(), static_cast<std::size_t>(layout->data_size));
    const std::uint64_t bytes = layout->file_size();

    std::printf("write: %zu F32 tensors, %.2f GiB file, in %s; %d runs each, alternating, file removed between runs\n",
                set.size(), bench::gib(bytes), dir.c_str(), reps);
    std::fflush(stdout);

    // Check once, untimed, that both write the same file, and that it reads back.
    {
        ours(path, entries);
        if (file_size(path) != bytes) bench::die("save_file", "unexpected file size");
        auto r = safeshard::file_reader::open(path);
        bench::check(r, "file_reader::open");
        for (std::size_t i = 0; i < set.size(); i += 7) {
            auto b = r->bytes(*r->find(set.names[i]));
            bench::check(b, "file_reader::bytes");
            if (!bench::check_pattern(b->data(), set.bytes[i], i)) bench::die("save_file", "wrong bytes in " + set.names[i]);
        }
        if (r->header().data_offset() != layout->bytes.size()) bench::die("save_file", "header differs from emit_header's");
        remove_and_sync(path, dir);
    }

    bench::samples s_ours, s_raw;
    for (int r = 0; r < reps; ++r) {
        for (int side = 0; side < 2; ++side) {
            bool is_ours = (side == 0) == (r % 2 == 0);
            if (is_ours) s_ours.add(ours(path, entries));
            else s_raw.add(raw(path, layout->bytes, data));
            if (file_size(path) != bytes) bench::die(is_ours ? "save_file" : "raw write", "unexpected file size");
            remove_and_sync(path, dir);
        }
    }

    const double gb = static_cast<double>(bytes) / 1e9;
    double o = gb / s_ours.median(), w = gb / s_raw.median();
    std::printf("  ratio = raw time / ours time (= ours GB/s / raw GB/s) of the medians; paired = median of the\n"
                "  per-run ratios (run i of ours against run i of raw); best = ratio of the fastest runs\n\n");
    std::printf("  %-50s %9s %9s %7s %7s %7s  %s\n", "case", "ours GB/s", "raw GB/s", "ratio", "paired", "best",
                "target >= 0.9 (ratio)");
    std::printf("  %-50s %9.2f %9.2f %7.3f %7.3f %7.3f  %s\n", "save_file (atomic, fsync) vs write 8 MiB + fsync", o, w,
                o / w, bench::paired_ratio(s_raw, s_ours), s_raw.best() / s_ours.best(), o / w >= 0.9 ? "met" : "NOT met");
    std::printf("  runs (s), ours:");
    for (double t : s_ours.v) std::printf(" %.3f", t);
    std::printf("; raw:");
    for (double t : s_raw.v) std::printf(" %.3f", t);
    std::printf("\n");
    return 0;
}
