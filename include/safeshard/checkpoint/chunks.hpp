// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_CHUNKS_HPP
#define SAFESHARD_CHECKPOINT_CHUNKS_HPP

// Chunks: boxes of a tensor's index space (offsets, sizes), as DCP saves them. This file checks
// that a tensor's saved chunks tile its global shape exactly (inside it, no two sharing an
// element, nothing left uncovered) and plans reads: the overlap of requested boxes with saved
// ones (spec/dcp-hf.md §5), which is how N saved ranks load on M.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/detail/checked.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace safeshard::checkpoint {

/// A box of a tensor's index space: elements [offsets, offsets + sizes) in each dimension.
/// A rank-0 box (no dimensions) is the one element of a scalar.
struct chunk_box {
    std::span<const std::uint64_t> offsets;
    std::span<const std::uint64_t> sizes;

    std::size_t rank() const noexcept { return sizes.size(); }
    bool empty() const noexcept {
        for (auto s : sizes)
            if (s == 0) return true;
        return false;
    }
};

namespace detail {

inline void append_dims(std::string& out, std::span<const std::uint64_t> v) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(v[i]);
    }
    out += ']';
}

/// `[a, b, c]`, for messages.
inline std::string shape_text(std::span<const std::uint64_t> v) {
    std::string s;
    append_dims(s, v);
    return s;
}

/// Bytes of a chunk of `sizes` elements of `d` (callers checked the product fits).
inline std::uint64_t chunk_bytes(std::span<const std::uint64_t> sizes, safeshard::dtype d) noexcept {
    std::uint64_t n = 1;
    for (auto s : sizes) n *= s;
    return (n * bits(d) + 7) / 8;
}

inline bool boxes_overlap(const chunk_box& a, const chunk_box& b) noexcept {
    if (a.empty() || b.empty()) return false;
    for (std::size_t d = 0; d < a.rank(); ++d)
        if (a.offsets[d] >= b.offsets[d] + b.sizes[d] || b.offsets[d] >= a.offsets[d] + a.sizes[d]) return false;
    return true;
}

}  // namespace detail

/// Checks that `chunks` tile `global_shape` exactly. `where(i)` names chunk i's file for the
/// messages. Errors (naming `tensor`): `errc::chunk_mismatch` for a chunk of another rank,
/// `errc::out_of_bounds` for one reaching outside the shape, `errc::chunk_overlap` for two
/// sharing an element (stale shards of an earlier save look like this), `errc::chunk_hole` for
/// elements no chunk holds. Cost: O(r n log n + pairs that meet along the swept dimension) for n
/// chunks of rank r; for chunks on a grid, a slab of the grid per chunk.
template <class Where>
error_info check_tiling(std::string_view tensor, std::span<const std::uint64_t> global_shape,
                        std::span<const chunk_box> chunks, Where&& where) {
    const std::size_t rank = global_shape.size();
    std::uint64_t total = 0;
    if (!safeshard::detail::checked_numel(global_shape, total))
        return error_info(errc::size_overflow).at_tensor(tensor).with_detail("global shape overflows 64 bits");
    std::vector<std::uint32_t> live;
    live.reserve(chunks.size());
    for (std::uint32_t i = 0; i < chunks.size(); ++i) {
        const chunk_box& c = chunks[i];
        if (c.offsets.size() != rank || c.sizes.size() != rank) {
            std::string d = "chunk in " + std::string(where(i)) + " has rank " + std::to_string(c.sizes.size()) +
                            " with " + std::to_string(c.offsets.size()) + " offsets; the tensor has rank " + std::to_string(rank);
            return error_info(errc::chunk_mismatch).at_tensor(tensor).with_detail(d);
        }
        for (std::size_t d = 0; d < rank; ++d) {
            if (c.offsets[d] > global_shape[d] || c.sizes[d] > global_shape[d] - c.offsets[d]) {
                std::string m = "chunk at ";
                detail::append_dims(m, c.offsets);
                m += " of size ";
                detail::append_dims(m, c.sizes);
                m += " in " + std::string(where(i)) + " reaches outside the global shape ";
                detail::append_dims(m, global_shape);
                return error_info(errc::out_of_bounds).at_tensor(tensor).with_detail(m);
            }
        }
        if (!c.empty()) live.push_back(i);
    }
    // Sweep along one dimension: only chunks whose ranges meet there can overlap. The one with
    // the most distinct starts, so that a tensor split by columns is swept along its columns
    // (along rows, every pair of its chunks would meet: quadratic in the chunks).
    std::size_t sweep = 0;
    if (rank > 1 && live.size() > 2) {
        std::size_t most = 0;
        std::vector<std::uint64_t> starts(live.size());
        for (std::size_t d = 0; d < rank; ++d) {
            for (std::size_t k = 0; k < live.size(); ++k) starts[k] = chunks[live[k]].offsets[d];
            std::sort(starts.begin(), starts.end());
            const auto distinct = static_cast<std::size_t>(std::unique(starts.begin(), starts.end()) - starts.begin());
            if (distinct > most) most = distinct, sweep = d;
        }
    }
    auto first = [&](std::uint32_t i) { return rank ? chunks[i].offsets[sweep] : 0; };
    auto last = [&](std::uint32_t i) { return rank ? chunks[i].offsets[sweep] + chunks[i].sizes[sweep] : 1; };
    std::sort(live.begin(), live.end(), [&](std::uint32_t a, std::uint32_t b) {
        return first(a) != first(b) ? first(a) < first(b) : a < b;
    });
    std::uint64_t covered = 0;
    for (std::size_t x = 0; x < live.size(); ++x) {
        const chunk_box& a = chunks[live[x]];
        for (std::size_t y = x + 1; y < live.size() && first(live[y]) < last(live[x]); ++y) {
            if (!detail::boxes_overlap(a, chunks[live[y]])) continue;
            std::uint32_t i = std::min(live[x], live[y]), j = std::max(live[x], live[y]);
            std::string m = "chunk at ";
            detail::append_dims(m, chunks[i].offsets);
            m += " in " + std::string(where(i)) + " overlaps chunk at ";
            detail::append_dims(m, chunks[j].offsets);
            m += " in " + std::string(where(j));
            return error_info(errc::chunk_overlap).at_tensor(tensor).with_detail(m);
        }
        std::uint64_t v = 1;
        for (auto s : a.sizes) v *= s;  // inside the global shape, so no overflow
        covered += v;                    // disjoint boxes inside it: the sum stays <= total
    }
    if (covered != total) {
        std::string m = "saved chunks hold " + std::to_string(covered) + " of the " + std::to_string(total) +
                        " elements of global shape ";
        detail::append_dims(m, global_shape);
        return error_info(errc::chunk_hole).at_tensor(tensor).with_detail(m);
    }
    return {};
}

/// One read: the part of saved chunk `chunk` that request `request` needs.
struct read_item {
    std::uint32_t request = 0;
    std::uint32_t chunk = 0;
    std::size_t at = 0;  ///< where its coordinates start in the plan
};

/// Read items with their coordinates (per item: storage offsets inside the saved chunk,
/// destination offsets inside the requested box, lengths; `rank` values each).
class read_plan {
public:
    std::span<const read_item> items() const noexcept { return items_; }
    std::span<const std::uint64_t> storage_offsets(const read_item& r, std::size_t rank) const noexcept {
        return {coords_.data() + r.at, rank};
    }
    std::span<const std::uint64_t> dest_offsets(const read_item& r, std::size_t rank) const noexcept {
        return {coords_.data() + r.at + rank, rank};
    }
    std::span<const std::uint64_t> lengths(const read_item& r, std::size_t rank) const noexcept {
        return {coords_.data() + r.at + 2 * rank, rank};
    }
    void clear() noexcept {
        items_.clear();
        coords_.clear();
    }
    /// The bytes its buffers hold (a plan reused per thread keeps them between uses).
    std::size_t retained_bytes() const noexcept {
        return items_.capacity() * sizeof(read_item) + coords_.capacity() * sizeof(std::uint64_t);
    }
    void release() noexcept {
        std::vector<read_item>().swap(items_);
        std::vector<std::uint64_t>().swap(coords_);
    }

    /// Appends the reads that fill `request` (a box of the global tensor) from `saved`,
    /// in `saved` order. Empty overlaps give no item. DCP's per-dimension rule: the overlap
    /// is [max(starts), min(ends)), placed relative to each box.
    void add(std::uint32_t request_id, const chunk_box& request, std::span<const chunk_box> saved) {
        const std::size_t rank = request.rank();
        if (request.empty()) return;
        for (std::uint32_t j = 0; j < saved.size(); ++j) {
            const chunk_box& s = saved[j];
            if (s.rank() != rank || s.empty()) continue;
            bool meets = true;
            for (std::size_t d = 0; d < rank && meets; ++d)
                meets = s.offsets[d] < request.offsets[d] + request.sizes[d] && request.offsets[d] < s.offsets[d] + s.sizes[d];
            if (!meets) continue;
            items_.push_back(read_item{request_id, j, coords_.size()});
            coords_.resize(coords_.size() + 3 * rank);
            std::uint64_t* c = coords_.data() + items_.back().at;
            for (std::size_t d = 0; d < rank; ++d) {
                std::uint64_t lo = std::max(s.offsets[d], request.offsets[d]);
                std::uint64_t hi = std::min(s.offsets[d] + s.sizes[d], request.offsets[d] + request.sizes[d]);
                c[d] = lo - s.offsets[d];
                c[rank + d] = lo - request.offsets[d];
                c[2 * rank + d] = hi - lo;
            }
        }
    }

private:
    std::vector<read_item> items_;
    std::vector<std::uint64_t> coords_;
};

}  // namespace safeshard::checkpoint

#endif
