// SPDX-License-Identifier: MIT
// The dtype mapping policies: the concept, `exact`, `convert` and `convertible`. Acceptance is
// checked for every (dtype, element type) pair against a table written out here; copies for
// every accepted pair, from unaligned source bytes into strided destinations, against values
// computed element by element (F64 into the narrow types against a nearest-value search on the
// double itself, which catches rounding twice through float).

#include <safeshard/core/dtype_mapping.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cfenv>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace safeshard;
using dtype_map::convert;
using dtype_map::exact;

// A user element type for F16 that safeshard has never heard of.
struct user_half {
    std::uint16_t raw;
};

}  // namespace

template <>
struct safeshard::dtype_traits<user_half> {
    static constexpr dtype value = dtype::F16;
};

namespace {

// ---- the concept

struct not_constexpr_accepts {
    template <class T>
    static bool accepts(dtype) noexcept { return true; }
    template <class T>
    static void copy(dtype, const std::byte*, std::size_t, T*, std::ptrdiff_t) noexcept {}
};
struct throwing_copy {
    template <class T>
    static constexpr bool accepts(dtype) noexcept { return true; }
    template <class T>
    static void copy(dtype, const std::byte*, std::size_t, T*, std::ptrdiff_t) {}
};
struct stateful {
    int x;
    template <class T>
    static constexpr bool accepts(dtype) noexcept { return true; }
    template <class T>
    static void copy(dtype, const std::byte*, std::size_t, T*, std::ptrdiff_t) noexcept {}
};
static_assert(!dtype_mapping<not_constexpr_accepts, float>);
static_assert(!dtype_mapping<throwing_copy, float>);
static_assert(!dtype_mapping<stateful, float>);
static_assert(!dtype_mapping<exact, std::string>);  // no dtype
static_assert(!dtype_mapping<exact, const float>);  // copies write: the element type is unqualified
static_assert(dtype_mapping<exact, user_half> && dtype_mapping<convert, user_half>);
static_assert(dtype_mapping<exact, std::uint64_t> && dtype_mapping<convert, f8_e5m2fnuz>);

// ---- constexpr acceptance
static_assert(exact::accepts<float>(dtype::F32) && !exact::accepts<float>(dtype::F64));
static_assert(!exact::accepts<float>(dtype::BF16) && exact::accepts<bf16>(dtype::BF16));
static_assert(convert::accepts<float>(dtype::BF16) && convert::accepts<bf16>(dtype::F64));
static_assert(convert::accepts<f8_e4m3>(dtype::F8_E8M0) && !convert::accepts<float>(dtype::F4));
static_assert(convert::accepts<std::int16_t>(dtype::U8) && !convert::accepts<std::int16_t>(dtype::U16));
static_assert(!convert::accepts<std::uint32_t>(dtype::I8) && !convert::accepts<float>(dtype::I32));
static_assert(!convert::accepts<std::int32_t>(dtype::F32) && !convert::accepts<bool>(dtype::U8));
static_assert(convertible(dtype::F6_E2M3, dtype::F6_E2M3) && !convertible(dtype::F6_E2M3, dtype::F32));
static_assert(!convertible(dtype::C64, dtype::F64) && !convertible(dtype::F32, dtype::C64));

// ---- the table of what `convert` allows, written out

bool table_allows(dtype from, dtype to) {
    if (from == to) return true;
    const dtype floats[] = {dtype::BF16, dtype::F16, dtype::F32, dtype::F64, dtype::F8_E5M2,
                            dtype::F8_E4M3, dtype::F8_E8M0, dtype::F8_E4M3FNUZ, dtype::F8_E5M2FNUZ};
    auto is_whole_float = [&](dtype d) { return std::find(std::begin(floats), std::end(floats), d) != std::end(floats); };
    if (is_whole_float(from) && is_whole_float(to)) return true;
    struct pair {
        dtype from, to;
    };
    static const pair widening[] = {
        {dtype::I8, dtype::I16},  {dtype::I8, dtype::I32},  {dtype::I8, dtype::I64},  {dtype::I16, dtype::I32},
        {dtype::I16, dtype::I64}, {dtype::I32, dtype::I64}, {dtype::U8, dtype::U16},  {dtype::U8, dtype::U32},
        {dtype::U8, dtype::U64},  {dtype::U16, dtype::U32}, {dtype::U16, dtype::U64}, {dtype::U32, dtype::U64},
        {dtype::U8, dtype::I16},  {dtype::U8, dtype::I32},  {dtype::U8, dtype::I64},  {dtype::U16, dtype::I32},
        {dtype::U16, dtype::I64}, {dtype::U32, dtype::I64},
    };
    for (const pair& p : widening)
        if (p.from == from && p.to == to) return true;
    return false;
}

// ---- reference values

template <class T>
inline constexpr bool is_narrow =
    std::is_same_v<T, bf16> || std::is_same_v<T, f16> || std::is_same_v<T, f8_e4m3> || std::is_same_v<T, f8_e5m2> ||
    std::is_same_v<T, f8_e4m3fnuz> || std::is_same_v<T, f8_e5m2fnuz> || std::is_same_v<T, f8_e8m0>;

template <class T>
using bits_of = decltype(T{}.bits);

template <class T>
std::uint32_t overflow_code(bool neg) {
    const std::uint32_t s = neg ? (sizeof(T) == 2 ? 0x8000u : 0x80u) : 0u;
    if constexpr (std::is_same_v<T, bf16>) return s | 0x7F80u;
    else if constexpr (std::is_same_v<T, f16>) return s | 0x7C00u;
    else if constexpr (std::is_same_v<T, f8_e5m2>) return s | 0x7Cu;
    else if constexpr (std::is_same_v<T, f8_e4m3>) return s | 0x7Fu;
    else return 0x80u;  // fnuz NaN
}

// Finite non-negative values of T in code order (its decoding is checked in element_types).
template <class T>
const std::vector<double>& magnitudes() {
    static const std::vector<double> v = [] {
        std::vector<double> r;
        const std::uint32_t sign_bit = sizeof(T) == 2 ? 0x8000u : 0x80u;
        for (std::uint32_t c = 0; c < sign_bit; ++c) {
            const float f = static_cast<float>(T::from_bits(static_cast<bits_of<T>>(c)));
            if (!std::isfinite(f)) break;
            r.push_back(f);
        }
        return r;
    }();
    return v;
}

// T nearest the double `d`, ties to the even code, with T's own overflow rule; no float in
// between. E8M0 follows c10's rule applied to the double's value.
template <class T>
T round_double(double d) {
    if (std::isnan(d)) return T(static_cast<float>(d));
    if constexpr (std::is_same_v<T, f8_e8m0>) {
        if (std::isinf(d)) return T::from_bits(0xFF);
        const double a = std::fabs(d);
        if (a < std::ldexp(1.0, -126)) return T::from_bits(a > std::ldexp(1.0, -127) ? 1 : 0);
        int e = 0;
        const double fr = std::frexp(a, &e);
        const int code = e - 1 + 127 + (fr >= 0.75 ? 1 : 0);
        return T::from_bits(static_cast<std::uint8_t>(code > 255 ? 255 : code));
    } else {
        const bool neg = std::signbit(d);
        const std::vector<double>& v = magnitudes<T>();
        REQUIRE((v.size() > 2 && v.front() == 0.0 && std::is_sorted(v.begin(), v.end())));
        const auto max_code = static_cast<std::uint32_t>(v.size() - 1);
        const double virtual_next = v[max_code] + (v[max_code] - v[max_code - 1]);
        const double a = std::fabs(d);
        std::uint32_t m = 0;
        if (a >= virtual_next) {
            m = max_code + 1;
        } else {
            const auto lo = static_cast<std::uint32_t>(std::upper_bound(v.begin(), v.end(), a) - v.begin() - 1);
            const double hi_value = lo + 1 <= max_code ? v[lo + 1] : virtual_next;
            const double mid = (v[lo] + hi_value) / 2;
            m = (a < mid || (a == mid && lo % 2 == 0)) ? lo : lo + 1;
        }
        if (m > max_code) return T::from_bits(static_cast<bits_of<T>>(overflow_code<T>(neg)));
        constexpr bool fnuz = std::is_same_v<T, f8_e4m3fnuz> || std::is_same_v<T, f8_e5m2fnuz>;
        if (fnuz && m == 0) return T::from_bits(0);
        const std::uint32_t s = neg ? (sizeof(T) == 2 ? 0x8000u : 0x80u) : 0u;
        return T::from_bits(static_cast<bits_of<T>>(s | m));
    }
}

template <class S>
S read_as(const std::byte* p) {
    S s;
    std::memcpy(&s, p, sizeof s);
    return s;
}

// What one source element at `p` of dtype `from` must become as a T.
template <class T>
T expected(dtype from, const std::byte* p) {
    if constexpr (std::is_same_v<T, bool>) {
        REQUIRE(from == dtype::BOOL);
        return static_cast<std::uint8_t>(*p) != 0;
    } else if constexpr (std::is_same_v<T, user_half>) {
        return std::bit_cast<user_half>(expected<f16>(from, p));  // made as an f16, then its bits
    } else if constexpr (std::is_same_v<T, std::complex<float>>) {
        REQUIRE(from == dtype_of<T>);
        return read_as<T>(p);
    } else if constexpr (std::is_integral_v<T>) {
        switch (from) {
            case dtype::I8: return static_cast<T>(read_as<std::int8_t>(p));
            case dtype::I16: return static_cast<T>(read_as<std::int16_t>(p));
            case dtype::I32: return static_cast<T>(read_as<std::int32_t>(p));
            case dtype::I64: return static_cast<T>(read_as<std::int64_t>(p));
            case dtype::U8: return static_cast<T>(read_as<std::uint8_t>(p));
            case dtype::U16: return static_cast<T>(read_as<std::uint16_t>(p));
            case dtype::U32: return static_cast<T>(read_as<std::uint32_t>(p));
            case dtype::U64: return static_cast<T>(read_as<std::uint64_t>(p));
            default: FAIL("integer target from a non-integer dtype"); return T{};
        }
    } else {
        // Floating targets. A narrow source's value is exactly a float.
        float f = 0;
        switch (from) {
            case dtype::F64: {
                const double d = read_as<double>(p);
                if constexpr (std::is_same_v<T, double>) return d;
                else if constexpr (std::is_same_v<T, float>) return static_cast<float>(d);
                else return round_double<T>(d);
            }
            case dtype::F32: f = read_as<float>(p); break;
            case dtype::BF16: f = static_cast<float>(read_as<bf16>(p)); break;
            case dtype::F16: f = static_cast<float>(read_as<f16>(p)); break;
            case dtype::F8_E4M3: f = static_cast<float>(read_as<f8_e4m3>(p)); break;
            case dtype::F8_E5M2: f = static_cast<float>(read_as<f8_e5m2>(p)); break;
            case dtype::F8_E4M3FNUZ: f = static_cast<float>(read_as<f8_e4m3fnuz>(p)); break;
            case dtype::F8_E5M2FNUZ: f = static_cast<float>(read_as<f8_e5m2fnuz>(p)); break;
            case dtype::F8_E8M0: f = static_cast<float>(read_as<f8_e8m0>(p)); break;
            default: FAIL("float target from a non-float dtype"); return T{};
        }
        if (from == dtype_of<T>) return read_as<T>(p);  // identity keeps the bits (NaN payloads too)
        if constexpr (std::is_same_v<T, double>) return static_cast<double>(f);
        else if constexpr (std::is_same_v<T, float>) return f;
        else return T(f);
    }
}

// ---- source data

template <class T>
void put(std::byte* p, T v) { std::memcpy(p, &v, sizeof v); }

// n elements of dtype `from` for a copy into T: every 8-bit code, random bits, and (for float
// sources) specials and values just beside the midpoints between T's neighbouring values.
template <class T>
std::vector<std::byte> make_source(dtype from, std::size_t n, std::mt19937_64& rng) {
    const std::size_t sz = byte_size(from);
    std::vector<std::byte> b(n * sz);
    for (std::size_t i = 0; i < n; ++i) {
        std::byte* p = b.data() + i * sz;
        const std::uint64_t r = rng();
        std::memcpy(p, &r, sz);  // random bits by default (little-endian host)
        if (sz == 1 && i < 256) p[0] = static_cast<std::byte>(i);
    }
    if (from == dtype::BOOL)
        for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(i % 4 == 3 ? 0xFF : i % 4);  // 0,1,2,255
    if (from != dtype::F32 && from != dtype::F64) return b;

    const double specials[] = {0.0, -0.0, 1.0, -1.5, 448.0, 464.0, 480.0, 57344.0, 61440.0, 65504.0, 65520.0,
                               1e-40, -1e-45, 1e30, -1e300, 1e-300, std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
                               std::ldexp(1.5, 127), std::ldexp(1.0, -127), std::ldexp(1.0, -133),
                               static_cast<double>(std::numeric_limits<float>::max()) * (1 + 0x1p-30)};
    std::uniform_real_distribution<double> unit(-1.0, 1.0);
    for (std::size_t i = 0; i < n; ++i) {
        double d = 0;
        if (i < std::size(specials)) {
            d = specials[i];
        } else if constexpr (is_narrow<T> && !std::is_same_v<T, f8_e8m0>) {
            // Beside a midpoint of T: a float would land on the midpoint itself and round the tie.
            const std::vector<double>& v = magnitudes<T>();
            const std::size_t k = rng() % (v.size() - 1);
            const double mid = (v[k] + v[k + 1]) / 2;
            switch (i % 4) {
                case 0: d = mid; break;
                case 1: d = mid * (1 + 0x1p-40); break;
                case 2: d = mid * (1 - 0x1p-40); break;
                default: d = v[k] * (1 + unit(rng) * 0x1p-3); break;
            }
            if (rng() % 2) d = -d;
        } else if constexpr (std::is_same_v<T, f8_e8m0>) {
            const int e = static_cast<int>(rng() % 256) - 128;
            d = std::ldexp(i % 2 ? 1.5 * (1 + unit(rng) * 0x1p-40) : 1 + std::fabs(unit(rng)), e);
        } else {
            d = std::ldexp(unit(rng), static_cast<int>(rng() % 80) - 40);
        }
        if (i % 5 == 4) continue;  // keep some random bit patterns
        if (from == dtype::F64) put(b.data() + i * 8, d);
        else put(b.data() + i * 4, static_cast<float>(d));
    }
    return b;
}

template <class T>
bool same_element(const T& a, const T& b) {
    if constexpr (std::is_same_v<T, bool>) return a == b;
    else return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Copies with `M` from `from` into T at several strides and source misalignments and checks
// every element and every gap. (Plain arrays: std::vector<bool> has no data().)
template <class M, class T>
void check_copy(dtype from, std::mt19937_64& rng) {
    CAPTURE(name(from));
    const std::size_t n = 300;
    const std::size_t sz = byte_size(from);
    const std::vector<std::byte> data = make_source<T>(from, n, rng);
    const std::unique_ptr<T[]> want(new T[n]);
    for (std::size_t i = 0; i < n; ++i) want[i] = expected<T>(from, data.data() + i * sz);

    for (std::size_t misalign : {1u, 3u}) {
        std::vector<std::byte> buf(misalign + data.size());
        std::memcpy(buf.data() + misalign, data.data(), data.size());
        const std::byte* src = buf.data() + misalign;
        for (std::ptrdiff_t stride : {1, 3, -2}) {
            CAPTURE(misalign);
            CAPTURE(stride);
            const std::size_t span = n * static_cast<std::size_t>(stride < 0 ? -stride : stride);
            const std::unique_ptr<T[]> dst(new T[span]);
            const std::unique_ptr<T[]> before(new T[span]);
            for (std::size_t j = 0; j < span; ++j) {
                if constexpr (std::is_same_v<T, bool>) dst[j] = (j % 2) != 0;
                else std::memset(static_cast<void*>(&dst[j]), static_cast<int>(0xA0 + j % 16), sizeof(T));
                before[j] = dst[j];
            }
            T* base = stride > 0 ? dst.get() : dst.get() + span - 1;
            M::template copy<T>(from, src, n, base, stride);
            std::size_t wrong = 0, gaps_touched = 0;
            std::vector<bool> is_target(span, false);
            for (std::size_t i = 0; i < n; ++i) {
                const std::ptrdiff_t at = (base - dst.get()) + static_cast<std::ptrdiff_t>(i) * stride;
                is_target[static_cast<std::size_t>(at)] = true;
                if (!same_element(dst[static_cast<std::size_t>(at)], want[i])) {
                    ++wrong;
                    CHECK_MESSAGE(false, "element ", i, " differs");
                }
            }
            for (std::size_t j = 0; j < span; ++j)
                if (!is_target[j] && !same_element(dst[j], before[j])) ++gaps_touched;
            CHECK(wrong == 0);
            CHECK(gaps_touched == 0);
        }
    }
}

template <class T>
void check_all_sources(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    int accepted = 0;
    for (dtype from : all_dtypes) {
        const bool want = table_allows(from, dtype_of<T>);
        CHECK_MESSAGE(convert::accepts<T>(from) == want, name(from));
        CHECK_MESSAGE(exact::accepts<T>(from) == (from == dtype_of<T>), name(from));
        if (from == dtype_of<T>) check_copy<exact, T>(from, rng);
        if (!convert::accepts<T>(from)) continue;
        ++accepted;
        check_copy<convert, T>(from, rng);
    }
    CHECK(accepted >= 1);
}

}  // namespace

TYPE_TO_STRING(bf16);
TYPE_TO_STRING(f16);
TYPE_TO_STRING(f8_e4m3);
TYPE_TO_STRING(f8_e5m2);
TYPE_TO_STRING(f8_e4m3fnuz);
TYPE_TO_STRING(f8_e5m2fnuz);
TYPE_TO_STRING(f8_e8m0);
TYPE_TO_STRING(std::complex<float>);
TYPE_TO_STRING(user_half);

TEST_SUITE("dtype_mapping") {
    TEST_CASE("convertible matches the table for every pair of dtypes") {
        int allowed = 0;
        for (dtype from : all_dtypes)
            for (dtype to : all_dtypes) {
                CAPTURE(name(from));
                CAPTURE(name(to));
                CHECK(convertible(from, to) == table_allows(from, to));
                allowed += convertible(from, to);
            }
        CHECK(allowed == 22 + 9 * 8 + 18);  // identities, float pairs, integer widenings
    }

    TEST_CASE_TEMPLATE("every accepted source, copied unaligned into strided elements", T, float, double, bf16, f16,
                       f8_e4m3, f8_e5m2, f8_e4m3fnuz, f8_e5m2fnuz, f8_e8m0, bool, std::int8_t, std::int16_t,
                       std::int32_t, std::int64_t, std::uint8_t, std::uint16_t, std::uint32_t, std::uint64_t,
                       std::complex<float>, user_half) {
        check_all_sources<T>(0x5AFE5 + sizeof(T) * 131 + static_cast<unsigned>(dtype_of<T>));
    }

    TEST_CASE("F64 into narrow types rounds once") {
        // 1 + 2^-8 + 2^-40 lies just above the bf16 midpoint between 1 and 1 + 2^-7; a float
        // cannot hold it and would round to the midpoint, whose tie goes down to 1.
        const double d = 1.0 + 0x1p-8 + 0x1p-40;
        std::byte src[8];
        std::memcpy(src, &d, 8);
        bf16 out{};
        convert::copy<bf16>(dtype::F64, src, 1, &out, 1);
        CHECK(out.bits == 0x3F81);
        CHECK(bf16(static_cast<float>(d)).bits == 0x3F80);  // what rounding through float gives
        const double e = 464.0 + 0x1p-30;  // just past E4M3's overflow tie: NaN, not 448
        std::memcpy(src, &e, 8);
        f8_e4m3 o8{};
        convert::copy<f8_e4m3>(dtype::F64, src, 1, &o8, 1);
        CHECK(o8.bits == 0x7F);
    }

    TEST_CASE("F64 into narrow types does not depend on the rounding mode") {
        std::mt19937_64 rng(2024);
        const std::vector<std::byte> src = make_source<bf16>(dtype::F64, 4000, rng);
        std::vector<bf16> want(4000), got(4000);
        std::vector<f8_e4m3> want8(4000), got8(4000);
        convert::copy<bf16>(dtype::F64, src.data(), 4000, want.data(), 1);
        convert::copy<f8_e4m3>(dtype::F64, src.data(), 4000, want8.data(), 1);
        for (int mode : {FE_TOWARDZERO, FE_UPWARD, FE_DOWNWARD}) {
            CAPTURE(mode);
            REQUIRE(std::fesetround(mode) == 0);
            convert::copy<bf16>(dtype::F64, src.data(), 4000, got.data(), 1);
            convert::copy<f8_e4m3>(dtype::F64, src.data(), 4000, got8.data(), 1);
            std::fesetround(FE_TONEAREST);
            CHECK(std::memcmp(got.data(), want.data(), 4000 * sizeof(bf16)) == 0);
            CHECK(std::memcmp(got8.data(), want8.data(), 4000) == 0);
        }
    }

    TEST_CASE("BOOL bytes become valid bools") {
        const std::byte src[5] = {std::byte{0}, std::byte{1}, std::byte{2}, std::byte{0x80}, std::byte{0xFF}};
        bool out[5];
        exact::copy<bool>(dtype::BOOL, src, 5, out, 1);
        unsigned char rep[5];
        std::memcpy(rep, out, 5);
        CHECK(rep[0] == 0);
        for (int i = 1; i < 5; ++i) CHECK(rep[i] == 1);
    }

    TEST_CASE("zero elements touch nothing") {
        float f = 7.0f;
        exact::copy<float>(dtype::F32, nullptr, 0, &f, 1);
        convert::copy<float>(dtype::BF16, nullptr, 0, &f, 1);
        CHECK(f == 7.0f);
    }

    TEST_CASE("identity keeps NaN payloads bit for bit") {
        const std::uint32_t nan_bits = 0xFFA12345u;  // a negative signalling NaN with payload
        std::byte src[5];
        std::memcpy(src + 1, &nan_bits, 4);
        float out[2];
        convert::copy<float>(dtype::F32, src + 1, 1, out, 1);
        exact::copy<float>(dtype::F32, src + 1, 1, out + 1, 1);
        CHECK(std::bit_cast<std::uint32_t>(out[0]) == nan_bits);
        CHECK(std::bit_cast<std::uint32_t>(out[1]) == nan_bits);
    }
}
