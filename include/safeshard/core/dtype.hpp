// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_DTYPE_HPP
#define SAFESHARD_CORE_DTYPE_HPP

// The 22 safetensors dtypes in the reference crate's enum order (the canonical writer sorts by
// it, descending), their sizes in bits, names, and the compile-time map from C++ element types.

#include <array>
#include <complex>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

namespace safeshard {

/// Enumerators in the reference order; the underlying value is the rank in that order.
enum class dtype : std::uint8_t {
    BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ,
    I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64,
};

inline constexpr std::size_t dtype_count = 22;

/// Every dtype, in the reference order.
inline constexpr std::array<dtype, dtype_count> all_dtypes = {
    dtype::BOOL, dtype::F4, dtype::F6_E2M3, dtype::F6_E3M2, dtype::U8, dtype::I8,
    dtype::F8_E5M2, dtype::F8_E4M3, dtype::F8_E8M0, dtype::F8_E4M3FNUZ, dtype::F8_E5M2FNUZ,
    dtype::I16, dtype::U16, dtype::F16, dtype::BF16, dtype::I32, dtype::U32, dtype::F32,
    dtype::C64, dtype::F64, dtype::I64, dtype::U64,
};

namespace detail {
inline constexpr std::array<std::string_view, dtype_count> dtype_names = {
    "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
    "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
    "C64", "F64", "I64", "U64",
};
inline constexpr std::array<std::uint8_t, dtype_count> dtype_bits = {
    8, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 16, 16, 16, 16, 32, 32, 32, 64, 64, 64, 64,
};
}  // namespace detail

constexpr std::size_t index_of(dtype d) noexcept { return static_cast<std::size_t>(d); }

/// The safetensors name ("F32", "BF16", ...).
constexpr std::string_view name(dtype d) noexcept { return detail::dtype_names[index_of(d)]; }

/// Bits per element: 4 and 6 for the packed sub-byte float types.
constexpr unsigned bits(dtype d) noexcept { return detail::dtype_bits[index_of(d)]; }

/// Whole bytes per element, or 0 for sub-byte dtypes (which pack across the whole tensor).
constexpr unsigned byte_size(dtype d) noexcept { return bits(d) % 8 == 0 ? bits(d) / 8 : 0; }

/// The dtype named `s` (case-sensitive, as the reference); nullopt for anything else.
namespace detail {
// A name of up to 7 bytes and its length as one little-endian word (the length in the top
// byte, so that "F32" and "F32\0" differ), so that a lookup compares words, not strings.
constexpr std::uint64_t pack_name(std::string_view s) noexcept {
    std::uint64_t v = std::uint64_t{s.size()} << 56;
    for (std::size_t i = 0; i < s.size() && i < 7; ++i) v |= std::uint64_t{static_cast<unsigned char>(s[i])} << (8 * i);
    return v;
}
inline constexpr std::array<std::uint64_t, dtype_count> packed_dtype_names = [] {
    std::array<std::uint64_t, dtype_count> a{};
    for (std::size_t i = 0; i < dtype_count; ++i) a[i] = dtype_names[i].size() <= 7 ? pack_name(dtype_names[i]) : 0;
    return a;
}();

// The packed names in a table of 64 slots, each at (word * multiplier) >> 58, with a
// multiplier chosen at compile time so that no two share a slot: a lookup is one multiply and
// one compare, where a search compared up to 22 words.
struct packed_dtype_table {
    std::uint64_t multiplier = 0;
    std::array<std::uint64_t, 64> words{};
    std::array<std::uint8_t, 64> index{};  // into all_dtypes
    static constexpr std::size_t slot(std::uint64_t word, std::uint64_t m) noexcept { return static_cast<std::size_t>((word * m) >> 58); }
};
inline constexpr packed_dtype_table packed_dtypes = [] {
    packed_dtype_table t;
    for (std::uint64_t m = 0x9E3779B97F4A7C15ull;; m += 0x2545F4914F6CDD1Dull * 2) {
        std::array<bool, 64> used{};
        bool clash = false;
        for (std::size_t i = 0; i < dtype_count && !clash; ++i) {
            if (!packed_dtype_names[i]) continue;
            const std::size_t k = packed_dtype_table::slot(packed_dtype_names[i], m);
            clash = used[k];
            used[k] = true;
        }
        if (clash) continue;
        t.multiplier = m;
        for (std::size_t i = 0; i < dtype_count; ++i) {
            if (!packed_dtype_names[i]) continue;
            const std::size_t k = packed_dtype_table::slot(packed_dtype_names[i], m);
            t.words[k] = packed_dtype_names[i];
            t.index[k] = static_cast<std::uint8_t>(i);
        }
        return t;
    }
}();

/// The dtype whose name packs (`pack_name`) to `word`, for names of up to 7 bytes.
constexpr std::optional<dtype> dtype_of_packed(std::uint64_t word) noexcept {
    const std::size_t k = packed_dtype_table::slot(word, packed_dtypes.multiplier);
    if (packed_dtypes.words[k] != word || word == 0) return std::nullopt;
    return all_dtypes[packed_dtypes.index[k]];
}
}  // namespace detail

constexpr std::optional<dtype> parse_dtype(std::string_view s) noexcept {
    // Every header names a dtype per tensor: names of up to 7 bytes (all but the FNUZ ones)
    // are looked up as one word, the rest compared as strings.
    if (s.size() < 2 || s.size() > 11) return std::nullopt;
    if (s.size() <= 7) return detail::dtype_of_packed(detail::pack_name(s));
    for (std::size_t i = 0; i < dtype_count; ++i)
        if (detail::dtype_names[i] == s) return all_dtypes[i];
    return std::nullopt;
}
static_assert([] {
    for (std::size_t i = 0; i < dtype_count; ++i)
        if (parse_dtype(detail::dtype_names[i]) != all_dtypes[i]) return false;
    return !parse_dtype("F3") && !parse_dtype("f32") && !parse_dtype("F32 ");
}(), "every dtype name parses to its dtype, through the word table or the string compare");

enum class dtype_kind : std::uint8_t { boolean, signed_int, unsigned_int, floating, complex };

constexpr dtype_kind kind(dtype d) noexcept {
    switch (d) {
        case dtype::BOOL: return dtype_kind::boolean;
        case dtype::I8: case dtype::I16: case dtype::I32: case dtype::I64: return dtype_kind::signed_int;
        case dtype::U8: case dtype::U16: case dtype::U32: case dtype::U64: return dtype_kind::unsigned_int;
        case dtype::C64: return dtype_kind::complex;
        default: return dtype_kind::floating;
    }
}
constexpr bool is_float(dtype d) noexcept { return kind(d) == dtype_kind::floating; }
constexpr bool is_integer(dtype d) noexcept {
    return kind(d) == dtype_kind::signed_int || kind(d) == dtype_kind::unsigned_int;
}

/// `dtype_traits<T>::value` is the dtype whose bytes a `T` holds. Specialise it to teach
/// safeshard a new element type; types without a specialisation have no dtype.
template <class T>
struct dtype_traits {};

#define SAFESHARD_DTYPE_OF(T, D) \
    template <>                  \
    struct dtype_traits<T> {     \
        static constexpr dtype value = dtype::D; \
    }
SAFESHARD_DTYPE_OF(bool, BOOL);
SAFESHARD_DTYPE_OF(std::uint8_t, U8);
SAFESHARD_DTYPE_OF(std::int8_t, I8);
SAFESHARD_DTYPE_OF(std::int16_t, I16);
SAFESHARD_DTYPE_OF(std::uint16_t, U16);
SAFESHARD_DTYPE_OF(std::int32_t, I32);
SAFESHARD_DTYPE_OF(std::uint32_t, U32);
SAFESHARD_DTYPE_OF(float, F32);
SAFESHARD_DTYPE_OF(std::complex<float>, C64);
SAFESHARD_DTYPE_OF(double, F64);
SAFESHARD_DTYPE_OF(std::int64_t, I64);
SAFESHARD_DTYPE_OF(std::uint64_t, U64);

/// An element type that names a dtype (cv-qualifiers ignored).
template <class T>
concept has_dtype = requires { { dtype_traits<std::remove_cv_t<T>>::value } -> std::convertible_to<dtype>; };

/// The dtype of element type `T`, at compile time.
template <class T>
    requires has_dtype<T>
inline constexpr dtype dtype_of = dtype_traits<std::remove_cv_t<T>>::value;

static_assert(dtype_of<float> == dtype::F32 && dtype_of<const std::int64_t> == dtype::I64);
static_assert(bits(dtype::F4) == 4 && byte_size(dtype::F6_E2M3) == 0 && byte_size(dtype::C64) == 8);

}  // namespace safeshard

#endif
