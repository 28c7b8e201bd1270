// SPDX-License-Identifier: MIT
// The quantized reader: DCP's scenarios 13, 14 and 19 (spec/dcp-hf.md §7), every FP8 code,
// MXFP4 over the whole exponent range, random shapes, block sizes and regions against the
// reference dequantizers of tests/support/quant.hpp, and the errors DCP does not raise.

#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/core/subview.hpp>
#include <safeshard/quant/reader.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "../support/files.hpp"
#include "../support/quant.hpp"

using namespace safeshard;
using safeshard::test::temp_dir;

namespace {

template <class T>
std::vector<T> filled(std::size_t n, float v) {
    return std::vector<T>(n, T(v));
}

// A reader that must open; the test stops with the error's message otherwise.
template <class Reader = quant::quantized_reader, class Policy = quant::fp8_block_or_mxfp4>
Reader open_ok(const std::string& path, const Policy& p = {}, unsigned threads = 1) {
    auto r = Reader::open(path, p, {.thread_count = threads});
    REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    return std::move(*r);
}

// The error's message, for REQUIRE_MESSAGE.
std::string why(const status& st) { return st ? std::string() : st.error().to_string(); }

std::string open_error(const std::string& path, const quant::fp8_block_or_mxfp4& p = {}) {
    auto r = quant::quantized_reader::open(path, p);
    REQUIRE_FALSE(r.has_value());
    return r.error().to_string();
}

}  // namespace

TEST_CASE("scenario 13: scales in the same file and in another, found through the index") {
    temp_dir dir("quant13");
    auto q = filled<float>(16, 1.0f), k = filled<float>(16, 3.0f);
    std::vector<float> qs = {2.0f}, ks = {0.5f};
    test::save(dir / "model-00001-of-00002.safetensors",
               {entry_of("model.layers.0.self_attn.q_proj.weight", make_view(q.data(), 4, 4)),
                entry_of("model.layers.0.self_attn.q_proj.weight_scale_inv", make_view(qs.data(), 1, 1)),
                entry_of("model.layers.0.self_attn.k_proj.weight", make_view(k.data(), 4, 4))});
    test::save(dir / "model-00002-of-00002.safetensors",
               {entry_of("model.layers.0.self_attn.k_proj.weight_scale_inv", make_view(ks.data(), 1, 1))});
    test::write_index(dir, {{"model.layers.0.self_attn.q_proj.weight", "model-00001-of-00002.safetensors"},
                            {"model.layers.0.self_attn.q_proj.weight_scale_inv", "model-00001-of-00002.safetensors"},
                            {"model.layers.0.self_attn.k_proj.weight", "model-00001-of-00002.safetensors"},
                            {"model.layers.0.self_attn.k_proj.weight_scale_inv", "model-00002-of-00002.safetensors"}});
    auto reader = open_ok(dir.path);
    CHECK(reader.metadata().has_index());
    CHECK(reader.quantized_tensors().size() == 2);
    std::vector<float> out(16);
    REQUIRE(reader.read("model.layers.0.self_attn.q_proj.weight", make_view(out.data(), 4, 4)));
    CHECK(out == std::vector<float>(16, 2.0f));
    REQUIRE(reader.read("model.layers.0.self_attn.k_proj.weight", make_view(out.data(), 4, 4)));
    CHECK(out == std::vector<float>(16, 1.5f));
    // The scales themselves stay readable as stored.
    std::vector<float> s(1);
    REQUIRE(reader.read("model.layers.0.self_attn.k_proj.weight_scale_inv", make_view(s.data(), 1, 1)));
    CHECK(s[0] == 0.5f);
}

TEST_CASE("scenario 14: a slice across block boundaries takes each block's scale") {
    temp_dir dir("quant14");
    auto w = filled<float>(64, 2.0f);
    std::vector<float> scale = {1, 2, 3, 4};
    test::save(dir / "model.safetensors",
               {entry_of("w.weight", make_view(w.data(), 8, 8)), entry_of("w.weight_scale_inv", make_view(scale.data(), 2, 2))});
    auto reader = open_ok(dir.path, quant::fp8_block_or_mxfp4{{quant::fp8_block{4}, quant::mxfp4{}}});
    std::vector<float> out(16, -1.0f);
    REQUIRE(reader.read_region("w.weight", {2, 1}, make_view(out.data(), 4, 4)));
    // DCP's expectation: [0:2, 0:3] = 2, [0:2, 3:4] = 4, [2:4, 0:3] = 6, [2:4, 3:4] = 8.
    for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 4; ++j) {
            const float want = (i < 2 ? (j < 3 ? 2.0f : 4.0f) : (j < 3 ? 6.0f : 8.0f));
            CHECK_MESSAGE(out[i * 4 + j] == want, "at ", i, ",", j);
        }
}

TEST_CASE("scenario 19: originals stored halved with scale grids of 2 come back, one file with an index, two threads") {
    temp_dir dir("quant19");
    std::mt19937 rng(19);
    std::normal_distribution<float> normal;
    struct t {
        std::string name;
        std::size_t r, c;
        std::vector<float> original, stored, scale;
    };
    std::vector<t> ts = {{"linear1.weight", 256, 128, {}, {}, {}}, {"linear2.weight", 128, 64, {}, {}, {}},
                         {"embedding.weight", 512, 256, {}, {}, {}}};
    std::vector<tensor_entry> entries;
    std::vector<std::pair<std::string, std::string>> map;
    const float mult[] = {2.0f, 1.5f, 3.0f};
    for (std::size_t i = 0; i < ts.size(); ++i) {
        auto& x = ts[i];
        for (std::size_t k = 0; k < x.r * x.c; ++k) x.original.push_back(normal(rng) * mult[i]);
        for (float v : x.original) x.stored.push_back(v / 2.0f);
        x.scale.assign(((x.r + 127) / 128) * ((x.c + 127) / 128), 2.0f);
    }
    std::vector<std::string> scale_names;
    for (auto& x : ts) scale_names.push_back(x.name + "_scale_inv");
    for (std::size_t i = 0; i < ts.size(); ++i) {
        auto& x = ts[i];
        entries.push_back(entry_of(x.name, make_view(x.stored.data(), x.r, x.c)));
        entries.push_back(entry_of(scale_names[i], make_view(x.scale.data(), (x.r + 127) / 128, (x.c + 127) / 128)));
        map.push_back({x.name, "model.safetensors"});
        map.push_back({scale_names[i], "model.safetensors"});
    }
    test::save(dir / "model.safetensors", entries);
    test::write_index(dir, map);
    auto reader = open_ok(dir.path, quant::fp8_block_or_mxfp4{}, 2);
    const std::vector<std::vector<std::uint64_t>> grids = {{2, 1}, {1, 1}, {4, 2}};
    for (std::size_t i = 0; i < ts.size(); ++i) {
        auto& x = ts[i];
        REQUIRE(reader.quantized(x.name) != nullptr);
        CHECK(reader.quantized(x.name)->scales->shape == grids[i]);
        CHECK(reader.find(x.name)->shape == std::vector<std::uint64_t>{x.r, x.c});
        std::vector<float> out(x.r * x.c);
        REQUIRE(reader.read(x.name, make_view(out.data(), x.r, x.c)));
        for (std::size_t k = 0; k < out.size(); ++k)
            REQUIRE(std::fabs(out[k] - x.original[k]) <= 1e-5f + 1e-5f * std::fabs(x.original[k]));
    }
}

TEST_CASE("every E4M3 and E5M2 code, NaN included, decodes as the reference types, times the scale") {
    temp_dir dir("quantcodes");
    std::vector<f8_e4m3> e4(256);
    std::vector<f8_e5m2> e5(256);
    for (unsigned c = 0; c < 256; ++c) {
        e4[c] = f8_e4m3::from_bits(static_cast<std::uint8_t>(c));
        e5[c] = f8_e5m2::from_bits(static_cast<std::uint8_t>(c));
    }
    // 16 x 16 codes in blocks of 8: four scales, powers of two so the products are exact.
    std::vector<float> s4 = {1.0f, 0.125f, 4.0f, 1.0f};
    std::vector<bf16> s5 = {bf16(1.0f), bf16(2.0f), bf16(0.5f), bf16(1.0f)};
    test::save(dir / "model.safetensors",
               {entry_of("a.weight", make_view(e4.data(), 16, 16)), entry_of("a.weight_scale_inv", make_view(s4.data(), 2, 2)),
                entry_of("b.weight", make_view(e5.data(), 16, 16)), entry_of("b.weight_scale_inv", make_view(s5.data(), 2, 2))});
    auto reader = open_ok(dir.path, quant::fp8_block_or_mxfp4{{quant::fp8_block{8}, quant::mxfp4{}}});
    CHECK(reader.find("a.weight")->dtype == dtype::F8_E4M3);
    std::vector<float> out(256);
    REQUIRE(reader.read("a.weight", make_view(out.data(), 16, 16)));
    for (unsigned c = 0; c < 256; ++c) {
        const float s = s4[(c / 16 / 8) * 2 + (c % 16) / 8];
        REQUIRE_MESSAGE(test::same_float(out[c], test::ref_e4m3(static_cast<std::uint8_t>(c)) * s), "E4M3 code ", c);
    }
    REQUIRE(reader.read("b.weight", make_view(out.data(), 16, 16)));
    for (unsigned c = 0; c < 256; ++c) {
        const float s = static_cast<float>(s5[(c / 16 / 8) * 2 + (c % 16) / 8]);
        REQUIRE_MESSAGE(test::same_float(out[c], test::ref_e5m2(static_cast<std::uint8_t>(c)) * s), "E5M2 code ", c);
    }
    // Into bf16 and f16: the F32 value rounded once, to nearest even.
    std::vector<bf16> ob(256);
    std::vector<f16> oh(256);
    REQUIRE(reader.read("a.weight", make_view(ob.data(), 16, 16)));
    REQUIRE(reader.read("a.weight", make_view(oh.data(), 16, 16)));
    for (unsigned c = 0; c < 256; ++c) {
        const float v = test::ref_e4m3(static_cast<std::uint8_t>(c)) * s4[(c / 16 / 8) * 2 + (c % 16) / 8];
        if (std::isnan(v)) {  // a NaN keeps its code's sign; any NaN will do
            REQUIRE(std::isnan(static_cast<float>(ob[c])));
            REQUIRE(std::isnan(static_cast<float>(oh[c])));
            continue;
        }
        REQUIRE(ob[c] == bf16(v));
        REQUIRE(oh[c] == f16(v));
    }
}

TEST_CASE("MXFP4: every exponent byte, overflow and subnormals included; logical shape in the metadata and the chunk list") {
    temp_dir dir("quantmx");
    // blocks [2, 128, 4] (G = 128 groups of B = 4 bytes: 8 values each), scales [2, 128]: 256 exponents.
    const std::size_t A = 2, G = 128, B = 4;
    std::mt19937 rng(4);
    std::vector<std::uint8_t> blocks(A * G * B), scales(A * G);
    for (auto& b : blocks) b = static_cast<std::uint8_t>(rng());
    for (std::size_t i = 0; i < scales.size(); ++i) scales[i] = static_cast<std::uint8_t>(i);  // 0..255
    test::save(dir / "model.safetensors", {entry_of("mlp.experts.down_proj_blocks", make_view(blocks.data(), A, G, B)),
                                           entry_of("mlp.experts.down_proj_scales", make_view(scales.data(), A, G))});
    auto reader = open_ok(dir.path);
    const auto* t = reader.find("mlp.experts.down_proj_blocks");
    REQUIRE(t != nullptr);
    CHECK(t->shape == std::vector<std::uint64_t>{A, G * B * 2});
    CHECK(t->dtype == dtype::F4);
    REQUIRE(t->boxes.size() == 1);
    CHECK(std::vector<std::uint64_t>(t->boxes[0].sizes.begin(), t->boxes[0].sizes.end()) == std::vector<std::uint64_t>{A, G * B * 2});
    CHECK(t->boxes[0].offsets.size() == 2);
    // The stored view is unchanged.
    CHECK(reader.metadata().find("mlp.experts.down_proj_blocks")->shape == std::vector<std::uint64_t>{A, G, B});
    auto ref = [&](std::size_t a, std::size_t j) {
        const std::uint8_t byte = blocks[(a * G + j / (2 * B)) * B + (j % (2 * B)) / 2];
        return test::ref_mxfp4(static_cast<std::uint8_t>(j % 2 ? byte >> 4 : byte & 15), scales[a * G + j / (2 * B)]);
    };
    std::vector<float> out(A * G * B * 2);
    REQUIRE(reader.read("mlp.experts.down_proj_blocks", make_view(out.data(), A, G * B * 2)));
    bool saw_inf = false, saw_subnormal = false;
    for (std::size_t a = 0; a < A; ++a)
        for (std::size_t j = 0; j < G * B * 2; ++j) {
            const float v = out[a * G * B * 2 + j];
            REQUIRE_MESSAGE(test::same_float(v, ref(a, j)), "at ", a, ",", j);
            saw_inf |= std::isinf(v);
            saw_subnormal |= std::fpclassify(v) == FP_SUBNORMAL;
        }
    CHECK(saw_inf);
    CHECK(saw_subnormal);
    // A region starting inside a group, ending inside another, into a strided bf16 destination.
    std::vector<bf16> wide(2 * 40);
    auto sub = subview(make_view(wide.data(), 2, 40), std::array<std::uint64_t, 2>{0, 3}, std::array<std::uint64_t, 2>{2, 29});
    const auto st = reader.read_region("mlp.experts.down_proj_blocks", {0, 990}, sub);
    REQUIRE_MESSAGE(st, why(st));
    for (std::size_t a = 0; a < 2; ++a)
        for (std::size_t j = 0; j < 29; ++j) REQUIRE(wide[a * 40 + 3 + j] == bf16(ref(a, 990 + j)));
}

TEST_CASE("property: random shapes, block sizes, scale dtypes and regions against the reference dequantizer") {
    std::mt19937 rng(1234);
    for (int round = 0; round < 24; ++round) {
        temp_dir dir("quantprop");
        const std::size_t rows = 1 + rng() % 300, cols = 1 + rng() % 300, bs = 1 + rng() % 160;
        const std::size_t gr = (rows + bs - 1) / bs, gc = (cols + bs - 1) / bs;
        std::vector<f8_e4m3> w(rows * cols);
        for (auto& x : w) x = f8_e4m3::from_bits(static_cast<std::uint8_t>(rng() % 256 == 0x7F ? 0 : rng()));
        std::vector<float> sf(gr * gc);
        for (auto& s : sf) s = std::ldexp(1.0f + static_cast<float>(rng() % 64) / 64.0f, static_cast<int>(rng() % 16) - 8);
        const int scale_type = round % 3;
        std::vector<bf16> sb;
        std::vector<f16> sh;
        for (float s : sf) sb.push_back(bf16(s)), sh.push_back(f16(s));
        std::vector<tensor_entry> entries = {entry_of("m.weight", make_view(w.data(), rows, cols))};
        if (scale_type == 0) entries.push_back(entry_of("m.weight_scale_inv", make_view(sf.data(), gr, gc)));
        if (scale_type == 1) entries.push_back(entry_of("m.weight_scale_inv", make_view(sb.data(), gr, gc)));
        if (scale_type == 2) entries.push_back(entry_of("m.weight_scale_inv", make_view(sh.data(), gr, gc)));
        test::save(dir / "model.safetensors", entries);
        auto reader = open_ok(dir.path, quant::fp8_block_or_mxfp4{{quant::fp8_block{bs}, quant::mxfp4{}}}, 1 + round % 2);
        auto scale_at = [&](std::size_t i) {
            return scale_type == 0 ? sf[i] : scale_type == 1 ? static_cast<float>(sb[i]) : static_cast<float>(sh[i]);
        };
        for (int k = 0; k < 4; ++k) {
            const std::size_t r0 = rng() % rows, c0 = rng() % cols;
            const std::size_t n = 1 + rng() % (rows - r0), m = 1 + rng() % (cols - c0);
            std::vector<float> out(n * m);
            std::vector<bf16> outb(n * m);
            REQUIRE(reader.read_region("m.weight", {r0, c0}, make_view(out.data(), n, m)));
            REQUIRE(reader.read_region("m.weight", {r0, c0}, make_view(outb.data(), n, m)));
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < m; ++j) {
                    const std::size_t gi = r0 + i, gj = c0 + j;
                    const float want = test::ref_e4m3(w[gi * cols + gj].bits) * scale_at((gi / bs) * gc + gj / bs);
                    REQUIRE_MESSAGE(test::same_float(out[i * m + j], want), "round ", round, " at ", gi, ",", gj);
                    REQUIRE(outb[i * m + j] == bf16(want));
                }
        }
    }
}

TEST_CASE("property: MXFP4 regions of random rank-3 tensors, starting anywhere in a group") {
    std::mt19937 rng(77);
    for (int round = 0; round < 12; ++round) {
        temp_dir dir("quantmxprop");
        const std::size_t A = 1 + rng() % 3, C = 1 + rng() % 4, G = 1 + rng() % 9, B = 1 + rng() % 16;
        std::vector<std::uint8_t> blocks(A * C * G * B), scales(A * C * G);
        for (auto& b : blocks) b = static_cast<std::uint8_t>(rng());
        for (auto& s : scales) s = static_cast<std::uint8_t>(100 + rng() % 56);
        test::save(dir / "model.safetensors", {entry_of("x_blocks", make_view(blocks.data(), A, C, G, B)),
                                               entry_of("x_scales", make_view(scales.data(), A, C, G))});
        auto reader = open_ok(dir.path, quant::fp8_block_or_mxfp4{}, 2);
        const std::size_t W = G * B * 2;
        for (int k = 0; k < 6; ++k) {
            const std::size_t a0 = rng() % A, c0 = rng() % C, j0 = rng() % W;
            const std::size_t na = 1 + rng() % (A - a0), nc = 1 + rng() % (C - c0), nj = 1 + rng() % (W - j0);
            std::vector<f16> out(na * nc * nj);
            REQUIRE(reader.read_region("x_blocks", {a0, c0, j0}, make_view(out.data(), na, nc, nj)));
            for (std::size_t a = 0; a < na; ++a)
                for (std::size_t c = 0; c < nc; ++c)
                    for (std::size_t j = 0; j < nj; ++j) {
                        const std::size_t row = (a0 + a) * C + c0 + c, col = j0 + j;
                        const std::uint8_t byte = blocks[(row * G + col / (2 * B)) * B + (col % (2 * B)) / 2];
                        const float want = test::ref_mxfp4(static_cast<std::uint8_t>(col % 2 ? byte >> 4 : byte & 15), scales[row * G + col / (2 * B)]);
                        REQUIRE(out[(a * nc + c) * nj + j] == f16(want));
                    }
        }
    }
}

TEST_CASE("plain tensors read through the quantized reader as through the storage reader; pairs found without an index") {
    temp_dir dir("quantplain");
    std::vector<bf16> emb(6 * 4);
    for (std::size_t i = 0; i < emb.size(); ++i) emb[i] = bf16(static_cast<float>(i) * 0.25f);
    std::vector<f8_e4m3> w(4 * 4, f8_e4m3(1.5f));
    std::vector<float> s = {4.0f};
    std::vector<std::int64_t> ids = {1, 2, 3};
    test::save(dir / "a.safetensors", {entry_of("embed.weight", make_view(emb.data(), 6, 4)), entry_of("ids", make_view(ids.data(), 3))});
    test::save(dir / "b.safetensors", {entry_of("proj.weight", make_view(w.data(), 4, 4))});
    test::save(dir / "c.safetensors", {entry_of("proj.weight_scale_inv", make_view(s.data(), 1, 1))});
    auto reader = open_ok(dir.path);
    CHECK_FALSE(reader.metadata().has_index());
    CHECK(reader.quantized("embed.weight") == nullptr);
    std::vector<float> e(24), p(16);
    REQUIRE(reader.read("embed.weight", make_view(e.data(), 6, 4)));
    for (std::size_t i = 0; i < e.size(); ++i) CHECK(e[i] == static_cast<float>(i) * 0.25f);
    std::vector<std::int64_t> got(3);
    REQUIRE(reader.read("ids", make_view(got.data(), 3)));
    CHECK(got == ids);
    REQUIRE(reader.read("proj.weight", make_view(p.data(), 4, 4)));
    CHECK(p == std::vector<float>(16, 6.0f));
    // A quantized tensor refuses an integer destination and a region outside its shape.
    std::vector<std::int32_t> ints(16);
    auto bad = reader.read("proj.weight", make_view(ints.data(), 4, 4));
    CHECK(bad.code() == errc::dtype_mismatch);
    CHECK(bad.error().to_string().find("proj.weight") != std::string::npos);
    auto outside = reader.read_region("proj.weight", {2, 0}, make_view(p.data(), 4, 4));
    CHECK(outside.code() == errc::out_of_bounds);
}

TEST_CASE("errors DCP does not raise name the tensor and the file") {
    SUBCASE("a scale grid of the wrong shape") {
        temp_dir dir("quanterr");
        std::vector<float> w(300 * 260), s(2 * 3);
        test::save(dir / "model.safetensors", {entry_of("x.weight", make_view(w.data(), 300, 260)), entry_of("x.weight_scale_inv", make_view(s.data(), 2, 3))});
        const auto e = open_error(dir.path);
        CHECK(e.find("x.weight_scale_inv") != std::string::npos);
        CHECK(e.find("model.safetensors") != std::string::npos);
        CHECK(e.find("expected [3, 3]") != std::string::npos);
    }
    SUBCASE("an FP8 weight without its scale") {
        temp_dir dir("quanterr");
        std::vector<f8_e4m3> w(4 * 4);
        test::save(dir / "model.safetensors", {entry_of("x.weight", make_view(w.data(), 4, 4))});
        const auto e = open_error(dir.path);
        CHECK(e.find("x.weight") != std::string::npos);
        CHECK(e.find("x.weight_scale_inv") != std::string::npos);
        CHECK(e.find("model.safetensors") != std::string::npos);
    }
    SUBCASE("an FP8 weight that is not 2-D") {
        temp_dir dir("quanterr");
        std::vector<f8_e4m3> w(2 * 4 * 4);
        std::vector<float> s(1);
        test::save(dir / "model.safetensors", {entry_of("x.weight", make_view(w.data(), 2, 4, 4)), entry_of("x.weight_scale_inv", make_view(s.data(), 1, 1))});
        const auto e = open_error(dir.path);
        CHECK(e.find("must be 2-D") != std::string::npos);
        CHECK(e.find("x.weight") != std::string::npos);
    }
    SUBCASE("MXFP4 scales that are not U8, and of the wrong shape") {
        temp_dir dir("quanterr");
        std::vector<std::uint8_t> b(2 * 3 * 4);
        std::vector<float> sf(2 * 3);
        std::vector<std::uint8_t> su(2 * 4);
        test::save(dir / "a.safetensors", {entry_of("x_blocks", make_view(b.data(), 2, 3, 4)), entry_of("x_scales", make_view(sf.data(), 2, 3))});
        auto e = open_error(dir.path);
        CHECK(e.find("x_scales") != std::string::npos);
        CHECK(e.find("must be U8") != std::string::npos);
        test::save(dir / "a.safetensors", {entry_of("x_blocks", make_view(b.data(), 2, 3, 4)), entry_of("x_scales", make_view(su.data(), 2, 4))});
        e = open_error(dir.path);
        CHECK(e.find("expected [2, 3]") != std::string::npos);
        CHECK(e.find("a.safetensors") != std::string::npos);
    }
    SUBCASE("a quantized weight saved in several chunks") {
        temp_dir dir("quanterr");
        std::vector<f8_e4m3> top(2 * 4, f8_e4m3(1.0f)), bottom(2 * 4, f8_e4m3(2.0f));
        std::vector<float> s(1, 1.0f);
        const std::uint64_t shape[] = {4, 4}, at0[] = {0, 0}, at2[] = {2, 0}, grid[] = {1, 1};
        std::vector<checkpoint::rank_state> ranks(2);
        ranks[0].push_back(checkpoint::chunk_of("x.weight", shape, at0, make_view(top.data(), 2, 4)));
        ranks[1].push_back(checkpoint::chunk_of("x.weight", shape, at2, make_view(bottom.data(), 2, 4)));
        ranks[0].push_back(checkpoint::chunk_of("x.weight_scale_inv", grid, at0, make_view(s.data(), 1, 1)));
        checkpoint::dcp_storage_writer<> writer(dir.path);
        REQUIRE(writer.save(ranks).has_value());
        const auto e = open_error(dir.path);
        CHECK(e.find("2 chunks") != std::string::npos);
        CHECK(e.find("x.weight") != std::string::npos);
        CHECK(e.find("shard-0000") != std::string::npos);
        // The storage reader still reads it as stored.
        auto plain = checkpoint::storage_reader::open(dir.path);
        REQUIRE(plain.has_value());
    }
}
