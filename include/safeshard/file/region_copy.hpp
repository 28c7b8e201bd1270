// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FILE_REGION_COPY_HPP
#define SAFESHARD_FILE_REGION_COPY_HPP

// The one engine that copies a box of a row-major tensor stored in a byte source into memory.
// The file reader's typed, strided and converting reads, the checkpoint reader's resharded
// loads and raw reads, consolidation's blocks and the CLI's extraction all come through here.
//
// The rank is a run-time value: only the element loop is typed (the target's `put`), so the
// engine is instantiated once per source and target type, not once per rank or layout. The
// box is cut into the longest runs that are contiguous in the source and evenly strided in the
// destination (every trailing dimension whole on the source side merges), then:
// * from addressable bytes (a memory source), each run is copied straight out of them;
// * a run of at least `direct_run_bytes` is read on its own: straight into place when its
//   bytes land unchanged, through the bounce buffer in pieces when they need converting;
// * shorter runs are batched by one rule: runs less than `max_gap_bytes` apart go in one read,
//   up to `window_bytes` (or 1024 buffers) at a time; reading a small gap costs less than
//   another system call, a large one is skipped. A batch of runs of at least
//   `scatter_run_bytes` that land unchanged, from a source that scatters (`preadv`), is read
//   straight into place; any other batch is read into the bounce buffer as one cache-sized
//   window and copied (converted) out of it.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/detail/huge_pages.hpp>
#include <safeshard/detail/thread_caches.hpp>
#include <safeshard/io/concepts.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

namespace safeshard::detail {

/// The window and bounce buffer size: large enough that a window read runs at memcpy speed.
inline constexpr std::size_t bounce_bytes = std::size_t{8} << 20;
/// Runs at least this long are read one by one (gathering them would only add a copy).
inline constexpr std::uint64_t direct_run_bytes = std::uint64_t{64} << 10;
/// Short runs closer than this are read in one window (the gap costs less than a system call).
inline constexpr std::uint64_t max_gap_bytes = std::uint64_t{64} << 10;
/// A window of short runs is at most this long, so that its bytes are still in cache when
/// they are copied out (an 8 MiB window is written to memory by the read and fetched back).
inline constexpr std::uint64_t window_bytes = std::uint64_t{256} << 10;
/// Short runs at least this long that land as they are go straight into place with `preadv`;
/// shorter ones go through a window: below a page the kernel's cost per scattered buffer
/// outweighs the second copy (bench/scatter, 256 B runs: windows 7.0 GB/s, preadv 6.1; 4 KiB
/// runs: preadv 12.2, windows 10.6).
inline constexpr std::uint64_t scatter_run_bytes = std::uint64_t{4} << 10;
/// Deepest box the engine copies (its per-dimension state lives on the stack).
inline constexpr std::size_t max_copy_rank = 64;

/// A reusable per-thread bounce buffer of at least `want` bytes: reads through it never
/// allocate after the first, and it is never zero-filled (a fresh thread pays only for the
/// pages it touches). Empty when the memory cannot be had.
struct bounce_store {
    memory_block buf;
    std::size_t retained_bytes() const noexcept { return buf.size(); }
    void release() noexcept { buf = memory_block(); }
};
inline per_thread<bounce_store>& bounce_cache() {
    thread_local per_thread<bounce_store> store;
    return store;
}
inline std::span<std::byte> bounce_buffer(std::size_t want) {
    memory_block& buf = bounce_cache().buf;
    if (buf.size() < want) buf = memory_block(want < bounce_bytes ? bounce_bytes : want);
    if (!buf.data()) return {};
    return {buf.data(), want};
}

/// Where a box lies in a source: the stored tensor is row-major with `shape`, elements of
/// `elem_bytes` bytes, its first byte at `base`; the box is [offsets, offsets + lengths).
/// All three spans have the tensor's rank (0 for a scalar). Callers have checked that the box
/// lies inside the shape and that the stored tensor's bytes lie inside the source.
struct stored_box {
    std::uint64_t base = 0;
    std::span<const std::uint64_t> shape;
    std::span<const std::uint64_t> offsets;
    std::span<const std::uint64_t> lengths;
    std::uint64_t elem_bytes = 1;
};

/// Where the box goes: box element (i_0, ..., i_{R-1}) lands on destination element
/// `origin + Σ i_d × strides[d]` (in elements, non-negative).
struct box_destination {
    std::span<const std::int64_t> strides;
    std::int64_t origin = 0;
};

/// **`region_target<T>`** — what the engine writes runs into: typed elements (converting or
/// not) or raw bytes.
///
/// Requires, on a `T& t`:
/// * `t.put(const std::byte* src, std::size_t n, std::int64_t at, std::int64_t stride)`,
///   `noexcept`: stores the `n` packed stored elements at `src` (any alignment) into
///   destination elements `at`, `at + stride`, ... It never fails.
/// * `t.lands_as_is() -> bool`: whether stored bytes are the destination's bytes unchanged,
///   so that a run with stride 1 may be read straight into place.
/// * `t.landing(std::int64_t at) -> std::byte*`: the address of destination element `at`
///   (used only when `lands_as_is()`).
/// Cost: `put` O(n); the others O(1).
template <class T>
concept region_target = requires(T& t, const std::byte* src, std::size_t n, std::int64_t at, std::int64_t stride) {
    { t.put(src, n, at, stride) } noexcept;
    { t.lands_as_is() } -> std::same_as<bool>;
    { t.landing(at) } -> std::same_as<std::byte*>;
};

/// Raw bytes of the stored dtype: copies, never converts.
struct byte_target {
    std::byte* out = nullptr;
    std::uint64_t elem_bytes = 1;

    void put(const std::byte* src, std::size_t n, std::int64_t at, std::int64_t stride) const noexcept {
        std::byte* to = out + at * static_cast<std::int64_t>(elem_bytes);
        if (stride == 1) {
            if (n) std::memcpy(to, src, n * elem_bytes);
            return;
        }
        for (std::size_t i = 0; i < n; ++i)
            std::memcpy(to + static_cast<std::int64_t>(i) * stride * static_cast<std::int64_t>(elem_bytes),
                        src + i * elem_bytes, elem_bytes);
    }
    static bool lands_as_is() noexcept { return true; }
    std::byte* landing(std::int64_t at) const noexcept { return out + at * static_cast<std::int64_t>(elem_bytes); }
};
static_assert(region_target<byte_target>);

/// Elements of type `T`, filled from stored elements of dtype `from` by the dtype mapping
/// `Mapping` (see `dtype_mapping`), which copies or converts. Stored bytes land as they are
/// only when the dtypes agree and `T` is not bool: a BOOL byte other than 0 or 1 must be
/// normalised, since a bool holding 2 is undefined behaviour.
template <class Mapping, class T>
struct typed_target {
    T* out = nullptr;
    dtype from = dtype::BOOL;

    void put(const std::byte* src, std::size_t n, std::int64_t at, std::int64_t stride) const noexcept {
        Mapping::template copy<T>(from, src, n, out + at, stride);
    }
    bool lands_as_is() const noexcept { return from == dtype_of<T> && !std::is_same_v<T, bool>; }
    std::byte* landing(std::int64_t at) const noexcept { return reinterpret_cast<std::byte*>(out + at); }
};

/// The runs of a box: dimensions [0, outer) are stepped (those of length 1 dropped), the
/// rest form runs of `run` elements, `run_stride` apart in the destination. `cursor` walks
/// them in source order; it is a small value, so a window can be replayed from a copy.
class box_runs {
public:
    /// Plans `box` into `dst`. False when the rank is over `max_copy_rank`.
    bool plan(const stored_box& box, const box_destination& dst) noexcept {
        const std::size_t rank = box.lengths.size();
        if (rank > max_copy_rank) return false;
        empty_ = false;
        for (std::size_t d = 0; d < rank; ++d) empty_ = empty_ || box.lengths[d] == 0;
        std::uint64_t src_stride[max_copy_rank];
        std::uint64_t s = 1;
        for (std::size_t d = rank; d-- > 0;) {
            src_stride[d] = s;
            s *= box.shape[d];
        }
        first_ = 0;
        for (std::size_t d = 0; d < rank; ++d) first_ += box.offsets[d] * src_stride[d];
        // Merge trailing dimensions while the source stays contiguous (every dimension after
        // the one added is whole) and the destination evenly strided. A dimension of length 1
        // adds nothing, so its stride (arbitrary in a strided view) does not matter.
        std::size_t m = rank;
        run_ = 1;
        run_stride_ = 1;
        bool whole = true;  // dimensions [m, rank) are whole in the stored tensor
        while (m > 0) {
            const std::size_t d = m - 1;
            const std::uint64_t len = box.lengths[d];
            if (m < rank && !whole) break;
            if (len != 1 && run_ != 1 && dst.strides[d] != run_stride_ * static_cast<std::int64_t>(run_)) break;
            if (run_ == 1 && len != 1) run_stride_ = dst.strides[d];
            run_ *= len;
            whole = whole && len == box.shape[d];
            m = d;
        }
        outer_ = 0;
        last_ = first_;
        for (std::size_t d = 0; d < m; ++d) {
            last_ += (box.lengths[d] - 1) * src_stride[d];
            if (box.lengths[d] == 1) continue;
            lengths_[outer_] = box.lengths[d];
            src_stride_[outer_] = src_stride[d];
            dst_stride_[outer_] = dst.strides[d];
            ++outer_;
        }
        last_ += run_ - 1;  // the last element of the last run
        origin_ = dst.origin;
        return true;
    }

    bool empty() const noexcept { return empty_; }
    std::uint64_t run() const noexcept { return run_; }
    std::int64_t run_stride() const noexcept { return run_stride_; }
    std::size_t outer() const noexcept { return outer_; }
    /// Element indices (in the stored tensor) of the box's first and last elements.
    std::uint64_t first() const noexcept { return first_; }
    std::uint64_t last() const noexcept { return last_; }

    /// A position: the run's first element in the stored tensor and in the destination.
    class cursor {
    public:
        std::uint64_t src = 0;
        std::int64_t dst = 0;

        /// Moves to the next run in source order; false after the last.
        bool next() noexcept {
            std::size_t d = runs_->outer_;
            while (d-- > 0) {
                if (++idx_[d] < runs_->lengths_[d]) {
                    src += runs_->src_stride_[d];
                    dst += runs_->dst_stride_[d];
                    return true;
                }
                idx_[d] = 0;
                src -= (runs_->lengths_[d] - 1) * runs_->src_stride_[d];
                dst -= static_cast<std::int64_t>(runs_->lengths_[d] - 1) * runs_->dst_stride_[d];
            }
            return false;
        }

    private:
        friend class box_runs;
        const box_runs* runs_ = nullptr;
        std::uint64_t idx_[max_copy_rank];
    };

    cursor start() const noexcept {
        cursor c;
        c.runs_ = this;
        c.src = first_;
        c.dst = origin_;
        for (std::size_t d = 0; d < outer_; ++d) c.idx_[d] = 0;
        return c;
    }

private:
    bool empty_ = true;
    std::size_t outer_ = 0;
    std::uint64_t run_ = 1;
    std::int64_t run_stride_ = 1;
    std::uint64_t first_ = 0, last_ = 0;
    std::int64_t origin_ = 0;
    std::uint64_t lengths_[max_copy_rank];
    std::uint64_t src_stride_[max_copy_rank];
    std::int64_t dst_stride_[max_copy_rank];
};

// The copy itself (see copy_box).
template <io::byte_source Source, region_target Target>
error_info copy_box_runs(const Source& src, const stored_box& box, const box_destination& dst, Target& target) {
    box_runs runs;
    if (!runs.plan(box, dst)) return error_info(errc::limit_exceeded).with_detail("rank above 64 in a region copy");
    if (runs.empty()) return {};
    const std::uint64_t esize = box.elem_bytes;
    const std::uint64_t run = runs.run();
    const std::uint64_t run_bytes = run * esize;
    const std::int64_t rstride = runs.run_stride();
    auto c = runs.start();
    auto at_byte = [&](std::uint64_t elem) { return box.base + elem * esize; };

    if constexpr (io::mappable_source<Source> && !io::copies_through_read<Source>) {
        auto bytes = src.view(at_byte(runs.first()), (runs.last() - runs.first() + 1) * esize);
        if (!bytes) return bytes.error();
        const std::byte* p = bytes->data();
        do target.put(p + (c.src - runs.first()) * esize, static_cast<std::size_t>(run), c.dst, rstride);
        while (c.next());
        return {};
    }

    const bool in_place = target.lands_as_is() && rstride == 1;
    if (run_bytes >= direct_run_bytes || runs.outer() == 0) {
        // Long runs (or a box that is one run): one read each, or bounce-sized pieces.
        if (in_place) {
            do {
                std::span<std::byte> to(target.landing(c.dst), static_cast<std::size_t>(run_bytes));
                if (auto st = src.read(at_byte(c.src), to); !st) return st.error();
            } while (c.next());
            return {};
        }
        const std::uint64_t piece = bounce_bytes / esize;
        auto bounce = bounce_buffer(static_cast<std::size_t>(piece * esize));
        if (bounce.empty()) return error_info(errc::limit_exceeded).with_detail("out of memory for a read buffer");
        do {
            for (std::uint64_t done = 0; done < run;) {
                const std::uint64_t n = run - done < piece ? run - done : piece;
                if (auto st = src.read(at_byte(c.src + done), bounce.first(static_cast<std::size_t>(n * esize))); !st)
                    return st.error();
                target.put(bounce.data(), static_cast<std::size_t>(n), c.dst + static_cast<std::int64_t>(done) * rstride, rstride);
                done += n;
            }
        } while (c.next());
        return {};
    }

    // Short runs of a few KiB or more that land as they are, from a source that scatters: one
    // preadv per batch puts each run straight into place and each gap into scratch, one copy
    // instead of two.
    if constexpr (io::scatter_source<Source>) {
        if (in_place && run_bytes >= scatter_run_bytes) {
            auto scratch = bounce_buffer(static_cast<std::size_t>(max_gap_bytes));
            if (scratch.empty()) return error_info(errc::limit_exceeded).with_detail("out of memory for a read buffer");
            constexpr std::size_t max_iov = 1024;
            iovec iov[max_iov];
            for (bool more = true; more;) {
                const std::uint64_t begin = c.src * esize;
                std::uint64_t end = begin;
                std::size_t n = 0;
                do {
                    const std::uint64_t here = c.src * esize;
                    if (n && (here - end > max_gap_bytes || n + 2 > max_iov)) break;
                    if (here > end) iov[n++] = iovec{scratch.data(), static_cast<std::size_t>(here - end)};
                    iov[n++] = iovec{target.landing(c.dst), static_cast<std::size_t>(run_bytes)};
                    end = here + run_bytes;
                } while ((more = c.next()));
                if (auto st = src.read_scatter(box.base + begin, std::span<iovec>(iov, n)); !st) return st.error();
            }
            return {};
        }
    }

    // Short runs: each window is the runs from the cursor on that lie close together and fit
    // in `window_bytes`; it is read once, then replayed from a copy of the cursor.
    auto bounce = bounce_buffer(static_cast<std::size_t>(window_bytes));
    if (bounce.empty()) return error_info(errc::limit_exceeded).with_detail("out of memory for a read buffer");
    for (bool more = true; more;) {
        const auto window = c;
        const std::uint64_t begin = c.src * esize;
        std::uint64_t end = begin + run_bytes;
        std::size_t count = 1;
        while ((more = c.next())) {
            const std::uint64_t here = c.src * esize;
            if (here - end > max_gap_bytes || here + run_bytes - begin > window_bytes) break;
            end = here + run_bytes;
            ++count;
        }
        if (auto st = src.read(box.base + begin, bounce.first(static_cast<std::size_t>(end - begin))); !st) return st.error();
        auto r = window;
        for (std::size_t k = 0; k < count; ++k, r.next())
            target.put(bounce.data() + (r.src * esize - begin), static_cast<std::size_t>(run), r.dst, rstride);
    }
    return {};
}

/// Copies `box` from `src` into `target` at `dst`. Errors are the source's own (they name
/// its path and the offset) or `errc::limit_exceeded` when no bounce buffer can be had or the
/// rank is over `max_copy_rank`; callers add the tensor. Safe to call from many threads at
/// once on one source. The bounce buffer stays with the thread, within its cache limit.
template <io::byte_source Source, region_target Target>
error_info copy_box(const Source& src, const stored_box& box, const box_destination& dst, Target& target) {
    error_info e = copy_box_runs(src, box, dst, target);
    trim_cache(bounce_cache());
    return e;
}

}  // namespace safeshard::detail

#endif
