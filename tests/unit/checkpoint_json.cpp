// SPDX-License-Identifier: MIT
// The checkpoint's names and JSON documents: file names, the index and DCP_SHARDING_INFO text
// DCP writes (Python's json module, byte for byte), parsing both back with malformed input
// refused, and the fqn-to-file-index mapping a consolidation may be given as a file.

#include <safeshard/checkpoint/naming.hpp>
#include <safeshard/format/checkpoint_json_emit.hpp>
#include <safeshard/format/checkpoint_json_parse.hpp>
#include <safeshard/format/checkpoint_names.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace safeshard;
using namespace safeshard::checkpoint;

using dims = std::vector<std::uint64_t>;

}  // namespace

TEST_SUITE("checkpoint_json") {

TEST_CASE("file names pad every number to five digits and never cut longer ones") {
    CHECK(file_name(1, 2) == "model-00001-of-00002.safetensors");
    CHECK(file_name(1, 1, 2) == "shard-00002-model-00001-of-00001.safetensors");
    CHECK(file_name(123456, 1234567) == "model-123456-of-1234567.safetensors");
    CHECK(file_name(7, 99999, 100000) == "shard-100000-model-00007-of-99999.safetensors");
}

TEST_CASE("model-I-of-N names: one parser gives I and N for 1 <= I <= N < 2^32, and nothing else") {
    static_assert(parse_model_file_name("model-00002-of-00003.safetensors")->index == 2);
    static_assert(!parse_model_file_name("model-00000-of-00003.safetensors"));
    auto numbers = [](std::string_view n) {
        auto r = parse_model_file_name(n);
        REQUIRE(r.has_value());
        CHECK(is_model_file_name(n));
        return std::pair(r->index, r->count);
    };
    CHECK(numbers("model-00001-of-00002.safetensors") == std::pair(1u, 2u));
    CHECK(numbers("model-1-of-1.safetensors") == std::pair(1u, 1u));
    CHECK(numbers("model-4294967295-of-4294967295.safetensors") == std::pair(4294967295u, 4294967295u));
    CHECK(numbers("model-000000000007-of-9.safetensors") == std::pair(7u, 9u));
    // What file_name writes reads back.
    for (std::uint32_t n : {1u, 2u, 7u, 99999u, 100000u, 1234567u})
        for (std::uint32_t i : {1u, n / 2 + 1, n}) CHECK(numbers(file_name(i, n)) == std::pair(i, n));
    for (const char* bad : {"model-00000-of-00002.safetensors", "model-00003-of-00002.safetensors",
                            "model-4294967296-of-4294967296.safetensors", "model-00001-of-99999999999999999999999.safetensors",
                            "model--of-00002.safetensors", "model-00001-of-.safetensors", "model-00001-00002.safetensors",
                            "model-0000a-of-00002.safetensors", "model-+1-of-2.safetensors", "model- 1-of-2.safetensors",
                            "model-1-of-2-of-3.safetensors", "model-00001-of-00002.safetensors.tmp", "model-00001-of-00002.bin",
                            "shard-00001-model-00001-of-00001.safetensors", "model.safetensors", "model-.safetensors", ""}) {
        INFO(bad);
        CHECK(!parse_model_file_name(bad).has_value());
        CHECK(!is_model_file_name(bad));
    }
}

TEST_CASE("natural_less: digit runs compare as numbers, a strict total order") {
    std::vector<std::string> names = {"layers.10.w", "layers.2.w", "layers.1.w", "emb", "layers.2.b", "layers.02.w", "layers.2"};
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) { return natural_less(a, b); });
    CHECK(names == std::vector<std::string>{"emb", "layers.1.w", "layers.02.w", "layers.2", "layers.2.b", "layers.2.w", "layers.10.w"});
    CHECK(natural_less("a", "a0"));
    CHECK(!natural_less("a0", "a"));
    CHECK(!natural_less("x", "x"));
    CHECK(!natural_less("x12", "x12"));
    // More leading zeros first, so that equal numbers still order.
    CHECK(natural_less("a01", "a1"));
    CHECK(!natural_less("a1", "a01"));
    // Numbers longer than 64 bits compare by their digits, without overflow.
    CHECK(natural_less("x99999999999999999999999", "x100000000000000000000000"));
    CHECK(natural_less("x100000000000000000000000", "x100000000000000000000001"));
    CHECK(natural_less("B", "a"));  // bytes otherwise
}

TEST_CASE("the index is Python's json.dump(indent=2) text (scenario 4)") {
    std::pair<std::string_view, std::string_view> map[] = {{"tensor_0", "model-00001-of-00001"}, {"tensor_1", "model-00001-of-00001"}};
    CHECK(index_json(200, map) ==
          "{\n  \"metadata\": {\n    \"total_size\": 200\n  },\n  \"weight_map\": {\n    \"tensor_0\": \"model-00001-of-00001\",\n"
          "    \"tensor_1\": \"model-00001-of-00001\"\n  }\n}");
    CHECK(index_json(0, {}) == "{\n  \"metadata\": {\n    \"total_size\": 0\n  },\n  \"weight_map\": {}\n}");
    // ensure_ascii: non-ASCII as \uXXXX (astral planes as surrogate pairs), DEL and controls too.
    std::pair<std::string_view, std::string_view> odd[] = {{"caf\xc3\xa9 \xf0\x9f\x98\x80\x7f\x01\"\\\n", "f"}};
    CHECK(index_json(1, odd) == "{\n  \"metadata\": {\n    \"total_size\": 1\n  },\n  \"weight_map\": {\n    "
                                "\"caf\\u00e9 \\ud83d\\ude00\\u007f\\u0001\\\"\\\\\\n\": \"f\"\n  }\n}");
}

TEST_CASE("DCP_SHARDING_INFO is Python's json.dumps text, in plan order") {
    dims a = {2, 0}, b = {0, 2}, none = {};
    sharding_info_entry e[] = {{"dtensor", a, {}}, {"dtensor_col", b, {}}, {"scalar", none, {}}};
    CHECK(sharding_info_json(e) ==
          R"({"dtensor": {"saved_offsets": [2, 0]}, "dtensor_col": {"saved_offsets": [0, 2]}, "scalar": {"saved_offsets": []}})");
    dims g = {4, 4};
    sharding_info_entry with[] = {{"t", a, g}};
    CHECK(sharding_info_json(with, true) == R"({"t": {"saved_offsets": [2, 0], "global_shape": [4, 4]}})");
    CHECK(sharding_info_json({}) == "{}");
}

TEST_CASE("sharding info and index parsing: what they hold, and malformed input refused") {
    auto info = parse_sharding_info(R"({"b": {"saved_offsets": [2, 0], "extra": 1}, "a": {"saved_offsets": [], "global_shape": [3]}})");
    REQUIRE(info.has_value());
    REQUIRE(info->entries().size() == 2);
    REQUIRE(info->find("b") != nullptr);
    CHECK(dims(info->find("b")->saved_offsets.begin(), info->find("b")->saved_offsets.end()) == dims{2, 0});
    CHECK(info->find("a")->has_global_shape);
    CHECK(info->find("c") == nullptr);
    for (const char* bad : {"not json", "[1]", R"({"a": 1})", R"({"a": {}})", R"({"a": {"saved_offsets": [-1]}})",
                            R"({"a": {"saved_offsets": [1.5]}})", R"({"a": {"saved_offsets": [0]}, "a": {"saved_offsets": [0]}})",
                            R"({"a": {"saved_offsets": [0], "saved_offsets": [1]}})"}) {
        INFO(bad);
        CHECK(parse_sharding_info(bad).code() == errc::bad_checkpoint_metadata);
    }
    auto idx = parse_index(R"({"metadata": {"total_size": 12}, "weight_map": {"x": "b.safetensors", "y": "a.safetensors", "z": "b.safetensors"}})");
    REQUIRE(idx.has_value());
    CHECK(idx->total_size() == 12u);
    REQUIRE(idx->files().size() == 2);
    CHECK(idx->files()[0] == "b.safetensors");
    CHECK(idx->weight_map()[1].tensor == "y");
    for (const char* bad : {"{}", R"({"weight_map": []})", R"({"weight_map": {"x": 1}})", R"({"weight_map": {"x": "a", "x": "b"}})",
                            R"({"weight_map": {}, "weight_map": {}})", R"({"metadata": {"total_size": -3}, "weight_map": {}})"}) {
        INFO(bad);
        CHECK(parse_index(bad).code() == errc::bad_checkpoint_metadata);
    }
}

TEST_CASE("an fqn-to-file-index mapping: a JSON object of indices, in its order") {
    auto m = parse_fqn_to_index_mapping(R"({"b": 2, "a": 1, "c": 4294967295, "weight_map": 3})");
    REQUIRE(m.has_value());
    using entry = std::pair<std::string, std::uint32_t>;
    CHECK(*m == std::vector<entry>{{"b", 2}, {"a", 1}, {"c", 4294967295u}, {"weight_map", 3}});
    auto empty = parse_fqn_to_index_mapping("{}");
    REQUIRE(empty.has_value());
    CHECK(empty->empty());
}

TEST_CASE("an fqn-to-file-index mapping: an index, whose file names give the indices") {
    auto m = parse_fqn_to_index_mapping(
        R"({"metadata": {"total_size": 8}, "weight_map": {"x": "model-00002-of-00002.safetensors", "y": "model-00001-of-00002.safetensors"}})");
    REQUIRE(m.has_value());
    using entry = std::pair<std::string, std::uint32_t>;
    CHECK(*m == std::vector<entry>{{"x", 2}, {"y", 1}});
    // What index_json writes (ensure_ascii escapes included) reads back as its layout.
    std::pair<std::string_view, std::string_view> map[] = {{"caf\xc3\xa9", "model-00003-of-00003.safetensors"},
                                                           {"b", "model-00001-of-00003.safetensors"}};
    auto back = parse_fqn_to_index_mapping(index_json(0, map));
    REQUIRE(back.has_value());
    CHECK(*back == std::vector<entry>{{"caf\xc3\xa9", 3}, {"b", 1}});
}

TEST_CASE("an fqn-to-file-index mapping: each malformed input refused, saying what and which tensor") {
    struct bad_case {
        const char* json;
        errc code;
        const char* tensor;
        const char* says;
    };
    const bad_case cases[] = {
        {R"({"a": 1, "b": 2, "a": 2})", errc::invalid_argument, "a", "name given twice in the mapping"},
        {R"({"a": 1, "b": 0})", errc::invalid_argument, "b", "file index 0: indices are 1-based"},
        {R"({"a": 1.5})", errc::invalid_argument, "a", "file index is not an integer from 1 to 4294967295"},
        {R"({"a": 1.0})", errc::invalid_argument, "a", "not an integer"},
        {R"({"a": 1e2})", errc::invalid_argument, "a", "not an integer"},
        {R"({"a": "1"})", errc::invalid_argument, "a", "not an integer"},
        {R"({"a": -1})", errc::invalid_argument, "a", "not an integer"},
        {R"({"a": 4294967296})", errc::invalid_argument, "a", "not an integer"},
        {R"({"a": null})", errc::invalid_argument, "a", "not an integer"},
        {R"({"a": true})", errc::invalid_argument, "a", "not an integer"},
        {R"({"a": [1]})", errc::invalid_argument, "a", "not an integer"},
        {"[1, 2]", errc::invalid_argument, "", "mapping is not a JSON object"},
        {R"("model-00001-of-00001.safetensors")", errc::invalid_argument, "", "not a JSON object"},
        {R"({"a": 1,)", errc::invalid_argument, "", "mapping is not JSON"},
        {"", errc::invalid_argument, "", "mapping is not JSON"},
        {R"({"weight_map": {"x": "model-00001-of-00001.safetensors", "y": "a.safetensors"}})", errc::invalid_argument, "y",
         "file name \"a.safetensors\" is not model-I-of-N.safetensors"},
        {R"({"weight_map": {"x": "model-00000-of-00002.safetensors"}})", errc::invalid_argument, "x", "model-00000-of-00002"},
        {R"({"weight_map": {"x": "model-00003-of-00002.safetensors"}})", errc::invalid_argument, "x", "model-00003-of-00002"},
        {R"({"weight_map": {"x": "shard-00001-model-00001-of-00001.safetensors"}})", errc::invalid_argument, "x", "shard-00001"},
        // An index's own faults, as parse_index reports them.
        {R"({"weight_map": {"x": "model-00001-of-00001.safetensors", "x": "model-00001-of-00001.safetensors"}})",
         errc::bad_checkpoint_metadata, "x", "tensor listed twice in weight_map"},
        {R"({"weight_map": {"x": 1}})", errc::bad_checkpoint_metadata, "x", "weight_map value is not a file name"},
        {R"({"weight_map": {}, "weight_map": {}})", errc::bad_checkpoint_metadata, "", "weight_map given twice"},
    };
    for (const auto& c : cases) {
        INFO(c.json);
        auto r = parse_fqn_to_index_mapping(c.json);
        REQUIRE(!r.has_value());
        CHECK(r.code() == c.code);
        CHECK(std::string_view(r.error().tensor()) == c.tensor);
        INFO(r.error().to_string());
        CHECK(r.error().to_string().find(c.says) != std::string::npos);
    }
}

}  // TEST_SUITE
