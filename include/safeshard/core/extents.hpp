// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_EXTENTS_HPP
#define SAFESHARD_CORE_EXTENTS_HPP

// The shape half of the mdspan vocabulary (P0009), because libstdc++ 12 has no <mdspan>.
// Names and semantics follow std::extents so that code can move to the standard type later;
// only static extents cost nothing at run time, so a fully static shape is an empty class.

#include <safeshard/core/config.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>

namespace safeshard {

/// Marks an extent whose value is known only at run time (as `std::dynamic_extent`).
inline constexpr std::size_t dynamic_extent = std::numeric_limits<std::size_t>::max();

template <class IndexType, std::size_t... Exts>
class extents;

namespace detail {

template <class T>
inline constexpr bool is_extents_v = false;
template <class IndexType, std::size_t... Exts>
inline constexpr bool is_extents_v<extents<IndexType, Exts...>> = true;

// std::extents accepts exactly the signed and unsigned integer types; char and bool are out
// because an index of either is almost always a mistake.
template <class T>
inline constexpr bool is_index_type_v =
    std::is_integral_v<T> && !std::is_same_v<std::remove_cv_t<T>, bool> &&
    !std::is_same_v<std::remove_cv_t<T>, char> && !std::is_same_v<std::remove_cv_t<T>, wchar_t> &&
    !std::is_same_v<std::remove_cv_t<T>, char8_t> && !std::is_same_v<std::remove_cv_t<T>, char16_t> &&
    !std::is_same_v<std::remove_cv_t<T>, char32_t>;

// Whether `v` is a valid extent or index value for `IndexType`: non-negative and representable.
// Non-integral arguments (class types convertible to the index) are judged after conversion.
template <class IndexType, class V>
constexpr bool representable(const V& v) noexcept {
    if constexpr (std::is_integral_v<V>) {
        if constexpr (std::is_signed_v<V>) {
            if (v < 0) return false;
        }
        return static_cast<std::uint64_t>(v) <= static_cast<std::uint64_t>(std::numeric_limits<IndexType>::max());
    } else {
        auto c = static_cast<IndexType>(v);
        if constexpr (std::is_signed_v<IndexType>) return c >= 0;
        else return true;
    }
}

// Whether index `i` lies in [0, e): the precondition of every mapping's operator().
template <class IndexType, class V>
constexpr bool index_below(const V& i, IndexType e) noexcept {
    if constexpr (std::is_integral_v<V>) {
        if constexpr (std::is_signed_v<V>) {
            if (i < 0) return false;
        }
        return static_cast<std::uint64_t>(i) < static_cast<std::uint64_t>(e);
    } else {
        auto c = static_cast<IndexType>(i);
        if constexpr (std::is_signed_v<IndexType>) {
            if (c < 0) return false;
        }
        return c < e;
    }
}

// std::mdspan's rule for an argument that stands for an index or an extent: it converts to
// the index type implicitly and without throwing.
template <class From, class IndexType>
concept index_convertible = std::is_convertible_v<From, IndexType> && std::is_nothrow_constructible_v<IndexType, From>;

// The arguments every mapping's operator() (and a view's) accepts: one index per dimension.
template <class Extents, class... Indices>
concept indices_for =
    sizeof...(Indices) == Extents::rank() && (index_convertible<Indices, typename Extents::index_type> && ...);

// Whether every index lies inside its extent: the precondition of every mapping's operator().
template <class Extents, class... Indices>
constexpr bool indices_within(const Extents& e, Indices... idx) noexcept {
    return [&]<std::size_t... R>(std::index_sequence<R...>) {
        return (index_below(idx, e.extent(R)) && ...);
    }(std::index_sequence_for<Indices...>{});
}

// The offset of element (idx...) of a mapping over `e`, the part every layout shares: the
// debug-build bounds check, the conversion to the index type, and the order (outermost
// dimension first). The layout gives only `step(offset so far, r, index r)`.
template <class Extents, class Step, class... Indices>
constexpr typename Extents::index_type fold_indices([[maybe_unused]] const Extents& e, [[maybe_unused]] Step step, Indices... idx) noexcept {
    using index_type = typename Extents::index_type;
    SAFESHARD_ASSERT(indices_within(e, idx...));
    index_type off = 0;
    [[maybe_unused]] std::size_t r = 0;
    ((off = step(off, r++, static_cast<index_type>(idx))), ...);  // a comma fold runs left to right
    return off;
}

// Overflow-checked unsigned arithmetic for the debug-build contract checks.
constexpr bool mul_within(std::uint64_t a, std::uint64_t b, std::uint64_t limit, std::uint64_t& out) noexcept {
    if (b != 0 && a > limit / b) return false;
    out = a * b;
    return out <= limit;
}
constexpr bool add_within(std::uint64_t a, std::uint64_t b, std::uint64_t limit, std::uint64_t& out) noexcept {
    if (a > limit || b > limit - a) return false;
    out = a + b;
    return true;
}

// Compile-time facts about a pack of extents, kept out of `extents` itself because a class's
// own static constexpr functions are not usable in its member initialisers.
template <std::size_t... Exts>
struct extents_info {
    static constexpr std::size_t rank = sizeof...(Exts);
    static constexpr std::size_t rank_dynamic = ((Exts == dynamic_extent ? 1u : 0u) + ... + 0u);
    static constexpr std::array<std::size_t, rank> statics{Exts...};

    // For each dimension, how many dynamic extents precede it (its slot when it is dynamic).
    static constexpr std::array<std::size_t, rank> dynamic_slot = [] {
        std::array<std::size_t, rank> slots{};
        std::size_t k = 0;
        for (std::size_t r = 0; r < rank; ++r) {
            slots[r] = k;
            if (statics[r] == dynamic_extent) ++k;
        }
        return slots;
    }();
    // For each dynamic slot, the dimension it describes.
    static constexpr std::array<std::size_t, rank_dynamic> dimension_of_slot = [] {
        std::array<std::size_t, rank_dynamic> dims{};
        std::size_t k = 0;
        for (std::size_t r = 0; r < rank; ++r)
            if (statics[r] == dynamic_extent) dims[k++] = r;
        return dims;
    }();
};

// Storage for the dynamic extents; an empty class when there are none, so that a fully
// static `extents` (and every mapping and view built on it) takes no space.
template <class IndexType, std::size_t N>
struct dynamic_values {
    std::array<IndexType, N> v{};
};
template <class IndexType>
struct dynamic_values<IndexType, 0> {};

template <class IndexType, std::size_t Rank, class Seq = std::make_index_sequence<Rank>>
struct make_dextents;
template <class IndexType, std::size_t Rank, std::size_t... R>
struct make_dextents<IndexType, Rank, std::index_sequence<R...>> {
    using type = extents<IndexType, ((void)R, dynamic_extent)...>;
};

}  // namespace detail

/// The shape of a tensor: `sizeof...(Exts)` dimensions, each either fixed at compile time or
/// `dynamic_extent` (stored, in `IndexType`). Semantics follow `std::extents`.
///
/// Requires: `IndexType` is a signed or unsigned integer type (not `bool` or a character type);
/// every static extent is representable in it. Only dynamic extents occupy storage.
template <class IndexType, std::size_t... Exts>
class extents {
    static_assert(detail::is_index_type_v<IndexType>,
                  "safeshard::extents needs a signed or unsigned integer IndexType (such as std::uint32_t or "
                  "std::size_t); bool and character types are not index types.");
    static_assert(((Exts == dynamic_extent ||
                    static_cast<std::uint64_t>(Exts) <= static_cast<std::uint64_t>(std::numeric_limits<IndexType>::max())) &&
                   ...),
                  "Every static extent of safeshard::extents must be representable in its IndexType; use a wider "
                  "IndexType or make that extent dynamic_extent.");

    using info_ = detail::extents_info<Exts...>;

public:
    using index_type = IndexType;
    using size_type = std::make_unsigned_t<IndexType>;
    using rank_type = std::size_t;

    /// Number of dimensions.
    static constexpr rank_type rank() noexcept { return info_::rank; }
    /// Number of dimensions whose extent is `dynamic_extent`.
    static constexpr rank_type rank_dynamic() noexcept { return info_::rank_dynamic; }

    /// The compile-time extent of dimension `r`, or `dynamic_extent`. Requires `r < rank()`.
    static constexpr std::size_t static_extent(rank_type r) noexcept {
        SAFESHARD_ASSERT(r < rank());
        if constexpr (info_::rank == 0) {
            return 0;  // unreachable: a scalar has no dimension to ask about
        } else {
            return info_::statics[r];
        }
    }

    /// The extent of dimension `r`. Requires `r < rank()`.
    constexpr index_type extent(rank_type r) const noexcept {
        SAFESHARD_ASSERT(r < rank());
        if constexpr (info_::rank == 0) {
            return 0;
        } else if constexpr (info_::rank_dynamic == 0) {
            return static_cast<index_type>(info_::statics[r]);
        } else {
            if (info_::statics[r] != dynamic_extent) return static_cast<index_type>(info_::statics[r]);
            return dyn_.v[info_::dynamic_slot[r]];
        }
    }

    /// Every dynamic extent is zero.
    constexpr extents() noexcept = default;

    /// From the dynamic extents only, or from all `rank()` extents (then each static one must
    /// equal the value given). Requires: every value non-negative and representable.
    template <class... OtherIndexTypes>
        requires((detail::index_convertible<OtherIndexTypes, index_type> && ...) &&
                 (sizeof...(OtherIndexTypes) == info_::rank_dynamic || sizeof...(OtherIndexTypes) == info_::rank))
    constexpr explicit extents(OtherIndexTypes... exts) noexcept {
        SAFESHARD_ASSERT((detail::representable<index_type>(exts) && ...));
        if constexpr (sizeof...(OtherIndexTypes) > 0) {
            const std::array<index_type, sizeof...(OtherIndexTypes)> values{static_cast<index_type>(exts)...};
            assign(values);
        }
    }

    /// From a span of `rank_dynamic()` (implicit) or `rank()` (explicit) values.
    template <class OtherIndexType, std::size_t N>
        requires(detail::index_convertible<const OtherIndexType&, index_type> &&
                 (N == info_::rank_dynamic || N == info_::rank))
    constexpr explicit(N != info_::rank_dynamic) extents(std::span<OtherIndexType, N> exts) noexcept {
        std::array<index_type, N> values{};
        for (std::size_t i = 0; i < N; ++i) {
            SAFESHARD_ASSERT(detail::representable<index_type>(exts[i]));
            values[i] = static_cast<index_type>(exts[i]);
        }
        assign(values);
    }

    /// From an array of `rank_dynamic()` (implicit) or `rank()` (explicit) values.
    template <class OtherIndexType, std::size_t N>
        requires(detail::index_convertible<const OtherIndexType&, index_type> &&
                 (N == info_::rank_dynamic || N == info_::rank))
    constexpr explicit(N != info_::rank_dynamic) extents(const std::array<OtherIndexType, N>& exts) noexcept
        : extents(std::span<const OtherIndexType, N>(exts)) {}

    /// From another extents of the same rank whose static extents agree. Explicit where a
    /// static extent comes from a dynamic one or the index type narrows (a run-time check).
    template <class OtherIndexType, std::size_t... OtherExts>
        requires(sizeof...(OtherExts) == sizeof...(Exts) &&
                 ((OtherExts == dynamic_extent || Exts == dynamic_extent || OtherExts == Exts) && ...))
    constexpr explicit((((Exts != dynamic_extent) && (OtherExts == dynamic_extent)) || ...) ||
                       std::cmp_less(std::numeric_limits<index_type>::max(),
                                     std::numeric_limits<OtherIndexType>::max()))
        extents(const extents<OtherIndexType, OtherExts...>& other) noexcept {
        if constexpr (info_::rank > 0) {
            std::array<index_type, info_::rank> values{};
            for (std::size_t r = 0; r < info_::rank; ++r) {
                SAFESHARD_ASSERT(detail::representable<index_type>(other.extent(r)));
                values[r] = static_cast<index_type>(other.extent(r));
            }
            assign(values);
        }
    }

private:
    // Stores `values` (either the dynamic extents or all of them), checking the static ones.
    template <std::size_t N>
    constexpr void assign(const std::array<index_type, N>& values) noexcept {
        if constexpr (N == info_::rank_dynamic) {
            if constexpr (N > 0)
                for (std::size_t k = 0; k < N; ++k) dyn_.v[k] = values[k];
        } else {
            for (std::size_t r = 0; r < N; ++r) {
                if (info_::statics[r] == dynamic_extent) {
                    if constexpr (info_::rank_dynamic > 0) dyn_.v[info_::dynamic_slot[r]] = values[r];
                } else {
                    SAFESHARD_ASSERT(static_cast<std::uint64_t>(values[r]) == info_::statics[r]);
                }
            }
        }
    }

    [[no_unique_address]] detail::dynamic_values<index_type, info_::rank_dynamic> dyn_{};
};

/// All-dynamic extents from integers, as `std::extents`' guide does (index type `std::size_t`).
template <class... Integrals>
    requires(std::is_convertible_v<Integrals, std::size_t> && ...)
explicit extents(Integrals...) -> extents<std::size_t, ((void)sizeof(Integrals), dynamic_extent)...>;

/// `Rank` dynamic extents: `dextents<std::uint32_t, 2>` is `extents<std::uint32_t, dynamic_extent, dynamic_extent>`.
template <class IndexType, std::size_t Rank>
using dextents = typename detail::make_dextents<IndexType, Rank>::type;

/// Equal when the ranks are equal and every extent is equal (index types may differ).
template <class IndexType, std::size_t... Exts, class OtherIndexType, std::size_t... OtherExts>
constexpr bool operator==(const extents<IndexType, Exts...>& a, const extents<OtherIndexType, OtherExts...>& b) noexcept {
    if constexpr (sizeof...(Exts) != sizeof...(OtherExts)) {
        return false;
    } else {
        for (std::size_t r = 0; r < sizeof...(Exts); ++r)
            if (!std::cmp_equal(a.extent(r), b.extent(r))) return false;
        return true;
    }
}

/// The number of elements: the product of the extents, 1 for rank 0, 0 when any extent is 0.
/// Requires: the product fits in `std::size_t`.
template <class IndexType, std::size_t... Exts>
constexpr std::size_t numel(const extents<IndexType, Exts...>& e) noexcept {
    // A zero anywhere wins even over an overflowing product of the other extents.
    for (std::size_t r = 0; r < sizeof...(Exts); ++r)
        if (e.extent(r) == 0) return 0;
    std::uint64_t n = 1;
    for (std::size_t r = 0; r < sizeof...(Exts); ++r) {
        [[maybe_unused]] bool fits = detail::mul_within(n, static_cast<std::uint64_t>(e.extent(r)),
                                                       std::numeric_limits<std::size_t>::max(), n);
        SAFESHARD_ASSERT(fits);
    }
    return static_cast<std::size_t>(n);
}

static_assert(std::is_empty_v<extents<std::uint32_t, 2, 3>> && sizeof(extents<std::uint32_t, dynamic_extent, 3>) == 4,
              "static extents must take no storage");

}  // namespace safeshard

#endif
