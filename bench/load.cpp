// SPDX-License-Identifier: MIT
// Loading every tensor of a ~1 GiB file (page cache warm), next to a raw pread loop of the same
// byte ranges into the same buffers, measured in the same run.
//
//   load [size] [reps] [dir] [threads]      (or --size=1G --reps=3 --dir=/tmp --threads=2)
//
// Cases (ratio = raw time / ours time; target >= 0.9):
//   * caller buffers, pre-faulted: file_reader::open + read(name, view) per tensor, vs
//     open + pread per tensor; 1 thread, then the tensors split across `threads` std::threads
//     sharing one reader (new threads per load, as an application would start them);
//   * caller buffers, fresh (first touch faults): one fresh mapping of 4 KiB pages, then one
//     of 2 MiB MADV_HUGEPAGE pages, for ours and raw alike;
//   * library-allocated: pread_file_reader::load<float, 2> per tensor (huge-page blocks), vs
//     malloc per tensor + pread (glibc told to mmap every block >= 256 KiB, so each is fresh);
//     and, for information, file_reader::load<float, 2> (zero copy into the mapping) with one
//     read per 4 KiB page, against the same raw figure;
//   * cold page cache (dropped before each run, where that is allowed; else "skipped"):
//     caller buffers, pre-faulted, 1 thread then `threads`.

#include "common.hpp"

#include <safeshard/core/extents.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>

#include <malloc.h>

namespace {

using view2 = safeshard::tensor_view<float, safeshard::dextents<std::uint64_t, 2>>;

struct plan {
    std::string path;
    bench::tensor_set set;
    std::vector<std::uint64_t> file_off;  // absolute offset of each tensor's bytes in the file
    std::vector<std::uint64_t> dst_off;   // offset of each tensor in a destination arena (4 KiB multiples)
    std::vector<std::size_t> all;                 // every tensor, in file order
    std::vector<std::vector<std::size_t>> split;  // tensors per thread, balanced by bytes
};

std::vector<std::vector<std::size_t>> split_by_bytes(const plan& p, unsigned threads) {
    const bench::tensor_set& s = p.set;
    std::vector<std::size_t> order(s.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return s.bytes[a] > s.bytes[b]; });
    std::vector<std::vector<std::size_t>> parts(threads);
    std::vector<std::uint64_t> load(threads, 0);
    for (std::size_t i : order) {
        std::size_t k = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
        parts[k].push_back(i);
        load[k] += s.bytes[i];
    }
    for (auto& part : parts)  // file order within a thread
        std::sort(part.begin(), part.end(), [&](std::size_t a, std::size_t b) { return p.file_off[a] < p.file_off[b]; });
    return parts;
}

// ---- the timed bodies -------------------------------------------------------------------------

void ours_read_some(const safeshard::file_reader& r, const plan& p, std::byte* arena, const std::vector<std::size_t>& which) {
    for (std::size_t i : which) {
        view2 v(reinterpret_cast<float*>(arena + p.dst_off[i]), p.set.shapes[i][0], p.set.shapes[i][1]);
        bench::check(r.read(p.set.names[i], v), "file_reader::read");
    }
}

void raw_read_some(int fd, const plan& p, std::byte* arena, const std::vector<std::size_t>& which) {
    for (std::size_t i : which) bench::pread_all(fd, arena + p.dst_off[i], static_cast<std::size_t>(p.set.bytes[i]), p.file_off[i]);
}

// The tensors thread k of `threads` reads: all of them on one thread.
const std::vector<std::size_t>& share(const plan& p, unsigned threads, unsigned k) { return threads <= 1 ? p.all : p.split[k]; }

bench::timing ours_read(const plan& p, std::byte* arena, unsigned threads) {
    bench::stopwatch sw;
    auto r = safeshard::file_reader::open(p.path);
    bench::check(r, "file_reader::open");
    bench::on_threads(threads, [&](unsigned k) { ours_read_some(*r, p, arena, share(p, threads, k)); });
    return sw.stop();
}

bench::timing raw_read(const plan& p, std::byte* arena, unsigned threads) {
    bench::stopwatch sw;
    int fd = bench::open_or_die(p.path, O_RDONLY);
    bench::on_threads(threads, [&](unsigned k) { raw_read_some(fd, p, arena, share(p, threads, k)); });
    ::close(fd);
    return sw.stop();
}

void verify(const plan& p, const std::byte* arena, const char* what) {
    for (std::size_t i = 0; i < p.set.size(); ++i)
        if (!bench::check_pattern(arena + p.dst_off[i], p.set.bytes[i], i)) bench::die(what, "wrong bytes in " + p.set.names[i]);
}

// load<float, 2> through pread (a copy into huge-page memory the result owns).
bench::timing ours_load(const plan& p, bool check) {
    std::vector<safeshard::loaded_tensor<float, 2>> out;
    out.reserve(p.set.size());
    bench::stopwatch sw;
    auto r = safeshard::pread_file_reader::open(p.path);
    bench::check(r, "pread_file_reader::open");
    for (std::size_t i = 0; i < p.set.size(); ++i) {
        auto t = r->load<float, 2>(p.set.names[i]);
        bench::check(t, "pread_file_reader::load");
        out.push_back(std::move(*t));
    }
    bench::timing t = sw.stop();
    if (check)
        for (std::size_t i = 0; i < out.size(); ++i)
            if (out[i].zero_copy() || !bench::check_pattern(reinterpret_cast<const std::byte*>(out[i].view().data_handle()),
                                                            p.set.bytes[i], i))
                bench::die("load", "wrong bytes in " + p.set.names[i]);
    return t;  // the blocks are freed here, untimed
}

// load<float, 2> through the mapping (zero copy), then one read per 4 KiB page of every tensor.
bench::timing ours_map_touch(const plan& p, bool check) {
    bench::stopwatch sw;
    auto r = safeshard::file_reader::open(p.path);
    bench::check(r, "file_reader::open");
    std::uint32_t acc = 0;
    std::size_t copies = 0;
    for (std::size_t i = 0; i < p.set.size(); ++i) {
        auto t = r->load<float, 2>(p.set.names[i]);
        bench::check(t, "file_reader::load");
        copies += !t->zero_copy();
        const auto* b = reinterpret_cast<const unsigned char*>(t->view().data_handle());
        for (std::uint64_t k = 0; k < p.set.bytes[i]; k += 4096) acc += b[k];
        if (check && !bench::check_pattern(reinterpret_cast<const std::byte*>(b), p.set.bytes[i], i))
            bench::die("load (mapped)", "wrong bytes in " + p.set.names[i]);
    }
    bench::timing t = sw.stop();
    bench::keep(acc);
    if (copies) std::printf("  (note: %zu of the mapped loads copied)\n", copies);
    return t;  // unmapped here, untimed
}

// The raw equivalent of load(): a fresh malloc per tensor, then pread into it.
bench::timing raw_malloc(const plan& p) {
    std::vector<std::byte*> out(p.set.size(), nullptr);
    bench::stopwatch sw;
    int fd = bench::open_or_die(p.path, O_RDONLY);
    for (std::size_t i = 0; i < p.set.size(); ++i) {
        out[i] = static_cast<std::byte*>(std::malloc(static_cast<std::size_t>(p.set.bytes[i])));
        if (!out[i]) bench::die("malloc", "out of memory");
        bench::pread_all(fd, out[i], static_cast<std::size_t>(p.set.bytes[i]), p.file_off[i]);
    }
    ::close(fd);
    bench::timing t = sw.stop();
    for (auto* b : out) std::free(b);
    return t;
}

// ---- reporting -------------------------------------------------------------------------------

void print_row(const char* label, const plan& p, const bench::pair_result& r) {
    const double ratio = bench::pair_row(56, label, p.set.total, r);
    std::printf(" %8.0f %8.0f  %s\n", r.ours.faults_per_run(), r.raw.faults_per_run(), bench::verdict(ratio >= 0.9));
}

}  // namespace

int main(int argc, char** argv) {
    bench::options opt(argc, argv, {"size", "reps", "dir", "threads"},
                       "usage: load [size] [reps] [dir] [threads]\n"
                       "  size     total tensor bytes, K/M/G suffixes (default 1G)\n"
                       "  reps     timed runs per case with fresh buffers (default 3); pre-faulted cases run\n"
                       "           5 to 9 times (as many as fit in ~4 s), or reps times if more\n"
                       "  dir      where to make the temp directory (default /tmp); removed at exit\n"
                       "  threads  threads of the multi-threaded case (default 2)\n");
    const std::uint64_t size = opt.bytes("size", std::uint64_t{1} << 30);
    const int reps = opt.integer("reps", 3);
    int pre_reps = std::max(9, reps);
    const auto threads = static_cast<unsigned>(opt.integer("threads", 2));

    // Every malloc of 256 KiB or more is a fresh mmap (no reuse of freed, already-faulted
    // memory), as in a process that loads a checkpoint once. Same threshold as the library's.
    ::mallopt(M_MMAP_THRESHOLD, 256 << 10);

    plan p;
    const std::string dir = bench::make_temp_dir(opt.str("dir"));
    p.path = dir + "/load.safetensors";
    p.set = bench::make_tensor_set(size);

    // Write the file (untimed), from a source arena that is freed before measuring.
    {
        bench::region src(static_cast<std::size_t>(p.set.total), bench::pages::huge);
        const std::vector<std::uint64_t> at = bench::fill_set(p.set, src.data());
        std::vector<safeshard::tensor_entry> entries;
        for (std::size_t i = 0; i < p.set.size(); ++i)
            entries.push_back({p.set.names[i], safeshard::dtype::F32, {p.set.shapes[i][0], p.set.shapes[i][1]},
                               {src.data() + at[i], static_cast<std::size_t>(p.set.bytes[i])}});
        bench::check(safeshard::save_file(p.path, entries), "save_file");
    }
    {
        auto r = safeshard::file_reader::open(p.path);
        bench::check(r, "file_reader::open");
        std::uint64_t at = 0;
        for (std::size_t i = 0; i < p.set.size(); ++i) {
            const auto* t = r->find(p.set.names[i]);
            if (!t || t->byte_size() != p.set.bytes[i]) bench::die("layout", "unexpected tensor " + p.set.names[i]);
            p.file_off.push_back(r->header().data_offset() + t->begin);
            p.dst_off.push_back(at);
            at += p.set.bytes[i];
        }
    }
    for (std::size_t i = 0; i < p.set.size(); ++i) p.all.push_back(i);
    std::sort(p.all.begin(), p.all.end(), [&](std::size_t a, std::size_t b) { return p.file_off[a] < p.file_off[b]; });
    p.split = split_by_bytes(p, threads);

    // Warm the page cache, and measure a plain sequential read for reference.
    bench::warm_file(p.path);
    double t0 = bench::now();
    std::uint64_t file_bytes = bench::warm_file(p.path);
    double seq = static_cast<double>(file_bytes) / (bench::now() - t0) / 1e9;

    // 1. Pre-faulted caller buffers (one arena, touched before).
    {
        bench::region arena(static_cast<std::size_t>(p.set.total), bench::pages::small);
        arena.prefault();
        // Warm-ups: the library's per-thread buffers, code paths; also checks the bytes.
        ours_read(p, arena.data(), 1);
        verify(p, arena.data(), "file_reader::read");
        std::memset(arena.data(), 0, arena.size());
        const double once = raw_read(p, arena.data(), 1).seconds;
        verify(p, arena.data(), "raw pread");
        // As many pre-faulted runs as fit in ~4 s per case (a loaded machine is slow), 5 to 9.
        pre_reps = std::clamp(static_cast<int>(4.0 / (2 * once)), std::max(5, reps), std::max(9, reps));

        std::printf("load: %zu F32 tensors, %.2f GiB (%.0f KiB .. %.0f MiB each), file in %s, page cache warm\n",
                    p.set.size(), bench::gib(p.set.total), static_cast<double>(p.set.smallest()) / 1024.0,
                    bench::mib(p.set.largest()), dir.c_str());
        std::printf("  reference: sequential read() of the file in 8 MiB blocks into one reused buffer: %.2f GB/s\n", seq);
        std::printf("  ratio = raw time / ours time (= ours GB/s / raw GB/s) of the medians of %d runs (pre-faulted)\n"
                    "  or %d runs (fresh), ours and raw alternating; paired = median of the per-run ratios (run i of ours\n"
                    "  against run i of raw); best = ratio of the fastest runs; flt = minor page faults per run\n\n",
                    pre_reps, reps);
        bench::pair_head(56, "raw GB/s");
        std::printf(" %8s %8s  %s\n", "flt ours", "flt raw", "target >= 0.9 (ratio)");
        std::fflush(stdout);

        auto pre_faulted = [&](unsigned th) {
            return bench::alternate(
                pre_reps, [&](int) { return ours_read(p, arena.data(), th); }, [&](int) { return raw_read(p, arena.data(), th); });
        };
        print_row("caller buffers, pre-faulted, 1 thread", p, pre_faulted(1));
        if (threads > 1) {
            std::memset(arena.data(), 0, arena.size());
            ours_read(p, arena.data(), threads);
            verify(p, arena.data(), "file_reader::read, threads");
            const bench::pair_result many = pre_faulted(threads);
            std::string label = "caller buffers, pre-faulted, " + std::to_string(threads) + " threads (new each load)";
            print_row(label.c_str(), p, many);
        }
    }
    std::fflush(stdout);

    // 2. Fresh caller buffers: first touch happens inside the read, in 4 KiB or 2 MiB faults.
    for (bench::pages kind : {bench::pages::small, bench::pages::huge}) {
        if (kind == bench::pages::huge) {  // untimed: let the kernel compact memory for huge pages once
            bench::region warm(static_cast<std::size_t>(p.set.total), kind);
            warm.prefault();
        }
        long huge_kib = 0;
        // Each run reads into a fresh arena and notes how far AnonHugePages grew meanwhile.
        auto fresh = [&](bool ours, int r) {
            bench::region arena(static_cast<std::size_t>(p.set.total), kind);
            long before = bench::anon_huge_kib();
            bench::timing t = ours ? ours_read(p, arena.data(), 1) : raw_read(p, arena.data(), 1);
            if (r == 0 && ours) verify(p, arena.data(), "file_reader::read, fresh");
            huge_kib = std::max(huge_kib, bench::anon_huge_kib() - before);
            return t;
        };
        const bench::pair_result res =
            bench::alternate(reps, [&](int r) { return fresh(true, r); }, [&](int r) { return fresh(false, r); });
        if (kind == bench::pages::small) {
            print_row("caller buffers, fresh 4 KiB pages (first touch)", p, res);
        } else {
            print_row("caller buffers, fresh MADV_HUGEPAGE (first touch)", p, res);
            std::printf("    (AnonHugePages grew by up to %.0f MiB during a run, system-wide; the buffers are %.0f MiB)\n",
                        static_cast<double>(huge_kib) / 1024.0, bench::mib(p.set.total));
        }
        std::fflush(stdout);
    }

    // 3. Library-allocated: load<T, R>() against malloc + pread.
    {
        bench::pair_result res;
        bench::samples mapped_ours;
        bench::interleave(reps, 3, [&](int r, int side) {
            if (side == 0) res.ours.add(ours_load(p, r == 0));
            else if (side == 1) res.raw.add(raw_malloc(p));
            else mapped_ours.add(ours_map_touch(p, r == 0));
        });
        print_row("load<float,2>() via pread (huge pages) vs malloc+pread", p, res);
        const double gb = static_cast<double>(p.set.total) / 1e9;
        std::printf("  %-56s %9.2f %9s %7s %7s %7s %8.0f %8s  (info only: zero copy, no bytes copied)\n",
                    "load<float,2>() via mmap, 1 read per 4 KiB page", gb / mapped_ours.median(), "-", "-", "-", "-",
                    mapped_ours.faults_per_run(), "-");
    }
    std::fflush(stdout);

    // 4. Cold page cache: the page cache dropped before every run (untimed), so the bytes come
    // from the disk; caller buffers pre-faulted. Only where dropping the cache is allowed.
    {
        std::string why;
        if (!bench::drop_caches(why)) {
            std::printf("  %-56s skipped: cannot drop the page cache (%s)\n", "cold page cache", why.c_str());
        } else {
            bench::region arena(static_cast<std::size_t>(p.set.total), bench::pages::small);
            arena.prefault();
            for (unsigned th : {1u, threads}) {
                auto cold = [&](bool ours) {
                    std::string e;
                    if (!bench::drop_caches(e)) bench::die("drop_caches", e);
                    return ours ? ours_read(p, arena.data(), th) : raw_read(p, arena.data(), th);
                };
                std::memset(arena.data(), 0, arena.size());
                // Cold reads vary run to run far more than warm ones: at least 5 runs each.
                const bench::pair_result res = bench::alternate(
                    std::max(5, reps), [&](int) { return cold(true); }, [&](int) { return cold(false); });
                verify(p, arena.data(), "file_reader::read, cold");
                const std::string label = "cold page cache, pre-faulted, " + std::to_string(th) + (th == 1 ? " thread" : " threads");
                print_row(label.c_str(), p, res);
                std::fflush(stdout);
                if (threads <= 1) break;
            }
        }
    }
    return 0;
}
