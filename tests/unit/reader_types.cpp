// SPDX-License-Identifier: MIT
// Element types and dtype conversions, pairwise: every element type whole at one rank, every
// converting pair at rank 1, and the 16-bit codes against values computed here; one source
// (pread), since the element loop does not depend on it.

#include "../support/reader.hpp"

#include <bit>
#include <cmath>
#include <numeric>

using namespace safeshard;
using namespace safeshard::test;

TEST_SUITE("reader_types") {

TEST_CASE("read: whole tensors of every dtype with an element type") {
    using K = pread_kind;
    temp_dir dir;
    std::vector<owned_tensor> ts;
    for (dtype d : all_dtypes) {
        // 3 × 4 elements: whole bytes for F4 (6) and F6 (9) too.
        std::vector<std::byte> data = pattern(12 * bits(d) / 8, index_of(d) + 100);
        if (d == dtype::BOOL)
            for (auto& b : data) b &= std::byte{1};
        ts.push_back({std::string(name(d)), d, {3, 4}, std::move(data)});
    }
    // BOOL bytes other than 0 and 1 are allowed in a file; a bool must still come out 0 or 1.
    ts.push_back({"bool_any", dtype::BOOL, {6}, {std::byte{0}, std::byte{1}, std::byte{2}, std::byte{0x80}, std::byte{0xff}, std::byte{0}}});
    opened<K> r(dir, save(ts));

    std::size_t typed = 0;
    for (const auto& t : ts) {
        if (t.name == "bool_any") continue;
        CAPTURE(t.name);
        const bool has_type = with_element_type(t.type, [&]<class T>(std::type_identity<T>) {
            CHECK(dtype_of<T> == t.type);
            buffer<T> out(12);
            if constexpr (!std::is_same_v<T, bool>) std::memset(static_cast<void*>(out.data()), 0xa5, 12 * sizeof(T));
            REQUIRE(r->read(t.name, dview<T, 2>(out.data(), std::array<std::uint64_t, 2>{3, 4})).ok());
            CHECK(same_bytes(out.bytes(), t.data));
            ++typed;
        });
        if (!has_type) {
            // Packed sub-byte dtypes: raw bytes only.
            std::vector<std::byte> raw(t.data.size());
            REQUIRE(r->read_bytes(*r->find(t.name), raw).ok());
            CHECK(same_bytes(raw, t.data));
        }
    }
    CHECK(typed == 19);

    bool flags[6];
    std::memset(flags, 0x55, sizeof flags);  // not a valid bool: each must be overwritten
    REQUIRE(r->read("bool_any", make_view<std::uint64_t>(flags, 6)).ok());
    unsigned char raw[6];
    std::memcpy(raw, flags, sizeof raw);
    const unsigned char want[6] = {0, 1, 1, 1, 1, 0};
    CHECK(std::memcmp(raw, want, 6) == 0);
}

TEST_CASE("dtype_map::convert reads, against values computed here") {
    using K = pread_kind;
    temp_dir dir;
    // Every code of the 16-bit float types and of I8 / U16; F32 values that include the
    // special cases.
    std::vector<std::uint16_t> codes(65536);
    std::iota(codes.begin(), codes.end(), std::uint16_t{0});
    std::vector<std::int8_t> i8(256);
    for (int i = 0; i < 256; ++i) i8[static_cast<std::size_t>(i)] = static_cast<std::int8_t>(i - 128);
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> f32 = {0.0f, -0.0f, 1.0f, -1.5f, 3.1415927f, 1e-45f, -1e-40f, 1.17549435e-38f,
                              3.4028235e38f, -3.4028235e38f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 1e10f,
                              -123456.789f, 0.1f};
    std::vector<std::int64_t> i64 = {1, -2, 3, -4};
    std::vector<owned_tensor> ts = {
        {"f32", dtype::F32, {4, 4}, bytes_of(f32)},
        {"bf16", dtype::BF16, {256, 256}, bytes_of(codes)},
        {"f16", dtype::F16, {256, 256}, bytes_of(codes)},
        {"i8", dtype::I8, {16, 16}, bytes_of(i8)},
        {"u16", dtype::U16, {256, 256}, bytes_of(codes)},
        {"i64", dtype::I64, {4}, bytes_of(i64)},
    };
    opened<K> r(dir, save(ts));
    using arr2 = std::array<std::uint64_t, 2>;
    using dtype_map::convert;

    SUBCASE("F32 into double: exact") {
        std::vector<double> out(16, -9.0);
        REQUIRE(r->read<convert>("f32", dview<double, 2>(out.data(), arr2{4, 4})).ok());
        for (std::size_t i = 0; i < 16; ++i) {
            CAPTURE(i);
            if (std::isnan(f32[i])) CHECK(std::isnan(out[i]));
            else CHECK(std::bit_cast<std::uint64_t>(out[i]) == std::bit_cast<std::uint64_t>(static_cast<double>(f32[i])));
        }
    }
    SUBCASE("BF16 into float: the code is the top half of the float") {
        std::vector<float> out(65536, -9.0f);
        REQUIRE(r->read<convert>("bf16", dview<float, 2>(out.data(), arr2{256, 256})).ok());
        std::size_t wrong = 0;
        for (std::uint32_t c = 0; c < 65536; ++c) wrong += std::bit_cast<std::uint32_t>(out[c]) == c << 16 ? 0 : 1;
        CHECK(wrong == 0);
    }
    SUBCASE("F16 into float: the value the format defines") {
        std::vector<float> out(65536, -9.0f);
        REQUIRE(r->read<convert>("f16", dview<float, 2>(out.data(), arr2{256, 256})).ok());
        std::size_t wrong = 0;
        for (std::uint32_t c = 0; c < 65536; ++c) {
            const float want = ref_f16(static_cast<std::uint16_t>(c));
            if (std::isnan(want)) wrong += std::isnan(out[c]) && std::signbit(out[c]) == std::signbit(want) ? 0 : 1;
            else wrong += std::bit_cast<std::uint32_t>(out[c]) == std::bit_cast<std::uint32_t>(want) ? 0 : 1;
        }
        CHECK(wrong == 0);
        CHECK(out[0x3c00] == 1.0f);
        CHECK(out[0x0001] == std::ldexp(1.0f, -24));
        CHECK(out[0xfc00] == -inf);
    }
    SUBCASE("I8 into I32 and U16 into I64: every value") {
        std::vector<std::int32_t> a(256, 0);
        REQUIRE(r->read<convert>("i8", dview<std::int32_t, 2>(a.data(), arr2{16, 16})).ok());
        for (int i = 0; i < 256; ++i) CHECK(a[static_cast<std::size_t>(i)] == i - 128);
        std::vector<std::int64_t> b(65536, -1);
        REQUIRE(r->read<convert>("u16", dview<std::int64_t, 2>(b.data(), arr2{256, 256})).ok());
        std::size_t wrong = 0;
        for (std::int64_t i = 0; i < 65536; ++i) wrong += b[static_cast<std::size_t>(i)] == i ? 0 : 1;
        CHECK(wrong == 0);
    }
    SUBCASE("converting slices into strided destinations") {
        // Rows 10..13, columns 200..255 of the BF16 codes into every other float of a buffer.
        std::vector<float> buf(4 * 56 * 2, -9.0f);
        layout_stride::mapping<dextents<std::uint64_t, 2>> map(dextents<std::uint64_t, 2>(4, 56),
                                                                std::array<std::uint64_t, 2>{112, 2});
        REQUIRE(r->read_slice<convert>("bf16", arr2{10, 200}, arr2{4, 56}, sview<float, 2>(buf.data(), map)).ok());
        std::size_t wrong = 0;
        for (std::uint32_t i = 0; i < 4; ++i)
            for (std::uint32_t j = 0; j < 56; ++j) {
                const std::uint32_t code = (10 + i) * 256 + 200 + j;
                wrong += std::bit_cast<std::uint32_t>(buf[i * 112 + j * 2]) == code << 16 ? 0 : 1;
                wrong += buf[i * 112 + j * 2 + 1] == -9.0f ? 0 : 1;
            }
        CHECK(wrong == 0);
    }
    SUBCASE("rejected: float to integer, narrowing, signed to unsigned") {
        std::vector<std::int32_t> a(65536, -9);
        status st = r->read<convert>("f32", dview<std::int32_t, 2>(a.data(), arr2{4, 4}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "f32");
        CHECK(contains(st.error().detail(), "file has F32, destination holds I32"));
        st = r->read<convert>("i64", dview<std::int32_t, 1>(a.data(), std::array<std::uint64_t, 1>{4}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "i64");
        CHECK(contains(st.error().detail(), "file has I64, destination holds I32"));
        std::vector<std::int16_t> s16(65536, -9);
        st = r->read<convert>("u16", dview<std::int16_t, 2>(s16.data(), arr2{256, 256}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "u16");
        std::vector<std::uint32_t> u32(256, 9);
        st = r->read<convert>("i8", dview<std::uint32_t, 2>(u32.data(), arr2{16, 16}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "i8");
        CHECK(std::all_of(a.begin(), a.end(), [](std::int32_t v) { return v == -9; }));
        CHECK(std::all_of(s16.begin(), s16.end(), [](std::int16_t v) { return v == -9; }));
        CHECK(std::all_of(u32.begin(), u32.end(), [](std::uint32_t v) { return v == 9; }));
        // And the exact mapping does not widen at all.
        std::vector<float> f(65536);
        st = r->read("bf16", dview<float, 2>(f.data(), arr2{256, 256}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "bf16");
    }
}

// Every (stored dtype, element type) pair at rank 1: a converting read gives exactly what the
// mapping's own copy gives for the same bytes (the mapping is checked against references in
// the dtype_mapping suite); a pair it does not accept is a dtype_mismatch that writes nothing.
// The tensor is read whole, as a strided slice and into every other element, so that each
// pair goes through a plain run, a window of short runs and a strided run.
TEST_CASE("read<dtype_map::convert>: every dtype into every element type at rank 1") {
    temp_dir dir;
    constexpr std::uint64_t n = 40;
    std::vector<owned_tensor> ts;
    for (dtype d : all_dtypes) {
        if (bits(d) % 8 != 0) continue;  // packed sub-byte dtypes have no element type
        std::vector<std::byte> data = pattern(n * bits(d) / 8, index_of(d) + 7);
        ts.push_back({std::string(name(d)), d, {n}, std::move(data)});
    }
    opened<pread_kind> r(dir, save(ts));
    std::size_t accepted = 0, refused = 0;
    for (const auto& t : ts) {
        CAPTURE(t.name);
        for (dtype to : all_dtypes) {
            with_element_type(to, [&]<class T>(std::type_identity<T>) {
                CAPTURE(name(to));
                buffer<T> got(2 * n), want(2 * n);
                std::memset(static_cast<void*>(got.data()), 0, 2 * n * sizeof(T));
                std::memset(static_cast<void*>(want.data()), 0, 2 * n * sizeof(T));
                const std::array<std::uint64_t, 1> ext{n};
                status st = r->read<dtype_map::convert>(t.name, dview<T, 1>(got.data(), ext));
                if (!dtype_map::convert::accepts<T>(t.type)) {
                    check_error(st.error(), errc::dtype_mismatch, r.path(), t.name);
                    CHECK(same_bytes(got.bytes(), want.bytes()));
                    ++refused;
                    return;
                }
                REQUIRE(st.ok());
                dtype_map::convert::copy<T>(t.type, t.data.data(), n, want.data(), 1);
                CHECK(same_bytes(got.bytes(), want.bytes()));
                // Elements [3, 3 + 30) into every other element of a zeroed buffer.
                std::memset(static_cast<void*>(got.data()), 0, 2 * n * sizeof(T));
                std::memset(static_cast<void*>(want.data()), 0, 2 * n * sizeof(T));
                layout_stride::mapping<dextents<std::uint64_t, 1>> every_other(dextents<std::uint64_t, 1>(30),
                                                                               std::array<std::uint64_t, 1>{2});
                REQUIRE(r->read_slice<dtype_map::convert>(t.name, std::array<std::uint64_t, 1>{3},
                                                          std::array<std::uint64_t, 1>{30},
                                                          sview<T, 1>(got.data(), every_other))
                            .ok());
                dtype_map::convert::copy<T>(t.type, t.data.data() + 3 * byte_size(t.type), 30, want.data(), 2);
                CHECK(same_bytes(got.bytes(), want.bytes()));
                ++accepted;
            });
        }
    }
    // Identity for all 19 whole-byte dtypes, the float family among itself, widening integers.
    CHECK(accepted == 19 + 9 * 8 + 18);
    CHECK(accepted + refused == 19 * 19);
}

}  // TEST_SUITE
