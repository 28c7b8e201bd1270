// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_SUBVIEW_HPP
#define SAFESHARD_CORE_SUBVIEW_HPP

// Slicing a `tensor_view` by (offsets, lengths), which is how safetensors and DCP describe a
// chunk of a tensor, so `subview` takes exactly that instead of mdspan's slice specifiers; and
// whether (and as which bytes) a view is one packed run.

#include <safeshard/core/config.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/extents.hpp>
#include <safeshard/core/layout_right.hpp>
#include <safeshard/core/layout_stride.hpp>
#include <safeshard/core/tensor_view.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>

namespace safeshard {

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
    char text[128]{};
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

}  // namespace safeshard

#endif
