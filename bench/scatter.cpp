// SPDX-License-Identifier: MIT
// Short strided runs: how the region engine lands a stored tensor whose rows are short runs of
// a wider destination, as a column chunk of a resharded load lands (a saved [rows, run] chunk
// into columns of a [rows, 2 × run] destination). For each run length, in the same run:
//
//   * ours:   pread_file_reader::read_slice of the whole tensor into the strided view;
//   * pread:  the limit, pread of the same bytes in 8 MiB blocks into as many contiguous
//             destination bytes (no scatter at all);
//   * preadv: by hand, preadv with one iovec per run (1,024 at a time), straight into place;
//   * window: by hand, pread of 256 KiB windows into a reused buffer, then memcpy of each run.
//
// The region engine picks preadv or windows by run length (file/region_copy.hpp); the two
// hand-made columns show which is faster at each length. U8 elements, page cache warm,
// destination pre-faulted. GB/s = tensor bytes.
//
//   scatter [size] [reps] [dir]   (or --size=128M --reps=5 --dir=/tmp)

#include "common.hpp"

#include <safeshard/core/layout_stride.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>

#include <sys/uio.h>

namespace {

constexpr std::size_t window = std::size_t{256} << 10;

struct setup {
    std::string path;
    std::uint64_t rows = 0, run = 0, data_offset = 0;
};

bench::timing ours(const safeshard::pread_file_reader& r, const setup& s, std::byte* dst) {
    bench::stopwatch sw;
    using view = safeshard::tensor_view<std::uint8_t, safeshard::dextents<std::size_t, 2>, safeshard::layout_stride>;
    const std::array<std::size_t, 2> strides = {static_cast<std::size_t>(2 * s.run), 1};
    view v(reinterpret_cast<std::uint8_t*>(dst),
           view::mapping_type(safeshard::dextents<std::size_t, 2>(s.rows, s.run), strides));
    bench::check(r.read_slice("t", {0, 0}, {s.rows, s.run}, v), "read_slice");
    return sw.stop();
}

bench::timing raw_pread(int fd, const setup& s, std::byte* dst) {
    bench::stopwatch sw;
    const std::uint64_t total = s.rows * s.run;
    for (std::uint64_t at = 0; at < total; at += bench::block)
        bench::pread_all(fd, dst + at, static_cast<std::size_t>(std::min<std::uint64_t>(bench::block, total - at)),
                         s.data_offset + at);
    return sw.stop();
}

bench::timing by_preadv(int fd, const setup& s, std::byte* dst) {
    bench::stopwatch sw;
    std::vector<iovec> iov(1024);
    for (std::uint64_t r = 0; r < s.rows;) {
        const std::uint64_t n = std::min<std::uint64_t>(iov.size(), s.rows - r);
        for (std::uint64_t i = 0; i < n; ++i) iov[i] = iovec{dst + (r + i) * 2 * s.run, static_cast<std::size_t>(s.run)};
        const std::uint64_t want = n * s.run;
        const ssize_t got = ::preadv(fd, iov.data(), static_cast<int>(n), static_cast<off_t>(s.data_offset + r * s.run));
        if (got != static_cast<ssize_t>(want)) bench::die("preadv", "short read");
        r += n;
    }
    return sw.stop();
}

bench::timing by_window(int fd, const setup& s, std::byte* dst, std::byte* buf) {
    bench::stopwatch sw;
    const std::uint64_t per = std::max<std::uint64_t>(1, window / s.run);
    for (std::uint64_t r = 0; r < s.rows; r += per) {
        const std::uint64_t n = std::min(per, s.rows - r);
        bench::pread_all(fd, buf, static_cast<std::size_t>(n * s.run), s.data_offset + r * s.run);
        for (std::uint64_t i = 0; i < n; ++i)
            std::memcpy(dst + (r + i) * 2 * s.run, buf + i * s.run, static_cast<std::size_t>(s.run));
    }
    return sw.stop();
}

// Every run of the destination holds the file's bytes (the other half of each row is not ours).
void verify(const setup& s, const std::byte* dst, const char* what) {
    for (std::uint64_t r = 0; r < s.rows; r += 97)
        for (std::uint64_t j = 0; j < s.run; ++j)
            if (dst[r * 2 * s.run + j] != static_cast<std::byte>((r * s.run + j) * 131 >> 3)) bench::die(what, "wrong bytes");
}

}  // namespace

int main(int argc, char** argv) {
    bench::options opt(argc, argv, {"size", "reps", "dir"},
                       "usage: scatter [size] [reps] [dir]\n"
                       "  size  the stored tensor's bytes, K/M/G suffixes (default 128M; the destination is twice that)\n"
                       "  reps  timed runs of each case (default 5)\n"
                       "  dir   where to make the temp directory (default /tmp); removed at exit\n");
    const std::uint64_t size = opt.bytes("size", std::uint64_t{128} << 20);
    const int reps = opt.integer("reps", 5);
    const std::string dir = bench::make_temp_dir(opt.str("dir"));

    std::printf("scatter: a stored [rows, run] U8 tensor of %.0f MiB into the columns of a [rows, 2 x run]\n"
                "  destination (pre-faulted, page cache warm); ratio = limit time / ours time of the medians\n\n",
                bench::mib(size));
    std::printf("  %-9s %9s %9s %9s %9s %12s %12s  %s\n", "run", "ours GB/s", "pread", "preadv", "window", "ours/pread",
                "ours/best", "faster by hand");

    bench::region dst(static_cast<std::size_t>(2 * size), bench::pages::small);
    dst.prefault();
    std::vector<std::byte> buf(window);
    for (std::uint64_t run : {64u, 256u, 1408u, 4096u, 16384u, 32768u}) {
        setup s;
        s.run = run;
        s.rows = size / run;
        s.path = dir + "/run-" + std::to_string(run) + ".safetensors";
        {
            std::vector<std::byte> bytes(static_cast<std::size_t>(s.rows * s.run));
            for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(i * 131 >> 3);
            const std::vector<std::uint64_t> shape = {s.rows, s.run};
            const safeshard::tensor_spec spec{"t", safeshard::dtype::U8, shape};
            auto w = safeshard::file_writer::create(s.path, std::span<const safeshard::tensor_spec>(&spec, 1));
            bench::check(w, "file_writer::create");
            bench::check(w->write("t", bytes), "write");
            bench::check(w->finish(), "finish");
        }
        auto r = safeshard::pread_file_reader::open(s.path);
        bench::check(r, "pread_file_reader::open");
        s.data_offset = r->header().data_offset();
        bench::warm_file(s.path);
        const int fd = bench::open_or_die(s.path, O_RDONLY);

        std::memset(dst.data(), 0, dst.size());
        ours(*r, s, dst.data());
        verify(s, dst.data(), "read_slice");
        std::memset(dst.data(), 0, dst.size());
        by_preadv(fd, s, dst.data());
        verify(s, dst.data(), "preadv");
        std::memset(dst.data(), 0, dst.size());
        by_window(fd, s, dst.data(), buf.data());
        verify(s, dst.data(), "window");

        bench::samples o, p, v, w;
        bench::interleave(reps, 4, [&](int, int k) {
            if (k == 0) o.add(ours(*r, s, dst.data()));
            if (k == 1) p.add(raw_pread(fd, s, dst.data()));
            if (k == 2) v.add(by_preadv(fd, s, dst.data()));
            if (k == 3) w.add(by_window(fd, s, dst.data(), buf.data()));
        });
        ::close(fd);
        const double gb = static_cast<double>(s.rows * s.run) / 1e9;
        const double best_hand = std::min(v.median(), w.median());
        std::printf("  %-9s %9.2f %9.2f %9.2f %9.2f %12.3f %12.3f  %s\n", (std::to_string(run) + " B").c_str(),
                    gb / o.median(), gb / p.median(), gb / v.median(), gb / w.median(), p.median() / o.median(),
                    best_hand / o.median(), v.median() < w.median() ? "preadv" : "window");
        std::fflush(stdout);
        std::remove(s.path.c_str());
    }
    return 0;
}
