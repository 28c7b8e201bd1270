// SPDX-License-Identifier: MIT
// Zero-copy views and loads: into the mapping when aligned and of the same dtype, a copy otherwise.

#include "../support/reader.hpp"

#include <bit>
#include <cstring>

using namespace safeshard;
using namespace safeshard::test;

TEST_SUITE("reader_views") {

TEST_CASE_TEMPLATE("view: zero copy where aligned, an error where not", K, memory_kind, mmap_kind) {
    temp_dir dir;
    const auto ts = small_tensors();
    opened<K> r(dir, save(ts));
    SUBCASE("aligned: a view into the file's bytes") {
        auto w = r->template view<float, 2>("w");
        REQUIRE(w.has_value());
        CHECK(static_cast<const void*>(w->data_handle()) == r.address_of("w"));
        CHECK(w->extent(0) == 4);
        CHECK(w->extent(1) == 6);
        CHECK((*w)(2, 5) == 17 * 1.25f - 7.0f);
        CHECK(same_bytes(std::as_bytes(std::span(w->data_handle(), w->size())), by_name(ts, "w").data));
        auto d = r->template view<double, 1>("d");
        REQUIRE(d.has_value());
        CHECK(static_cast<const void*>(d->data_handle()) == r.address_of("d"));
        CHECK((*d)(1) == -1e300);
        auto b = r->template view<std::uint8_t, 1>("b");
        REQUIRE(b.has_value());
        CHECK((*b)(4) == static_cast<std::uint8_t>(by_name(ts, "b").data[4]));
        auto s = r->template view<float, 0>("s");
        REQUIRE(s.has_value());
        CHECK((*s)() == -2.5f);
        CHECK(static_cast<const void*>(s->data_handle()) == r.address_of("s"));
        auto e = r->template view<float, 3>("e");
        REQUIRE(e.has_value());
        CHECK(e->size() == 0);
        CHECK(e->extent(0) == 3);
        auto h = r->template view<bf16, 2>("\xc3\xa9.weight");
        REQUIRE(h.has_value());
        CHECK((*h)(1, 1).bits == static_cast<std::uint16_t>(static_cast<unsigned>(by_name(ts, "\xc3\xa9.weight").data[6]) |
                                                             static_cast<unsigned>(by_name(ts, "\xc3\xa9.weight").data[7]) << 8));
    }
    SUBCASE("wrong rank, dtype or name") {
        auto rank = r->template view<float, 1>("w");
        REQUIRE_FALSE(rank.has_value());
        check_error(rank.error(), errc::shape_mismatch, r.path(), "w");
        auto type = r->template view<double, 2>("w");
        REQUIRE_FALSE(type.has_value());
        check_error(type.error(), errc::dtype_mismatch, r.path(), "w");
        auto missing = r->template view<float, 2>("nope");
        REQUIRE_FALSE(missing.has_value());
        check_error(missing.error(), errc::tensor_not_found, r.path(), "nope");
    }
    SUBCASE("misaligned data: invalid_argument at the tensor's byte offset") {
        std::uint64_t data_offset = 0;
        const auto bytes = misaligned_file(&data_offset);
        REQUIRE(data_offset % 4 == 1);
        opened<K> m(dir, bytes, "misaligned.safetensors");
        auto w = m->template view<float, 2>("w");
        REQUIRE_FALSE(w.has_value());
        check_error(w.error(), errc::invalid_argument, m.path(), "w");
        CHECK(w.error().offset() == data_offset);
        CHECK(contains(w.error().detail(), "not aligned"));
        auto d = m->template view<double, 1>("d");
        REQUIRE_FALSE(d.has_value());
        check_error(d.error(), errc::invalid_argument, m.path(), "d");
        CHECK(d.error().offset() == data_offset + 24);
        // One-byte elements are never misaligned.
        auto b = m->template view<std::uint8_t, 1>("b");
        REQUIRE(b.has_value());
        CHECK(static_cast<const void*>(b->data_handle()) == m.address_of("b"));
        CHECK((*b)(2) == 30);
    }
}

TEST_CASE_TEMPLATE("load: zero copy when mapped, aligned and of the same dtype; a copy otherwise", K, memory_kind,
                   mmap_kind, pread_kind) {
    temp_dir dir;
    const auto ts = small_tensors();
    opened<K> r(dir, save(ts));
    auto expect_w = [](const auto& v, auto scale) {
        std::size_t wrong = 0;
        for (std::uint64_t i = 0; i < 4; ++i)
            for (std::uint64_t j = 0; j < 6; ++j)
                wrong += v(i, j) == static_cast<decltype(scale)>(static_cast<float>(i * 6 + j) * 1.25f - 7.0f) ? 0 : 1;
        return wrong;
    };

    SUBCASE("same dtype") {
        auto w = r->template load<float, 2>("w");
        REQUIRE(w.has_value());
        CHECK(w->zero_copy() == K::mapped);
        if constexpr (K::mapped) CHECK(static_cast<const void*>(w->view().data_handle()) == r.address_of("w"));
        CHECK(w->view().extent(0) == 4);
        CHECK(w->view().extent(1) == 6);
        CHECK(expect_w(w->view(), 0.0f) == 0);
        // A copy is owned by the result and moves with it.
        loaded_tensor<float, 2> moved = std::move(*w);
        CHECK(expect_w(moved.view(), 0.0f) == 0);
        CHECK(moved.zero_copy() == K::mapped);
        auto d = r->template load<double, 1>("d");
        REQUIRE(d.has_value());
        CHECK(d->zero_copy() == K::mapped);
        CHECK(d->view()(2) == 42.0);
    }
    SUBCASE("converted: always a copy") {
        auto w = r->template load<dtype_map::convert, double, 2>("w");
        REQUIRE(w.has_value());
        CHECK_FALSE(w->zero_copy());
        CHECK(expect_w(w->view(), 0.0) == 0);
        auto h = r->template load<dtype_map::convert, float, 2>("\xc3\xa9.weight");
        REQUIRE(h.has_value());
        CHECK_FALSE(h->zero_copy());
        const auto& raw = by_name(ts, "\xc3\xa9.weight").data;
        const std::uint32_t code = static_cast<unsigned>(raw[2]) | static_cast<unsigned>(raw[3]) << 8;
        CHECK(std::bit_cast<std::uint32_t>(h->view()(0, 1)) == code << 16);
    }
    SUBCASE("empty tensors") {
        auto e = r->template load<float, 3>("e");
        REQUIRE(e.has_value());
        CHECK(e->view().size() == 0);
        CHECK(e->view().extent(2) == 4);
        CHECK_FALSE(e->zero_copy());  // nothing to point at
    }
    SUBCASE("scalars") {
        auto s = r->template load<float, 0>("s");
        REQUIRE(s.has_value());
        CHECK(s->zero_copy() == K::mapped);
        CHECK(s->view()() == -2.5f);
        auto sd = r->template load<dtype_map::convert, double, 0>("s");
        REQUIRE(sd.has_value());
        CHECK_FALSE(sd->zero_copy());
        CHECK(sd->view()() == -2.5);
    }
    SUBCASE("misaligned data: a copy with the right values") {
        opened<K> m(dir, misaligned_file(), "misaligned.safetensors");
        auto w = m->template load<float, 2>("w");
        REQUIRE(w.has_value());
        CHECK_FALSE(w->zero_copy());
        const float want[6] = {1.5f, -2.0f, 3.25f, 4.0f, 1e-3f, -0.0f};
        CHECK(std::memcmp(w->view().data_handle(), want, sizeof want) == 0);
        CHECK(reinterpret_cast<std::uintptr_t>(w->view().data_handle()) % alignof(float) == 0);
        auto d = m->template load<double, 1>("d");
        REQUIRE(d.has_value());
        CHECK_FALSE(d->zero_copy());
        CHECK(d->view()(0) == 1.0 / 3.0);
        CHECK(d->view()(1) == -7.5);
        auto b = m->template load<std::uint8_t, 1>("b");
        REQUIRE(b.has_value());
        CHECK(b->zero_copy() == K::mapped);
        CHECK(b->view()(1) == 20);
        // Region reads of misaligned data are plain copies.
        float col[2];
        REQUIRE(m->read_slice("w", std::array<std::uint64_t, 2>{0, 1}, std::array<std::uint64_t, 2>{2, 1},
                              dview<float, 2>(col, std::array<std::uint64_t, 2>{2, 1}))
                    .ok());
        CHECK(col[0] == -2.0f);
        CHECK(col[1] == 1e-3f);
    }
    SUBCASE("errors") {
        auto type = r->template load<std::int32_t, 2>("w");
        REQUIRE_FALSE(type.has_value());
        check_error(type.error(), errc::dtype_mismatch, r.path(), "w");
        auto narrowing = r->template load<dtype_map::convert, std::int32_t, 1>("i");
        REQUIRE_FALSE(narrowing.has_value());
        check_error(narrowing.error(), errc::dtype_mismatch, r.path(), "i");
        auto rank = r->template load<float, 3>("w");
        REQUIRE_FALSE(rank.has_value());
        check_error(rank.error(), errc::shape_mismatch, r.path(), "w");
        CHECK(contains(rank.error().detail(), "tensor has rank 2, view has rank 3"));
        auto missing = r->template load<float, 2>("nope");
        REQUIRE_FALSE(missing.has_value());
        check_error(missing.error(), errc::tensor_not_found, r.path(), "nope");
    }
}

}  // TEST_SUITE
