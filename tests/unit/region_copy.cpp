// SPDX-License-Identifier: MIT
// The region engine on its own: how it cuts a box into runs, how it reads them (straight from
// addressable bytes, one read per long run, short runs that lie close together in one read:
// scattered into place by preadv when they are a page or longer, else through a cache-sized
// window), and that any box of any rank lands byte for byte in any strided destination, from
// any source.

#include <safeshard/file/region_copy.hpp>
#include <safeshard/io/memory.hpp>
#include <safeshard/io/pread_source.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../support/files.hpp"

namespace {

using namespace safeshard;
using safeshard::detail::box_destination;
using safeshard::detail::box_runs;
using safeshard::detail::byte_target;
using safeshard::detail::copy_box;
using safeshard::detail::stored_box;
using dims = std::vector<std::uint64_t>;
using strides = std::vector<std::int64_t>;

// A source over memory that is not mappable, so the engine must read: it records each read
// (offset, size and where the bytes went) and can be told to fail at one offset.
struct recording_source {
    std::span<const std::byte> bytes;
    struct read_call {
        std::uint64_t offset, size;
        const std::byte* to;
    };
    mutable std::vector<read_call> reads;
    std::uint64_t fail_at = ~std::uint64_t{0};

    explicit recording_source(std::span<const std::byte> b) : bytes(b) {}
    std::uint64_t size() const noexcept { return bytes.size(); }
    std::string_view path() const noexcept { return "recorded"; }
    status read(std::uint64_t offset, std::span<std::byte> dst) const {
        reads.push_back({offset, dst.size(), dst.data()});
        if (offset <= fail_at && fail_at < offset + dst.size())
            return error_info(errc::io_error).in_file(path()).at_offset(offset).with_detail("injected");
        if (auto st = detail::check_read_range(offset, dst.size(), size(), path()); !st) return st;
        if (!dst.empty()) std::memcpy(dst.data(), bytes.data() + offset, dst.size());
        return {};
    }
};
static_assert(io::byte_source<recording_source> && !io::mappable_source<recording_source>);

// The same, able to scatter: it records each preadv-like call (its offset and iovec count).
struct scattering_source : recording_source {
    struct scatter_call {
        std::uint64_t offset;
        std::size_t buffers;
    };
    mutable std::vector<scatter_call> scatters;
    using recording_source::recording_source;
    status read_scatter(std::uint64_t offset, std::span<iovec> iov) const {
        scatters.push_back({offset, iov.size()});
        for (const iovec& v : iov) {
            if (auto st = detail::check_read_range(offset, v.iov_len, size(), path()); !st) return st;
            if (v.iov_len) std::memcpy(v.iov_base, bytes.data() + offset, v.iov_len);
            offset += v.iov_len;
        }
        return {};
    }
};
static_assert(io::scatter_source<scattering_source>);

strides row_major(const dims& shape) {
    strides s(shape.size());
    std::int64_t step = 1;
    for (std::size_t d = shape.size(); d-- > 0;) {
        s[d] = step;
        step *= static_cast<std::int64_t>(shape[d]);
    }
    return s;
}

std::uint64_t count(const dims& v) {
    std::uint64_t n = 1;
    for (auto x : v) n *= x;
    return n;
}

// Element by element, the reference: box (off, len) of a row-major `shape` tensor of `elem`
// bytes at `base` of `src`, into `out` at `origin + Σ i_d × st[d]`.
void reference_copy(std::span<const std::byte> src, std::uint64_t base, const dims& shape, const dims& off, const dims& len,
                    std::uint64_t elem, const strides& st, std::int64_t origin, std::vector<std::byte>& out) {
    const std::size_t rank = shape.size();
    if (count(len) == 0) return;
    const strides ss = row_major(shape);
    dims idx(rank, 0);
    for (;;) {
        std::uint64_t s = 0;
        std::int64_t d = origin;
        for (std::size_t k = 0; k < rank; ++k) {
            s += (off[k] + idx[k]) * static_cast<std::uint64_t>(ss[k]);
            d += static_cast<std::int64_t>(idx[k]) * st[k];
        }
        std::memcpy(out.data() + d * static_cast<std::int64_t>(elem), src.data() + base + s * elem, elem);
        std::size_t k = rank;
        while (k > 0 && ++idx[k - 1] == len[k - 1]) idx[--k] = 0;
        if (k == 0) return;
    }
}

}  // namespace

TEST_SUITE("region_copy") {

TEST_CASE("runs: every whole trailing dimension merges; a length-1 dimension never stops a merge") {
    box_runs runs;
    // A row slab of a 6x4 tensor into a packed 2x4 destination: one run of 8.
    REQUIRE(runs.plan({0, dims{6, 4}, dims{1, 0}, dims{2, 4}, 4}, {strides{4, 1}, 0}));
    CHECK(runs.run() == 8);
    CHECK(runs.outer() == 0);
    // A column block: runs of 2, one per row.
    REQUIRE(runs.plan({0, dims{6, 4}, dims{0, 1}, dims{6, 2}, 4}, {strides{2, 1}, 0}));
    CHECK(runs.run() == 2);
    CHECK(runs.outer() == 1);
    // Whole on the source side, but the destination rows are padded: runs of a row.
    REQUIRE(runs.plan({0, dims{6, 4}, dims{0, 0}, dims{6, 4}, 4}, {strides{5, 1}, 0}));
    CHECK(runs.run() == 4);
    // A destination stride of 2 throughout: one run of 24 with stride 2.
    REQUIRE(runs.plan({0, dims{6, 4}, dims{0, 0}, dims{6, 4}, 4}, {strides{8, 2}, 0}));
    CHECK(runs.run() == 24);
    CHECK(runs.run_stride() == 2);
    // Length-1 dimensions anywhere, with arbitrary destination strides: [1, 3, 1, 5] whole in a
    // [2, 3, 1, 5] tensor is one run of 15.
    REQUIRE(runs.plan({0, dims{2, 3, 1, 5}, dims{1, 0, 0, 0}, dims{1, 3, 1, 5}, 4}, {strides{999, 5, 77, 1}, 0}));
    CHECK(runs.run() == 15);
    CHECK(runs.outer() == 0);
    // One column of a matrix: runs of one element, rows stepped.
    REQUIRE(runs.plan({0, dims{5, 7}, dims{0, 3}, dims{5, 1}, 4}, {strides{1, 1}, 0}));
    CHECK(runs.run() == 1);  // not contiguous in the source, however packed the destination
    CHECK(runs.outer() == 1);
    CHECK(runs.first() == 3);
    CHECK(runs.last() == 4 * 7 + 3);
    // A scalar is one run of one element.
    REQUIRE(runs.plan({0, dims{}, dims{}, dims{}, 4}, {strides{}, 0}));
    CHECK(runs.run() == 1);
    CHECK(!runs.empty());
    // An empty box has no runs.
    REQUIRE(runs.plan({0, dims{3, 3}, dims{1, 1}, dims{0, 2}, 4}, {strides{2, 1}, 0}));
    CHECK(runs.empty());
}

TEST_CASE("reads: a long run lands in place; short runs close together share one window; far apart, one read each") {
    const std::uint64_t rows = 400, cols = 1000, elem = 4;
    std::vector<std::byte> file = test::pattern(rows * cols * elem + 64, 3);
    recording_source src(file);
    SUBCASE("whole rows: one read straight into the destination") {
        std::vector<std::byte> out(100 * cols * elem);
        byte_target target{out.data(), elem};
        REQUIRE(copy_box(src, {64, dims{rows, cols}, dims{7, 0}, dims{100, cols}, elem}, {strides{1000, 1}, 0}, target).code() ==
                errc::ok);
        REQUIRE(src.reads.size() == 1);
        CHECK(src.reads[0].offset == 64 + 7 * cols * elem);
        CHECK(src.reads[0].to == out.data());
        CHECK(std::memcmp(out.data(), file.data() + 64 + 7 * cols * elem, out.size()) == 0);
    }
    SUBCASE("a column slab of short runs: cache-sized windows, each holding as many runs as fit") {
        std::vector<std::byte> out(rows * 8 * elem);
        byte_target target{out.data(), elem};
        REQUIRE(copy_box(src, {64, dims{rows, cols}, dims{0, 100}, dims{rows, 8}, elem}, {strides{8, 1}, 0}, target).code() ==
                errc::ok);
        // 1.6 MB span of 32-byte runs 4000 bytes apart: 66 runs fit in 256 KiB, so 7 windows.
        const std::uint64_t per = (safeshard::detail::window_bytes - 8 * elem) / (cols * elem) + 1;
        REQUIRE(per == 66);
        REQUIRE(src.reads.size() == 7);
        for (std::size_t k = 0; k < src.reads.size(); ++k) {
            const std::uint64_t first = k * per, n = std::min(per, rows - first);
            CHECK(src.reads[k].offset == 64 + (first * cols + 100) * elem);
            CHECK(src.reads[k].size == ((n - 1) * cols + 8) * elem);
        }
        std::vector<std::byte> want(out.size());
        reference_copy(file, 64, {rows, cols}, {0, 100}, {rows, 8}, elem, {8, 1}, 0, want);
        CHECK(want == out);
    }
    SUBCASE("short runs further apart than the gap limit: read one by one") {
        const std::uint64_t wide = 20000;  // 80 KB rows: gaps over 64 KiB
        std::vector<std::byte> big = test::pattern(50 * wide * elem, 4);
        recording_source far(big);
        std::vector<std::byte> out(50 * 3 * elem);
        byte_target target{out.data(), elem};
        REQUIRE(copy_box(far, {0, dims{50, wide}, dims{0, 5}, dims{50, 3}, elem}, {strides{3, 1}, 0}, target).code() == errc::ok);
        CHECK(far.reads.size() == 50);
        std::vector<std::byte> want(out.size());
        reference_copy(big, 0, {50, wide}, {0, 5}, {50, 3}, elem, {3, 1}, 0, want);
        CHECK(want == out);
    }
    SUBCASE("more short runs than one window holds: several windows, every byte right") {
        const std::uint64_t tall = 9000, narrow = 300;  // 10.8 MB span of 1200-byte rows
        std::vector<std::byte> big = test::pattern(tall * narrow * elem, 5);
        recording_source many(big);
        std::vector<std::byte> out(tall * 10 * elem);
        byte_target target{out.data(), elem};
        REQUIRE(copy_box(many, {0, dims{tall, narrow}, dims{0, 17}, dims{tall, 10}, elem}, {strides{10, 1}, 0}, target).code() ==
                errc::ok);
        CHECK(many.reads.size() == (tall + 218) / 219);  // 219 rows of 1200 bytes in 256 KiB
        for (const auto& r : many.reads) CHECK(r.size <= safeshard::detail::window_bytes);
        std::vector<std::byte> want(out.size());
        reference_copy(big, 0, {tall, narrow}, {0, 17}, {tall, 10}, elem, {10, 1}, 0, want);
        CHECK(want == out);
    }
}

TEST_CASE("reads: short runs of a page or more land in place by scatter; shorter ones through windows") {
    const std::uint64_t rows = 40, cols = 8192, elem = 1;  // 8 KiB rows
    std::vector<std::byte> file = test::pattern(rows * cols, 7);
    SUBCASE("runs of 4 KiB, gaps of 4 KiB: one scatter into place, runs and gaps alternating") {
        scattering_source src(file);
        const std::uint64_t run = safeshard::detail::scatter_run_bytes;
        std::vector<std::byte> out(rows * run);
        byte_target target{out.data(), elem};
        REQUIRE(copy_box(src, {0, dims{rows, cols}, dims{0, 100}, dims{rows, run}, elem},
                         {strides{static_cast<std::int64_t>(run), 1}, 0}, target)
                    .code() == errc::ok);
        REQUIRE(src.scatters.size() == 1);
        CHECK(src.scatters[0].offset == 100);
        CHECK(src.scatters[0].buffers == 2 * rows - 1);
        CHECK(src.reads.empty());
        std::vector<std::byte> want(out.size());
        reference_copy(file, 0, {rows, cols}, {0, 100}, {rows, run}, elem, {static_cast<std::int64_t>(run), 1}, 0, want);
        CHECK(want == out);
    }
    SUBCASE("runs one byte short of that: windows, no scatter") {
        scattering_source src(file);
        const std::uint64_t run = safeshard::detail::scatter_run_bytes - 1;
        std::vector<std::byte> out(rows * run);
        byte_target target{out.data(), elem};
        REQUIRE(copy_box(src, {0, dims{rows, cols}, dims{0, 100}, dims{rows, run}, elem},
                         {strides{static_cast<std::int64_t>(run), 1}, 0}, target)
                    .code() == errc::ok);
        CHECK(src.scatters.empty());
        CHECK(src.reads.size() == 2);  // 320 KiB span: two windows of at most 256 KiB
        for (const auto& r : src.reads) CHECK(r.size <= safeshard::detail::window_bytes);
        std::vector<std::byte> want(out.size());
        reference_copy(file, 0, {rows, cols}, {0, 100}, {rows, run}, elem, {static_cast<std::int64_t>(run), 1}, 0, want);
        CHECK(want == out);
    }
}

TEST_CASE("errors: the source's error comes back with its offset; nothing past it is claimed") {
    std::vector<std::byte> file = test::pattern(64 * 64, 6);
    recording_source src(file);
    src.fail_at = 30 * 64 + 5;
    std::vector<std::byte> out(64 * 64);
    byte_target target{out.data(), 1};
    SUBCASE("a long-run read") {
        auto e = copy_box(src, {0, dims{64, 64}, dims{0, 0}, dims{64, 64}, 1}, {strides{64, 1}, 0}, target);
        CHECK(e.code() == errc::io_error);
        CHECK(std::string_view(e.detail()) == "injected");
        CHECK(std::string_view(e.file()) == "recorded");
    }
    SUBCASE("a window read") {
        auto e = copy_box(src, {0, dims{64, 64}, dims{0, 1}, dims{64, 3}, 1}, {strides{3, 1}, 0}, target);
        CHECK(e.code() == errc::io_error);
        CHECK(e.offset() != error_info::no_offset);
    }
    SUBCASE("a box deeper than the engine's stack: limit_exceeded, not a crash") {
        dims deep(65, 1);
        strides st(65, 1);
        auto e = copy_box(src, {0, deep, dims(65, 0), deep, 1}, {st, 0}, target);
        CHECK(e.code() == errc::limit_exceeded);
        CHECK(src.reads.empty());
    }
}

TEST_CASE("property: random boxes of rank 0 to 6 into random strided destinations, from each kind of source") {
    std::mt19937_64 rng(0xb0c5);
    auto uni = [&](std::uint64_t lo, std::uint64_t hi) { return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng); };
    test::temp_dir dir("region");
    int copies = 0, nonempty = 0;
    for (int round = 0; round < 400; ++round) {
        CAPTURE(round);
        const std::size_t rank = uni(0, 6);
        const std::uint64_t elem = std::uint64_t{1} << uni(0, 4);  // 1 to 16 bytes
        dims shape(rank), off(rank), len(rank);
        for (std::size_t d = 0; d < rank; ++d) {
            shape[d] = uni(1, d + 1 == rank ? 40 : 6);
            off[d] = uni(0, shape[d] - 1);
            len[d] = uni(rng() % 8 ? 1 : 0, shape[d] - off[d]);
            if (rng() % 3 == 0) off[d] = 0, len[d] = shape[d];  // whole dimensions merge
        }
        // Destination: dimensions in a random order, some padded, at a random origin.
        std::vector<std::size_t> perm(rank);
        std::iota(perm.begin(), perm.end(), std::size_t{0});
        if (rng() % 2) std::shuffle(perm.begin(), perm.end(), rng);
        strides st(rank);
        std::int64_t span = 1;
        for (std::size_t k = rank; k-- > 0;) {
            st[perm[k]] = span;
            span *= static_cast<std::int64_t>(len[perm[k]] + (rng() % 3 == 0 ? uni(1, 2) : 0));
        }
        const std::int64_t origin = static_cast<std::int64_t>(uni(0, 3));
        const std::uint64_t base = uni(0, 9) * elem;
        std::vector<std::byte> file = test::pattern(base + count(shape) * elem + uni(0, 5), rng());
        std::vector<std::byte> want((static_cast<std::size_t>(span) + 4) * elem, std::byte{0xee});
        reference_copy(file, base, shape, off, len, elem, st, origin, want);
        const stored_box box{base, shape, off, len, elem};
        const box_destination dst{st, origin};

        std::vector<std::byte> got(want.size(), std::byte{0xee});
        byte_target target{got.data(), elem};
        io::memory_source mem(file, "mem");  // addressable: copies straight out of the bytes
        REQUIRE(copy_box(mem, box, dst, target).code() == errc::ok);
        CHECK(got == want);

        std::fill(got.begin(), got.end(), std::byte{0xee});
        recording_source rec(file);  // read: long runs in place, short ones through windows
        REQUIRE(copy_box(rec, box, dst, target).code() == errc::ok);
        CHECK(got == want);
        std::uint64_t read_bytes = 0;
        for (const auto& r : rec.reads) read_bytes += r.size;
        CHECK(read_bytes <= file.size());

        std::fill(got.begin(), got.end(), std::byte{0xee});
        const std::string path = dir / ("r" + std::to_string(round));
        test::write_file(path, file);
        auto pread = io::pread_source::open(path);  // scatters: short runs land in place with preadv
        REQUIRE(pread.has_value());
        REQUIRE(copy_box(*pread, box, dst, target).code() == errc::ok);
        CHECK(got == want);
        copies += 3;
        nonempty += count(len) ? 1 : 0;
    }
    CHECK(copies == 1200);
    CHECK(nonempty > 300);
}

}  // TEST_SUITE
