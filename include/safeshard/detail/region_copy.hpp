// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_REGION_COPY_HPP
#define SAFESHARD_DETAIL_REGION_COPY_HPP

// Copies a rectangular region of a row-major tensor stored in a byte source into any
// `tensor_view`, converting per a dtype mapping. The region is cut into the longest runs that
// are contiguous both in the file and in the destination; runs are then read in large blocks:
// straight into the destination when bytes can land as they are, through one bounce buffer
// when they need converting or are too small to read one by one.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/dtype_mapping.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/detail/checked.hpp>
#include <safeshard/detail/huge_pages.hpp>
#include <safeshard/format/header.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include <sys/uio.h>

namespace safeshard::detail {

inline constexpr std::size_t bounce_bytes = std::size_t{8} << 20;
// Runs closer than this are read together (reading the gap is cheaper than a system call).
inline constexpr std::uint64_t max_gap_bytes = std::uint64_t{64} << 10;

/// A reusable per-thread bounce buffer: reads through it never allocate after the first, and
/// it is never zero-filled (a fresh thread pays only for the pages it touches).
inline std::span<std::byte> bounce_buffer(std::size_t want) {
    thread_local memory_block buf;
    if (buf.size() < want) buf = memory_block(want < bounce_bytes ? bounce_bytes : want);
    if (!buf.data()) return {};
    return {buf.data(), want};
}

/// Checks a region request against tensor `t` and the destination's extents.
template <class View>
error_info check_region(const tensor_info& t, std::span<const std::uint64_t> offsets, std::span<const std::uint64_t> lengths,
                        const View& dst) {
    if (offsets.size() != t.rank() || lengths.size() != t.rank()) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "region has rank %zu/%zu, tensor has rank %zu", offsets.size(), lengths.size(),
                      t.rank());
        return error_info(errc::shape_mismatch).at_tensor(t.name).with_detail(buf);
    }
    if (View::rank() != t.rank()) {
        char buf[80];
        std::snprintf(buf, sizeof buf, "destination has rank %zu, tensor has rank %zu", static_cast<std::size_t>(View::rank()),
                      t.rank());
        return error_info(errc::shape_mismatch).at_tensor(t.name).with_detail(buf);
    }
    for (std::size_t r = 0; r < t.rank(); ++r) {
        std::uint64_t end = 0;
        if (add_overflow(offsets[r], lengths[r], end) || end > t.shape[r]) {
            char buf[112];
            std::snprintf(buf, sizeof buf, "dimension %zu: [%llu, %llu + %llu) outside extent %llu", r,
                          static_cast<unsigned long long>(offsets[r]), static_cast<unsigned long long>(offsets[r]),
                          static_cast<unsigned long long>(lengths[r]), static_cast<unsigned long long>(t.shape[r]));
            return error_info(errc::out_of_bounds).at_tensor(t.name).with_detail(buf);
        }
        if (static_cast<std::uint64_t>(dst.extent(static_cast<typename View::rank_type>(r))) != lengths[r]) {
            char buf[112];
            std::snprintf(buf, sizeof buf, "dimension %zu: destination extent %llu, region length %llu", r,
                          static_cast<unsigned long long>(dst.extent(static_cast<typename View::rank_type>(r))),
                          static_cast<unsigned long long>(lengths[r]));
            return error_info(errc::shape_mismatch).at_tensor(t.name).with_detail(buf);
        }
    }
    return {};
}

/// Copies region (offsets, lengths) of `t` into `dst`. `read(file_offset, span)` reads bytes
/// of the file (all-or-nothing); `data_offset` is where the data section starts. `view(off, n)`
/// is used instead of `read` when `Direct` (the bytes are addressable, e.g. mmapped).
/// Preconditions: check_region passed, Mapping accepts t.dtype for T.
template <class Mapping, class T, class Extents, class Layout, class Read, class Scatter = std::nullptr_t>
error_info copy_region(const tensor_info& t, std::uint64_t data_offset, std::span<const std::uint64_t> offsets,
                       std::span<const std::uint64_t> lengths, tensor_view<T, Extents, Layout> dst, Read&& read,
                       const std::byte* direct = nullptr, Scatter&& scatter = nullptr) {
    constexpr std::size_t R = Extents::rank();
    const std::uint64_t esize = byte_size(t.dtype);
    for (std::size_t r = 0; r < R; ++r)
        if (lengths[r] == 0) return {};

    // Longest run: dims [m, R) merge while the file side is whole rows and the destination
    // keeps one stride across them.
    std::size_t m = R ? R - 1 : 0;
    std::uint64_t run = R ? lengths[R - 1] : 1;
    std::ptrdiff_t dstride = 1;  // a scalar (rank 0) is one run of one element
    if constexpr (R > 0) dstride = static_cast<std::ptrdiff_t>(dst.stride(R - 1));
    if constexpr (R > 0) {
        while (m > 0 && lengths[m] == t.shape[m] &&
               static_cast<std::uint64_t>(dst.stride(m - 1)) == static_cast<std::uint64_t>(dst.stride(m)) * lengths[m]) {
            run *= lengths[m - 1];
            --m;
        }
    }
    std::array<std::uint64_t, R ? R : 1> sstride{};  // row-major element strides of the file tensor
    if constexpr (R > 0) {
        sstride[R - 1] = 1;
        for (std::size_t r = R - 1; r > 0; --r) sstride[r - 1] = sstride[r] * t.shape[r];
    }
    std::uint64_t base = 0;
    for (std::size_t r = 0; r < R; ++r) base += offsets[r] * sstride[r];

    const std::uint64_t run_bytes = run * esize;
    const std::uint64_t tensor_start = data_offset + t.begin;
    // Bytes can land unchanged only when no conversion is needed; BOOL bytes other than 0/1
    // must be normalised first (a bool holding 2 is undefined behaviour).
    const bool as_is = t.dtype == dtype_of<T> && dstride == 1 && !std::is_same_v<std::remove_cv_t<T>, bool>;

    // Outer odometer over dims [0, m).
    std::array<std::uint64_t, R ? R : 1> idx{};
    std::uint64_t src_elem = base;
    std::ptrdiff_t dst_elem = 0;
    T* const out = dst.data_handle();
    auto advance = [&]() -> bool {  // false when done
        if constexpr (R == 0) return false;
        else
        for (std::size_t r = m; r-- > 0;) {
            if (++idx[r] < lengths[r]) {
                src_elem += sstride[r];
                dst_elem += static_cast<std::ptrdiff_t>(dst.stride(r));
                return true;
            }
            src_elem -= (lengths[r] - 1) * sstride[r];
            dst_elem -= static_cast<std::ptrdiff_t>((lengths[r] - 1) * dst.stride(r));
            idx[r] = 0;
        }
        return false;
    };

    if (direct) {
        const std::byte* src = direct + t.begin;
        do {
            Mapping::copy(t.dtype, src + src_elem * esize, run, out + dst_elem, dstride);
        } while (m > 0 && advance());
        return {};
    }

    // Runs that land unchanged go straight into the destination when they are long, or when
    // the whole region is one run: no bounce buffer, no second copy.
    if (run_bytes >= bounce_bytes / 4 || (as_is && (m == 0 || run_bytes >= max_gap_bytes))) {
        // Long runs: one read per run (or per bounce-sized piece when converting).
        do {
            std::uint64_t file_off = tensor_start + src_elem * esize;
            if (as_is) {
                auto* p = reinterpret_cast<std::byte*>(out + dst_elem);
                if (auto e = read(file_off, std::span<std::byte>(p, run_bytes)); e.code != errc::ok) return e;
            } else {
                const std::uint64_t piece_elems = bounce_bytes / esize;
                auto bounce = bounce_buffer(static_cast<std::size_t>(piece_elems * esize));
                if (bounce.empty()) return error_info(errc::limit_exceeded).at_tensor(t.name).with_detail("out of memory");
                for (std::uint64_t done = 0; done < run;) {
                    std::uint64_t n = run - done < piece_elems ? run - done : piece_elems;
                    if (auto e = read(file_off + done * esize, bounce.first(n * esize)); e.code != errc::ok) return e;
                    Mapping::copy(t.dtype, bounce.data(), n, out + dst_elem + static_cast<std::ptrdiff_t>(done) * dstride,
                                  dstride);
                    done += n;
                }
            }
        } while (m > 0 && advance());
        return {};
    }

    // Short runs that land unchanged, from a source that scatters: one preadv per up to 1024
    // buffers puts each run straight into the destination (gaps of at most max_gap_bytes go to
    // a scratch buffer), so column chunks loaded as row slabs are copied once, not twice.
    if constexpr (!std::is_same_v<std::remove_cvref_t<Scatter>, std::nullptr_t>) {
        if (as_is) {
            auto scratch = bounce_buffer(static_cast<std::size_t>(max_gap_bytes));
            if (scratch.empty()) return error_info(errc::limit_exceeded).at_tensor(t.name).with_detail("out of memory");
            constexpr std::size_t max_iov = 1024;
            iovec iov[max_iov];
            std::size_t n_iov = 0;
            std::uint64_t start = 0, end = 0;
            auto send = [&]() -> error_info {
                if (n_iov == 0) return {};
                error_info e = scatter(tensor_start + start, std::span<iovec>(iov, n_iov));
                n_iov = 0;
                return e;
            };
            do {
                const std::uint64_t here = src_elem * esize;
                if (n_iov != 0 && (here - end > max_gap_bytes || n_iov + 2 > max_iov))
                    if (auto e = send(); e.code != errc::ok) return e;
                if (n_iov == 0) start = end = here;
                if (here > end) iov[n_iov++] = iovec{scratch.data(), static_cast<std::size_t>(here - end)};
                iov[n_iov++] = iovec{reinterpret_cast<std::byte*>(out + dst_elem), static_cast<std::size_t>(run_bytes)};
                end = here + run_bytes;
            } while (m > 0 && advance());
            return send();
        }
    }

    // Short runs: gather runs that lie close together into one window read into the bounce
    // buffer, then copy each out. Runs come in increasing file order.
    auto bounce = bounce_buffer(bounce_bytes);
    if (bounce.empty()) return error_info(errc::limit_exceeded).at_tensor(t.name).with_detail("out of memory");
    struct pending {
        std::uint64_t src;  // element index in the tensor
        std::ptrdiff_t dst;
    };
    std::vector<pending> window;
    window.reserve(bounce_bytes / (run_bytes ? run_bytes : 1) < 4096 ? bounce_bytes / (run_bytes ? run_bytes : 1) + 1 : 4096);
    auto flush = [&]() -> error_info {
        if (window.empty()) return {};
        std::uint64_t first = window.front().src * esize;
        std::uint64_t last = window.back().src * esize + run_bytes;
        if (auto e = read(tensor_start + first, bounce.first(static_cast<std::size_t>(last - first))); e.code != errc::ok)
            return e;
        for (const auto& p : window)
            Mapping::copy(t.dtype, bounce.data() + (p.src * esize - first), run, out + p.dst, dstride);
        window.clear();
        return {};
    };
    bool more = true;
    while (more) {
        if (!window.empty()) {
            std::uint64_t first = window.front().src * esize;
            std::uint64_t prev_end = window.back().src * esize + run_bytes;
            std::uint64_t here = src_elem * esize;
            if (here + run_bytes - first > bounce_bytes || here - prev_end > max_gap_bytes || window.size() == window.capacity())
                if (auto e = flush(); e.code != errc::ok) return e;
        }
        window.push_back(pending{src_elem, dst_elem});
        more = m > 0 && advance();
    }
    return flush();
}

}  // namespace safeshard::detail

#endif
