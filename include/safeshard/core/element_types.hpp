// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_ELEMENT_TYPES_HPP
#define SAFESHARD_CORE_ELEMENT_TYPES_HPP

// Storage element types for the narrow float dtypes: bit containers that hold a file's bytes as
// they are and convert to and from `float` exactly as PyTorch's c10 types do, so a checkpoint
// written by PyTorch and read here (or the reverse) sees the same values bit for bit. Plus the
// sub-byte OCP MX element codes (FP4 E2M1, FP6 E2M3 / E3M2) and their packing.
//
// Everything is constexpr (std::bit_cast and integer arithmetic; the one float product is exact
// on normal floats), so results never depend on the floating-point environment: a rounding mode,
// FTZ/DAZ or -ffast-math cannot change a result or flush a subnormal here.

#include <safeshard/core/dtype.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace safeshard {

namespace detail {

constexpr std::uint32_t float_to_bits(float f) noexcept { return std::bit_cast<std::uint32_t>(f); }
constexpr float bits_to_float(std::uint32_t u) noexcept { return std::bit_cast<float>(u); }

inline constexpr std::uint32_t f32_sign = 0x80000000u;
inline constexpr std::uint32_t f32_inf = 0x7F800000u;
inline constexpr std::uint32_t f32_quiet_nan = 0x7FC00000u;

constexpr bool is_nan_bits(std::uint32_t u) noexcept { return (u & ~f32_sign) > f32_inf; }

// Float bits of the magnitude of a finite code of a binary format with `mant` stored mantissa
// bits, exponent bias `bias` and IEEE-style subnormals (exponent field 0). Exact: every value of
// every format here is a float (bf16's subnormals become float subnormals).
constexpr std::uint32_t magnitude_to_float_bits(std::uint32_t mag, int mant, int bias) noexcept {
    const std::uint32_t mant_mask = (1u << mant) - 1u;
    const std::uint32_t field = mag >> mant;
    std::uint32_t m = mag & mant_mask;
    int exp = static_cast<int>(field) - bias;  // unbiased exponent of the leading one
    if (field == 0) {
        if (m == 0) return 0;
        // Subnormal: move the leading one out of the mantissa, as float normalises it.
        const int lead = static_cast<int>(std::bit_width(m)) - 1;
        exp = 1 - bias - (mant - lead);
        m = (m << (mant - lead)) & mant_mask;
    }
    if (exp >= -126) return (static_cast<std::uint32_t>(exp + 127) << 23) | (m << (23 - mant));
    // Below float's normal range (only bf16 subnormals): a float subnormal with the one explicit.
    return ((1u << mant) | m) << (exp - mant + 149);
}

// Code (without sign) of the finite non-negative float with bits `abs_bits`, rounded to nearest,
// ties to even, in a binary format with `mant` stored mantissa bits, bias `bias` and IEEE-style
// subnormals. The result is not clamped: a value past the largest finite code gives a larger
// code, and each type decides whether that means Inf, NaN or saturation.
constexpr std::uint32_t round_magnitude(std::uint32_t abs_bits, int mant, int bias) noexcept {
    const int drop = 23 - mant;  // float mantissa bits that do not fit
    if (abs_bits >= static_cast<std::uint32_t>(127 + 1 - bias) << 23) {
        // A normal result (the common case): adding just under half of the dropped part, plus
        // the lowest kept bit, rounds ties to even; a carry moves into the exponent, as it must.
        const std::uint32_t r = abs_bits + ((1u << (drop - 1)) - 1u) + ((abs_bits >> drop) & 1u);
        return (r >> drop) - (static_cast<std::uint32_t>(127 - bias) << mant);
    }
    const std::uint32_t field = abs_bits >> 23;
    const std::uint32_t sig = field != 0 ? (abs_bits & 0x7FFFFFu) | 0x800000u : abs_bits;
    if (sig == 0) return 0;
    const int q = (field != 0 ? static_cast<int>(field) : 1) - 150;  // value = sig * 2^q
    const int lead_exp = q + static_cast<int>(std::bit_width(sig)) - 1;  // floor(log2(value))
    const int target_exp = lead_exp > 1 - bias ? lead_exp : 1 - bias; // subnormals share the least
    const int shift = (target_exp - mant) - q;                        // bits below the last kept one
    std::uint32_t k = 0;  // value / 2^(target_exp - mant), rounded
    if (shift <= 0) {
        k = sig << -shift;
    } else if (shift < 25) {
        k = sig >> shift;
        const std::uint32_t rest = sig & ((1u << shift) - 1u);
        const std::uint32_t half = 1u << (shift - 1);
        if (rest > half || (rest == half && (k & 1u) != 0)) ++k;
    }  // else: sig < 2^24 <= half a quantum, so the value rounds to zero
    // A carry of k into 2^(mant+1) lands on the next exponent by itself.
    return k + (static_cast<std::uint32_t>(target_exp + bias - 1) << mant);
}

template <class Fn>
constexpr std::array<float, 256> make_decode_table(Fn decode) noexcept {
    std::array<float, 256> t{};
    for (std::uint32_t c = 0; c < 256; ++c) t[c] = bits_to_float(decode(c));
    return t;
}

// --- per-format float bits of a code; NaN results are quiet (the sign kept where there is one).

// Written as selects, not branches, so copy loops vectorise. A subnormal half is its mantissa
// times 2^-24: an exact product of normal floats, so FTZ/DAZ cannot touch it.
constexpr std::uint32_t decode_f16(std::uint32_t c) noexcept {
    const std::uint32_t sign = (c & 0x8000u) << 16;
    const std::uint32_t mag = c & 0x7FFFu;
    const std::uint32_t normal = (mag << 13) + (static_cast<std::uint32_t>(127 - 15) << 23);
    const std::uint32_t subnormal = float_to_bits(static_cast<float>(mag) * 0x1p-24f);
    const std::uint32_t special = f32_inf | ((mag & 0x3FFu) << 13) | (mag > 0x7C00u ? f32_quiet_nan : 0u);
    return sign | (mag >= 0x7C00u ? special : mag >= 0x0400u ? normal : subnormal);
}
constexpr std::uint32_t decode_e5m2(std::uint32_t c) noexcept {
    return decode_f16(c << 8);  // E5M2 is the top byte of an IEEE half
}
constexpr std::uint32_t decode_e4m3(std::uint32_t c) noexcept {
    const std::uint32_t sign = (c & 0x80u) << 24;
    const std::uint32_t mag = c & 0x7Fu;
    if (mag == 0x7Fu) return sign | f32_quiet_nan;  // S.1111.111, the only NaN; no Inf
    return sign | magnitude_to_float_bits(mag, 3, 7);
}
constexpr std::uint32_t decode_e4m3fnuz(std::uint32_t c) noexcept {
    if (c == 0x80u) return f32_quiet_nan;  // the "negative zero" code is the one NaN
    return ((c & 0x80u) << 24) | magnitude_to_float_bits(c & 0x7Fu, 3, 8);
}
constexpr std::uint32_t decode_e5m2fnuz(std::uint32_t c) noexcept {
    if (c == 0x80u) return f32_quiet_nan;
    return ((c & 0x80u) << 24) | magnitude_to_float_bits(c & 0x7Fu, 2, 16);
}
constexpr std::uint32_t decode_e8m0(std::uint32_t c) noexcept {
    if (c == 0xFFu) return f32_quiet_nan;
    if (c == 0) return 0x00400000u;  // 2^-127 is a float subnormal
    return c << 23;
}

inline constexpr std::array<float, 256> e5m2_values = make_decode_table(decode_e5m2);
inline constexpr std::array<float, 256> e4m3_values = make_decode_table(decode_e4m3);
inline constexpr std::array<float, 256> e4m3fnuz_values = make_decode_table(decode_e4m3fnuz);
inline constexpr std::array<float, 256> e5m2fnuz_values = make_decode_table(decode_e5m2fnuz);
inline constexpr std::array<float, 256> e8m0_values = make_decode_table(decode_e8m0);

// --- per-format codes of a float, with c10's special cases.

constexpr std::uint16_t encode_bf16(float f) noexcept {
    const std::uint32_t u = float_to_bits(f);
    if (is_nan_bits(u)) return 0x7FC0u;  // c10 drops the sign and payload of a NaN
    // Adding just under half of the dropped part, plus the kept lsb, rounds ties to even;
    // past the largest finite value the carry lands on the Inf pattern.
    return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
// The code of `f` in a `Bits`-wide IEEE-style format that has infinities (sign on top, `mant`
// mantissa bits, bias `bias`): overflow gives ±Inf, and a NaN gives `nan` with f's sign,
// since c10 picks a different NaN pattern for each such type.
template <class Bits>
constexpr Bits encode_ieee(float f, int mant, int bias, std::uint32_t nan) noexcept {
    constexpr int width = 8 * sizeof(Bits);
    const std::uint32_t u = float_to_bits(f);
    const std::uint32_t sign = (u >> (32 - width)) & (1u << (width - 1));
    const std::uint32_t a = u & ~f32_sign;
    const std::uint32_t inf = (1u << (width - 1)) - (1u << mant);  // every exponent bit set
    if (a > f32_inf) return static_cast<Bits>(sign | nan);
    if (a == f32_inf) return static_cast<Bits>(sign | inf);
    const std::uint32_t m = round_magnitude(a, mant, bias);
    return static_cast<Bits>(sign | (m < inf ? m : inf));
}
constexpr std::uint16_t encode_f16(float f) noexcept { return encode_ieee<std::uint16_t>(f, 10, 15, 0x7E00u); }
constexpr std::uint8_t encode_e5m2(float f) noexcept { return encode_ieee<std::uint8_t>(f, 2, 15, 0x7Fu); }
constexpr std::uint8_t encode_e4m3(float f) noexcept {
    const std::uint32_t u = float_to_bits(f);
    const std::uint32_t sign = (u >> 24) & 0x80u;
    const std::uint32_t a = u & ~f32_sign;
    if (a >= f32_inf) return static_cast<std::uint8_t>(sign | 0x7Fu);  // Inf has nowhere to go
    const std::uint32_t m = round_magnitude(a, 3, 7);
    // Non-saturating: anything rounding past 448 (that is, above 464) becomes NaN.
    return static_cast<std::uint8_t>(sign | (m < 0x7Fu ? m : 0x7Fu));
}
constexpr std::uint8_t encode_fnuz(float f, int mant, int bias) noexcept {
    const std::uint32_t u = float_to_bits(f);
    const std::uint32_t a = u & ~f32_sign;
    if (a >= f32_inf) return 0x80u;
    const std::uint32_t m = round_magnitude(a, mant, bias);
    if (m >= 0x80u) return 0x80u;  // rounded past the largest finite value: NaN
    if (m == 0) return 0;          // no negative zero: -0 and tiny negatives give +0
    return static_cast<std::uint8_t>(((u >> 24) & 0x80u) | m);
}
constexpr std::uint8_t encode_e8m0(float f) noexcept {
    const std::uint32_t u = float_to_bits(f);
    const std::uint32_t exp = (u >> 23) & 0xFFu;
    if (exp == 0xFFu) return 0xFFu;  // Inf and NaN
    // c10's rule, sign ignored: the float's exponent, plus one when the mantissa is at least one
    // half; an exact half rounds up only for normal floats (for a subnormal it is 2^-127 itself).
    const std::uint32_t m = u & 0x7FFFFFu;
    const bool up = m > 0x400000u || (m == 0x400000u && exp != 0);
    return static_cast<std::uint8_t>(exp + (up ? 1u : 0u));  // 254 rounding up gives 255, NaN
}

}  // namespace detail

namespace detail::elements {

// What the narrow float types below have in common, written once: the stored pattern,
// `from_bits`, and equality of patterns; each type adds only its conversions. The namespace
// holds nothing else because argument-dependent lookup on those types searches it too, and
// must find nothing there but this operator==.
template <class Element, class Bits>
struct bit_pattern {
    Bits bits;  ///< the stored little-endian pattern

    /// The element whose pattern is `u`, unchanged.
    static constexpr Element from_bits(Bits u) noexcept {
        Element r;
        r.bits = u;
        return r;
    }
    /// Bitwise equality of the stored patterns, so +0 != -0 and a NaN equals the same NaN
    /// pattern. Compare `float(a) == float(b)` for numeric equality.
    friend constexpr bool operator==(Element a, Element b) noexcept { return a.bits == b.bits; }
};

}  // namespace detail::elements

/// bfloat16: 1 sign, 8 exponent, 7 mantissa bits (the top half of a float).
/// `float(x)` is exact (a NaN keeps its bits, shifted); `bf16(f)` rounds to nearest even,
/// overflows to ±Inf, and maps every NaN to 0x7FC0 (as c10::BFloat16 does).
/// `bits`, `from_bits` and `==` (of the patterns) come from `detail::elements::bit_pattern`.
struct bf16 : detail::elements::bit_pattern<bf16, std::uint16_t> {
    /// Trivial: `bits` is left uninitialised, as for a built-in arithmetic type.
    constexpr bf16() = default;
    /// `f` rounded to this type (the rules are in the type's comment).
    constexpr explicit bf16(float f) noexcept : bit_pattern{detail::encode_bf16(f)} {}
    /// The exact value (every value of every type here is a float).
    constexpr explicit operator float() const noexcept {
        return detail::bits_to_float(static_cast<std::uint32_t>(bits) << 16);
    }
};

/// IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
/// `float(x)` is exact (NaNs come back quiet, sign and payload kept); `f16(f)` rounds to
/// nearest even, overflows to ±Inf, and maps a NaN to sign|0x7E00 (as c10::Half does).
struct f16 : detail::elements::bit_pattern<f16, std::uint16_t> {  // members as in bf16
    constexpr f16() = default;
    constexpr explicit f16(float f) noexcept : bit_pattern{detail::encode_f16(f)} {}
    constexpr explicit operator float() const noexcept { return detail::bits_to_float(detail::decode_f16(bits)); }
};

/// OCP FP8 E4M3 ("e4m3fn"): 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities,
/// NaN only at S.1111.111, largest finite 448. `f8_e4m3(f)` rounds to nearest even and does not
/// saturate (as c10::Float8_e4m3fn): |f| > 464, ±Inf and NaN give NaN (0x7F with f's sign).
/// `==` compares patterns: 0x7F == 0x7F though both are NaN.
struct f8_e4m3 : detail::elements::bit_pattern<f8_e4m3, std::uint8_t> {  // members as in bf16
    constexpr f8_e4m3() = default;
    constexpr explicit f8_e4m3(float f) noexcept : bit_pattern{detail::encode_e4m3(f)} {}
    constexpr explicit operator float() const noexcept { return detail::e4m3_values[bits]; }
};

/// OCP FP8 E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa bits, IEEE-like Inf and NaN (the top
/// byte of a binary16). `f8_e5m2(f)` rounds to nearest even, overflows (|f| >= 61440) to ±Inf,
/// and maps a NaN to 0x7F with f's sign (as c10::Float8_e5m2).
struct f8_e5m2 : detail::elements::bit_pattern<f8_e5m2, std::uint8_t> {  // members as in bf16
    constexpr f8_e5m2() = default;
    constexpr explicit f8_e5m2(float f) noexcept : bit_pattern{detail::encode_e5m2(f)} {}
    constexpr explicit operator float() const noexcept { return detail::e5m2_values[bits]; }
};

/// FP8 E4M3 "fnuz" (AMD/Graphcore): bias 8, no infinities, no negative zero; 0x80 is the one NaN.
/// Largest finite 240. `f8_e4m3fnuz(f)` rounds to nearest even; |f| >= 248, ±Inf and NaN give
/// 0x80; a result of zero is always +0 (as c10::Float8_e4m3fnuz).
struct f8_e4m3fnuz : detail::elements::bit_pattern<f8_e4m3fnuz, std::uint8_t> {  // members as in bf16
    constexpr f8_e4m3fnuz() = default;
    constexpr explicit f8_e4m3fnuz(float f) noexcept : bit_pattern{detail::encode_fnuz(f, 3, 8)} {}
    constexpr explicit operator float() const noexcept { return detail::e4m3fnuz_values[bits]; }
};

/// FP8 E5M2 "fnuz": bias 16, no infinities, no negative zero; 0x80 is the one NaN. Largest
/// finite 57344. `f8_e5m2fnuz(f)` rounds to nearest even; |f| >= 61440, ±Inf and NaN give 0x80;
/// a result of zero is always +0 (as c10::Float8_e5m2fnuz).
struct f8_e5m2fnuz : detail::elements::bit_pattern<f8_e5m2fnuz, std::uint8_t> {  // members as in bf16
    constexpr f8_e5m2fnuz() = default;
    constexpr explicit f8_e5m2fnuz(float f) noexcept : bit_pattern{detail::encode_fnuz(f, 2, 16)} {}
    constexpr explicit operator float() const noexcept { return detail::e5m2fnuz_values[bits]; }
};

/// OCP MX E8M0 scale: an unsigned power of two 2^(e-127) for e in 0..254 (no zero, no sign),
/// 0xFF is NaN. `f8_e8m0(f)` follows c10::Float8_e8m0fnu: the sign is ignored; ±Inf and NaN
/// give 0xFF; otherwise the float's exponent field, plus one when the mantissa is at least one
/// half (for a subnormal float: more than one half), so 0 gives 2^-127, values in
/// [1.5·2^e, 2^(e+1)) round up to 2^(e+1), and |f| >= 1.5·2^127 gives NaN.
/// That is ties-away rounding to the nearest power of two for normal floats; for subnormal
/// floats every value in (2^-127, 2^-126) gives 2^-126 even where 2^-127 is nearer.
/// `bits` holds the biased exponent.
struct f8_e8m0 : detail::elements::bit_pattern<f8_e8m0, std::uint8_t> {  // members as in bf16
    constexpr f8_e8m0() = default;
    constexpr explicit f8_e8m0(float f) noexcept : bit_pattern{detail::encode_e8m0(f)} {}
    constexpr explicit operator float() const noexcept { return detail::e8m0_values[bits]; }
};

#define SAFESHARD_ELEMENT_DTYPE(T, D)          \
    template <>                                \
    struct dtype_traits<T> {                   \
        static constexpr dtype value = dtype::D; \
    }
SAFESHARD_ELEMENT_DTYPE(bf16, BF16);
SAFESHARD_ELEMENT_DTYPE(f16, F16);
SAFESHARD_ELEMENT_DTYPE(f8_e4m3, F8_E4M3);
SAFESHARD_ELEMENT_DTYPE(f8_e5m2, F8_E5M2);
SAFESHARD_ELEMENT_DTYPE(f8_e4m3fnuz, F8_E4M3FNUZ);
SAFESHARD_ELEMENT_DTYPE(f8_e5m2fnuz, F8_E5M2FNUZ);
SAFESHARD_ELEMENT_DTYPE(f8_e8m0, F8_E8M0);
#undef SAFESHARD_ELEMENT_DTYPE

namespace detail {
template <class T, std::size_t Size>
inline constexpr bool is_bit_container =
    std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T> && std::is_trivially_default_constructible_v<T> &&
    sizeof(T) == Size && alignof(T) == Size;
}  // namespace detail
static_assert(detail::is_bit_container<bf16, 2> && detail::is_bit_container<f16, 2>);
static_assert(detail::is_bit_container<f8_e4m3, 1> && detail::is_bit_container<f8_e5m2, 1> &&
              detail::is_bit_container<f8_e4m3fnuz, 1> && detail::is_bit_container<f8_e5m2fnuz, 1> &&
              detail::is_bit_container<f8_e8m0, 1>);
static_assert(float(bf16(1.0f)) == 1.0f && f16(65504.0f).bits == 0x7BFF && f8_e4m3(448.0f).bits == 0x7E &&
              f8_e8m0(1.0f).bits == 127);

// ------------------------------------------------------------------------------------------
// Sub-byte OCP MX element codes. These formats have no Inf and no NaN: converting to them
// saturates (±Inf and anything rounding past the largest finite value give ±max, as the OCP
// MX spec requires), rounds to nearest even, keeps the sign of a zero, and maps NaN to +0
// (the spec leaves NaN to the implementation; +0 is the choice here).

namespace detail {
constexpr float sub_byte_to_float(std::uint8_t code, int mant, int bias, int width) noexcept {
    const std::uint32_t c = code & ((1u << width) - 1u);
    const std::uint32_t sign_bit = 1u << (width - 1);
    return bits_to_float(((c & sign_bit) != 0 ? f32_sign : 0u) | magnitude_to_float_bits(c & (sign_bit - 1u), mant, bias));
}
constexpr std::uint8_t float_to_sub_byte(float f, int mant, int bias, int width) noexcept {
    const std::uint32_t u = float_to_bits(f);
    const std::uint32_t a = u & ~f32_sign;
    if (a > f32_inf) return 0;
    const std::uint32_t sign_bit = 1u << (width - 1);
    const std::uint32_t max_code = sign_bit - 1u;
    const std::uint32_t m = a == f32_inf ? max_code : round_magnitude(a, mant, bias);
    return static_cast<std::uint8_t>(((u & f32_sign) != 0 ? sign_bit : 0u) | (m < max_code ? m : max_code));
}
}  // namespace detail

/// Value of an FP4 E2M1 code (low 4 bits of `code`; 1 sign, 2 exponent bias 1, 1 mantissa):
/// ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}. Bits above the low four are ignored.
constexpr float f4_e2m1_to_float(std::uint8_t code) noexcept { return detail::sub_byte_to_float(code, 1, 1, 4); }
/// Value of an FP6 E2M3 code (low 6 bits; bias 1, 3 mantissa bits): largest ±7.5.
constexpr float f6_e2m3_to_float(std::uint8_t code) noexcept { return detail::sub_byte_to_float(code, 3, 1, 6); }
/// Value of an FP6 E3M2 code (low 6 bits; bias 3, 2 mantissa bits): largest ±28.
constexpr float f6_e3m2_to_float(std::uint8_t code) noexcept { return detail::sub_byte_to_float(code, 2, 3, 6); }

/// FP4 E2M1 code of `f`: nearest, ties to even, saturating at ±6; NaN gives +0.
constexpr std::uint8_t float_to_f4_e2m1(float f) noexcept { return detail::float_to_sub_byte(f, 1, 1, 4); }
/// FP6 E2M3 code of `f`: nearest, ties to even, saturating at ±7.5; NaN gives +0.
constexpr std::uint8_t float_to_f6_e2m3(float f) noexcept { return detail::float_to_sub_byte(f, 3, 1, 6); }
/// FP6 E3M2 code of `f`: nearest, ties to even, saturating at ±28; NaN gives +0.
constexpr std::uint8_t float_to_f6_e3m2(float f) noexcept { return detail::float_to_sub_byte(f, 2, 3, 6); }

// Packing. Both layouts are one little-endian bit stream: element i occupies bits
// [w·i, w·i + w) counting from bit 0 of byte 0. For F4 (w = 4) that puts the first element of
// each byte in the LOW nibble, as PyTorch's float4_e2m1fn_x2 and MXFP4 checkpoints do. For F6
// (w = 6) every 3 bytes hold 4 codes, element j of a group at bits [6j, 6j + 6) of the group
// read as a little-endian 24-bit number. Only the bytes an element touches are read or written.

/// F4 code of element `index` of the packed data at `data` (4 bits at bit 4·index).
constexpr std::uint8_t unpack_f4(const std::byte* data, std::size_t index) noexcept {
    const auto b = static_cast<std::uint8_t>(data[index / 2]);
    return static_cast<std::uint8_t>((index % 2 == 0 ? b : b >> 4) & 0x0Fu);
}
/// Stores the low 4 bits of `code` as element `index`, leaving the other nibble as it was.
constexpr void pack_f4(std::byte* data, std::size_t index, std::uint8_t code) noexcept {
    const unsigned shift = index % 2 == 0 ? 0 : 4;
    const auto old = static_cast<std::uint8_t>(data[index / 2]);
    data[index / 2] = static_cast<std::byte>((old & ~(0x0Fu << shift)) | ((code & 0x0Fu) << shift));
}
/// F6 code of element `index` of the packed data at `data` (6 bits at bit 6·index).
constexpr std::uint8_t unpack_f6(const std::byte* data, std::size_t index) noexcept {
    const std::size_t bit = index * 6;
    const std::size_t byte = bit / 8;
    const unsigned shift = bit % 8;  // 0, 6, 4 or 2
    std::uint32_t v = static_cast<std::uint8_t>(data[byte]);
    if (shift > 2) v |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[byte + 1])) << 8;
    return static_cast<std::uint8_t>((v >> shift) & 0x3Fu);
}
/// Stores the low 6 bits of `code` as element `index`, leaving every other bit as it was.
constexpr void pack_f6(std::byte* data, std::size_t index, std::uint8_t code) noexcept {
    const std::size_t bit = index * 6;
    const std::size_t byte = bit / 8;
    const unsigned shift = bit % 8;
    const std::uint32_t mask = 0x3Fu << shift;
    const std::uint32_t val = static_cast<std::uint32_t>(code & 0x3Fu) << shift;
    data[byte] = static_cast<std::byte>((static_cast<std::uint8_t>(data[byte]) & ~mask) | (val & 0xFFu));
    if (shift > 2)
        data[byte + 1] = static_cast<std::byte>((static_cast<std::uint8_t>(data[byte + 1]) & ~(mask >> 8)) | (val >> 8));
}

}  // namespace safeshard

#endif
