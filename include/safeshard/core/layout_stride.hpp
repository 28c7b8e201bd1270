// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_LAYOUT_STRIDE_HPP
#define SAFESHARD_CORE_LAYOUT_STRIDE_HPP

// The strided memory layout of the mdspan vocabulary: any layout given by one stride per
// dimension. A chunk of a tensor (a subview) has this layout.

#include <safeshard/core/config.hpp>
#include <safeshard/core/extents.hpp>
#include <safeshard/core/layout_right.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>

namespace safeshard {

/// Any layout described by one non-negative stride per dimension, the offset of an element
/// being the sum of index × stride. Subviews have this layout.
struct layout_stride {
    template <class Extents>
    class mapping;
};

namespace detail {

// The offset of the last element of a strided mapping, plus one, computed with overflow
// checks; false when it is not representable in `limit`.
template <class Extents, class Strides>
constexpr bool strided_span_size(const Extents& e, const Strides& s, std::uint64_t limit, std::uint64_t& out) noexcept {
    for (std::size_t r = 0; r < Extents::rank(); ++r)
        if (e.extent(r) == 0) {
            out = 0;
            return true;
        }
    std::uint64_t total = 1;
    for (std::size_t r = 0; r < Extents::rank(); ++r) {
        std::uint64_t term = 0;
        if (!mul_within(static_cast<std::uint64_t>(e.extent(r)) - 1, static_cast<std::uint64_t>(s[r]), limit, term) ||
            !add_within(total, term, limit, total))
            return false;
    }
    out = total;
    return true;
}

// Whether distinct indices can never share an offset: ordering the dimensions that have more
// than one index by stride, each stride must reach past the whole span of the smaller ones.
// Dimensions of extent 1 never collide, and an empty mapping has nothing to collide. This is
// sufficient (the largest differing index outweighs all smaller ones) and a little wider than
// std::layout_stride's rule (each stride at least the previous stride times its extent).
template <class Extents, class Strides>
constexpr bool strides_unique(const Extents& e, const Strides& s) noexcept {
    constexpr std::size_t rank = Extents::rank();
    std::array<std::size_t, rank> dims{};
    std::size_t n = 0;
    for (std::size_t r = 0; r < rank; ++r) {
        if (e.extent(r) == 0) return true;
        if (e.extent(r) > 1) dims[n++] = r;
    }
    for (std::size_t i = 1; i < n; ++i)  // insertion sort: rank is tiny
        for (std::size_t j = i; j > 0 && s[dims[j]] < s[dims[j - 1]]; --j) std::swap(dims[j], dims[j - 1]);
    std::uint64_t reach = 1;  // one past the largest offset of the dimensions seen so far
    for (std::size_t i = 0; i < n; ++i) {
        const auto stride = static_cast<std::uint64_t>(s[dims[i]]);
        if (stride < reach) return false;
        std::uint64_t span = 0;
        if (!mul_within(stride, static_cast<std::uint64_t>(e.extent(dims[i])) - 1, std::numeric_limits<std::uint64_t>::max(), span) ||
            !add_within(reach, span, std::numeric_limits<std::uint64_t>::max(), reach))
            return false;
    }
    return true;
}

}  // namespace detail

/// A strided mapping: offset = Σ idx_r × stride_r, with the extents and one stride per dimension.
///
/// Requires (checked in debug builds): the mapping is unique — ordered by stride, each
/// dimension of extent > 1 steps past everything the smaller ones reach — and the largest
/// offset plus one fits in `index_type`.
template <class Extents>
class layout_stride::mapping {
    static_assert(detail::is_extents_v<Extents>,
                  "layout_stride::mapping's template argument must be a specialization of safeshard::extents, "
                  "such as safeshard::dextents<std::uint32_t, 2>.");

public:
    using extents_type = Extents;
    using index_type = typename extents_type::index_type;
    using size_type = typename extents_type::size_type;
    using rank_type = typename extents_type::rank_type;
    using layout_type = layout_stride;

    /// The row-major strides of default extents, as `std::layout_stride`.
    constexpr mapping() noexcept : mapping(layout_right::mapping<extents_type>()) {}
    constexpr mapping(const mapping&) noexcept = default;
    constexpr mapping& operator=(const mapping&) noexcept = default;

    /// From extents and one stride per dimension, outermost first.
    template <class OtherIndexType>
        requires detail::index_convertible<const OtherIndexType&, index_type>
    constexpr mapping(const extents_type& e, std::span<OtherIndexType, extents_type::rank()> s) noexcept : extents_(e) {
        if constexpr (extents_type::rank() > 0)
            for (rank_type r = 0; r < extents_type::rank(); ++r) {
                SAFESHARD_ASSERT(detail::representable<index_type>(s[r]));
                strides_.v[r] = static_cast<index_type>(s[r]);
            }
        check();
    }
    template <class OtherIndexType>
        requires detail::index_convertible<const OtherIndexType&, index_type>
    constexpr mapping(const extents_type& e, const std::array<OtherIndexType, extents_type::rank()>& s) noexcept
        : mapping(e, std::span<const OtherIndexType, extents_type::rank()>(s)) {}
    /// Non-template so that braces work: `mapping(e, {12, 1})`.
    constexpr mapping(const extents_type& e, const std::array<index_type, extents_type::rank()>& s) noexcept
        : extents_(e) {
        if constexpr (extents_type::rank() > 0) strides_.v = s;
        check();
    }

    /// The strided form of a row-major mapping (implicit where the extents conversion is).
    template <class OtherExtents>
        requires std::is_constructible_v<extents_type, OtherExtents>
    constexpr explicit(!std::is_convertible_v<OtherExtents, extents_type>)
        mapping(const layout_right::mapping<OtherExtents>& other) noexcept
        : extents_(other.extents()) {
        if constexpr (extents_type::rank() > 0) {
            const auto s = other.strides();
            for (rank_type r = 0; r < extents_type::rank(); ++r) strides_.v[r] = static_cast<index_type>(s[r]);
        }
    }

    /// From a strided mapping of other, compatible extents.
    template <class OtherExtents>
        requires std::is_constructible_v<extents_type, OtherExtents>
    constexpr explicit(!std::is_convertible_v<OtherExtents, extents_type>)
        mapping(const mapping<OtherExtents>& other) noexcept
        : extents_(other.extents()) {
        if constexpr (extents_type::rank() > 0)
            for (rank_type r = 0; r < extents_type::rank(); ++r) {
                SAFESHARD_ASSERT(detail::representable<index_type>(other.stride(r)));
                strides_.v[r] = static_cast<index_type>(other.stride(r));
            }
    }

    constexpr const extents_type& extents() const noexcept { return extents_; }
    /// Every stride, outermost first (empty for rank 0).
    constexpr std::array<index_type, extents_type::rank()> strides() const noexcept {
        if constexpr (extents_type::rank() > 0) return strides_.v;
        else return {};
    }

    /// The stride of dimension `r`. Requires `r < rank()`.
    constexpr index_type stride(rank_type r) const noexcept
        requires(extents_type::rank() > 0)
    {
        SAFESHARD_ASSERT(r < extents_type::rank());
        return strides_.v[r];
    }

    /// One past the largest offset: 0 when any extent is 0, 1 for rank 0.
    constexpr index_type required_span_size() const noexcept {
        std::uint64_t n = 0;
        detail::strided_span_size(extents_, strides(), std::numeric_limits<std::uint64_t>::max(), n);
        return static_cast<index_type>(n);
    }

    /// The offset of element (idx...). Requires: `0 <= idx_r < extent(r)` for every r.
    template <class... Indices>
        requires detail::indices_for<extents_type, Indices...>
    constexpr index_type operator()(Indices... idx) const noexcept {
        if constexpr (extents_type::rank() == 0) {
            return 0;  // a scalar has no strides (strides_ is empty)
        } else {
            auto step = [this](index_type off, rank_type r, index_type i) {
                return static_cast<index_type>(off + static_cast<index_type>(i * strides_.v[r]));
            };
            return detail::fold_indices(extents_, step, idx...);
        }
    }

    static constexpr bool is_always_unique() noexcept { return true; }
    static constexpr bool is_always_exhaustive() noexcept { return false; }
    static constexpr bool is_always_strided() noexcept { return true; }
    static constexpr bool is_unique() noexcept { return true; }
    static constexpr bool is_strided() noexcept { return true; }

    /// Whether every offset in [0, required_span_size()) is used; since the mapping is unique
    /// that is exactly "as many offsets as elements".
    constexpr bool is_exhaustive() const noexcept {
        return static_cast<std::uint64_t>(required_span_size()) == static_cast<std::uint64_t>(numel(extents_));
    }

    /// Equal to any strided mapping of the same rank with equal extents and strides.
    template <class OtherMapping>
        requires(OtherMapping::is_always_strided() && OtherMapping::extents_type::rank() == extents_type::rank())
    friend constexpr bool operator==(const mapping& a, const OtherMapping& b) noexcept {
        if (!(a.extents() == b.extents())) return false;
        if constexpr (extents_type::rank() > 0)
            for (rank_type r = 0; r < extents_type::rank(); ++r)
                if (!std::cmp_equal(a.stride(r), b.stride(r))) return false;
        return true;
    }

private:
    constexpr void check() const noexcept {
        SAFESHARD_ASSERT(detail::strides_unique(extents_, strides()));
        [[maybe_unused]] std::uint64_t n = 0;
        SAFESHARD_ASSERT(detail::strided_span_size(extents_, strides(),
                                                   static_cast<std::uint64_t>(std::numeric_limits<index_type>::max()), n));
    }

    // Both members are empty classes for rank 0, so a scalar mapping takes no space either.
    [[no_unique_address]] extents_type extents_{};
    [[no_unique_address]] detail::dynamic_values<index_type, extents_type::rank()> strides_{};
};

}  // namespace safeshard

#endif
