// SPDX-License-Identifier: MIT
#include <safeshard/core/dtype.hpp>

#include <doctest/doctest.h>

#include <array>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

using namespace safeshard;

namespace {

struct expected_dtype {
    std::string_view name;
    unsigned bits;
    dtype d;
};

// The 22 dtypes exactly as spec/safetensors.md lists them, in the reference crate's order (the
// canonical writer sorts by it), written out independently of the library's own tables.
constexpr std::array<expected_dtype, 22> reference = {{
    {"BOOL", 8, dtype::BOOL},
    {"F4", 4, dtype::F4},
    {"F6_E2M3", 6, dtype::F6_E2M3},
    {"F6_E3M2", 6, dtype::F6_E3M2},
    {"U8", 8, dtype::U8},
    {"I8", 8, dtype::I8},
    {"F8_E5M2", 8, dtype::F8_E5M2},
    {"F8_E4M3", 8, dtype::F8_E4M3},
    {"F8_E8M0", 8, dtype::F8_E8M0},
    {"F8_E4M3FNUZ", 8, dtype::F8_E4M3FNUZ},
    {"F8_E5M2FNUZ", 8, dtype::F8_E5M2FNUZ},
    {"I16", 16, dtype::I16},
    {"U16", 16, dtype::U16},
    {"F16", 16, dtype::F16},
    {"BF16", 16, dtype::BF16},
    {"I32", 32, dtype::I32},
    {"U32", 32, dtype::U32},
    {"F32", 32, dtype::F32},
    {"C64", 64, dtype::C64},
    {"F64", 64, dtype::F64},
    {"I64", 64, dtype::I64},
    {"U64", 64, dtype::U64},
}};

template <class T>
void check_builtin(dtype expected) {
    CHECK(dtype_of<T> == expected);
    CHECK(dtype_of<const T> == expected);
    CHECK(dtype_of<volatile T> == expected);
    CHECK(dtype_of<const volatile T> == expected);
    static_assert(has_dtype<T> && has_dtype<const T>);
    // The element's C++ size is the dtype's size: the bytes are copied as they are.
    CHECK(sizeof(T) * 8 == bits(expected));
    CHECK(sizeof(T) == byte_size(expected));
}

}  // namespace

TEST_SUITE("dtype") {

TEST_CASE("22 dtypes with their names and bits in the reference order") {
    CHECK(dtype_count == 22);
    REQUIRE(all_dtypes.size() == reference.size());
    for (std::size_t i = 0; i < reference.size(); ++i) {
        const auto& r = reference[i];
        INFO("position ", i, " expected ", r.name);
        CHECK(all_dtypes[i] == r.d);
        // The enumerator's value is its rank in the reference order (the writer sorts by it).
        CHECK(index_of(r.d) == i);
        CHECK(static_cast<std::size_t>(r.d) == i);
        CHECK(name(r.d) == r.name);
        CHECK(bits(r.d) == r.bits);
    }
    // Names are distinct.
    std::set<std::string_view> names;
    for (auto d : all_dtypes) names.insert(name(d));
    CHECK(names.size() == 22);
    // The comparison operators follow the reference order, which the canonical writer relies on.
    CHECK(dtype::BOOL < dtype::F4);
    CHECK(dtype::F8_E5M2FNUZ < dtype::I16);
    CHECK(dtype::BF16 < dtype::I32);
    CHECK(dtype::C64 < dtype::F64);
    CHECK(dtype::I64 < dtype::U64);
    static_assert(name(dtype::BF16) == "BF16" && bits(dtype::F6_E3M2) == 6);
}

TEST_CASE("parse_dtype round trip and rejections") {
    SUBCASE("every name parses to its dtype") {
        for (const auto& r : reference) {
            INFO(r.name);
            auto p = parse_dtype(r.name);
            REQUIRE(p.has_value());
            CHECK(*p == r.d);
            CHECK(parse_dtype(name(r.d)) == r.d);
        }
        static_assert(parse_dtype("F8_E4M3FNUZ") == dtype::F8_E4M3FNUZ);
    }
    SUBCASE("case-sensitive, like the reference") {
        for (std::string_view s : {"f32", "Bf16", "bf16", "bool", "Bool", "u8", "f8_e4m3", "F8_e4m3", "f4", "c64",
                                   "F8_E4M3fnuz", "f6_E2M3"})
            CHECK_MESSAGE(!parse_dtype(s).has_value(), s);
    }
    SUBCASE("near misses and other names") {
        for (std::string_view s : {"", " ", "F", "F128", "F3", "F8", "F6", "F8_E4M3FN", "F8_E5M2FN", "F8_E4M3FNUZZ",
                                   "BFLOAT16", "FLOAT32", "float32", "C128", "I128", "U1", "BOOL8", "INT8", "UINT8",
                                   "F6_E2M", "E2M3", "32", "F 32", "F32 ", " F32", "F32\n", "\"F32\"", "__metadata__"})
            CHECK_MESSAGE(!parse_dtype(s).has_value(), '[', s, ']');
    }
    SUBCASE("no prefix or suffix match") {
        for (const auto& r : reference) {
            std::string longer = std::string(r.name) + "X";
            CHECK_MESSAGE(!parse_dtype(longer).has_value(), longer);
            CHECK_MESSAGE(!parse_dtype(r.name.substr(0, r.name.size() - 1)).has_value(), r.name);
        }
    }
    SUBCASE("an embedded NUL is part of the name, not its end") {
        using namespace std::string_view_literals;
        CHECK(!parse_dtype("F32\0"sv).has_value());
        CHECK(!parse_dtype("F\0"sv).has_value());
        CHECK(parse_dtype(std::string_view("F32\0", 3)) == dtype::F32);
    }
    SUBCASE("a name not NUL-terminated in its buffer") {
        const char buf[] = {'I', '6', '4', 'Z'};
        CHECK(parse_dtype(std::string_view(buf, 3)) == dtype::I64);
    }
}

TEST_CASE("byte_size: whole bytes, 0 for sub-byte dtypes") {
    for (const auto& r : reference) {
        INFO(r.name);
        if (r.bits % 8 == 0) CHECK(byte_size(r.d) == r.bits / 8);
        else CHECK(byte_size(r.d) == 0);
    }
    CHECK(byte_size(dtype::F4) == 0);
    CHECK(byte_size(dtype::F6_E2M3) == 0);
    CHECK(byte_size(dtype::F6_E3M2) == 0);
    CHECK(byte_size(dtype::BOOL) == 1);
    CHECK(byte_size(dtype::F8_E8M0) == 1);
    CHECK(byte_size(dtype::BF16) == 2);
    CHECK(byte_size(dtype::U32) == 4);
    CHECK(byte_size(dtype::C64) == 8);
    CHECK(byte_size(dtype::U64) == 8);
    // Exactly three dtypes are sub-byte.
    int sub_byte = 0;
    for (auto d : all_dtypes) sub_byte += byte_size(d) == 0;
    CHECK(sub_byte == 3);
}

TEST_CASE("dtype_of for every builtin element type") {
    check_builtin<bool>(dtype::BOOL);
    check_builtin<std::uint8_t>(dtype::U8);
    check_builtin<std::int8_t>(dtype::I8);
    check_builtin<std::int16_t>(dtype::I16);
    check_builtin<std::uint16_t>(dtype::U16);
    check_builtin<std::int32_t>(dtype::I32);
    check_builtin<std::uint32_t>(dtype::U32);
    check_builtin<float>(dtype::F32);
    check_builtin<std::complex<float>>(dtype::C64);
    check_builtin<double>(dtype::F64);
    check_builtin<std::int64_t>(dtype::I64);
    check_builtin<std::uint64_t>(dtype::U64);

    // No dtype for types safetensors has no name for: a view of them must not compile.
    static_assert(!has_dtype<std::complex<double>>);
    static_assert(!has_dtype<long double>);
    static_assert(!has_dtype<int*>);
    static_assert(!has_dtype<std::byte>);
    static_assert(!has_dtype<void>);
    struct user_type {};
    static_assert(!has_dtype<user_type>);
}

TEST_CASE("kinds") {
    for (auto d : all_dtypes) {
        std::string_view n = name(d);
        INFO(n);
        dtype_kind want;
        if (d == dtype::BOOL) want = dtype_kind::boolean;
        else if (n.front() == 'I') want = dtype_kind::signed_int;
        else if (n.front() == 'U') want = dtype_kind::unsigned_int;
        else if (n.front() == 'C') want = dtype_kind::complex;
        else want = dtype_kind::floating;  // F*, BF16
        CHECK(kind(d) == want);
        CHECK(is_float(d) == (want == dtype_kind::floating));
        CHECK(is_integer(d) == (want == dtype_kind::signed_int || want == dtype_kind::unsigned_int));
    }
    // Spot checks written out, so a wrong rule above cannot hide a wrong table.
    CHECK(kind(dtype::BOOL) == dtype_kind::boolean);
    CHECK(kind(dtype::I8) == dtype_kind::signed_int);
    CHECK(kind(dtype::I64) == dtype_kind::signed_int);
    CHECK(kind(dtype::U8) == dtype_kind::unsigned_int);
    CHECK(kind(dtype::U16) == dtype_kind::unsigned_int);
    CHECK(kind(dtype::C64) == dtype_kind::complex);
    CHECK(kind(dtype::BF16) == dtype_kind::floating);
    CHECK(kind(dtype::F4) == dtype_kind::floating);
    CHECK(kind(dtype::F6_E3M2) == dtype_kind::floating);
    CHECK(kind(dtype::F8_E8M0) == dtype_kind::floating);
    CHECK(kind(dtype::F8_E5M2FNUZ) == dtype_kind::floating);
    CHECK_FALSE(is_float(dtype::C64));
    CHECK_FALSE(is_integer(dtype::BOOL));
    CHECK_FALSE(is_float(dtype::BOOL));
    int counts[5] = {};
    for (auto d : all_dtypes) ++counts[static_cast<int>(kind(d))];
    CHECK(counts[static_cast<int>(dtype_kind::boolean)] == 1);
    CHECK(counts[static_cast<int>(dtype_kind::signed_int)] == 4);
    CHECK(counts[static_cast<int>(dtype_kind::unsigned_int)] == 4);
    CHECK(counts[static_cast<int>(dtype_kind::complex)] == 1);
    CHECK(counts[static_cast<int>(dtype_kind::floating)] == 12);
}

}  // TEST_SUITE
