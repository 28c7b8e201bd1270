// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_BOX_COPY_HPP
#define SAFESHARD_CHECKPOINT_BOX_COPY_HPP

// Copies one read item (part of a saved chunk) into a row-major byte buffer holding a box of
// the global tensor, for any rank and any whole-byte element size, without templates over
// rank or type: the tools and consolidation move tensors whose type they only know at run time.
// Trailing dimensions whole on both sides merge into one run; long runs are read straight
// into the destination, short dense ones through a sliding window of the source (one large
// read instead of many small ones: column shards have short runs), sparse ones one by one.

#include <safeshard/core/error.hpp>
#include <safeshard/detail/region_copy.hpp>
#include <safeshard/io/concepts.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace safeshard::checkpoint::detail {

/// Where a piece comes from and goes to. Coordinates have `rank` values each.
struct box_piece {
    std::uint64_t source_base = 0;               ///< file offset of the chunk's first byte
    std::span<const std::uint64_t> chunk_shape;  ///< the saved chunk's sizes
    std::span<const std::uint64_t> storage_offsets;
    std::span<const std::uint64_t> dest_shape;   ///< the destination box's sizes
    std::span<const std::uint64_t> dest_offsets;
    std::span<const std::uint64_t> lengths;
    std::uint64_t elem = 1;                      ///< bytes per element
};

// Longest run before the window pays off less than a direct read into the destination.
inline constexpr std::uint64_t direct_run_bytes = std::uint64_t{256} << 10;

/// Copies `p` from `src` into `dst` (the destination box's bytes). I/O errors come back as
/// the source reports them; the caller adds file and tensor.
template <io::byte_source Source>
error_info copy_box_piece(const Source& src, const box_piece& p, std::byte* dst) {
    const std::size_t R = p.lengths.size();
    constexpr std::size_t max_rank = 64;  // coordinates on the stack; deeper tensors are split below
    std::uint64_t src_stride[max_rank], dst_stride[max_rank], idx[max_rank];
    if (R > max_rank) return error_info(errc::limit_exceeded).with_detail("rank above 64 in a box copy");
    for (std::size_t d = R; d-- > 0;) {
        src_stride[d] = d + 1 < R ? src_stride[d + 1] * p.chunk_shape[d + 1] : p.elem;
        dst_stride[d] = d + 1 < R ? dst_stride[d + 1] * p.dest_shape[d + 1] : p.elem;
        idx[d] = 0;
    }
    // Dimensions [inner, R) form one run: each dimension after `inner` is whole in the chunk,
    // the destination box and the piece.
    std::size_t inner = R == 0 ? 0 : R - 1;
    std::uint64_t run = p.elem * (R ? p.lengths[R - 1] : 1);
    while (inner > 0 && p.lengths[inner] == p.chunk_shape[inner] && p.lengths[inner] == p.dest_shape[inner])
        run *= p.lengths[--inner];
    if (run == 0) return {};
    std::uint64_t first = p.source_base, last = p.source_base, payload = p.elem;
    for (std::size_t d = 0; d < R; ++d) {
        first += p.storage_offsets[d] * src_stride[d];
        last += (p.storage_offsets[d] + p.lengths[d] - 1) * src_stride[d];
        payload *= p.lengths[d];
    }
    const std::uint64_t span_bytes = last + p.elem - first;
    const bool windowed = run < direct_run_bytes && span_bytes <= 4 * payload;
    std::span<std::byte> window;
    std::uint64_t win_at = 0, win_len = 0;
    if (windowed) {
        window = safeshard::detail::bounce_buffer(safeshard::detail::bounce_bytes);
        if (window.empty()) return error_info(errc::limit_exceeded).with_detail("out of memory for a read buffer");
    }
    for (bool done = false; !done;) {
        std::uint64_t s = p.source_base, o = 0;
        for (std::size_t d = 0; d < R; ++d) {
            s += (p.storage_offsets[d] + idx[d]) * src_stride[d];
            o += (p.dest_offsets[d] + idx[d]) * dst_stride[d];
        }
        if (!windowed) {
            if (auto st = src.read(s, std::span<std::byte>(dst + o, static_cast<std::size_t>(run))); !st) return st.error();
        } else {
            for (std::uint64_t copied = 0; copied < run;) {
                const std::uint64_t at = s + copied;
                if (at < win_at || at >= win_at + win_len) {
                    win_at = at;
                    win_len = std::min<std::uint64_t>(window.size(), first + span_bytes - at);
                    if (auto st = src.read(win_at, window.first(static_cast<std::size_t>(win_len))); !st) return st.error();
                }
                const std::uint64_t n = std::min(run - copied, win_at + win_len - at);
                std::memcpy(dst + o + copied, window.data() + (at - win_at), static_cast<std::size_t>(n));
                copied += n;
            }
        }
        done = true;
        for (std::size_t d = inner; d-- > 0;) {
            if (++idx[d] < p.lengths[d]) {
                done = false;
                break;
            }
            idx[d] = 0;
        }
    }
    return {};
}

}  // namespace safeshard::checkpoint::detail

namespace safeshard::checkpoint {

/// From element `indices` of a row-major sub-tensor of `sub_shape` placed in a tensor of
/// `full_shape`, how many elements are contiguous in both (DCP's
/// `_calculate_max_contiguous_elements`, with its checks and messages, but merging across every
/// dimension rather than the last three). Errors are `errc::invalid_argument`.
inline result<std::uint64_t> max_contiguous_elements(std::span<const std::uint64_t> indices,
                                                     std::span<const std::uint64_t> sub_shape,
                                                     std::span<const std::uint64_t> full_shape) {
    auto fail = [](const std::string& m) { return error_info(errc::invalid_argument).with_detail(m); };
    auto list = [](std::span<const std::uint64_t> v) {
        std::string s = "[";
        for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
        return s + "]";
    };
    if (indices.empty() || sub_shape.empty() || full_shape.empty()) return fail("Input lists cannot be empty");
    if (indices.size() != sub_shape.size() || sub_shape.size() != full_shape.size())
        return fail("All input lists must have the same length. Got indices: " + list(indices) + ", sub_tensor_shape: " +
                    list(sub_shape) + ", tensor_shape: " + list(full_shape));
    for (std::size_t i = 0; i < indices.size(); ++i) {
        if (indices[i] >= sub_shape[i])
            return fail("Index " + std::to_string(indices[i]) + " at dimension " + std::to_string(i) +
                        " is out of bounds for sub-tensor shape " + list(sub_shape));
        if (sub_shape[i] > full_shape[i])
            return fail("Sub-tensor dimension " + std::to_string(sub_shape[i]) + " at position " + std::to_string(i) +
                        " exceeds tensor dimension " + std::to_string(full_shape[i]));
    }
    std::size_t d = indices.size() - 1;
    std::uint64_t whole = 1;  // elements of the dimensions after d, all whole on both sides
    while (d > 0 && indices[d] == 0 && sub_shape[d] == full_shape[d]) whole *= sub_shape[d--];
    return (sub_shape[d] - indices[d]) * whole;
}

}  // namespace safeshard::checkpoint

#endif
