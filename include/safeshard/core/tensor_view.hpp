// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_TENSOR_VIEW_HPP
#define SAFESHARD_CORE_TENSOR_VIEW_HPP

// The other half of the mdspan vocabulary: memory layouts (`layout_right`, `layout_stride`)
// and `tensor_view`, a non-owning typed view that is an mdspan with the default accessor.
// Slicing by (offsets, lengths) matches how safetensors and DCP describe a chunk of a tensor,
// so `subview` takes exactly that instead of mdspan's slice specifiers.

#include <safeshard/core/config.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/extents.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

namespace safeshard {

/// Row-major (C order) layout: the last index varies fastest and elements are packed, so a
/// view in this layout always covers one contiguous run of `size()` elements.
struct layout_right {
    template <class Extents>
    class mapping;
};

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

template <class T>
inline constexpr bool is_layout_right_mapping_v = false;
template <class E>
inline constexpr bool is_layout_right_mapping_v<layout_right::mapping<E>> = true;

}  // namespace detail

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
        requires(sizeof...(Indices) == extents_type::rank() && (std::is_convertible_v<Indices, index_type> && ...) &&
                 (std::is_nothrow_constructible_v<index_type, Indices> && ...))
    constexpr index_type operator()(Indices... idx) const noexcept {
        return offset(std::make_index_sequence<sizeof...(Indices)>{}, idx...);
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

    template <std::size_t... R, class... Indices>
    constexpr index_type offset(std::index_sequence<R...>, Indices... idx) const noexcept {
        SAFESHARD_ASSERT((detail::index_below(idx, extents_.extent(R)) && ...));
        index_type off = 0;
        ((off = static_cast<index_type>(off * extents_.extent(R) + static_cast<index_type>(idx))), ...);
        return off;
    }

    [[no_unique_address]] extents_type extents_{};
};

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
        requires(std::is_convertible_v<const OtherIndexType&, index_type> &&
                 std::is_nothrow_constructible_v<index_type, const OtherIndexType&>)
    constexpr mapping(const extents_type& e, std::span<OtherIndexType, extents_type::rank()> s) noexcept : extents_(e) {
        if constexpr (extents_type::rank() > 0)
            for (rank_type r = 0; r < extents_type::rank(); ++r) {
                SAFESHARD_ASSERT(detail::representable<index_type>(s[r]));
                strides_.v[r] = static_cast<index_type>(s[r]);
            }
        check();
    }
    template <class OtherIndexType>
        requires(std::is_convertible_v<const OtherIndexType&, index_type> &&
                 std::is_nothrow_constructible_v<index_type, const OtherIndexType&>)
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
        requires(sizeof...(Indices) == extents_type::rank() && (std::is_convertible_v<Indices, index_type> && ...) &&
                 (std::is_nothrow_constructible_v<index_type, Indices> && ...))
    constexpr index_type operator()(Indices... idx) const noexcept {
        return offset(std::make_index_sequence<sizeof...(Indices)>{}, idx...);
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

    template <std::size_t... R, class... Indices>
    constexpr index_type offset(std::index_sequence<R...>, Indices... idx) const noexcept {
        SAFESHARD_ASSERT((detail::index_below(idx, extents_.extent(R)) && ...));
        return static_cast<index_type>((index_type{0} + ... + static_cast<index_type>(static_cast<index_type>(idx) * strides_.v[R])));
    }

    // Both members are empty classes for rank 0, so a scalar mapping takes no space either.
    [[no_unique_address]] extents_type extents_{};
    [[no_unique_address]] detail::dynamic_values<index_type, extents_type::rank()> strides_{};
};

namespace detail {

// A layout policy for `Extents`: a tag whose nested mapping<Extents> names its extents and
// itself. Checked only after `Extents` is known to be an extents, so that a wrong Extents
// reports one error, not one from inside a mapping as well.
template <class Layout, class Extents>
concept layout_policy_for = requires { typename Layout::template mapping<Extents>; } &&
                            std::is_same_v<typename Layout::template mapping<Extents>::extents_type, Extents> &&
                            std::is_same_v<typename Layout::template mapping<Extents>::layout_type, Layout>;

template <class Layout, class Extents>
constexpr bool valid_view_arguments() noexcept {
    if constexpr (is_extents_v<Extents>) return layout_policy_for<Layout, Extents>;
    else return false;
}

// The mapping type of a view, or a harmless stand-in while the static_asserts report misuse.
template <class Layout, class Extents, bool Valid = valid_view_arguments<Layout, Extents>()>
struct view_mapping {
    using type = typename Layout::template mapping<Extents>;
};
template <class Layout, class Extents>
struct view_mapping<Layout, Extents, false> {
    using type = layout_right::mapping<extents<std::size_t>>;
};

}  // namespace detail

/// A non-owning, typed, multidimensional view of `T` elements: `std::mdspan<T, Extents,
/// Layout>` with the default accessor. A stateless mapping takes no space, so a view of a
/// static shape is one pointer.
///
/// Requires: `Extents` is a `safeshard::extents`; `Layout` is `layout_right`, `layout_stride`
/// or another policy with a nested `mapping<Extents>`; `[data_handle(), data_handle() +
/// required_span_size())` is valid memory for as long as elements are accessed.
template <class T, class Extents, class Layout = layout_right>
class tensor_view {
    static_assert(std::is_object_v<T> && !std::is_abstract_v<T> && !std::is_array_v<T>,
                  "tensor_view's element type must be a complete object type that is not an array: put the "
                  "element type (such as float) first and the shape in Extents.");
    static_assert(detail::is_extents_v<Extents>,
                  "tensor_view's Extents template argument must be a specialization of safeshard::extents: write "
                  "safeshard::extents<std::uint32_t, 2, 3> for a fixed shape or safeshard::dextents<std::uint32_t, 2> "
                  "for a shape known at run time.");
    static_assert(!detail::is_extents_v<Extents> || detail::valid_view_arguments<Layout, Extents>(),
                  "tensor_view's Layout template argument must be a layout policy with a nested mapping<Extents>: pass "
                  "safeshard::layout_right or safeshard::layout_stride, not a mapping or an extents type.");

public:
    using mapping_type = typename detail::view_mapping<Layout, Extents>::type;
    using extents_type = typename mapping_type::extents_type;
    using layout_type = Layout;
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using index_type = typename mapping_type::index_type;
    using size_type = typename mapping_type::size_type;
    using rank_type = typename mapping_type::rank_type;
    using data_handle_type = T*;
    using reference = T&;

    static constexpr rank_type rank() noexcept { return extents_type::rank(); }
    static constexpr rank_type rank_dynamic() noexcept { return extents_type::rank_dynamic(); }
    static constexpr std::size_t static_extent(rank_type r) noexcept { return extents_type::static_extent(r); }

    /// A null view (default extents); only for assigning to later, as in `result::get`.
    constexpr tensor_view() noexcept = default;
    constexpr tensor_view(const tensor_view&) noexcept = default;
    constexpr tensor_view& operator=(const tensor_view&) noexcept = default;

    /// From a pointer and the dynamic extents (or all extents).
    template <class... OtherIndexTypes>
        requires((std::is_convertible_v<OtherIndexTypes, index_type> && ...) &&
                 (std::is_nothrow_constructible_v<index_type, OtherIndexTypes> && ...) &&
                 (sizeof...(OtherIndexTypes) == rank() || sizeof...(OtherIndexTypes) == rank_dynamic()) &&
                 std::is_constructible_v<mapping_type, const extents_type&>)
    constexpr explicit tensor_view(data_handle_type p, OtherIndexTypes... exts) noexcept
        : ptr_(p), map_(extents_type(exts...)) {}

    /// From a pointer and an array of the dynamic extents (or of all extents).
    template <class OtherIndexType, std::size_t N>
        requires(std::is_convertible_v<const OtherIndexType&, index_type> && (N == rank() || N == rank_dynamic()) &&
                 std::is_constructible_v<mapping_type, const extents_type&>)
    constexpr explicit(N != rank_dynamic()) tensor_view(data_handle_type p, const std::array<OtherIndexType, N>& exts) noexcept
        : ptr_(p), map_(extents_type(exts)) {}

    /// From a pointer and a span of the dynamic extents (or of all extents).
    template <class OtherIndexType, std::size_t N>
        requires(std::is_convertible_v<const OtherIndexType&, index_type> && (N == rank() || N == rank_dynamic()) &&
                 std::is_constructible_v<mapping_type, const extents_type&>)
    constexpr explicit(N != rank_dynamic()) tensor_view(data_handle_type p, std::span<OtherIndexType, N> exts) noexcept
        : ptr_(p), map_(extents_type(exts)) {}

    /// From a pointer and extents, for layouts whose mapping is made from extents alone.
    constexpr tensor_view(data_handle_type p, const extents_type& e) noexcept
        requires std::is_constructible_v<mapping_type, const extents_type&>
        : ptr_(p), map_(e) {}

    /// From a pointer and a mapping.
    constexpr tensor_view(data_handle_type p, const mapping_type& m) noexcept : ptr_(p), map_(m) {}

    /// From a view of a convertible element type (`T` → `const T`) and a convertible mapping
    /// (`layout_right` → `layout_stride`, static → dynamic extents); explicit where the
    /// mapping conversion is.
    template <class OtherT, class OtherExtents, class OtherLayout>
        requires(std::is_convertible_v<OtherT (*)[], T (*)[]> &&
                 std::is_constructible_v<mapping_type, const typename OtherLayout::template mapping<OtherExtents>&>)
    constexpr explicit(!std::is_convertible_v<const typename OtherLayout::template mapping<OtherExtents>&, mapping_type>)
        tensor_view(const tensor_view<OtherT, OtherExtents, OtherLayout>& other) noexcept
        : ptr_(other.data_handle()), map_(other.mapping()) {}

    constexpr data_handle_type data_handle() const noexcept { return ptr_; }
    constexpr const mapping_type& mapping() const noexcept { return map_; }
    constexpr const extents_type& extents() const noexcept { return map_.extents(); }
    constexpr index_type extent(rank_type r) const noexcept { return map_.extents().extent(r); }
    constexpr index_type stride(rank_type r) const noexcept
        requires(extents_type::rank() > 0)
    {
        return map_.stride(r);
    }

    /// The number of elements (1 for rank 0).
    constexpr size_type size() const noexcept { return static_cast<size_type>(numel(map_.extents())); }
    /// Whether some extent is 0.
    constexpr bool empty() const noexcept { return size() == 0; }

    /// The element at (idx...). Requires `0 <= idx_r < extent(r)` (checked in debug builds).
    template <class... Indices>
        requires(sizeof...(Indices) == extents_type::rank() && (std::is_convertible_v<Indices, index_type> && ...) &&
                 (std::is_nothrow_constructible_v<index_type, Indices> && ...))
    constexpr reference operator()(Indices... idx) const noexcept {
        return ptr_[map_(idx...)];
    }

    /// The element at the indices in `idx`.
    template <class OtherIndexType>
        requires(std::is_convertible_v<const OtherIndexType&, index_type> &&
                 std::is_nothrow_constructible_v<index_type, const OtherIndexType&>)
    constexpr reference operator()(const std::array<OtherIndexType, extents_type::rank()>& idx) const noexcept {
        return at_array(idx, std::make_index_sequence<extents_type::rank()>{});
    }
    template <class OtherIndexType>
        requires(std::is_convertible_v<const OtherIndexType&, index_type> &&
                 std::is_nothrow_constructible_v<index_type, const OtherIndexType&>)
    constexpr reference operator()(std::span<OtherIndexType, extents_type::rank()> idx) const noexcept {
        return at_array(idx, std::make_index_sequence<extents_type::rank()>{});
    }

    static constexpr bool is_always_unique() noexcept { return mapping_type::is_always_unique(); }
    static constexpr bool is_always_exhaustive() noexcept { return mapping_type::is_always_exhaustive(); }
    static constexpr bool is_always_strided() noexcept { return mapping_type::is_always_strided(); }
    constexpr bool is_unique() const noexcept { return map_.is_unique(); }
    constexpr bool is_exhaustive() const noexcept { return map_.is_exhaustive(); }
    constexpr bool is_strided() const noexcept { return map_.is_strided(); }

private:
    template <class Array, std::size_t... R>
    constexpr reference at_array(const Array& idx, std::index_sequence<R...>) const noexcept {
        return ptr_[map_(idx[R]...)];
    }

    data_handle_type ptr_ = nullptr;
    [[no_unique_address]] mapping_type map_{};
};

/// A scalar (rank-0) view of `*p`.
template <class T>
    requires std::is_object_v<T>
tensor_view(T*) -> tensor_view<T, extents<std::size_t>>;
/// All-dynamic extents from integers (index type `std::size_t`, as `std::mdspan`).
template <class T, class... Integrals>
    requires(sizeof...(Integrals) > 0 && (std::is_convertible_v<Integrals, std::size_t> && ...))
explicit tensor_view(T*, Integrals...) -> tensor_view<T, dextents<std::size_t, sizeof...(Integrals)>>;
template <class T, class OtherIndexType, std::size_t N>
tensor_view(T*, const std::array<OtherIndexType, N>&) -> tensor_view<T, dextents<std::size_t, N>>;
template <class T, class OtherIndexType, std::size_t N>
tensor_view(T*, std::span<OtherIndexType, N>) -> tensor_view<T, dextents<std::size_t, N>>;
template <class T, class IndexType, std::size_t... Exts>
tensor_view(T*, const extents<IndexType, Exts...>&) -> tensor_view<T, extents<IndexType, Exts...>>;
template <class T, class Mapping>
    requires requires { typename Mapping::layout_type; typename Mapping::extents_type; }
tensor_view(T*, const Mapping&) -> tensor_view<T, typename Mapping::extents_type, typename Mapping::layout_type>;

/// A row-major view of `p` with the given extents.
template <class T, class IndexType, std::size_t... Exts>
constexpr tensor_view<T, extents<IndexType, Exts...>> make_view(T* p, const extents<IndexType, Exts...>& e) noexcept {
    return tensor_view<T, extents<IndexType, Exts...>>(p, e);
}

/// A row-major view of `p` with dynamic extents `dims...` in `IndexType`:
/// `make_view<std::uint32_t>(p, 2, 3)`; `make_view(p)` is a scalar view.
/// Requires: each dim non-negative and representable in `IndexType`.
template <class IndexType = std::size_t, class T, class... Dims>
    requires(std::is_integral_v<Dims> && ...)
constexpr tensor_view<T, dextents<IndexType, sizeof...(Dims)>> make_view(T* p, Dims... dims) noexcept {
    static_assert(detail::is_index_type_v<IndexType>,
                  "make_view's optional first template argument is the index type, such as std::uint32_t; the "
                  "element type is deduced from the pointer.");
    return tensor_view<T, dextents<IndexType, sizeof...(Dims)>>(p, dims...);
}

/// A view of `p` with the given mapping (any layout).
template <class T, class Mapping>
    requires requires { typename Mapping::layout_type; typename Mapping::extents_type; }
constexpr tensor_view<T, typename Mapping::extents_type, typename Mapping::layout_type> make_view(T* p, const Mapping& m) noexcept {
    return tensor_view<T, typename Mapping::extents_type, typename Mapping::layout_type>(p, m);
}

/// The view type `subview` returns for a view of rank `R` with index type `IndexType`.
template <class T, class IndexType, std::size_t R>
using strided_view = tensor_view<T, dextents<IndexType, R>, layout_stride>;

namespace detail {

template <class View>
using subview_of = strided_view<typename View::element_type, typename View::index_type, View::rank()>;

// Builds the subview once the region is known to fit. An empty region keeps the source's data
// handle: its first element may lie past the end of the source, where even forming a pointer
// would be undefined, and an empty view never dereferences it anyway.
template <class T, class Extents, class Layout>
constexpr subview_of<tensor_view<T, Extents, Layout>> make_subview(const tensor_view<T, Extents, Layout>& v,
                                                                   const std::uint64_t* offsets,
                                                                   const std::uint64_t* lengths) noexcept {
    static_assert(tensor_view<T, Extents, Layout>::is_always_strided(),
                  "subview needs a strided layout (layout_right or layout_stride); copy other layouts first.");
    using view = tensor_view<T, Extents, Layout>;
    using index_type = typename view::index_type;
    constexpr std::size_t rank = view::rank();
    using sub_extents = dextents<index_type, rank>;

    std::array<index_type, rank> lens{};
    std::array<index_type, rank> strides{};
    std::uint64_t offset = 0;
    bool empty = false;
    if constexpr (rank > 0) {
        for (std::size_t r = 0; r < rank; ++r) {
            lens[r] = static_cast<index_type>(lengths[r]);
            strides[r] = v.stride(r);
            empty = empty || lengths[r] == 0;
            offset += offsets[r] * static_cast<std::uint64_t>(strides[r]);
        }
    }
    T* p = empty ? v.data_handle() : v.data_handle() + offset;
    return subview_of<view>(p, layout_stride::mapping<sub_extents>(sub_extents(lens), strides));
}

// Room for one error detail line, filled without allocating.
struct subview_message {
    char text[sizeof(error_info::detail)]{};
    std::size_t len = 0;

    constexpr subview_message& put(std::string_view s) noexcept {
        for (char c : s)
            if (len + 1 < sizeof text) text[len++] = c;
        return *this;
    }
    constexpr subview_message& put(std::uint64_t v) noexcept {
        char digits[20]{};
        std::size_t n = 0;
        do {
            digits[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v != 0);
        while (n != 0) put(std::string_view(&digits[--n], 1));
        return *this;
    }
    constexpr std::string_view view() const noexcept { return {text, len}; }
};

}  // namespace detail

/// The region [offsets[r], offsets[r] + lengths[r]) of every dimension of `v`, as a strided
/// view of the same rank (a length of 0 gives an empty view). `offsets` and `lengths` are
/// anything that converts to `std::span<const std::uint64_t>` (a vector, a span).
///
/// Requires: both hold `rank()` values and the region lies inside `v` (checked in debug
/// builds; use `checked_subview` for regions that come from data).
template <class T, class Extents, class Layout, class Offsets, class Lengths>
    requires(std::is_convertible_v<const Offsets&, std::span<const std::uint64_t>> &&
             std::is_convertible_v<const Lengths&, std::span<const std::uint64_t>>)
constexpr strided_view<T, typename Extents::index_type, Extents::rank()> subview(const tensor_view<T, Extents, Layout>& v,
                                                                                 const Offsets& offsets,
                                                                                 const Lengths& lengths) noexcept {
    const std::span<const std::uint64_t> off = offsets;
    const std::span<const std::uint64_t> len = lengths;
    SAFESHARD_ASSERT(off.size() == Extents::rank() && len.size() == Extents::rank());
    for (std::size_t r = 0; r < Extents::rank(); ++r) {
        SAFESHARD_ASSERT(off[r] <= static_cast<std::uint64_t>(v.extent(r)) &&
                         len[r] <= static_cast<std::uint64_t>(v.extent(r)) - off[r]);
    }
    return detail::make_subview(v, off.data(), len.data());
}

/// As above with arrays, so that braces work: `subview(v, {1, 0}, {2, 3})`.
template <class T, class Extents, class Layout>
constexpr strided_view<T, typename Extents::index_type, Extents::rank()> subview(
    const tensor_view<T, Extents, Layout>& v, const std::array<std::uint64_t, Extents::rank()>& offsets,
    const std::array<std::uint64_t, Extents::rank()>& lengths) noexcept {
    return subview(v, std::span<const std::uint64_t>(offsets), std::span<const std::uint64_t>(lengths));
}

/// `subview` for regions that come from input (a file's chunk offsets): the view, or
/// `errc::invalid_argument` when `offsets` or `lengths` does not hold `rank()` values, or
/// `errc::out_of_bounds` when offset + length overflows or passes an extent. The detail
/// names the dimension and the values.
template <class T, class Extents, class Layout, class Offsets, class Lengths>
    requires(std::is_convertible_v<const Offsets&, std::span<const std::uint64_t>> &&
             std::is_convertible_v<const Lengths&, std::span<const std::uint64_t>>)
result<strided_view<T, typename Extents::index_type, Extents::rank()>> checked_subview(
    const tensor_view<T, Extents, Layout>& v, const Offsets& offsets, const Lengths& lengths) noexcept {
    const std::span<const std::uint64_t> off = offsets;
    const std::span<const std::uint64_t> len = lengths;
    if (off.size() != Extents::rank() || len.size() != Extents::rank()) {
        detail::subview_message m;
        m.put("rank ").put(std::uint64_t{Extents::rank()}).put(" view given ").put(std::uint64_t{off.size()});
        m.put(" offsets and ").put(std::uint64_t{len.size()}).put(" lengths");
        return error_info(errc::invalid_argument).with_detail(m.view());
    }
    for (std::size_t r = 0; r < Extents::rank(); ++r) {
        const auto extent = static_cast<std::uint64_t>(v.extent(r));
        detail::subview_message m;
        m.put("dimension ").put(std::uint64_t{r}).put(": offset ").put(off[r]).put(" + length ").put(len[r]);
        if (len[r] > std::numeric_limits<std::uint64_t>::max() - off[r])
            return error_info(errc::out_of_bounds).with_detail(m.put(" overflows 64 bits").view());
        if (off[r] + len[r] > extent)
            return error_info(errc::out_of_bounds).with_detail(m.put(" > extent ").put(extent).view());
    }
    return detail::make_subview(v, off.data(), len.data());
}

/// As above with arrays, so that braces work.
template <class T, class Extents, class Layout>
result<strided_view<T, typename Extents::index_type, Extents::rank()>> checked_subview(
    const tensor_view<T, Extents, Layout>& v, const std::array<std::uint64_t, Extents::rank()>& offsets,
    const std::array<std::uint64_t, Extents::rank()>& lengths) noexcept {
    return checked_subview(v, std::span<const std::uint64_t>(offsets), std::span<const std::uint64_t>(lengths));
}

/// Whether the elements of `v` are packed in row-major order, so that they are the
/// `size()` elements from `data_handle()` on: each stride equals the product of the later
/// extents, ignoring dimensions of extent 1 (their stride is never used). An empty view is
/// contiguous (it covers nothing); a `layout_right` view always is.
template <class T, class Extents, class Layout>
constexpr bool is_contiguous(const tensor_view<T, Extents, Layout>& v) noexcept {
    if constexpr (std::is_same_v<Layout, layout_right>) {
        return true;
    } else {
        static_assert(tensor_view<T, Extents, Layout>::is_always_strided(),
                      "is_contiguous needs a strided layout (layout_right or layout_stride).");
        if (v.empty()) return true;
        std::uint64_t expected = 1;
        for (std::size_t r = Extents::rank(); r-- > 0;) {
            const auto e = static_cast<std::uint64_t>(v.extent(r));
            if constexpr (Extents::rank() > 0)
                if (e != 1 && static_cast<std::uint64_t>(v.stride(r)) != expected) return false;
            expected *= e;
        }
        return true;
    }
}

/// The bytes of the elements of a row-major view (`std::as_bytes` for a tensor):
/// `size() * sizeof(T)` bytes from `data_handle()`; const bytes for a view of const elements.
template <class T, class Extents, class Layout>
auto contiguous_bytes(const tensor_view<T, Extents, Layout>& v) noexcept
    -> std::span<std::conditional_t<std::is_const_v<T>, const std::byte, std::byte>> {
    static_assert(std::is_same_v<Layout, layout_right>,
                  "contiguous_bytes needs a layout_right view, whose elements are one packed run; for a strided view "
                  "that is_contiguous(), first make tensor_view<T, E>(v.data_handle(), v.extents()).");
    static_assert(!std::is_volatile_v<T>, "contiguous_bytes does not take views of volatile elements.");
    using byte_type = std::conditional_t<std::is_const_v<T>, const std::byte, std::byte>;
    return {reinterpret_cast<byte_type*>(v.data_handle()), static_cast<std::size_t>(v.size()) * sizeof(T)};
}

static_assert(sizeof(tensor_view<float, extents<std::uint32_t, 2, 3>>) == sizeof(float*),
              "a view of a static row-major shape must be one pointer");

}  // namespace safeshard

#endif
