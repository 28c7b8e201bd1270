// SPDX-License-Identifier: MIT
#include <safeshard/core/extents.hpp>
#include <safeshard/core/layout_right.hpp>
#include <safeshard/core/layout_stride.hpp>
#include <safeshard/core/subview.hpp>
#include <safeshard/core/tensor_view.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

using namespace safeshard;

namespace {

using u32 = std::uint32_t;
using u64 = std::uint64_t;
constexpr std::size_t dyn = dynamic_extent;

template <std::size_t N>
using offsets = std::array<u64, N>;

// Row-major strides and the element count of a shape: the reference the views are checked against.
template <std::size_t R>
std::array<u64, R> row_major_strides(const std::array<u64, R>& shape) {
    std::array<u64, R> s{};
    u64 run = 1;
    for (std::size_t r = R; r-- > 0;) {
        s[r] = run;
        run *= shape[r];
    }
    return s;
}

// A sum computed entirely at compile time: the view, a subview and element access are constexpr.
constexpr int constexpr_region_sum() {
    int a[24]{};
    for (int i = 0; i < 24; ++i) a[i] = i;
    tensor_view<int, extents<u32, 2, 3, 4>> v(a);
    auto s = subview(v, offsets<3>{1, 1, 1}, offsets<3>{1, 2, 3});
    int sum = 0;
    for (u32 j = 0; j < s.extent(1); ++j)
        for (u32 k = 0; k < s.extent(2); ++k) sum += s(0u, j, k);
    return sum;
}

constexpr int constexpr_scalar() {
    int x = 41;
    tensor_view<int, extents<u32>> v(&x);
    ++v();
    auto s = subview(v, offsets<0>{}, offsets<0>{});
    return s() + static_cast<int>(s.size()) + static_cast<int>(s.mapping().required_span_size());
}

// The region [off, off + len) must come back with each element where the reference puts it,
// for a random shape of rank R, a random source layout and a region of a region.
template <std::size_t R>
void random_regions(std::mt19937_64& rng, int trials) {
    using ext = dextents<u32, R>;
    auto below = [&](u64 n) { return n == 0 ? u64{0} : rng() % n; };

    for (int trial = 0; trial < trials; ++trial) {
        CAPTURE(R);
        CAPTURE(trial);
        std::array<u64, R> shape{};
        for (auto& e : shape) e = rng() % 8 == 0 ? 0 : 1 + below(5);

        // The source's strides: row-major, or a random dimension order with random padding.
        const bool strided_source = rng() % 2 == 0;
        std::array<u64, R> src_stride = row_major_strides(shape);
        if (strided_source) {
            std::array<std::size_t, R> order{};
            std::iota(order.begin(), order.end(), std::size_t{0});
            std::shuffle(order.begin(), order.end(), rng);
            u64 run = 1 + below(2);
            for (std::size_t d : order) {
                src_stride[d] = run;
                run = run * (shape[d] == 0 ? 1 : shape[d]) + below(3);
            }
        }
        u64 span = 1;
        for (std::size_t r = 0; r < R; ++r) span += (shape[r] == 0 ? 0 : shape[r] - 1) * src_stride[r];
        std::vector<int> buf(span);
        int* const base = buf.data();

        std::array<u32, R> shape32{};
        std::array<u32, R> stride32{};
        for (std::size_t r = 0; r < R; ++r) {
            shape32[r] = static_cast<u32>(shape[r]);
            stride32[r] = static_cast<u32>(src_stride[r]);
        }
        const tensor_view<int, ext, layout_stride> src =
            strided_source ? tensor_view<int, ext, layout_stride>(base, layout_stride::mapping<ext>(ext(shape32), stride32))
                           : tensor_view<int, ext, layout_stride>(tensor_view<int, ext>(base, shape32));

        std::array<u64, R> off{}, len{}, off2{}, len2{};
        for (std::size_t r = 0; r < R; ++r) {
            off[r] = below(shape[r] + 1);
            len[r] = below(shape[r] - off[r] + 1);
            off2[r] = below(len[r] + 1);
            len2[r] = below(len[r] - off2[r] + 1);
        }
        const auto outer = subview(src, off, len);
        const auto inner = subview(outer, off2, len2);

        u64 expected_size = 1;
        for (std::size_t r = 0; r < R; ++r) expected_size *= len2[r];
        REQUIRE(static_cast<u64>(inner.size()) == expected_size);
        for (std::size_t r = 0; r < R; ++r) CHECK(inner.extent(r) == len2[r]);

        // Walk every element in row-major order (an odometer), comparing its address with the
        // reference and noting whether each step advances by exactly one element.
        std::size_t wrong = 0;
        bool dense = true;
        const int* previous = nullptr;
        std::array<u64, R> idx{};
        for (u64 n = 0; n < expected_size; ++n) {
            u64 ref = 0;
            for (std::size_t r = 0; r < R; ++r) ref += (off[r] + off2[r] + idx[r]) * src_stride[r];
            int* at = &inner(idx);
            if (at != base + ref) ++wrong;
            if (previous != nullptr && at != previous + 1) dense = false;
            previous = at;
            for (std::size_t r = R; r-- > 0;) {
                if (++idx[r] < len2[r]) break;
                idx[r] = 0;
            }
        }
        CHECK(wrong == 0);
        CHECK(is_contiguous(inner) == dense);

        // The checked form agrees exactly, and rejects a region one past an extent.
        auto checked = checked_subview(outer, off2, len2);
        REQUIRE(checked.has_value());
        CHECK(checked->data_handle() == inner.data_handle());
        CHECK(checked->mapping() == inner.mapping());
        if constexpr (R > 0) {
            const std::size_t r = below(R);
            auto bad_len = len2;
            bad_len[r] = len[r] - off2[r] + 1;
            auto bad = checked_subview(outer, off2, bad_len);
            CHECK(bad.code() == errc::out_of_bounds);
        }
    }
}

}  // namespace

TEST_SUITE("tensor_view") {

TEST_CASE("extents hold static extents for free and dynamic ones in IndexType") {
    using mixed = extents<u32, 2, dyn, 4, dyn>;
    static_assert(mixed::rank() == 4 && mixed::rank_dynamic() == 2);
    static_assert(mixed::static_extent(0) == 2 && mixed::static_extent(1) == dyn);
    static_assert(std::is_same_v<dextents<u32, 3>, extents<u32, dyn, dyn, dyn>>);
    static_assert(std::is_same_v<dextents<u32, 0>, extents<u32>>);
    static_assert(std::is_empty_v<extents<u32, 2, 3>> && std::is_empty_v<extents<u64>>);
    static_assert(sizeof(mixed) == 2 * sizeof(u32) && sizeof(dextents<u64, 3>) == 3 * sizeof(u64));

    SUBCASE("from the dynamic values, from all values, from arrays and spans") {
        const mixed a(3, 5);
        const mixed b(2, 3, 4, 5);
        const std::array<int, 2> dyn_values{3, 5};
        const mixed c = dyn_values;  // rank_dynamic values: implicit, as std::extents
        const std::array<u64, 4> all_values{2, 3, 4, 5};
        const mixed d(all_values);
        std::array<short, 2> spanned{3, 5};
        const mixed e = std::span<short, 2>(spanned);
        for (const mixed* m : {&a, &b, &c, &d, &e}) {
            CHECK(m->extent(0) == 2);
            CHECK(m->extent(1) == 3);
            CHECK(m->extent(2) == 4);
            CHECK(m->extent(3) == 5);
            CHECK(numel(*m) == 120);
        }
        CHECK(mixed() == extents<u32, 2, 0, 4, 0>());  // dynamic extents default to zero
        static_assert(!std::is_convertible_v<std::array<u64, 4>, mixed>);  // all values: explicit
    }

    SUBCASE("equality compares the values, whatever is static and whatever the index type") {
        CHECK(extents<u32, 2, 3>() == dextents<u64, 2>(2, 3));
        CHECK(extents<u32, 2, 3>() != dextents<u64, 2>(2, 4));
        CHECK(extents<u32, 2>() != extents<u32, 2, 1>());
        CHECK(extents<u32>() == extents<std::int64_t>());
    }

    SUBCASE("conversions are implicit only where nothing can fail") {
        static_assert(std::is_convertible_v<extents<u32, 2, 3>, dextents<u32, 2>>);
        static_assert(std::is_convertible_v<dextents<u32, 2>, dextents<u64, 2>>);
        static_assert(!std::is_convertible_v<dextents<u32, 2>, extents<u32, 2, 3>>);
        static_assert(std::is_constructible_v<extents<u32, 2, 3>, dextents<u32, 2>>);
        static_assert(!std::is_convertible_v<dextents<u64, 2>, dextents<u32, 2>>);
        static_assert(std::is_constructible_v<dextents<u32, 2>, dextents<u64, 2>>);
        static_assert(!std::is_constructible_v<extents<u32, 2, 3>, extents<u32, 2, 4>>);
        static_assert(!std::is_constructible_v<dextents<u32, 2>, dextents<u32, 3>>);
        const extents<u32, 2, 3> s(dextents<u64, 2>(2, 3));
        CHECK(s.extent(1) == 3);
    }

    SUBCASE("numel: 1 for a scalar, 0 with any zero extent") {
        CHECK(numel(extents<u32>()) == 1);
        CHECK(numel(dextents<u32, 3>(4, 0, 7)) == 0);
        CHECK(numel(dextents<u64, 2>(u64{1} << 40, 1 << 20)) == std::size_t{1} << 60);
        // a zero dimension wins even when the others alone would overflow
        CHECK(numel(dextents<u64, 3>(u64{1} << 40, u64{1} << 40, 0)) == 0);
    }

    SUBCASE("class template argument deduction gives size_t dextents") {
        extents e(2, 3u, 4ull);
        static_assert(std::is_same_v<decltype(e), dextents<std::size_t, 3>>);
        CHECK(e.extent(2) == 4);
    }
}

TEST_CASE("layout_right maps ranks 0 to 5 to row-major offsets") {
    SUBCASE("static extents") {
        constexpr layout_right::mapping<extents<u32>> m0;
        constexpr layout_right::mapping<extents<u32, 5>> m1;
        constexpr layout_right::mapping<extents<u32, 2, 3>> m2;
        constexpr layout_right::mapping<extents<u32, 2, 3, 4>> m3;
        constexpr layout_right::mapping<extents<u32, 2, 3, 4, 5>> m4;
        constexpr layout_right::mapping<extents<u32, 2, 3, 4, 5, 6>> m5;
        static_assert(m0() == 0 && m0.required_span_size() == 1);
        static_assert(m1(3) == 3 && m1.required_span_size() == 5);
        static_assert(m2(1, 2) == 5 && m2(1, 0) == 3 && m2.required_span_size() == 6);
        static_assert(m3(1, 2, 3) == 23 && m3(0, 1, 2) == 6 && m3.required_span_size() == 24);
        static_assert(m4(1, 2, 3, 4) == 119 && m4(1, 0, 0, 0) == 60 && m4(0, 0, 1, 0) == 5);
        static_assert(m5(1, 2, 3, 4, 5) == 719 && m5(0, 1, 0, 2, 3) == 135 && m5.required_span_size() == 720);
        static_assert(m5.strides() == std::array<u32, 5>{360, 120, 30, 6, 1});
        static_assert(m3.stride(0) == 12 && m3.stride(1) == 4 && m3.stride(2) == 1);
        static_assert(std::is_empty_v<decltype(m5)> && std::is_empty_v<decltype(m0)>);
        CHECK(m0.strides().empty());
    }

    SUBCASE("dynamic and mixed extents give the same offsets") {
        const layout_right::mapping<dextents<u32, 0>> m0{dextents<u32, 0>()};
        const layout_right::mapping<dextents<u64, 1>> m1{dextents<u64, 1>(5)};
        const layout_right::mapping<dextents<u32, 2>> m2{dextents<u32, 2>(2, 3)};
        const layout_right::mapping<extents<u32, 2, dyn, 4>> m3{extents<u32, 2, dyn, 4>(3)};
        const layout_right::mapping<extents<int, dyn, 3, dyn, 5>> m4{extents<int, dyn, 3, dyn, 5>(2, 4)};
        const layout_right::mapping<dextents<std::int64_t, 5>> m5{dextents<std::int64_t, 5>(2, 3, 4, 5, 6)};
        CHECK(m0() == 0);
        CHECK(m0.required_span_size() == 1);
        CHECK(m1(4) == 4);
        CHECK(m2(1, 2) == 5);
        CHECK(m3(1, 2, 3) == 23);
        CHECK(m4(1, 2, 3, 4) == 119);
        CHECK(m5(1, 2, 3, 4, 5) == 719);
        CHECK(m5(0, 1, 0, 2, 3) == 135);
        CHECK(m5.strides() == std::array<std::int64_t, 5>{360, 120, 30, 6, 1});
        CHECK(m4.stride(0) == 60);
        CHECK(m2 == layout_right::mapping<extents<u64, 2, 3>>());
        CHECK(m2 != layout_right::mapping<extents<u64, 3, 2>>());
    }

    SUBCASE("a zero extent leaves nothing to address") {
        const layout_right::mapping<dextents<u32, 3>> m{dextents<u32, 3>(4, 0, 5)};
        CHECK(m.required_span_size() == 0);
        CHECK(m.stride(2) == 1);
        CHECK(m.stride(1) == 5);
        CHECK(m.stride(0) == 0);
    }
}

TEST_CASE("layout_stride maps through its strides") {
    using ext = dextents<u32, 3>;
    SUBCASE("column-major order is unique and exhaustive") {
        const layout_stride::mapping<ext> m(ext(2, 3, 4), std::array<u32, 3>{1, 2, 6});
        CHECK(m(1, 2, 3) == 1 + 4 + 18);
        CHECK(m(0, 0, 0) == 0);
        CHECK(m.required_span_size() == 24);
        CHECK(m.is_exhaustive());
        static_assert(layout_stride::mapping<ext>::is_always_unique() && !layout_stride::mapping<ext>::is_always_exhaustive() &&
                      layout_stride::mapping<ext>::is_always_strided());
    }
    SUBCASE("padding makes it not exhaustive") {
        const layout_stride::mapping<ext> m(ext(2, 3, 4), {16, 5, 1});  // rows padded from 4 to 5, planes to 16
        CHECK(m(1, 2, 3) == 16 + 10 + 3);
        CHECK(m.required_span_size() == 30);
        CHECK_FALSE(m.is_exhaustive());
    }
    SUBCASE("the stride of an extent-1 dimension does not matter, not even 0") {
        const layout_stride::mapping<ext> m(ext(3, 1, 2), {2, 0, 1});
        CHECK(m(2, 0, 1) == 5);
        CHECK(m.required_span_size() == 6);
        CHECK(m.is_exhaustive());
    }
    SUBCASE("from layout_right, equal to it") {
        const layout_right::mapping<extents<u32, 2, 3, 4>> right;
        const layout_stride::mapping<ext> m = right;
        CHECK(m.strides() == std::array<u32, 3>{12, 4, 1});
        CHECK(m == right);
        CHECK(right == m);
        CHECK(m.is_exhaustive());
        CHECK(m != layout_stride::mapping<ext>(ext(2, 3, 4), {1, 2, 6}));
        static_assert(!std::is_constructible_v<layout_right::mapping<ext>, layout_stride::mapping<ext>>);
    }
    SUBCASE("default is row-major of the default extents; rank 0 needs no strides") {
        const layout_stride::mapping<extents<u32, 2, 3>> m;
        CHECK(m.strides() == std::array<u32, 2>{3, 1});
        const layout_stride::mapping<extents<u32>> s;
        CHECK(s() == 0);
        CHECK(s.required_span_size() == 1);
        CHECK(s.is_exhaustive());
        static_assert(std::is_empty_v<layout_stride::mapping<extents<u32>>>);
    }
    SUBCASE("the uniqueness precondition (checked in debug builds)") {
        using e2 = dextents<u32, 2>;
        using s2 = std::array<u32, 2>;
        static_assert(detail::strides_unique(e2(2, 3), s2{3, 1}) && detail::strides_unique(e2(2, 3), s2{1, 2}));
        static_assert(!detail::strides_unique(e2(2, 3), s2{1, 1}));   // (0, 1) and (1, 0) collide
        static_assert(!detail::strides_unique(e2(2, 3), s2{0, 1}));   // stride 0 over two indices
        static_assert(!detail::strides_unique(e2(2, 3), s2{2, 1}));   // (0, 2) and (1, 0) collide
        static_assert(detail::strides_unique(e2(2, 2), s2{3, 2}));    // offsets 0, 2, 3, 5: unique
        static_assert(detail::strides_unique(e2(1, 3), s2{0, 1}));    // extent 1: stride unused
        static_assert(detail::strides_unique(e2(0, 3), s2{0, 0}));    // nothing to collide
        static_assert(detail::strides_unique(dextents<u32, 0>(), std::array<u32, 0>{}));
        CHECK(detail::strides_unique(e2(4, 5), s2{6, 1}));
    }
    SUBCASE("zero extents: nothing to address, trivially exhaustive") {
        const layout_stride::mapping<ext> m(ext(3, 0, 2), {0, 7, 0});
        CHECK(m.required_span_size() == 0);
        CHECK(m.is_exhaustive());
    }
}

TEST_CASE("tensor_view reads and writes through its mapping") {
    std::array<float, 24> buf{};
    std::iota(buf.begin(), buf.end(), 0.0f);

    SUBCASE("static row-major shape") {
        tensor_view<float, extents<u32, 2, 3, 4>> v(buf.data());
        static_assert(decltype(v)::rank() == 3 && decltype(v)::rank_dynamic() == 0 && decltype(v)::static_extent(1) == 3);
        CHECK(v.data_handle() == buf.data());
        CHECK(v.size() == 24);
        CHECK_FALSE(v.empty());
        CHECK(v.extent(2) == 4);
        CHECK(v.stride(0) == 12);
        CHECK(v(1, 2, 3) == 23.0f);
        CHECK(&v(1, 0, 2) == &buf[14]);
        v(0, 1, 1) = -1.0f;
        CHECK(buf[5] == -1.0f);
        static_assert(std::is_same_v<decltype(v(0, 0, 0)), float&>);
        CHECK(v(std::array<int, 3>{1, 1, 1}) == 17.0f);
        std::array<u64, 3> idx{1, 2, 0};
        CHECK(&v(std::span<u64, 3>(idx)) == &buf[20]);
        CHECK(v.is_exhaustive());
        static_assert(decltype(v)::is_always_exhaustive());
    }

    SUBCASE("dynamic shape from values, arrays and spans") {
        tensor_view<float, dextents<u32, 2>> a(buf.data(), 4, 6);
        tensor_view<float, dextents<u32, 2>> b(buf.data(), std::array<int, 2>{4, 6});
        std::array<u64, 2> shape{4, 6};
        tensor_view<float, dextents<u32, 2>> c(buf.data(), std::span<u64, 2>(shape));
        tensor_view<float, extents<u32, 4, dyn>> d(buf.data(), 6);
        for (auto* view : {&a, &b, &c}) {
            CHECK(view->extents() == extents<u32, 4, 6>());
            CHECK((*view)(3, 5) == 23.0f);
        }
        CHECK(d(2, 1) == 13.0f);
    }

    SUBCASE("strided view over a padded buffer") {
        using ext = dextents<u32, 2>;
        // a 3x3 matrix stored in rows of 5
        tensor_view<float, ext, layout_stride> v(buf.data(), layout_stride::mapping<ext>(ext(3, 3), {5, 1}));
        CHECK(v(2, 1) == 11.0f);
        CHECK(v.mapping().required_span_size() == 13);
        CHECK_FALSE(v.is_exhaustive());
        CHECK(v.size() == 9);
        // its transpose
        tensor_view<float, ext, layout_stride> t(buf.data(), layout_stride::mapping<ext>(ext(3, 3), {1, 5}));
        CHECK(t(1, 2) == 11.0f);
    }

    SUBCASE("a scalar is one element at offset 0") {
        float x = 7.0f;
        tensor_view<float, extents<u32>> s(&x);
        CHECK(s() == 7.0f);
        CHECK(&s() == &x);
        CHECK(s.size() == 1);
        CHECK_FALSE(s.empty());
        CHECK(s.mapping().required_span_size() == 1);
        CHECK(s(std::array<u32, 0>{}) == 7.0f);
        CHECK(contiguous_bytes(s).size() == sizeof(float));
        const tensor_view<float, extents<u64>, layout_stride> st = s;
        CHECK(&st() == &x);
        CHECK(is_contiguous(st));
        CHECK(st.is_exhaustive());
    }

    SUBCASE("a default view is null and can be assigned later") {
        tensor_view<const float, dextents<u32, 2>> v;
        CHECK(v.data_handle() == nullptr);
        CHECK(v.empty());
        v = tensor_view<const float, dextents<u32, 2>>(buf.data(), 2, 3);
        CHECK(v(1, 1) == 4.0f);
    }
}

TEST_CASE("stateless mappings take no space") {
    static_assert(sizeof(tensor_view<float, extents<u32, 2, 3>>) == sizeof(float*));
    static_assert(sizeof(tensor_view<double, extents<u64>>) == sizeof(double*));
    static_assert(sizeof(tensor_view<float, extents<u32, 2, dyn>>) <= sizeof(float*) + sizeof(u64));
    static_assert(sizeof(tensor_view<float, extents<u32>, layout_stride>) == sizeof(float*));
    static_assert(sizeof(layout_right::mapping<dextents<u32, 3>>) == 3 * sizeof(u32));
    static_assert(sizeof(layout_stride::mapping<extents<u32, 2, 3>>) == 2 * sizeof(u32));
    static_assert(std::is_trivially_copyable_v<tensor_view<float, dextents<u32, 4>, layout_stride>>);
    CHECK(sizeof(tensor_view<float, extents<u32, 2, 3>>) == sizeof(float*));
}

TEST_CASE("conversions follow mdspan") {
    std::array<int, 6> buf{0, 1, 2, 3, 4, 5};
    tensor_view<int, extents<u32, 2, 3>> v(buf.data());

    SUBCASE("to const elements, dynamic extents and the strided layout, implicitly") {
        tensor_view<const int, extents<u32, 2, 3>> c = v;
        tensor_view<const int, dextents<u32, 2>> d = v;
        tensor_view<int, dextents<u64, 2>, layout_stride> s = v;
        tensor_view<const int, dextents<u32, 2>, layout_stride> cs = d;
        CHECK(c(1, 2) == 5);
        CHECK(d(1, 0) == 3);
        CHECK(s.stride(0) == 3);
        CHECK(&s(1, 1) == &buf[4]);
        CHECK(cs(0, 2) == 2);
    }
    SUBCASE("explicitly where a run-time check is involved") {
        tensor_view<int, dextents<u32, 2>> d = v;
        using back = tensor_view<int, extents<u32, 2, 3>>;
        static_assert(!std::is_convertible_v<tensor_view<int, dextents<u32, 2>>, back>);
        static_assert(std::is_constructible_v<back, tensor_view<int, dextents<u32, 2>>>);
        back b(d);
        CHECK(&b(1, 2) == &buf[5]);
        static_assert(!std::is_convertible_v<tensor_view<int, dextents<u64, 2>>, tensor_view<int, dextents<u32, 2>>>);
    }
    SUBCASE("never to mutable elements, another rank or from strided to row-major") {
        static_assert(!std::is_constructible_v<tensor_view<int, extents<u32, 2, 3>>, tensor_view<const int, extents<u32, 2, 3>>>);
        static_assert(!std::is_constructible_v<tensor_view<int, dextents<u32, 3>>, tensor_view<int, dextents<u32, 2>>>);
        static_assert(!std::is_constructible_v<tensor_view<int, dextents<u32, 2>>, tensor_view<int, dextents<u32, 2>, layout_stride>>);
        static_assert(!std::is_constructible_v<tensor_view<long, dextents<u32, 2>>, tensor_view<int, dextents<u32, 2>>>);
    }
}

TEST_CASE("deduction guides and make_view") {
    std::array<float, 6> buf{};
    tensor_view a(buf.data(), 2, 3);
    static_assert(std::is_same_v<decltype(a), tensor_view<float, dextents<std::size_t, 2>>>);
    tensor_view b(buf.data(), extents<u32, 2, 3>());
    static_assert(std::is_same_v<decltype(b), tensor_view<float, extents<u32, 2, 3>>>);
    tensor_view c(buf.data(), layout_stride::mapping<dextents<u32, 1>>(dextents<u32, 1>(3), {2}));
    static_assert(std::is_same_v<decltype(c), tensor_view<float, dextents<u32, 1>, layout_stride>>);
    tensor_view s(buf.data());
    static_assert(std::is_same_v<decltype(s), tensor_view<float, extents<std::size_t>>>);
    const float* cp = buf.data();
    tensor_view d(cp, std::array<int, 2>{3, 2});
    static_assert(std::is_same_v<decltype(d), tensor_view<const float, dextents<std::size_t, 2>>>);

    auto m1 = make_view<u32>(buf.data(), 2, 3);
    static_assert(std::is_same_v<decltype(m1), tensor_view<float, dextents<u32, 2>>>);
    auto m2 = make_view(buf.data(), extents<u32, 3, 2>());
    static_assert(std::is_same_v<decltype(m2), tensor_view<float, extents<u32, 3, 2>>>);
    auto m3 = make_view(buf.data(), 6);
    static_assert(std::is_same_v<decltype(m3), tensor_view<float, dextents<std::size_t, 1>>>);
    auto m4 = make_view(cp);
    static_assert(std::is_same_v<decltype(m4), tensor_view<const float, extents<std::size_t>>>);
    auto m5 = make_view(buf.data(), layout_stride::mapping<dextents<u32, 1>>(dextents<u32, 1>(3), {2}));
    static_assert(std::is_same_v<decltype(m5), tensor_view<float, dextents<u32, 1>, layout_stride>>);
    CHECK(&m1(1, 2) == &buf[5]);
    CHECK(&m2(2, 1) == &buf[5]);
    CHECK(&m5(2) == &buf[4]);
    CHECK(a.size() == 6);
}

TEST_CASE("subview takes [offset, offset + length) in every dimension") {
    std::array<int, 60> buf{};
    std::iota(buf.begin(), buf.end(), 0);
    tensor_view<int, extents<u32, 3, 4, 5>> v(buf.data());

    SUBCASE("a box inside a 3-d tensor") {
        auto s = subview(v, offsets<3>{1, 1, 2}, offsets<3>{2, 3, 2});
        static_assert(std::is_same_v<decltype(s), tensor_view<int, dextents<u32, 3>, layout_stride>>);
        CHECK(s.extents() == extents<u32, 2, 3, 2>());
        CHECK(s.mapping().strides() == std::array<u32, 3>{20, 5, 1});
        CHECK(s.data_handle() == &buf[20 + 5 + 2]);
        CHECK(s(0, 0, 0) == 27);
        CHECK(s(1, 2, 1) == 20 * 2 + 5 * 3 + 3);
        CHECK(s.size() == 12);
        CHECK_FALSE(s.is_exhaustive());
        CHECK_FALSE(is_contiguous(s));
    }

    SUBCASE("a subview of a subview composes the offsets") {
        auto outer = subview(v, offsets<3>{1, 0, 1}, offsets<3>{2, 4, 4});
        auto inner = subview(outer, offsets<3>{1, 2, 1}, offsets<3>{1, 2, 3});
        CHECK(inner.data_handle() == &buf[(1 + 1) * 20 + (0 + 2) * 5 + (1 + 1)]);
        CHECK(inner(0, 1, 2) == (1 + 1) * 20 + (0 + 2 + 1) * 5 + (1 + 1 + 2));
        CHECK(inner.mapping().strides() == v.mapping().strides());
        auto whole = subview(inner, offsets<3>{0, 0, 0}, offsets<3>{1, 2, 3});
        CHECK(whole.mapping() == inner.mapping());
        CHECK(whole.data_handle() == inner.data_handle());
    }

    SUBCASE("whole rows and whole planes stay contiguous") {
        auto rows = subview(v, offsets<3>{1, 1, 0}, offsets<3>{1, 2, 5});
        CHECK(is_contiguous(rows));
        CHECK(rows.is_exhaustive());  // two full rows: 10 elements over 10 offsets
        auto planes = subview(v, offsets<3>{1, 0, 0}, offsets<3>{2, 4, 5});
        CHECK(is_contiguous(planes));
        auto column = subview(v, offsets<3>{0, 0, 3}, offsets<3>{3, 4, 1});
        CHECK_FALSE(is_contiguous(column));
        auto one = subview(v, offsets<3>{2, 3, 4}, offsets<3>{1, 1, 1});
        CHECK(is_contiguous(one));
        CHECK(one(0, 0, 0) == 59);
        auto row_in_column = subview(v, offsets<3>{0, 2, 1}, offsets<3>{1, 1, 3});  // extent-1 dims ignored
        CHECK(is_contiguous(row_in_column));
    }

    SUBCASE("offsets and lengths from vectors and spans") {
        const std::vector<u64> off{0, 3, 0};
        const std::vector<u64> len{3, 1, 5};
        auto s = subview(v, off, len);
        CHECK(s.extents() == extents<u32, 3, 1, 5>());
        CHECK(s(2, 0, 4) == 40 + 15 + 4);
        auto c = subview(tensor_view<const int, extents<u32, 3, 4, 5>>(v), std::span<const u64>(off), std::span<const u64>(len));
        static_assert(std::is_same_v<decltype(c)::element_type, const int>);
        CHECK(&c(1, 0, 1) == &buf[20 + 15 + 1]);
    }

    SUBCASE("a length of 0 gives an empty view, even at the end of an extent") {
        auto e = subview(v, offsets<3>{3, 4, 5}, offsets<3>{0, 0, 0});
        CHECK(e.empty());
        CHECK(e.size() == 0);
        CHECK(e.mapping().required_span_size() == 0);
        CHECK(is_contiguous(e));
        auto e2 = subview(v, offsets<3>{1, 2, 5}, offsets<3>{2, 2, 0});
        CHECK(e2.empty());
        CHECK(e2.extent(0) == 2);
        auto e3 = subview(e2, offsets<3>{1, 0, 0}, offsets<3>{1, 2, 0});
        CHECK(e3.empty());
    }

    SUBCASE("subview of a strided source keeps its strides") {
        using ext = dextents<u32, 2>;
        tensor_view<int, ext, layout_stride> t(buf.data(), layout_stride::mapping<ext>(ext(4, 3), {1, 20}));
        auto s = subview(t, offsets<2>{1, 1}, offsets<2>{3, 2});
        CHECK(s.data_handle() == &buf[21]);
        CHECK(s(2, 1) == 1 + 2 + 40);
        CHECK_FALSE(is_contiguous(s));
    }

    SUBCASE("a signed index type") {
        tensor_view<int, dextents<std::int64_t, 2>> m(buf.data(), 6, 10);
        auto s = subview(m, offsets<2>{2, 3}, offsets<2>{3, 4});
        static_assert(std::is_same_v<decltype(s)::index_type, std::int64_t>);
        CHECK(s.data_handle() == &buf[23]);
        CHECK(s(2, 3) == 46);
        CHECK(s.stride(0) == 10);
    }

    SUBCASE("rank 0") {
        int x = 3;
        tensor_view<int, extents<u32>> scalar(&x);
        auto s = subview(scalar, offsets<0>{}, offsets<0>{});
        static_assert(std::is_same_v<decltype(s), tensor_view<int, extents<u32>, layout_stride>>);
        CHECK(&s() == &x);
        CHECK(s.size() == 1);
        CHECK(s.mapping().required_span_size() == 1);
        auto c = checked_subview(scalar, std::vector<u64>{}, std::vector<u64>{});
        REQUIRE(c.has_value());
        CHECK(&(*c)() == &x);
    }
}

TEST_CASE("views with zero extents") {
    std::array<double, 4> buf{};
    tensor_view<double, dextents<u32, 3>> v(buf.data(), 2, 0, 2);
    CHECK(v.empty());
    CHECK(v.size() == 0);
    CHECK(v.mapping().required_span_size() == 0);
    CHECK(contiguous_bytes(v).empty());
    auto s = subview(v, offsets<3>{1, 0, 0}, offsets<3>{1, 0, 2});
    CHECK(s.empty());
    CHECK(s.extent(2) == 2);
    CHECK(is_contiguous(s));
    CHECK(s.is_exhaustive());
    auto bad = checked_subview(v, offsets<3>{0, 0, 0}, offsets<3>{1, 1, 1});
    CHECK(bad.code() == errc::out_of_bounds);
    tensor_view<double, extents<u32, 0>> none(nullptr);
    CHECK(none.empty());
    CHECK(contiguous_bytes(none).size() == 0);
}

TEST_CASE("checked_subview reports regions that do not fit") {
    std::array<float, 12> buf{};
    tensor_view<float, dextents<u32, 2>> v(buf.data(), 3, 4);

    SUBCASE("a region that fits is the same as subview") {
        auto r = checked_subview(v, offsets<2>{1, 1}, offsets<2>{2, 3});
        REQUIRE(r.has_value());
        auto s = subview(v, offsets<2>{1, 1}, offsets<2>{2, 3});
        CHECK(r->data_handle() == s.data_handle());
        CHECK(r->mapping() == s.mapping());
        tensor_view<float, dextents<u32, 2>, layout_stride> out;
        CHECK(checked_subview(v, offsets<2>{0, 0}, offsets<2>{3, 4}).get(out) == errc::ok);
        CHECK(out.data_handle() == buf.data());
        CHECK(out.size() == 12);
    }
    SUBCASE("past an extent") {
        auto r = checked_subview(v, offsets<2>{1, 2}, offsets<2>{2, 3});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.code() == errc::out_of_bounds);
        CHECK(std::string_view(r.error().detail()) == "dimension 1: offset 2 + length 3 > extent 4");
    }
    SUBCASE("an offset past an extent, even with length 0") {
        auto r = checked_subview(v, offsets<2>{4, 0}, offsets<2>{0, 0});
        CHECK(r.code() == errc::out_of_bounds);
        CHECK(std::string_view(r.error().detail()) == "dimension 0: offset 4 + length 0 > extent 3");
    }
    SUBCASE("offset + length overflowing 64 bits") {
        constexpr u64 max = std::numeric_limits<u64>::max();
        auto r = checked_subview(v, offsets<2>{0, max}, offsets<2>{1, 2});
        CHECK(r.code() == errc::out_of_bounds);
        CHECK(std::string_view(r.error().detail()) == "dimension 1: offset 18446744073709551615 + length 2 overflows 64 bits");
        auto r2 = checked_subview(v, offsets<2>{2, 0}, offsets<2>{max, 1});
        CHECK(r2.code() == errc::out_of_bounds);
        CHECK(std::string_view(r2.error().detail()).find("overflows") != std::string_view::npos);
    }
    SUBCASE("values beyond a 32-bit index type") {
        auto r = checked_subview(v, offsets<2>{u64{1} << 32, 0}, offsets<2>{1, 1});
        CHECK(r.code() == errc::out_of_bounds);
    }
    SUBCASE("the wrong number of offsets or lengths") {
        auto r = checked_subview(v, std::vector<u64>{0, 0, 0}, std::vector<u64>{1, 1});
        CHECK(r.code() == errc::invalid_argument);
        CHECK(std::string_view(r.error().detail()) == "rank 2 view given 3 offsets and 2 lengths");
    }
}

TEST_CASE("contiguous_bytes covers the elements of a row-major view") {
    std::array<std::uint16_t, 6> buf{1, 2, 3, 4, 5, 6};
    tensor_view<std::uint16_t, extents<u32, 2, 3>> v(buf.data());
    std::span<std::byte> bytes = contiguous_bytes(v);
    CHECK(bytes.size() == 12);
    CHECK(static_cast<void*>(bytes.data()) == static_cast<void*>(buf.data()));
    tensor_view<const std::uint16_t, extents<u32, 2, 3>> c = v;
    std::span<const std::byte> cbytes = contiguous_bytes(c);
    CHECK(cbytes.size() == 12);
    static_assert(std::is_same_v<decltype(contiguous_bytes(c)), std::span<const std::byte>>);
    CHECK(is_contiguous(v));
}

TEST_CASE("views are usable in constant expressions") {
    static_assert(constexpr_region_sum() == 17 + 18 + 19 + 21 + 22 + 23);
    static_assert(constexpr_scalar() == 42 + 1 + 1);
    static constexpr int data[6]{0, 1, 2, 3, 4, 5};
    constexpr tensor_view<const int, extents<u32, 2, 3>> v(data);
    static_assert(v(1, 1) == 4 && v.size() == 6 && v.stride(0) == 3);
    static_assert(is_contiguous(v));
    static_assert(subview(v, offsets<2>{0, 1}, offsets<2>{2, 1})(1, 0) == 4);
    static_assert(!is_contiguous(subview(v, offsets<2>{0, 1}, offsets<2>{2, 1})));
    CHECK(v(0, 2) == 2);
}

TEST_CASE("property: random shapes of rank 0 to 5 and random regions of regions") {
    std::mt19937_64 rng(0x5afe5afeu);
    random_regions<0>(rng, 20);
    random_regions<1>(rng, 300);
    random_regions<2>(rng, 300);
    random_regions<3>(rng, 300);
    random_regions<4>(rng, 300);
    random_regions<5>(rng, 300);
}

}  // TEST_SUITE
