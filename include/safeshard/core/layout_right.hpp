// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_LAYOUT_RIGHT_HPP
#define SAFESHARD_CORE_LAYOUT_RIGHT_HPP

// The row-major memory layout of the mdspan vocabulary, the layout of every tensor in a
// safetensors file and so the default of `tensor_view`.

#include <safeshard/core/config.hpp>
#include <safeshard/core/extents.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace safeshard {

/// Row-major (C order) layout: the last index varies fastest and elements are packed, so a
/// view in this layout always covers one contiguous run of `size()` elements.
struct layout_right {
    template <class Extents>
    class mapping;
};

/// The layout_right mapping of `Extents`: offset = ((i0 × e1 + i1) × e2 + i2) …; it holds only
/// the extents, so a fully static shape makes it an empty class.
///
/// Requires: the product of the extents fits in `index_type` (checked in debug builds).
template <class Extents>
class layout_right::mapping {
    static_assert(detail::is_extents_v<Extents>,
                  "layout_right::mapping's template argument must be a specialization of safeshard::extents, "
                  "such as safeshard::dextents<std::uint32_t, 2>.");

public:
    using extents_type = Extents;
    using index_type = typename extents_type::index_type;
    using size_type = typename extents_type::size_type;
    using rank_type = typename extents_type::rank_type;
    using layout_type = layout_right;

    constexpr mapping() noexcept = default;
    constexpr mapping(const mapping&) noexcept = default;
    constexpr mapping& operator=(const mapping&) noexcept = default;

    /// The row-major mapping of `e`.
    constexpr mapping(const extents_type& e) noexcept : extents_(e) {  // NOLINT: implicit as in mdspan
        SAFESHARD_ASSERT(size_fits(e));
    }

    /// From the mapping of other, compatible extents (explicit where the extents conversion is).
    template <class OtherExtents>
        requires std::is_constructible_v<extents_type, OtherExtents>
    constexpr explicit(!std::is_convertible_v<OtherExtents, extents_type>) mapping(const mapping<OtherExtents>& other) noexcept
        : mapping(extents_type(other.extents())) {}

    constexpr const extents_type& extents() const noexcept { return extents_; }

    /// The number of elements of the underlying range the mapping addresses: numel.
    constexpr index_type required_span_size() const noexcept { return static_cast<index_type>(numel(extents_)); }

    /// The offset of element (idx...). Requires: `0 <= idx_r < extent(r)` for every r.
    template <class... Indices>
        requires detail::indices_for<extents_type, Indices...>
    constexpr index_type operator()(Indices... idx) const noexcept {
        // Horner's rule: no strides to compute.
        auto step = [this](index_type off, rank_type r, index_type i) {
            return static_cast<index_type>(off * extents_.extent(r) + i);
        };
        return detail::fold_indices(extents_, step, idx...);
    }

    static constexpr bool is_always_unique() noexcept { return true; }
    static constexpr bool is_always_exhaustive() noexcept { return true; }
    static constexpr bool is_always_strided() noexcept { return true; }
    static constexpr bool is_unique() noexcept { return true; }
    static constexpr bool is_exhaustive() noexcept { return true; }
    static constexpr bool is_strided() noexcept { return true; }

    /// The product of the extents after `r`. Requires `r < rank()`.
    constexpr index_type stride(rank_type r) const noexcept
        requires(extents_type::rank() > 0)
    {
        SAFESHARD_ASSERT(r < extents_type::rank());
        index_type s = 1;
        for (rank_type k = r + 1; k < extents_type::rank(); ++k) s = static_cast<index_type>(s * extents_.extent(k));
        return s;
    }

    /// Every stride, outermost first (empty for rank 0).
    constexpr std::array<index_type, extents_type::rank()> strides() const noexcept {
        std::array<index_type, extents_type::rank()> s{};
        index_type run = 1;
        for (rank_type k = extents_type::rank(); k-- > 0;) {
            s[k] = run;
            run = static_cast<index_type>(run * extents_.extent(k));
        }
        return s;
    }

    template <class OtherExtents>
        requires(OtherExtents::rank() == extents_type::rank())
    friend constexpr bool operator==(const mapping& a, const mapping<OtherExtents>& b) noexcept {
        return a.extents() == b.extents();
    }

private:
    // Whether numel(e) is representable in index_type (so every offset is).
    static constexpr bool size_fits(const extents_type& e) noexcept {
        for (rank_type r = 0; r < extents_type::rank(); ++r)
            if (e.extent(r) == 0) return true;
        std::uint64_t n = 1;
        for (rank_type r = 0; r < extents_type::rank(); ++r)
            if (!detail::mul_within(n, static_cast<std::uint64_t>(e.extent(r)),
                                    static_cast<std::uint64_t>(std::numeric_limits<index_type>::max()), n))
                return false;
        return true;
    }

    [[no_unique_address]] extents_type extents_{};
};

}  // namespace safeshard

#endif
