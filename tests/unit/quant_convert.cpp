// SPDX-License-Identifier: MIT
// `quant::convert`: quantized and plain checkpoints of every layout into one float dtype, the
// naming rules, FP8 block quantization within the E4M3 rounding bound, and bad input that
// leaves the output directory as it was.

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/quant/convert.hpp>

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

// Tensor `name` of a file as its elements, read as raw bytes (so the dtype must be T's).
template <class T>
std::vector<T> read_all(const file_reader& r, std::string_view name) {
    const auto* t = r.info(name).value();
    REQUIRE(t->dtype == dtype_of<T>);
    std::vector<T> out(static_cast<std::size_t>(t->numel()));
    const auto st = r.read_bytes(*t, std::as_writable_bytes(std::span(out)));
    REQUIRE_MESSAGE(st, (st ? "" : st.error().to_string()));
    return out;
}

// A quantized checkpoint like DeepSeek's and gpt-oss's together, with plain tensors of each kind.
struct quantized_model {
    std::vector<f8_e4m3> w;
    std::vector<float> w_scale;
    std::vector<std::uint8_t> blocks, scales;
    std::vector<bf16> norm;
    std::vector<std::int64_t> ids;
    std::vector<double> bias;

    explicit quantized_model(const temp_dir& dir) {
        std::mt19937 rng(5);
        w.resize(300 * 260);
        for (auto& x : w) x = f8_e4m3::from_bits(static_cast<std::uint8_t>(rng() % 0x7E));  // finite, positive
        w_scale.resize(3 * 3);
        for (auto& s : w_scale) s = std::ldexp(1.0f, static_cast<int>(rng() % 8) - 4);
        blocks.resize(2 * 3 * 16);
        for (auto& b : blocks) b = static_cast<std::uint8_t>(rng());
        scales = {120, 127, 130, 127, 125, 131};
        norm.assign(260, bf16(1.25f));
        ids = {7, 8, 9};
        bias = {0.1, 1e-30, -3.0000001};
        test::save(dir / "model-00001-of-00002.safetensors",
                   {entry_of("layers.0.mlp.weight", make_view(w.data(), 300, 260)), entry_of("layers.0.norm.weight", make_view(norm.data(), 260)),
                    entry_of("position_ids", make_view(ids.data(), 3))});
        test::save(dir / "model-00002-of-00002.safetensors",
                   {entry_of("layers.0.mlp.weight_scale_inv", make_view(w_scale.data(), 3, 3)),
                    entry_of("experts.down_blocks", make_view(blocks.data(), 2, 3, 16)), entry_of("experts.down_scales", make_view(scales.data(), 2, 3)),
                    entry_of("head.bias", make_view(bias.data(), 3))});
        test::write_index(dir, {{"layers.0.mlp.weight", "model-00001-of-00002.safetensors"},
                                {"layers.0.norm.weight", "model-00001-of-00002.safetensors"},
                                {"position_ids", "model-00001-of-00002.safetensors"},
                                {"layers.0.mlp.weight_scale_inv", "model-00002-of-00002.safetensors"},
                                {"experts.down_blocks", "model-00002-of-00002.safetensors"},
                                {"experts.down_scales", "model-00002-of-00002.safetensors"},
                                {"head.bias", "model-00002-of-00002.safetensors"}});
    }
};

}  // namespace

TEST_CASE("convert to F32: one model.safetensors, FP8 and MXFP4 pairs dequantized and renamed, scales dropped") {
    temp_dir in("convin"), out("convout");
    quantized_model m(in);
    auto r = quant::convert(in.path, out.path, {.to = dtype::F32, .thread_count = 2});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().to_string()));
    CHECK(r->dequantized == 2);
    CHECK_FALSE(r->indexed);
    CHECK(test::list_dir(out.path) == std::vector<std::string>{"model.safetensors"});
    auto f = file_reader::open(out / "model.safetensors");
    REQUIRE(f.has_value());
    std::vector<std::string> names;
    for (const auto& t : f->header().tensors()) names.emplace_back(t.name);
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"experts.down", "head.bias", "layers.0.mlp.weight", "layers.0.norm.weight", "position_ids"});
    CHECK(f->info("experts.down").value()->dtype == dtype::F32);
    CHECK(std::vector<std::uint64_t>(f->info("experts.down").value()->shape.begin(), f->info("experts.down").value()->shape.end()) ==
          std::vector<std::uint64_t>{2, 96});
    CHECK(f->info("position_ids").value()->dtype == dtype::I64);
    CHECK(read_all<std::int64_t>(*f, "position_ids") == m.ids);
    // Every value as the quantized reader gives it, which the reader tests check against the reference.
    auto reader = quant::quantized_reader::open(in.path).value();
    std::vector<float> want(300 * 260);
    REQUIRE(reader.read("layers.0.mlp.weight", make_view(want.data(), 300, 260)));
    CHECK(read_all<float>(*f, "layers.0.mlp.weight") == want);
    want.resize(2 * 96);
    REQUIRE(reader.read("experts.down_blocks", make_view(want.data(), 2, 96)));
    CHECK(read_all<float>(*f, "experts.down") == want);
    CHECK(read_all<float>(*f, "layers.0.norm.weight") == std::vector<float>(260, 1.25f));
    const auto bias = read_all<float>(*f, "head.bias");
    for (std::size_t i = 0; i < 3; ++i) CHECK(bias[i] == static_cast<float>(m.bias[i]));
    // The metadata is Hugging Face's.
    CHECK(f->header().metadata().size() == 1);
}

TEST_CASE("convert to BF16 in files of a capped size: model-i-of-N plus the index, an earlier model.safetensors removed") {
    temp_dir in("convin"), out("convout");
    quantized_model m(in);
    const std::string stale = "not a model";
    test::write_file(out / "model.safetensors", std::as_bytes(std::span(stale)));
    auto r = quant::convert(in.path, out.path, {.to = dtype::BF16, .max_shard_size = 100'000, .block_bytes = 8192});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().to_string()));
    CHECK(r->indexed);
    const auto listed = test::list_dir(out.path);
    CHECK(std::find(listed.begin(), listed.end(), "model.safetensors") == listed.end());
    CHECK(std::find(listed.begin(), listed.end(), "model.safetensors.index.json") != listed.end());
    CHECK(r->files.size() >= 2);
    auto converted = checkpoint::converting_storage_reader::open(out.path);
    REQUIRE(converted.has_value());
    CHECK(converted->metadata().has_index());
    auto reader = quant::quantized_reader::open(in.path).value();
    std::vector<bf16> got(300 * 260), want(300 * 260);
    REQUIRE(converted->read("layers.0.mlp.weight", make_view(got.data(), 300, 260)));
    REQUIRE(reader.read("layers.0.mlp.weight", make_view(want.data(), 300, 260)));
    CHECK(got == want);
    CHECK(converted->find("experts.down")->dtype == dtype::BF16);
    CHECK(converted->find("position_ids")->dtype == dtype::I64);
    CHECK(converted->find("layers.0.mlp.weight_scale_inv") == nullptr);
}

TEST_CASE("convert reads a DCP-sharded checkpoint and casts with round-to-nearest-even") {
    temp_dir in("convin"), out("convout");
    std::vector<float> top(3 * 5), bottom(2 * 5);
    std::mt19937 rng(2);
    std::uniform_real_distribution<float> u(-100.0f, 100.0f);
    for (auto& v : top) v = u(rng);
    for (auto& v : bottom) v = u(rng);
    const std::uint64_t shape[] = {5, 5}, at0[] = {0, 0}, at3[] = {3, 0};
    std::vector<checkpoint::rank_state> ranks(2);
    ranks[0].push_back(checkpoint::chunk_of("t", shape, at0, make_view(top.data(), 3, 5)));
    ranks[1].push_back(checkpoint::chunk_of("t", shape, at3, make_view(bottom.data(), 2, 5)));
    REQUIRE(checkpoint::dcp_storage_writer<>(in.path).save(ranks).has_value());
    auto r = quant::convert(in.path, out.path, {.to = dtype::F16});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().to_string()));
    auto f = file_reader::open(out / "model.safetensors").value();
    const auto got = read_all<f16>(f, "t");
    for (std::size_t i = 0; i < 25; ++i) CHECK(got[i] == f16(i < 15 ? top[i] : bottom[i - 15]));
}

TEST_CASE("FP8 block quantization: amax / 448 scales, all-zero blocks scaled by 1, the reader gives each original back within E4M3's rounding") {
    temp_dir in("quantin"), out("quantout"), back("quantback");
    const std::size_t rows = 300, cols = 260;
    std::vector<float> w(rows * cols), embed(10 * 4, 0.5f), norm(cols, 1.0f);
    std::mt19937 rng(9);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (auto& v : w) v = normal(rng);
    for (std::size_t i = 0; i < 128; ++i)  // block (0, 1) all zero
        for (std::size_t j = 128; j < 256; ++j) w[i * cols + j] = 0.0f;
    w[5 * cols + 7] = 3.5f;  // block (0, 0)'s largest
    test::save(in / "model.safetensors", {entry_of("layers.0.q.weight", make_view(w.data(), rows, cols)),
                                          entry_of("model.embed_tokens.weight", make_view(embed.data(), 10, 4)),
                                          entry_of("layers.0.input_layernorm.weight", make_view(norm.data(), cols))});
    auto r = quant::convert(in.path, out.path, {}, quant::fp8_block_quantization<>{});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().to_string()));
    CHECK(r->quantized == 1);
    auto f = file_reader::open(out / "model.safetensors").value();
    CHECK(f.info("layers.0.q.weight").value()->dtype == dtype::F8_E4M3);
    CHECK(f.info("model.embed_tokens.weight").value()->dtype == dtype::F32);  // embeddings and norms are left alone
    CHECK(f.info("layers.0.input_layernorm.weight").value()->dtype == dtype::F32);
    const auto grid = read_all<float>(f, "layers.0.q.weight_scale_inv");
    REQUIRE(grid.size() == 9);
    CHECK(grid[0] == 3.5f / 448.0f);
    CHECK(grid[1] == 1.0f);
    // Each original within the E4M3 bound: half an ulp of 3 mantissa bits, or of the smallest
    // subnormal step (2^-9 of the scale), plus F32 rounding of the division.
    auto reader = quant::quantized_reader::open(out.path).value();
    std::vector<float> deq(rows * cols);
    REQUIRE(reader.read("layers.0.q.weight", make_view(deq.data(), rows, cols)));
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) {
            const float s = grid[(i / 128) * 3 + j / 128], o = w[i * cols + j];
            const float bound = std::max(std::fabs(o) * 0x1p-4f, s * 0x1p-10f) * 1.001f;
            REQUIRE_MESSAGE(std::fabs(deq[i * cols + j] - o) <= bound, "at ", i, ",", j, ": ", o, " came back as ", deq[i * cols + j]);
        }
    CHECK(deq[5 * cols + 7] == 3.5f);
    // And back to plain F32: the same values the reader gives.
    auto b = quant::convert(out.path, back.path, {.to = dtype::F32});
    REQUIRE(b.has_value());
    CHECK(b->dequantized == 1);
    auto fb = file_reader::open(back / "model.safetensors").value();
    CHECK(read_all<float>(fb, "layers.0.q.weight") == deq);
    CHECK_FALSE(fb.info("layers.0.q.weight_scale_inv").has_value());
}

TEST_CASE("bad input: a clear error, and the output directory as it was") {
    temp_dir in("convbad"), out("convbadout");
    const std::string old = "the previous checkpoint";
    test::write_file(out / "model.safetensors", std::as_bytes(std::span(old)));
    SUBCASE("a malformed pair") {
        std::vector<f8_e4m3> w(8 * 8);
        std::vector<float> s(2);
        test::save(in / "model.safetensors", {entry_of("a.weight", make_view(w.data(), 8, 8)), entry_of("a.weight_scale_inv", make_view(s.data(), 1, 2))});
        auto r = quant::convert(in.path, out.path, {.to = dtype::BF16});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().to_string().find("a.weight_scale_inv") != std::string::npos);
    }
    SUBCASE("two tensors that convert to one name") {
        std::vector<std::uint8_t> b(4 * 2), sc(4);
        std::vector<float> x(4 * 4);
        test::save(in / "model.safetensors", {entry_of("x_blocks", make_view(b.data(), 4, 2)), entry_of("x_scales", make_view(sc.data(), 4)),
                                              entry_of("x", make_view(x.data(), 4, 4))});
        auto r = quant::convert(in.path, out.path, {.to = dtype::BF16});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().to_string().find("x_blocks") != std::string::npos);
    }
    SUBCASE("a value FP8 blocks cannot scale") {
        std::vector<float> w(4 * 4, 1.0f);
        w[6] = INFINITY;
        test::save(in / "model.safetensors", {entry_of("a.weight", make_view(w.data(), 4, 4))});
        auto r = quant::convert(in.path, out.path, {}, quant::fp8_block_quantization<>{});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().to_string().find("[1, 2]") != std::string::npos);
    }
    SUBCASE("a target that is not a float") {
        std::vector<float> w(4);
        test::save(in / "model.safetensors", {entry_of("a", make_view(w.data(), 4))});
        auto r = quant::convert(in.path, out.path, {.to = dtype::I32});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code() == errc::invalid_argument);
    }
    CHECK(test::list_dir(out.path) == std::vector<std::string>{"model.safetensors"});
    const auto bytes = test::read_file(out / "model.safetensors");
    CHECK(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()) == old);
}
