// SPDX-License-Identifier: MIT
// Element types against references written here from the format definitions alone: values
// from sign / exponent / mantissa with std::ldexp, rounding by searching the sorted list of all
// values for the nearest (ties to the even code), and c10's overflow and NaN rules stated as
// value thresholds. Every code of every 8- and 16-bit type is checked, and float inputs at and
// around every midpoint between neighbouring values.

#include <safeshard/core/element_types.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace {

using namespace safeshard;

enum class specials {
    ieee,  // all-ones exponent: Inf (mantissa 0) or NaN
    fn,    // only S.1111.111 is NaN (E4M3)
    fnuz,  // only the negative-zero code is NaN
    none,  // every code is finite (FP4 / FP6)
};

struct format {
    int exp_bits;
    int mant_bits;
    int bias;
    specials kind;

    int width() const { return 1 + exp_bits + mant_bits; }
    std::uint32_t sign_bit() const { return 1u << (exp_bits + mant_bits); }
};

constexpr format fmt_bf16{8, 7, 127, specials::ieee};
constexpr format fmt_f16{5, 10, 15, specials::ieee};
constexpr format fmt_e5m2{5, 2, 15, specials::ieee};
constexpr format fmt_e4m3{4, 3, 7, specials::fn};
constexpr format fmt_e4m3fnuz{4, 3, 8, specials::fnuz};
constexpr format fmt_e5m2fnuz{5, 2, 16, specials::fnuz};
constexpr format fmt_f4{2, 1, 1, specials::none};
constexpr format fmt_f6_e2m3{2, 3, 1, specials::none};
constexpr format fmt_f6_e3m2{3, 2, 3, specials::none};

// The value of `code`, from the definition; NaN for NaN codes.
double ref_decode(const format& f, std::uint32_t code) {
    const std::uint32_t sign = code & f.sign_bit();
    const std::uint32_t e = (code >> f.mant_bits) & ((1u << f.exp_bits) - 1u);
    const std::uint32_t m = code & ((1u << f.mant_bits) - 1u);
    const std::uint32_t e_max = (1u << f.exp_bits) - 1u;
    const std::uint32_t m_max = (1u << f.mant_bits) - 1u;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (f.kind == specials::ieee && e == e_max)
        return m != 0 ? nan : (sign ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity());
    if (f.kind == specials::fn && e == e_max && m == m_max) return nan;
    if (f.kind == specials::fnuz && code == f.sign_bit()) return nan;
    const double mag = e == 0 ? std::ldexp(static_cast<double>(m), 1 - f.bias - f.mant_bits)
                              : std::ldexp(static_cast<double>(m + (1u << f.mant_bits)),
                                           static_cast<int>(e) - f.bias - f.mant_bits);
    return sign ? -mag : mag;
}

double ref_decode_e8m0(std::uint32_t code) {
    return code == 0xFF ? std::numeric_limits<double>::quiet_NaN() : std::ldexp(1.0, static_cast<int>(code) - 127);
}

// Rounding reference for a format: the finite non-negative values in code order, and what the
// type does with what lies past them.
struct rounding_ref {
    format f;
    std::vector<double> values;  // values[c] = value of magnitude code c, c = 0 .. max finite
    std::uint32_t max_code = 0;

    explicit rounding_ref(const format& fm) : f(fm) {
        for (std::uint32_t c = 0; c < f.sign_bit(); ++c) {
            const double v = ref_decode(f, c);
            if (!std::isfinite(v)) break;  // codes are in value order up to the first special
            values.push_back(v);
        }
        max_code = static_cast<std::uint32_t>(values.size() - 1);
    }

    // Nearest magnitude code of finite a >= 0, ties to even, with max_code + 1 standing for
    // "rounded past the largest finite value" (the next value an unbounded exponent would give).
    std::uint32_t nearest(double a) const {
        const double top = values[max_code];
        const double virtual_next = top + (top - values[max_code - 1]);
        if (a >= virtual_next) return max_code + 1;
        const auto it = std::upper_bound(values.begin(), values.end(), a);
        const auto lo = static_cast<std::uint32_t>(it - values.begin() - 1);
        if (values[lo] == a) return lo;
        const std::uint32_t hi = lo + 1;
        const double hi_value = hi <= max_code ? values[hi] : virtual_next;
        const double mid = (values[lo] + hi_value) / 2;  // exact: a few bits more than the format
        if (a < mid) return lo;
        if (a > mid) return hi;
        return (lo % 2 == 0) ? lo : hi;
    }

    // The code c10 gives for float x.
    std::uint32_t expected(float x) const {
        const bool neg = std::signbit(x);
        const std::uint32_t sign = neg ? f.sign_bit() : 0u;
        const std::uint32_t all_but_sign = f.sign_bit() - 1u;
        if (std::isnan(x)) {
            switch (f.kind) {
                case specials::ieee:  // c10: bf16 0x7FC0 unsigned; half S.11111.1000000000; e5m2 S.11111.11
                    if (f.exp_bits == 8) return 0x7FC0;
                    if (f.mant_bits == 2) return sign | 0x7F;
                    return sign | (((1u << f.exp_bits) - 1u) << f.mant_bits) | (1u << (f.mant_bits - 1));
                case specials::fn: return sign | all_but_sign;
                case specials::fnuz: return f.sign_bit();
                case specials::none: return 0;
            }
        }
        const double a = std::fabs(static_cast<double>(x));
        std::uint32_t m = std::isinf(a) ? max_code + 1 : nearest(a);
        if (m > max_code) {
            switch (f.kind) {
                case specials::ieee: return sign | (((1u << f.exp_bits) - 1u) << f.mant_bits);  // Inf
                case specials::fn: return sign | all_but_sign;                                  // NaN
                case specials::fnuz: return f.sign_bit();                                       // NaN
                case specials::none: m = max_code; break;                                       // saturate
            }
        }
        if (f.kind == specials::fnuz && m == 0) return 0;
        return sign | m;
    }
};

// c10's E8M0 rule as a statement about values: NaN/Inf give 0xFF; the sign is ignored; below
// 2^-126, anything above 2^-127 gives 2^-126 and the rest 2^-127; above, the power of two at
// or below |x|, raised when |x| is at least 1.5 times it; past 2^127, NaN.
std::uint32_t expected_e8m0(float x) {
    if (!std::isfinite(x)) return 0xFF;
    const double a = std::fabs(static_cast<double>(x));
    if (a < std::ldexp(1.0, -126)) return a > std::ldexp(1.0, -127) ? 1 : 0;
    int e = 0;
    const double fr = std::frexp(a, &e);  // a = fr * 2^e, fr in [0.5, 1)
    std::uint32_t code = static_cast<std::uint32_t>(e - 1 + 127);
    if (fr >= 0.75) ++code;
    return code > 0xFF ? 0xFF : code;
}

float next_up(float x) { return std::nextafter(x, std::numeric_limits<float>::infinity()); }
float next_down(float x) { return std::nextafter(x, -std::numeric_limits<float>::infinity()); }

// Float inputs for rounding checks: every value, every midpoint, one float either side of
// each, both signs; random bit patterns; the specials.
std::vector<float> rounding_inputs(const std::vector<double>& values, std::uint32_t seed) {
    std::vector<float> in;
    auto add = [&](double v) {
        const auto f = static_cast<float>(v);
        for (float g : {f, next_up(f), next_down(f)}) {
            in.push_back(g);
            in.push_back(-g);
        }
    };
    for (std::size_t i = 0; i < values.size(); ++i) {
        add(values[i]);
        if (i + 1 < values.size()) add((values[i] + values[i + 1]) / 2);
    }
    const double top = values.back();
    const double step = top - values[values.size() - 2];
    add(top + step / 2);   // the overflow tie
    add(top + step);       // the first value past the top
    add(top + 3 * step / 2);
    add(top * 4);
    std::mt19937 rng(seed);
    for (int i = 0; i < 200000; ++i) in.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(rng())));
    std::uniform_real_distribution<double> in_range(0.0, top * 1.25);
    for (int i = 0; i < 50000; ++i) in.push_back(static_cast<float>(in_range(rng)));
    std::uniform_real_distribution<double> exponent(-150.0, 128.0);
    for (int i = 0; i < 50000; ++i) in.push_back(static_cast<float>(std::exp2(exponent(rng))));
    for (float s : {0.0f, -0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::signaling_NaN(), std::bit_cast<float>(0x7F800001u),
                    std::bit_cast<float>(0xFFFFFFFFu), std::numeric_limits<float>::denorm_min(),
                    -std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                    std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()})
        in.push_back(s);
    return in;
}

std::uint32_t float_bits(float f) { return std::bit_cast<std::uint32_t>(f); }

// decode every code, round-trip every non-NaN code, and round the inputs, for an element type.
template <class T>
void check_type(const format& f, std::uint32_t seed) {
    const std::uint32_t codes = 1u << f.width();
    const rounding_ref ref(f);
    using bits_t = decltype(T{}.bits);
    std::size_t decode_fail = 0, roundtrip_fail = 0, round_fail = 0;
    for (std::uint32_t c = 0; c < codes; ++c) {
        const T t = T::from_bits(static_cast<bits_t>(c));
        const float got = static_cast<float>(t);
        const double want = ref_decode(f, c);
        if (std::isnan(want)) {
            if (!std::isnan(got)) ++decode_fail;
            CHECK_MESSAGE(std::isnan(got), "code ", c);
            continue;
        }
        // Bit equality also tells -0 from +0.
        if (float_bits(got) != float_bits(static_cast<float>(want))) ++decode_fail;
        CHECK_MESSAGE(float_bits(got) == float_bits(static_cast<float>(want)), "code ", c, " gave ", got, " not ", want);
        const T back(got);
        if (back.bits != c) ++roundtrip_fail;
        CHECK_MESSAGE(back.bits == c, "code ", c, " came back as ", back.bits);
    }
    for (float x : rounding_inputs(ref.values, seed)) {
        const std::uint32_t want = ref.expected(x);
        const std::uint32_t got = T(x).bits;
        if (got != want) ++round_fail;
        CHECK_MESSAGE(got == want, "float ", x, " (bits ", float_bits(x), ") gave ", got, " not ", want);
    }
    CHECK(decode_fail == 0);
    CHECK(roundtrip_fail == 0);
    CHECK(round_fail == 0);
}

}  // namespace

TEST_SUITE("element_types") {
    TEST_CASE("bf16: every code, rounding at every midpoint") { check_type<bf16>(fmt_bf16, 1); }
    TEST_CASE("f16: every code, rounding at every midpoint") { check_type<f16>(fmt_f16, 2); }
    TEST_CASE("f8_e5m2: every code, rounding at every midpoint") { check_type<f8_e5m2>(fmt_e5m2, 3); }
    TEST_CASE("f8_e4m3: every code, rounding at every midpoint") { check_type<f8_e4m3>(fmt_e4m3, 4); }
    TEST_CASE("f8_e4m3fnuz: every code, rounding at every midpoint") { check_type<f8_e4m3fnuz>(fmt_e4m3fnuz, 5); }
    TEST_CASE("f8_e5m2fnuz: every code, rounding at every midpoint") { check_type<f8_e5m2fnuz>(fmt_e5m2fnuz, 6); }

    TEST_CASE("f8_e8m0: every code and c10's rounding rule") {
        for (std::uint32_t c = 0; c < 256; ++c) {
            const float got = static_cast<float>(f8_e8m0::from_bits(static_cast<std::uint8_t>(c)));
            const double want = ref_decode_e8m0(c);
            if (std::isnan(want)) {
                CHECK(std::isnan(got));
                continue;
            }
            CHECK_MESSAGE(static_cast<double>(got) == want, "code ", c);
            CHECK(f8_e8m0(got).bits == c);
            CHECK(f8_e8m0(-got).bits == c);  // no sign: |x| counts
        }
        std::vector<double> values;
        for (std::uint32_t c = 0; c < 255; ++c) values.push_back(ref_decode_e8m0(c));
        // Inputs at each power of two, at the arithmetic midpoints (the c10 rounding point), and
        // at sqrt(2) times each (the geometric midpoint), one float either side.
        std::vector<float> in = rounding_inputs(values, 7);
        for (int e = -127; e <= 127; ++e)
            for (double k : {1.5, 1.25, 1.75, std::sqrt(2.0)}) {
                const auto f = static_cast<float>(std::ldexp(k, e));
                in.insert(in.end(), {f, next_up(f), next_down(f)});
            }
        std::size_t fail = 0;
        for (float x : in) {
            const std::uint32_t got = f8_e8m0(x).bits;
            const std::uint32_t want = expected_e8m0(x);
            if (got != want) ++fail;
            CHECK_MESSAGE(got == want, "float ", x, " (bits ", float_bits(x), ") gave ", got, " not ", want);
        }
        CHECK(fail == 0);
        // The rule stated in the docs, by example.
        CHECK(f8_e8m0(0.0f).bits == 0);
        CHECK(f8_e8m0(1.0f).bits == 127);
        CHECK(f8_e8m0(1.4999999f).bits == 127);
        CHECK(f8_e8m0(1.5f).bits == 128);  // ties away from zero
        CHECK(f8_e8m0(-3.0f).bits == 129);
        CHECK(f8_e8m0(std::ldexp(1.5f, 127)).bits == 255);
        CHECK(f8_e8m0(std::ldexp(1.4999f, 127)).bits == 254);
        CHECK(f8_e8m0(std::ldexp(1.0f, -127)).bits == 0);
        CHECK(f8_e8m0(next_up(std::ldexp(1.0f, -127))).bits == 1);  // nearer 2^-127, but c10 says 2^-126
        CHECK(f8_e8m0(std::numeric_limits<float>::infinity()).bits == 255);
        CHECK(f8_e8m0(std::numeric_limits<float>::quiet_NaN()).bits == 255);
    }

    TEST_CASE("c10 thresholds and special values, by example") {
        constexpr float inf = std::numeric_limits<float>::infinity();
        constexpr float nan = std::numeric_limits<float>::quiet_NaN();
        // E4M3FN: 448 is the top; the tie at 464 goes to 448 (even); above 464 NaN, no saturation.
        CHECK(f8_e4m3(448.0f).bits == 0x7E);
        CHECK(f8_e4m3(464.0f).bits == 0x7E);
        CHECK(f8_e4m3(next_up(464.0f)).bits == 0x7F);
        CHECK(f8_e4m3(-next_up(464.0f)).bits == 0xFF);
        CHECK(f8_e4m3(480.0f).bits == 0x7F);
        CHECK(f8_e4m3(inf).bits == 0x7F);
        CHECK(f8_e4m3(-inf).bits == 0xFF);
        CHECK(f8_e4m3(nan).bits == 0x7F);
        CHECK(f8_e4m3(-0.0f).bits == 0x80);
        CHECK(f8_e4m3(std::ldexp(1.0f, -9)).bits == 0x01);  // smallest subnormal
        CHECK(f8_e4m3(std::ldexp(1.0f, -10)).bits == 0x00); // its half: tie to even zero
        CHECK(f8_e4m3(next_up(std::ldexp(1.0f, -10))).bits == 0x01);
        // E5M2: Inf from the tie at 61440 up.
        CHECK(f8_e5m2(57344.0f).bits == 0x7B);
        CHECK(f8_e5m2(next_down(61440.0f)).bits == 0x7B);
        CHECK(f8_e5m2(61440.0f).bits == 0x7C);
        CHECK(f8_e5m2(-inf).bits == 0xFC);
        CHECK(f8_e5m2(nan).bits == 0x7F);
        CHECK(f8_e5m2(-nan).bits == 0xFF);
        // FNUZ: NaN is 0x80 whatever the sign; no negative zero.
        CHECK(f8_e4m3fnuz(240.0f).bits == 0x7F);
        CHECK(f8_e4m3fnuz(next_down(248.0f)).bits == 0x7F);
        CHECK(f8_e4m3fnuz(248.0f).bits == 0x80);
        CHECK(f8_e4m3fnuz(-1000.0f).bits == 0x80);
        CHECK(f8_e4m3fnuz(-0.0f).bits == 0x00);
        CHECK(f8_e4m3fnuz(-std::ldexp(1.0f, -12)).bits == 0x00);  // tiny negative: +0
        CHECK(f8_e4m3fnuz(-inf).bits == 0x80);
        CHECK(f8_e5m2fnuz(57344.0f).bits == 0x7F);
        CHECK(f8_e5m2fnuz(61440.0f).bits == 0x80);
        CHECK(f8_e5m2fnuz(nan).bits == 0x80);
        // BF16 and F16.
        CHECK(bf16(nan).bits == 0x7FC0);
        CHECK(bf16(-nan).bits == 0x7FC0);
        CHECK(bf16(std::numeric_limits<float>::max()).bits == 0x7F80);
        CHECK(bf16(-0.0f).bits == 0x8000);
        CHECK(f16(65504.0f).bits == 0x7BFF);
        CHECK(f16(next_down(65520.0f)).bits == 0x7BFF);
        CHECK(f16(65520.0f).bits == 0x7C00);
        CHECK(f16(nan).bits == 0x7E00);
        CHECK(f16(-nan).bits == 0xFE00);
        CHECK(f16(std::ldexp(1.0f, -24)).bits == 0x0001);
        CHECK(f16(std::ldexp(1.0f, -25)).bits == 0x0000);
        CHECK(f16(-std::ldexp(1.0f, -26)).bits == 0x8000);
        // NaN codes decode to NaN with their sign where the format has one.
        CHECK(std::signbit(static_cast<float>(f16::from_bits(0xFE01))));
        CHECK(std::isnan(static_cast<float>(f16::from_bits(0x7C01))));
        CHECK(std::isinf(static_cast<float>(f16::from_bits(0xFC00))));
    }

    TEST_CASE("constexpr and layout") {
        static_assert(static_cast<float>(bf16::from_bits(0x3F80)) == 1.0f);
        static_assert(bf16(3.0f).bits == 0x4040);
        static_assert(f16(1.0f).bits == 0x3C00 && static_cast<float>(f16::from_bits(0x0001)) == 0x1p-24f);
        static_assert(f8_e4m3(-2.0f).bits == 0xC0 && static_cast<float>(f8_e4m3::from_bits(0x7E)) == 448.0f);
        static_assert(f8_e5m2(1.0f).bits == 0x3C);
        static_assert(f8_e4m3fnuz(1.0f).bits == 0x40 && f8_e5m2fnuz(1.0f).bits == 0x40);
        static_assert(static_cast<float>(f8_e8m0::from_bits(0)) == 0x1p-127f);
        static_assert(f4_e2m1_to_float(0x7) == 6.0f && float_to_f4_e2m1(100.0f) == 0x7);
        static_assert(f6_e2m3_to_float(0x1F) == 7.5f && f6_e3m2_to_float(0x1F) == 28.0f);
        static_assert(bf16::from_bits(0x8000) != bf16::from_bits(0x0000));  // bitwise: -0 != +0
        static_assert(f8_e4m3::from_bits(0x7F) == f8_e4m3::from_bits(0x7F));  // same NaN bits
        static_assert(dtype_of<bf16> == dtype::BF16 && dtype_of<f16> == dtype::F16 &&
                      dtype_of<f8_e4m3> == dtype::F8_E4M3 && dtype_of<f8_e5m2> == dtype::F8_E5M2 &&
                      dtype_of<f8_e4m3fnuz> == dtype::F8_E4M3FNUZ && dtype_of<f8_e5m2fnuz> == dtype::F8_E5M2FNUZ &&
                      dtype_of<const f8_e8m0> == dtype::F8_E8M0);
        static_assert(sizeof(bf16) == 2 && sizeof(f16) == 2 && sizeof(f8_e8m0) == 1);
        static_assert(std::is_trivially_copyable_v<f8_e5m2> && std::is_standard_layout_v<f8_e5m2>);
        static_assert(!std::is_convertible_v<float, bf16> && !std::is_convertible_v<bf16, float>);  // explicit
    }

    TEST_CASE("FP4 / FP6 codes: every code, rounding, saturation") {
        struct sub_byte {
            format f;
            float (*to_float)(std::uint8_t);
            std::uint8_t (*from_float)(float);
        };
        const sub_byte kinds[] = {{fmt_f4, f4_e2m1_to_float, float_to_f4_e2m1},
                                  {fmt_f6_e2m3, f6_e2m3_to_float, float_to_f6_e2m3},
                                  {fmt_f6_e3m2, f6_e3m2_to_float, float_to_f6_e3m2}};
        std::uint32_t seed = 11;
        for (const sub_byte& k : kinds) {
            CAPTURE(k.f.width());
            CAPTURE(k.f.mant_bits);
            const rounding_ref ref(k.f);
            const std::uint32_t codes = 1u << k.f.width();
            REQUIRE(ref.max_code == codes / 2 - 1);  // no specials: every code is finite
            for (std::uint32_t c = 0; c < codes; ++c) {
                const float got = k.to_float(static_cast<std::uint8_t>(c));
                CHECK_MESSAGE(float_bits(got) == float_bits(static_cast<float>(ref_decode(k.f, c))), "code ", c);
                CHECK(k.from_float(got) == c);
                // Bits above the code are ignored.
                CHECK(float_bits(k.to_float(static_cast<std::uint8_t>(c | (0xFFu << k.f.width())))) == float_bits(got));
            }
            std::size_t fail = 0;
            for (float x : rounding_inputs(ref.values, seed++)) {
                const std::uint32_t want = ref.expected(x);
                const std::uint32_t got = k.from_float(x);
                if (got != want) ++fail;
                CHECK_MESSAGE(got == want, "float ", x, " gave ", got, " not ", want);
            }
            CHECK(fail == 0);
        }
        // The documented choices, by example.
        CHECK(float_to_f4_e2m1(5.0f) == 0x6);   // tie between 4 (even) and 6
        CHECK(float_to_f4_e2m1(7.0f) == 0x7);   // past 6: saturates
        CHECK(float_to_f4_e2m1(-std::numeric_limits<float>::infinity()) == 0xF);
        CHECK(float_to_f4_e2m1(std::numeric_limits<float>::quiet_NaN()) == 0x0);
        CHECK(float_to_f4_e2m1(-0.0f) == 0x8);
        CHECK(float_to_f4_e2m1(-0.25f) == 0x8);  // tie to the even code, keeping the sign
        CHECK(float_to_f6_e2m3(1e9f) == 0x1F);
        CHECK(float_to_f6_e3m2(-1e9f) == 0x3F);
        CHECK(float_to_f6_e3m2(std::numeric_limits<float>::quiet_NaN()) == 0x00);
    }

    TEST_CASE("F4 / F6 packing: little-endian bit stream") {
        // Known bytes.
        {
            std::byte b[2]{};
            pack_f4(b, 0, 0x1);
            pack_f4(b, 1, 0x2);
            pack_f4(b, 2, 0xF);
            CHECK(static_cast<unsigned>(b[0]) == 0x21u);  // first element in the low nibble
            CHECK(static_cast<unsigned>(b[1]) == 0x0Fu);
            CHECK(unpack_f4(b, 1) == 0x2);
        }
        {
            std::byte b[3]{};
            const std::uint8_t c[4] = {0x01, 0x02, 0x03, 0x3F};
            for (std::size_t i = 0; i < 4; ++i) pack_f6(b, i, c[i]);
            const std::uint32_t v = 0x01u | (0x02u << 6) | (0x03u << 12) | (0x3Fu << 18);
            CHECK(static_cast<unsigned>(b[0]) == (v & 0xFF));
            CHECK(static_cast<unsigned>(b[1]) == ((v >> 8) & 0xFF));
            CHECK(static_cast<unsigned>(b[2]) == (v >> 16));
        }
        // Random codes against a bit-by-bit packer; unpacking; writes touch only their element.
        std::mt19937 rng(99);
        for (int width : {4, 6}) {
            CAPTURE(width);
            const std::size_t n = 4 * 257;
            std::vector<std::uint8_t> codes(n);
            for (auto& c : codes) c = static_cast<std::uint8_t>(rng() & ((1u << width) - 1u));
            std::vector<std::byte> want(n * static_cast<std::size_t>(width) / 8);
            for (std::size_t i = 0; i < n; ++i)
                for (int b = 0; b < width; ++b)
                    if ((codes[i] >> b) & 1u) {
                        const std::size_t bit = i * static_cast<std::size_t>(width) + static_cast<std::size_t>(b);
                        want[bit / 8] |= static_cast<std::byte>(1u << (bit % 8));
                    }
            // Pack over random garbage: every bit must come out as the packer says.
            std::vector<std::byte> got(want.size());
            for (auto& x : got) x = static_cast<std::byte>(rng());
            for (std::size_t i = 0; i < n; ++i)
                width == 4 ? pack_f4(got.data(), i, codes[i]) : pack_f6(got.data(), i, codes[i]);
            CHECK(std::memcmp(got.data(), want.data(), want.size()) == 0);
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint8_t c = width == 4 ? unpack_f4(got.data(), i) : unpack_f6(got.data(), i);
                CHECK(c == codes[i]);
            }
            // Rewrite single elements with junk in the high bits; neighbours stay.
            for (int t = 0; t < 500; ++t) {
                const std::size_t i = rng() % n;
                const auto c = static_cast<std::uint8_t>(rng());
                std::vector<std::byte> copy = got;
                width == 4 ? pack_f4(copy.data(), i, c) : pack_f6(copy.data(), i, c);
                codes[i] = static_cast<std::uint8_t>(c & ((1u << width) - 1u));
                std::size_t wrong = 0;
                for (std::size_t j = 0; j < n; ++j)
                    wrong += (width == 4 ? unpack_f4(copy.data(), j) : unpack_f6(copy.data(), j)) != codes[j];
                CHECK(wrong == 0);
                got = copy;
            }
        }
        // constexpr use.
        static_assert([] {
            std::byte b[3]{};
            pack_f6(b, 3, 0x2A);
            pack_f4(b, 1, 0x9);
            return unpack_f6(b, 3) == 0x2A && unpack_f4(b, 1) == 0x9;
        }());
    }
}
