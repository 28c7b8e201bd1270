// SPDX-License-Identifier: MIT
// Regions: random boxes of every rank into packed and strided views, empty regions, and large
// tensors whose column slices (short runs, windows) and row slices (long runs) cross the bounce
// buffer, on each source.

#include "../support/reader.hpp"

#include <numeric>

using namespace safeshard;
using namespace safeshard::test;

TEST_SUITE("reader_regions") {

namespace {

// Random regions of tensor `name` (shape `shape`, element i holding value_at<T>(i, salt)) read
// into three kinds of destination: packed row-major; a subview of a bigger row-major buffer
// (padding on every side); and a layout_stride view whose dimensions are laid out in a random
// order with gaps. Each read must write every element of the region and nothing else.
template <class T, std::size_t R, class Reader>
void check_random_regions(const Reader& r, const std::string& name, const std::array<std::uint64_t, R>& shape,
                          std::uint64_t salt, std::mt19937_64& rng, int rounds) {
    auto uni = [&](std::uint64_t lo, std::uint64_t hi) { return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng); };
    const T sentinel = sentinel_of<T>();
    {  // read(): the whole tensor
        std::vector<T> all(numel_of(shape), sentinel);
        REQUIRE(r.read(name, dview<T, R>(all.data(), shape)).ok());
        std::size_t wrong = 0;
        for (std::uint64_t i = 0; i < all.size(); ++i) wrong += all[i] == value_at<T>(i, salt) ? 0 : 1;
        CHECK(wrong == 0);
    }
    for (int round = 0; round < rounds; ++round) {
        std::array<std::uint64_t, R> off{}, len{};
        const bool may_be_empty = rng() % 6 == 0;
        for (std::size_t d = 0; d < R; ++d) {
            if (may_be_empty && rng() % 2) {
                off[d] = uni(0, shape[d]);
                len[d] = uni(0, shape[d] - off[d]);
            } else {
                off[d] = uni(0, shape[d] - 1);
                len[d] = uni(1, shape[d] - off[d]);
            }
        }
        CAPTURE(round);
        std::vector<T> ref;
        for_each_index(len, [&](const std::array<std::uint64_t, R>& idx) { ref.push_back(value_at<T>(linear(shape, off, idx), salt)); });

        {  // packed row-major
            std::vector<T> buf(std::max<std::size_t>(ref.size(), 1), sentinel);
            REQUIRE(r.read_slice(name, off, len, dview<T, R>(buf.data(), len)).ok());
            if (ref.empty()) CHECK(buf[0] == sentinel);
            else CHECK(std::equal(ref.begin(), ref.end(), buf.begin()));
        }
        if constexpr (std::is_same_v<T, std::int32_t>) {  // widening on the way (I32 into int64)
            std::vector<std::int64_t> buf(std::max<std::size_t>(ref.size(), 1), -1);
            REQUIRE(r.template read_slice<dtype_map::convert>(name, off, len, dview<std::int64_t, R>(buf.data(), len)).ok());
            bool same = true;
            for (std::size_t k = 0; k < ref.size(); ++k) same = same && buf[k] == static_cast<std::int64_t>(ref[k]);
            CHECK(same);
        }
        {  // a subview of a padded buffer
            std::array<std::uint64_t, R> big_ext{}, at{};
            for (std::size_t d = 0; d < R; ++d) {
                const std::uint64_t pad = uni(0, 2);
                big_ext[d] = len[d] + pad;
                at[d] = uni(0, pad);
            }
            std::vector<T> big(std::max<std::size_t>(numel_of(big_ext), 1), sentinel);
            auto sub = subview(dview<T, R>(big.data(), big_ext), at, len);
            REQUIRE(r.read_slice(name, off, len, sub).ok());
            std::size_t k = 0, wrong = 0;
            for_each_index(len, [&](const std::array<std::uint64_t, R>& idx) { wrong += sub(idx) == ref[k++] ? 0 : 1; });
            CHECK(wrong == 0);
            const auto written = static_cast<std::size_t>(std::count_if(big.begin(), big.end(), [&](const T& v) { return v != sentinel; }));
            CHECK(written == ref.size());
        }
        {  // dimensions in a random order, with gaps
            std::array<std::size_t, R> perm{};
            std::iota(perm.begin(), perm.end(), std::size_t{0});
            std::shuffle(perm.begin(), perm.end(), rng);
            std::array<std::uint64_t, R> strides{};
            std::uint64_t span = 1;
            for (std::size_t k = 0; k < R; ++k) {
                strides[perm[k]] = span;
                span *= len[perm[k]] + uni(0, 1);
            }
            std::vector<T> buf(std::max<std::uint64_t>(span, 1), sentinel);
            layout_stride::mapping<dextents<std::uint64_t, R>> map(dextents<std::uint64_t, R>(len), strides);
            sview<T, R> dst(buf.data(), map);
            REQUIRE(r.read_slice(name, off, len, dst).ok());
            std::size_t k = 0, wrong = 0;
            for_each_index(len, [&](const std::array<std::uint64_t, R>& idx) { wrong += dst(idx) == ref[k++] ? 0 : 1; });
            CHECK(wrong == 0);
            const auto written = static_cast<std::size_t>(std::count_if(buf.begin(), buf.end(), [&](const T& v) { return v != sentinel; }));
            CHECK(written == ref.size());
        }
    }
}

}  // namespace

// Every rank at one element type (I32, widened to I64 on the way in every round), on one source.
TEST_CASE("read_slice: random regions of rank 0 to 5 into packed and strided views") {
    using K = pread_kind;
    temp_dir dir;
    std::mt19937_64 rng(2024);
    // Per rank one I32 tensor of random shape (dimensions 1 to 5, the last up to 9).
    std::vector<owned_tensor> ts;
    std::vector<std::vector<std::uint64_t>> shapes;
    for (std::size_t rank = 0; rank <= 5; ++rank) {
        std::vector<std::uint64_t> shape(rank);
        for (std::size_t d = 0; d < rank; ++d) shape[d] = 1 + rng() % (d + 1 == rank ? 9 : 5);
        shapes.push_back(shape);
        const std::uint64_t n = numel_of(shape);
        std::vector<std::int32_t> iv(n);
        for (std::uint64_t i = 0; i < n; ++i) iv[i] = value_at<std::int32_t>(i, rank);
        ts.push_back({"i" + std::to_string(rank), dtype::I32, shape, bytes_of(iv)});
    }
    opened<K> r(dir, save(ts));
    for (std::size_t rank = 0; rank <= 5; ++rank) {
        CAPTURE(rank);
        with_rank(rank, [&](auto rc) {
            constexpr std::size_t R = decltype(rc)::value;
            const auto shape = to_array<R>(shapes[rank]);
            check_random_regions<std::int32_t, R>(*r, "i" + std::to_string(rank), shape, rank, rng, R == 0 ? 2 : 60);
        });
    }
    // Whatever the switch, a scalar's bytes and a rank-1 view of it must be told apart.
    const tensor_info* s = r->find("i0");
    REQUIRE(s != nullptr);
    CHECK(s->rank() == 0);
    std::int32_t v = 0;
    REQUIRE(r->read_bytes(*s, std::as_writable_bytes(std::span(&v, 1))).ok());
    CHECK(v == value_at<std::int32_t>(0, 0));
    status wrong_rank = r->read("i0", make_view<std::uint64_t>(&v, 1));
    check_error(wrong_rank.error(), errc::shape_mismatch, r.path(), "i0");
}

// Every source at one element type and rank (F64, rank 3): the memory source copies straight
// out of its bytes, the mapped and pread sources read runs and windows.
TEST_CASE_TEMPLATE("read_slice: random regions on each source", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    std::mt19937_64 rng(77);
    const std::array<std::uint64_t, 3> shape{7, 6, 9};
    std::vector<double> dv(numel_of(shape));
    for (std::uint64_t i = 0; i < dv.size(); ++i) dv[i] = value_at<double>(i, 3);
    opened<K> r(dir, save({{"d", dtype::F64, {7, 6, 9}, bytes_of(dv)}}));
    check_random_regions<double, 3>(*r, "d", shape, 3, rng, 80);
}

TEST_CASE_TEMPLATE("read_slice: zero-length regions and empty tensors", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    const auto ts = small_tensors();
    opened<K> r(dir, save(ts));
    float buf[8];
    std::fill(std::begin(buf), std::end(buf), -9.0f);
    auto untouched = [&] { return std::all_of(std::begin(buf), std::end(buf), [](float f) { return f == -9.0f; }); };

    using arr2 = std::array<std::uint64_t, 2>;
    // Empty in either dimension, including an offset equal to the extent.
    for (auto [off, len] : {std::pair{arr2{2, 6}, arr2{2, 0}}, std::pair{arr2{4, 0}, arr2{0, 6}}, std::pair{arr2{0, 0}, arr2{0, 0}},
                            std::pair{arr2{1, 3}, arr2{0, 3}}}) {
        CHECK(r->read_slice("w", off, len, dview<float, 2>(buf, len)).ok());
        CHECK(untouched());
    }
    // An offset past the extent is out of bounds even for an empty region.
    status past = r->read_slice("w", arr2{5, 0}, arr2{0, 1}, dview<float, 2>(buf, arr2{0, 1}));
    check_error(past.error(), errc::out_of_bounds, r.path(), "w");
    CHECK(untouched());

    // A tensor with a zero dimension reads whole, as nothing.
    CHECK(r->read("e", dview<float, 3>(buf, std::array<std::uint64_t, 3>{3, 0, 4})).ok());
    CHECK(r->read("e", dview<float, 3>(nullptr, std::array<std::uint64_t, 3>{3, 0, 4})).ok());
    CHECK(untouched());
    const tensor_info* e = r->find("e");
    REQUIRE(e != nullptr);
    CHECK(r->read_bytes(*e, {}).ok());
    CHECK(r->read_slice("e", std::array<std::uint64_t, 3>{1, 0, 2}, std::array<std::uint64_t, 3>{2, 0, 2},
                        dview<float, 3>(buf, std::array<std::uint64_t, 3>{2, 0, 2}))
              .ok());
    CHECK(untouched());
}

TEST_CASE_TEMPLATE("large tensors: column slices (short runs) and row slices (long runs)", K, memory_kind, mmap_kind,
                   pread_kind) {
    // Over 8 MiB each, so that the windowed short-run path fills and flushes its bounce buffer
    // several times and long runs exceed it.
    temp_dir dir;
    constexpr std::uint64_t rows = 3000, cols = 1500, wrows = 200, wcols = 20000;
    std::vector<float> big(rows * cols), wide(wrows * wcols);
    std::vector<std::uint16_t> bbig(rows * cols);
    for (std::uint64_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);  // exact below 2^24
    for (std::uint64_t i = 0; i < wide.size(); ++i) wide[i] = static_cast<float>(i);
    for (std::uint64_t i = 0; i < rows; ++i)
        for (std::uint64_t j = 0; j < cols; ++j) bbig[i * cols + j] = static_cast<std::uint16_t>((i * 7 + j * 13) & 0x7f7f);
    std::vector<owned_tensor> ts;
    ts.push_back({"big", dtype::F32, {rows, cols}, bytes_of(big)});
    ts.push_back({"wide", dtype::F32, {wrows, wcols}, bytes_of(wide)});
    ts.push_back({"bbig", dtype::BF16, {rows, cols}, bytes_of(bbig)});
    auto file = save(ts);
    ts.clear();
    wide.clear();
    bbig.clear();
    opened<K> r(dir, file);
    file = {};
    using arr2 = std::array<std::uint64_t, 2>;
    using dtype_map::convert;
    auto big_at = [&](std::uint64_t r0, std::uint64_t c0) {
        return [=](std::uint64_t i, std::uint64_t j) { return static_cast<float>((r0 + i) * cols + c0 + j); };
    };
    auto bf_at = [&](std::uint64_t r0, std::uint64_t c0) {
        return [=](std::uint64_t i, std::uint64_t j) {
            return std::bit_cast<float>(static_cast<std::uint32_t>(((r0 + i) * 7 + (c0 + j) * 13) & 0x7f7f) << 16);
        };
    };

    SUBCASE("columns: packed, padded and converting destinations") {
        for (const auto& cw : {std::pair<std::uint64_t, std::uint64_t>{0, 1}, {777, 7}, {1436, 64}, {1499, 1}}) {
            const std::uint64_t c0 = cw.first, w = cw.second;  // not a structured binding: lambdas capture it
            CAPTURE(c0);
            std::vector<float> out(rows * w, -9.0f);
            REQUIRE(r->read_slice("big", arr2{0, c0}, arr2{rows, w}, dview<float, 2>(out.data(), arr2{rows, w})).ok());
            CHECK(mismatches(dview<float, 2>(out.data(), arr2{rows, w}), rows, w, big_at(0, c0)) == 0);

            std::vector<float> padded(rows * (w + 5), -9.0f);
            auto sub = subview(dview<float, 2>(padded.data(), arr2{rows, w + 5}), arr2{0, 2}, arr2{rows, w});
            REQUIRE(r->read_slice("big", arr2{0, c0}, arr2{rows, w}, sub).ok());
            CHECK(mismatches(sub, rows, w, big_at(0, c0)) == 0);
            CHECK(static_cast<std::size_t>(std::count(padded.begin(), padded.end(), -9.0f)) == rows * 5);

            std::vector<double> dbl(rows * w, -9.0);
            REQUIRE(r->template read_slice<convert>("big", arr2{0, c0}, arr2{rows, w}, dview<double, 2>(dbl.data(), arr2{rows, w}))
                        .ok());
            CHECK(mismatches(dview<double, 2>(dbl.data(), arr2{rows, w}), rows, w,
                             [&](std::uint64_t i, std::uint64_t j) { return static_cast<double>(big_at(0, c0)(i, j)); }) == 0);

            std::vector<float> fb(rows * w, -9.0f);
            REQUIRE(r->template read_slice<convert>("bbig", arr2{0, c0}, arr2{rows, w}, dview<float, 2>(fb.data(), arr2{rows, w}))
                        .ok());
            CHECK(mismatches(dview<float, 2>(fb.data(), arr2{rows, w}), rows, w, bf_at(0, c0)) == 0);
        }
    }
    SUBCASE("columns of rows longer than the gap limit, and wide column blocks") {
        for (const auto& cw : {std::pair<std::uint64_t, std::uint64_t>{12345, 3}, {2000, 16000}}) {
            const std::uint64_t c0 = cw.first, w = cw.second;
            CAPTURE(c0);
            std::vector<float> out(wrows * w, -9.0f);
            REQUIRE(r->read_slice("wide", arr2{0, c0}, arr2{wrows, w}, dview<float, 2>(out.data(), arr2{wrows, w})).ok());
            CHECK(mismatches(dview<float, 2>(out.data(), arr2{wrows, w}), wrows, w,
                             [&](std::uint64_t i, std::uint64_t j) { return static_cast<float>(i * wcols + c0 + j); }) == 0);
        }
    }
    SUBCASE("rows: the whole tensor, long row blocks, a few rows") {
        for (const auto& rh : {std::pair<std::uint64_t, std::uint64_t>{0, rows}, {1000, 1000}, {5, 3}}) {
            const std::uint64_t r0 = rh.first, h = rh.second;
            CAPTURE(r0);
            std::vector<float> out(h * cols, -9.0f);
            REQUIRE(r->read_slice("big", arr2{r0, 0}, arr2{h, cols}, dview<float, 2>(out.data(), arr2{h, cols})).ok());
            CHECK(std::memcmp(out.data(), big.data() + r0 * cols, out.size() * sizeof(float)) == 0);
        }
        std::vector<float> whole(rows * cols, -9.0f);
        REQUIRE(r->read("big", dview<float, 2>(whole.data(), arr2{rows, cols})).ok());
        CHECK(whole == big);
    }
    SUBCASE("rows, converting: F32 into double and BF16 into float, longer than the bounce buffer") {
        std::vector<double> dbl(rows * cols, -9.0);
        REQUIRE(r->template read<convert>("big", dview<double, 2>(dbl.data(), arr2{rows, cols})).ok());
        std::size_t wrong = 0;
        for (std::uint64_t i = 0; i < dbl.size(); ++i) wrong += dbl[i] == static_cast<double>(i) ? 0 : 1;
        CHECK(wrong == 0);
        std::vector<float> fb(1000 * cols, -9.0f);
        REQUIRE(r->template read_slice<convert>("bbig", arr2{2000, 0}, arr2{1000, cols}, dview<float, 2>(fb.data(), arr2{1000, cols}))
                    .ok());
        CHECK(mismatches(dview<float, 2>(fb.data(), arr2{1000, cols}), 1000, cols, bf_at(2000, 0)) == 0);
    }
    SUBCASE("rows into every other element: a long run with a destination stride") {
        std::vector<float> buf(1000 * cols * 2, -9.0f);
        layout_stride::mapping<dextents<std::uint64_t, 2>> map(dextents<std::uint64_t, 2>(1000, cols),
                                                                std::array<std::uint64_t, 2>{2 * cols, 2});
        sview<float, 2> dst(buf.data(), map);
        REQUIRE(r->read_slice("big", arr2{1500, 0}, arr2{1000, cols}, dst).ok());
        CHECK(mismatches(dst, 1000, cols, big_at(1500, 0)) == 0);
        CHECK(static_cast<std::size_t>(std::count(buf.begin(), buf.end(), -9.0f)) == 1000 * cols);
    }
    SUBCASE("a block in the middle into a padded destination") {
        const std::uint64_t h = 1000, w = 1200;
        std::vector<float> buf(h * (w + 3), -9.0f);
        auto sub = subview(dview<float, 2>(buf.data(), arr2{h, w + 3}), arr2{0, 1}, arr2{h, w});
        REQUIRE(r->read_slice("big", arr2{100, 10}, arr2{h, w}, sub).ok());
        CHECK(mismatches(sub, h, w, big_at(100, 10)) == 0);
        CHECK(static_cast<std::size_t>(std::count(buf.begin(), buf.end(), -9.0f)) == h * 3);
    }
}

}  // TEST_SUITE
