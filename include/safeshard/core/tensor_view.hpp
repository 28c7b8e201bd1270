// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_TENSOR_VIEW_HPP
#define SAFESHARD_CORE_TENSOR_VIEW_HPP

// `tensor_view`, a non-owning typed view that is an mdspan with the default accessor, over the
// layouts of core/layout_right.hpp and core/layout_stride.hpp. Slicing it is core/subview.hpp.

#include <safeshard/core/extents.hpp>
#include <safeshard/core/layout_right.hpp>
#include <safeshard/core/layout_stride.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>

namespace safeshard {

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
        requires((detail::index_convertible<OtherIndexTypes, index_type> && ...) &&
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
        requires detail::indices_for<extents_type, Indices...>
    constexpr reference operator()(Indices... idx) const noexcept {
        return ptr_[map_(idx...)];
    }

    /// The element at the indices in `idx`.
    template <class OtherIndexType>
        requires detail::index_convertible<const OtherIndexType&, index_type>
    constexpr reference operator()(const std::array<OtherIndexType, extents_type::rank()>& idx) const noexcept {
        return at_array(idx, std::make_index_sequence<extents_type::rank()>{});
    }
    template <class OtherIndexType>
        requires detail::index_convertible<const OtherIndexType&, index_type>
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

static_assert(sizeof(tensor_view<float, extents<std::uint32_t, 2, 3>>) == sizeof(float*),
              "a view of a static row-major shape must be one pointer");

}  // namespace safeshard

#endif
