// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_DTYPE_MAPPING_HPP
#define SAFESHARD_CORE_DTYPE_MAPPING_HPP

// The dtype mapping policy: which file dtypes may be read into a given element type, and the
// copy that does it. The check is made once, when a view or a read is set up; the copy then
// dispatches on the file dtype once per call and runs a tight loop made for that pair.

#include <safeshard/core/config.hpp>
#include <safeshard/core/dtype.hpp>
#include <safeshard/core/element_types.hpp>

#include <bit>
#include <climits>
#include <complex>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace safeshard {

/// Whether `dtype_map::convert` reads elements of dtype `from` into elements of dtype `to`:
/// * identity, always (BOOL to bool and C64 to std::complex<float> are only identity);
/// * any whole-byte float dtype (BF16, F16, F32, F64, every F8 including E8M0) to any of them,
///   rounding to nearest even where the target is narrower (with the target type's own overflow
///   rule: Inf, NaN, or E8M0's c10 rule); the packed sub-byte F4 / F6_* dtypes are not converted
///   (a packed run need not start on a byte, which `copy` cannot express: unpack them with
///   `unpack_f4` / `unpack_f6`);
/// * integers only widening: a signed or unsigned integer to one of the same signedness at
///   least as wide, an unsigned integer to a strictly wider signed one.
/// Nothing else: no integer to float, float to integer, signed to unsigned, or narrowing.
constexpr bool convertible(dtype from, dtype to) noexcept {
    if (from == to) return true;
    const dtype_kind kf = kind(from);
    const dtype_kind kt = kind(to);
    if (kf == dtype_kind::floating && kt == dtype_kind::floating) return byte_size(from) != 0 && byte_size(to) != 0;
    if (kf == dtype_kind::signed_int && kt == dtype_kind::signed_int) return bits(to) >= bits(from);
    if (kf == dtype_kind::unsigned_int && kt == dtype_kind::unsigned_int) return bits(to) >= bits(from);
    if (kf == dtype_kind::unsigned_int && kt == dtype_kind::signed_int) return bits(to) > bits(from);
    return false;
}

/// A dtype mapping policy `M` for element type `T` (cv-unqualified, with a dtype).
///
/// Requires:
/// * `M::accepts<T>(dtype from) -> bool`, `constexpr noexcept`: whether a tensor stored as
///   `from` may be read into `T` elements. Callers ask once, when a view or read is made, and
///   report `errc::dtype_mismatch` when it says no.
/// * `M::copy<T>(dtype from, const std::byte* src, size_t n, T* dst, ptrdiff_t dst_stride)`,
///   `noexcept`: reads `n` elements stored as `from` (little-endian, packed, `src` with any
///   alignment) and writes element i to `dst[i * dst_stride]` (the stride may be negative).
///   Precondition: `accepts<T>(from)`; breaking it is a contract violation, not a file error.
/// * `M` empty and trivially constructible, so a holder spends no space on it.
///
/// Guarantees: a copy never fails, allocates, throws or makes a virtual call; it chooses the
/// loop for `from` once per call, not per element; equal dtypes with stride 1 are one memcpy.
/// Cost: `accepts` O(1); `copy` O(n).
template <class M, class T>
concept dtype_mapping =
    has_dtype<T> && std::same_as<T, std::remove_cv_t<T>> && std::is_empty_v<M> &&
    std::is_trivially_default_constructible_v<M> &&
    requires(dtype from, const std::byte* src, std::size_t n, T* dst, std::ptrdiff_t dst_stride) {
        { M::template accepts<T>(from) } noexcept -> std::same_as<bool>;
        typename std::bool_constant<M::template accepts<T>(dtype::F32)>;  // accepts is constexpr
        { M::template copy<T>(from, src, n, dst, dst_stride) } noexcept -> std::same_as<void>;
    };

namespace detail {

// Copying whole elements byte for byte needs T to be exactly one stored element.
template <class T>
constexpr void check_element_type() noexcept {
    static_assert(has_dtype<T>, "this element type has no dtype: specialise safeshard::dtype_traits<T> for it");
    static_assert(std::is_trivially_copyable_v<T>, "an element type must be trivially copyable");
    static_assert(sizeof(T) * CHAR_BIT == bits(dtype_of<T>),
                  "an element type must have exactly the size of one element of its dtype "
                  "(packed sub-byte dtypes have no element type: use unpack_f4 / unpack_f6)");
}

// The type that holds one stored element of each whole-byte dtype.
template <dtype D> struct stored;
template <> struct stored<dtype::BOOL> { using type = bool; };
template <> struct stored<dtype::U8> { using type = std::uint8_t; };
template <> struct stored<dtype::I8> { using type = std::int8_t; };
template <> struct stored<dtype::U16> { using type = std::uint16_t; };
template <> struct stored<dtype::I16> { using type = std::int16_t; };
template <> struct stored<dtype::U32> { using type = std::uint32_t; };
template <> struct stored<dtype::I32> { using type = std::int32_t; };
template <> struct stored<dtype::U64> { using type = std::uint64_t; };
template <> struct stored<dtype::I64> { using type = std::int64_t; };
template <> struct stored<dtype::F8_E5M2> { using type = f8_e5m2; };
template <> struct stored<dtype::F8_E4M3> { using type = f8_e4m3; };
template <> struct stored<dtype::F8_E8M0> { using type = f8_e8m0; };
template <> struct stored<dtype::F8_E4M3FNUZ> { using type = f8_e4m3fnuz; };
template <> struct stored<dtype::F8_E5M2FNUZ> { using type = f8_e5m2fnuz; };
template <> struct stored<dtype::F16> { using type = f16; };
template <> struct stored<dtype::BF16> { using type = bf16; };
template <> struct stored<dtype::F32> { using type = float; };
template <> struct stored<dtype::F64> { using type = double; };
template <> struct stored<dtype::C64> { using type = std::complex<float>; };
template <dtype D> using stored_t = typename stored<D>::type;

// Calls fn(std::type_identity<S>{}) with the stored type of `d`; the one switch of a copy.
template <class Fn>
void visit_stored(dtype d, Fn&& fn) noexcept {
    switch (d) {
#define SAFESHARD_VISIT(D) case dtype::D: fn(std::type_identity<stored_t<dtype::D>>{}); return
        SAFESHARD_VISIT(BOOL); SAFESHARD_VISIT(U8); SAFESHARD_VISIT(I8); SAFESHARD_VISIT(U16);
        SAFESHARD_VISIT(I16); SAFESHARD_VISIT(U32); SAFESHARD_VISIT(I32); SAFESHARD_VISIT(U64);
        SAFESHARD_VISIT(I64); SAFESHARD_VISIT(F8_E5M2); SAFESHARD_VISIT(F8_E4M3); SAFESHARD_VISIT(F8_E8M0);
        SAFESHARD_VISIT(F8_E4M3FNUZ); SAFESHARD_VISIT(F8_E5M2FNUZ); SAFESHARD_VISIT(F16); SAFESHARD_VISIT(BF16);
        SAFESHARD_VISIT(F32); SAFESHARD_VISIT(F64); SAFESHARD_VISIT(C64);
#undef SAFESHARD_VISIT
        case dtype::F4: case dtype::F6_E2M3: case dtype::F6_E3M2: break;
    }
    SAFESHARD_ASSERT(false && "dtype mapping: copy from a packed sub-byte dtype");
}

// One stored element at `p`, any alignment. A BOOL byte other than 0 is true: copying it into a
// bool as it is would give a bool with an invalid value.
template <class S>
inline S load(const std::byte* p) noexcept {
    if constexpr (std::is_same_v<S, bool>) {
        return static_cast<std::uint8_t>(*p) != 0;
    } else {
        S s;
        std::memcpy(&s, p, sizeof(S));
        return s;
    }
}

// The float nearest `d` toward zero with its last bit forced to 1 when `d` is not a float
// ("round to odd"). Rounding that to a format of 22 or fewer significant bits gives the same
// result as rounding `d` directly, so F64 reaches the narrow types with one rounding, not two.
// Whatever the rounding mode, `f` is one of the two floats around `d`, so the result is the same.
constexpr float round_to_odd(double d) noexcept {
    const float f = static_cast<float>(d);
    const double back = f;
    // Inf and NaN found from the bits, which -ffinite-math-only cannot fold away.
    constexpr std::uint64_t exp_mask = 0x7FF0000000000000u;
    if ((std::bit_cast<std::uint64_t>(d) & exp_mask) == exp_mask || back == d) return f;
    std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if (back > d ? d >= 0 : d < 0) --u;  // rounded away from zero (or to Inf): step back
    return std::bit_cast<float>(u | 1u);
}

template <class T>
inline constexpr bool is_narrow_float =
    std::is_same_v<T, bf16> || std::is_same_v<T, f16> || std::is_same_v<T, f8_e4m3> || std::is_same_v<T, f8_e5m2> ||
    std::is_same_v<T, f8_e4m3fnuz> || std::is_same_v<T, f8_e5m2fnuz> || std::is_same_v<T, f8_e8m0>;

// One element of stored type S as stored type T; only called for pairs `convertible` allows.
template <class T, class S>
constexpr T convert_element(S s) noexcept {
    if constexpr (std::is_same_v<T, S>) {
        return s;
    } else if constexpr (is_narrow_float<T>) {
        if constexpr (std::is_same_v<S, double>) return T(round_to_odd(s));
        else if constexpr (std::is_same_v<S, float>) return T(s);
        else return T(static_cast<float>(s));  // narrow to narrow: exact to float, one rounding
    } else if constexpr (is_narrow_float<S>) {
        return static_cast<T>(static_cast<float>(s));  // to float or double: exact
    } else {
        return static_cast<T>(s);  // float <-> double, and widening integers
    }
}

// The loop for one (stored S, element T) pair. T may be any type of T's dtype: values are made in
// the dtype's stored type and bit-copied, so user element types work too.
template <class S, class T>
void copy_run(const std::byte* src, std::size_t n, T* dst, std::ptrdiff_t dst_stride) noexcept {
    using target = stored_t<dtype_of<T>>;
    auto at = [src](std::size_t i) noexcept { return std::bit_cast<T>(convert_element<target>(load<S>(src + i * sizeof(S)))); };
    if (dst_stride == 1) {  // a loop of its own, so the compiler can vectorise it
        for (std::size_t i = 0; i < n; ++i) dst[i] = at(i);
    } else {
        for (std::size_t i = 0; i < n; ++i) dst[static_cast<std::ptrdiff_t>(i) * dst_stride] = at(i);
    }
}

// Same dtype: the bytes as they are (one memcpy when dense), except BOOL, which is normalised.
template <class T>
void copy_same(const std::byte* src, std::size_t n, T* dst, std::ptrdiff_t dst_stride) noexcept {
    if constexpr (std::is_same_v<T, bool>) {
        copy_run<bool>(src, n, dst, dst_stride);
    } else if (dst_stride == 1) {
        std::memcpy(static_cast<void*>(dst), src, n * sizeof(T));
    } else {
        for (std::size_t i = 0; i < n; ++i)
            std::memcpy(static_cast<void*>(dst + static_cast<std::ptrdiff_t>(i) * dst_stride), src + i * sizeof(T),
                        sizeof(T));
    }
}

}  // namespace detail

namespace dtype_map {

/// Exact mapping: a tensor meets element type `T` only when its dtype is `dtype_of<T>`; the copy
/// moves bytes unchanged (BOOL bytes become `false`/`true`). The default, and the only mapping
/// under which a view can be zero-copy.
struct exact {
    template <class T>
    static constexpr bool accepts(dtype from) noexcept {
        detail::check_element_type<T>();
        return from == dtype_of<T>;
    }

    template <class T>
    static void copy(dtype from, const std::byte* src, std::size_t n, T* dst, std::ptrdiff_t dst_stride) noexcept {
        detail::check_element_type<T>();
        SAFESHARD_ASSERT(accepts<T>(from));
        (void)from;
        if (n != 0) detail::copy_same(src, n, dst, dst_stride);
    }
};
static_assert(dtype_mapping<exact, float> && dtype_mapping<exact, bf16> && dtype_mapping<exact, bool> &&
              dtype_mapping<exact, std::complex<float>> && dtype_mapping<exact, f8_e8m0>);

/// Converting mapping: reads any dtype `convertible(from, dtype_of<T>)` allows (see there),
/// rounding floats to nearest even as the target element type's constructor does (F64 to a
/// narrow type rounds once, not via a rounded float). Same-dtype copies are `exact`'s.
struct convert {
    template <class T>
    static constexpr bool accepts(dtype from) noexcept {
        detail::check_element_type<T>();
        return convertible(from, dtype_of<T>);
    }

    template <class T>
    static void copy(dtype from, const std::byte* src, std::size_t n, T* dst, std::ptrdiff_t dst_stride) noexcept {
        detail::check_element_type<T>();
        SAFESHARD_ASSERT(accepts<T>(from));
        if (n == 0) return;
        if (from == dtype_of<T>) {
            detail::copy_same(src, n, dst, dst_stride);
            return;
        }
        detail::visit_stored(from, [&]<class S>(std::type_identity<S>) {
            if constexpr (dtype_of<S> != dtype_of<T> && convertible(dtype_of<S>, dtype_of<T>))
                detail::copy_run<S>(src, n, dst, dst_stride);
            else
                SAFESHARD_ASSERT(false && "dtype_map::convert::copy called for a dtype accepts() rejects");
        });
    }
};
static_assert(dtype_mapping<convert, float> && dtype_mapping<convert, double> && dtype_mapping<convert, bf16> &&
              dtype_mapping<convert, f8_e4m3> && dtype_mapping<convert, std::int64_t> &&
              dtype_mapping<convert, bool> && dtype_mapping<convert, std::complex<float>>);

}  // namespace dtype_map

}  // namespace safeshard

#endif
