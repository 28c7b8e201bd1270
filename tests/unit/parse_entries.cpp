// SPDX-License-Identifier: MIT
// The header parser, part 2 of 4: what the header says: tensor entries (shape, dtype,
// data_offsets, sizes and their overflow, sub-byte packing), __metadata__, and the parsed
// header itself (lookups, owned strings, any key order and whitespace).

#include <safeshard/core/dtype.hpp>
#include <safeshard/detail/name_index.hpp>
#include <safeshard/format/parse.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/parse.hpp"

using namespace safeshard;
using namespace safeshard::test;

TEST_SUITE("parse") {

TEST_CASE("tensor entries") {
    SUBCASE("shape with a negative number") { CHECK(run(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0) == errc::bad_shape); }
    SUBCASE("shape with -0") { CHECK(run(R"({"a":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}})", 0) == errc::bad_shape); }
    SUBCASE("shape with a float") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape with an integral float") { CHECK(run(R"({"a":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}})", 2) == errc::bad_shape); }
    SUBCASE("shape with an exponent") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape with a string") { CHECK(run(R"({"a":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape with 2^64") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}})", 1) == errc::bad_shape);
    }
    SUBCASE("shape with 10^30") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[1000000000000000000000000000000],"data_offsets":[0,1]}})", 1) == errc::bad_shape);
    }
    SUBCASE("shape with a leading zero") { CHECK(run(R"({"a":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape with null") { CHECK(run(R"({"a":{"dtype":"U8","shape":[null],"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape with true") { CHECK(run(R"({"a":{"dtype":"U8","shape":[true],"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape nested") { CHECK(run(R"({"a":{"dtype":"U8","shape":[[1]],"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape an object") { CHECK(run(R"({"a":{"dtype":"U8","shape":{},"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape a number") { CHECK(run(R"({"a":{"dtype":"U8","shape":1,"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape a string") { CHECK(run(R"({"a":{"dtype":"U8","shape":"[1]","data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape null") { CHECK(run(R"({"a":{"dtype":"U8","shape":null,"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape with a trailing comma") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1,],"data_offsets":[0,1]}})", 1) == errc::bad_shape); }
    SUBCASE("shape 2^64 - 1 of U8 overflows numel x bits") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}})", 0) == errc::size_overflow);
    }
    SUBCASE("data_offsets with 1 number") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1]}})", 1) == errc::bad_data_offsets); }
    SUBCASE("data_offsets with 3 numbers") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}})", 1) == errc::bad_data_offsets); }
    SUBCASE("data_offsets empty") { CHECK(run(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[]}})", 0) == errc::bad_data_offsets); }
    SUBCASE("data_offsets negative") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1) == errc::bad_data_offsets); }
    SUBCASE("data_offsets with 2^64") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}})", 1) == errc::bad_data_offsets);
    }
    SUBCASE("data_offsets null") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":null}})", 1) == errc::bad_data_offsets); }
    SUBCASE("data_offsets an object") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":{"0":1}}})", 1) == errc::bad_data_offsets); }
    SUBCASE("data_offsets mixed") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,"1"]}})", 1) == errc::bad_data_offsets); }
    SUBCASE("begin > end") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[2,1]}})", 2) == errc::bad_data_offsets); }
    SUBCASE("begin > end on a zero-size tensor") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}})", 1) == errc::bad_data_offsets);
    }
    SUBCASE("dtype a number") { CHECK(run(R"({"a":{"dtype":1,"shape":[1],"data_offsets":[0,1]}})", 1) == errc::unknown_dtype); }
    SUBCASE("dtype null") { CHECK(run(R"({"a":{"dtype":null,"shape":[1],"data_offsets":[0,1]}})", 1) == errc::unknown_dtype); }
    SUBCASE("dtype an array") { CHECK(run(R"({"a":{"dtype":["U8"],"shape":[1],"data_offsets":[0,1]}})", 1) == errc::unknown_dtype); }
    SUBCASE("dtype an object") { CHECK(run(R"({"a":{"dtype":{},"shape":[1],"data_offsets":[0,1]}})", 1) == errc::unknown_dtype); }
    SUBCASE("dtype lower case") { CHECK(run(R"({"a":{"dtype":"u8","shape":[1],"data_offsets":[0,1]}})", 1) == errc::unknown_dtype); }
    SUBCASE("dtype empty") { CHECK(run(R"({"a":{"dtype":"","shape":[1],"data_offsets":[0,1]}})", 1) == errc::unknown_dtype); }
    SUBCASE("dtype with a trailing space") { CHECK(run(R"({"a":{"dtype":"U8 ","shape":[1],"data_offsets":[0,1]}})", 1) == errc::unknown_dtype); }
    SUBCASE("tensor value null") { CHECK(run(R"({"a":null})", 0) == errc::tensor_not_object); }
    SUBCASE("tensor value an array") { CHECK(run(R"({"a":["U8",[1],[0,1]]})", 1) == errc::tensor_not_object); }
    SUBCASE("tensor value a string") { CHECK(run(R"({"a":"U8"})", 0) == errc::tensor_not_object); }
    SUBCASE("tensor value a number") { CHECK(run(R"({"a":1})", 0) == errc::tensor_not_object); }
    SUBCASE("tensor value true") { CHECK(run(R"({"a":true})", 0) == errc::tensor_not_object); }
    SUBCASE("empty entry") {
        auto r = parse_bytes(framed(R"({"a":{}})"));
        CHECK(outcome_of(r) == errc::missing_field);
        CHECK(std::string_view(r.error().tensor()) == "a");
    }
    SUBCASE("missing dtype") {
        auto r = parse_bytes(framed(R"({"a":{"shape":[1],"data_offsets":[0,1]}})", zeros(1)));
        CHECK(outcome_of(r) == errc::missing_field);
        CHECK(std::string_view(r.error().detail()) == "dtype");
    }
    SUBCASE("missing shape") {
        auto r = parse_bytes(framed(R"({"a":{"dtype":"U8","data_offsets":[0,1]}})", zeros(1)));
        CHECK(outcome_of(r) == errc::missing_field);
        CHECK(std::string_view(r.error().detail()) == "shape");
    }
    SUBCASE("missing data_offsets") {
        auto r = parse_bytes(framed(R"({"a":{"dtype":"U8","shape":[1]}})", zeros(1)));
        CHECK(outcome_of(r) == errc::missing_field);
        CHECK(std::string_view(r.error().detail()) == "data_offsets");
    }
    SUBCASE("dtype twice") { CHECK(run(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1) == errc::duplicate_field); }
    SUBCASE("shape twice") { CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"shape":[1],"data_offsets":[0,1]}})", 1) == errc::duplicate_field); }
    SUBCASE("data_offsets twice") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"data_offsets":[0,1]}})", 1) == errc::duplicate_field);
    }
    SUBCASE("duplicate tensor name") {
        auto r = parse_bytes(framed(object({entry("w", "U8", "[1]", 0, 1), entry("v", "U8", "[1]", 1, 2), entry("w", "U8", "[1]", 2, 3)}),
                                    zeros(3)));
        CHECK(outcome_of(r) == errc::duplicate_tensor);
        CHECK(std::string_view(r.error().tensor()) == "w");
    }
    SUBCASE("duplicate names near and far: the first second occurrence in JSON order is named") {
        // Names are indexed a few tensors after they are added: a duplicate closer than that,
        // or farther, is found all the same, and the one reported is the JSON's first.
        for (int distance : {1, 15, 16, 17, 40}) {
            for (bool general_path : {false, true}) {
                CAPTURE(distance);
                CAPTURE(general_path);
                std::string json = general_path ? " {" : "{";  // a leading space skips the fast path
                for (int i = 0; i < 60; ++i) {
                    int name = i == 50 ? 50 - distance : i == 52 ? 10 : i;
                    json += (i ? "," : "") + entry("n" + std::to_string(name), "U8", "[1]", static_cast<u64>(i),
                                                   static_cast<u64>(i + 1));
                }
                json += "}";
                auto r = parse_bytes(framed(json, zeros(60)));
                REQUIRE(outcome_of(r) == errc::duplicate_tensor);
                CHECK(std::string_view(r.error().tensor()) == "n" + std::to_string(50 - distance));
            }
        }
    }
    SUBCASE("duplicate zero-size tensor name") {
        CHECK(run(object({entry("z", "U8", "[0]", 0, 0), entry("z", "U8", "[0]", 0, 0)}), 0) == errc::duplicate_tensor);
    }
    SUBCASE("the field order inside an entry does not matter") {
        for (std::string_view e : {R"({"dtype":"I16","shape":[2],"data_offsets":[0,4]})",
                                   R"({"dtype":"I16","data_offsets":[0,4],"shape":[2]})",
                                   R"({"shape":[2],"dtype":"I16","data_offsets":[0,4]})",
                                   R"({"shape":[2],"data_offsets":[0,4],"dtype":"I16"})",
                                   R"({"data_offsets":[0,4],"dtype":"I16","shape":[2]})",
                                   R"({"data_offsets":[0,4],"shape":[2],"dtype":"I16"})"}) {
            auto r = parse_bytes(framed("{\"t\":" + std::string(e) + "}", zeros(4)));
            INFO(e);
            REQUIRE(r.has_value());
            const auto& t = r->tensors()[0];
            CHECK(t.dtype == dtype::I16);
            CHECK(t.rank() == 1);
            CHECK(t.shape[0] == 2);
            CHECK(t.begin == 0);
            CHECK(t.end == 4);
        }
    }
    SUBCASE("a scalar: shape [] is one element") {
        auto h = must_parse(R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})", 8);
        CHECK(h.tensors()[0].rank() == 0);
        CHECK(h.tensors()[0].numel() == 1);
        CHECK(h.tensors()[0].byte_size() == 8);
    }
    SUBCASE("a scalar with no bytes is a size mismatch") {
        CHECK(run(R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,0]}})", 0) == errc::size_mismatch);
    }
    SUBCASE("size mismatch, one byte short and one over") {
        CHECK(run(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,15]}})", 15) == errc::size_mismatch);
        CHECK(run(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,17]}})", 17) == errc::size_mismatch);
    }
    SUBCASE("every dtype with its byte length") {
        for (auto d : all_dtypes) {
            u64 n = 8;  // 8 elements fill whole bytes for every dtype, sub-byte ones included
            u64 len = n * bits(d) / 8;
            auto h = must_parse(object({entry("t", name(d), "[2,4]", 0, len)}), len);
            CHECK(h.tensors()[0].dtype == d);
            CHECK(h.data_size() == len);
        }
    }
}

TEST_CASE("sub-byte dtypes pack across the whole tensor") {
    auto one = [](std::string_view dt, std::string_view shape, u64 len) {
        return run(object({entry("a", dt, shape, 0, len)}), len);
    };
    SUBCASE("F4 [3] in 2 bytes") { CHECK(one("F4", "[3]", 2) == errc::sub_byte_unaligned); }
    SUBCASE("F4 [3] in 1 byte") { CHECK(one("F4", "[3]", 1) == errc::sub_byte_unaligned); }
    SUBCASE("F4 [4] in 2 bytes") { CHECK(one("F4", "[4]", 2) == errc::ok); }
    SUBCASE("F4 [4] in 4 bytes") { CHECK(one("F4", "[4]", 4) == errc::size_mismatch); }
    SUBCASE("F4 [2,3] in 3 bytes (packing crosses rows)") { CHECK(one("F4", "[2,3]", 3) == errc::ok); }
    SUBCASE("F4 scalar") { CHECK(one("F4", "[]", 0) == errc::sub_byte_unaligned); }
    SUBCASE("F4 [0]") { CHECK(one("F4", "[0]", 0) == errc::ok); }
    SUBCASE("F4 [1]") { CHECK(one("F4", "[1]", 1) == errc::sub_byte_unaligned); }
    SUBCASE("F6_E2M3 [4] in 3 bytes") { CHECK(one("F6_E2M3", "[4]", 3) == errc::ok); }
    SUBCASE("F6_E2M3 [2]") { CHECK(one("F6_E2M3", "[2]", 2) == errc::sub_byte_unaligned); }
    SUBCASE("F6_E2M3 [1]") { CHECK(one("F6_E2M3", "[1]", 1) == errc::sub_byte_unaligned); }
    SUBCASE("F6_E2M3 [8] in 6 bytes") { CHECK(one("F6_E2M3", "[8]", 6) == errc::ok); }
    SUBCASE("F6_E2M3 [4] in 4 bytes") { CHECK(one("F6_E2M3", "[4]", 4) == errc::size_mismatch); }
    SUBCASE("F6_E3M2 [4,3] in 9 bytes") { CHECK(one("F6_E3M2", "[4,3]", 9) == errc::ok); }
    SUBCASE("F6_E3M2 [2,2,1] in 3 bytes") { CHECK(one("F6_E3M2", "[2,2,1]", 3) == errc::ok); }
    SUBCASE("F6_E3M2 [6]") { CHECK(one("F6_E3M2", "[6]", 5) == errc::sub_byte_unaligned); }
    SUBCASE("F6_E3M2 scalar") { CHECK(one("F6_E3M2", "[]", 0) == errc::sub_byte_unaligned); }
    SUBCASE("F6_E3M2 [0,5]") { CHECK(one("F6_E3M2", "[0,5]", 0) == errc::ok); }
}

TEST_CASE("size overflow is an error, not a wrap-around") {
    SUBCASE("numel overflows: [2^32, 2^32]") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0) == errc::size_overflow);
    }
    SUBCASE("numel overflows to exactly 0 mod 2^64: [2^32, 2^32] would wrap to 0 bytes") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,1],"data_offsets":[0,0]}})", 0) == errc::size_overflow);
    }
    SUBCASE("numel x bits overflows: F64 [2^61]") {
        CHECK(run(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0) == errc::size_overflow);
    }
    SUBCASE("numel x bits overflows for a sub-byte dtype: F4 [2^62]") {
        CHECK(run(R"({"a":{"dtype":"F4","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0) == errc::size_overflow);
    }
    SUBCASE("numel x bits overflows: U8 [2^61]") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0) == errc::size_overflow);
    }
    SUBCASE("a large size that fits is a size mismatch, not an overflow: U8 [2^60]") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[1152921504606846976],"data_offsets":[0,0]}})", 0) == errc::size_mismatch);
    }
    SUBCASE("a zero first keeps the running product at zero, as the reference's checked fold") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[0,9223372036854775808,9223372036854775808],"data_offsets":[0,0]}})", 0) == errc::ok);
    }
    SUBCASE("a zero last comes after the overflow") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[9223372036854775808,9223372036854775808,0],"data_offsets":[0,0]}})", 0) ==
              errc::size_overflow);
    }
    SUBCASE("huge offsets whose difference fits still have to tile") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}})", 1) ==
              errc::data_gap);
    }
}

TEST_CASE("__metadata__") {
    const std::string a = entry("a", "U8", "[1]", 0, 1);
    SUBCASE("null counts as absent") {
        auto h = must_parse(object({R"("__metadata__":null)", a}), 1);
        CHECK_FALSE(h.has_metadata());
        CHECK(h.metadata().empty());
        CHECK(h.size() == 1);
    }
    SUBCASE("{} is present and empty") {
        auto h = must_parse(object({R"("__metadata__":{})", a}), 1);
        CHECK(h.has_metadata());
        CHECK(h.metadata().empty());
        CHECK_FALSE(h.metadata_value("").has_value());
    }
    SUBCASE("absent") {
        auto h = must_parse(object({a}), 1);
        CHECK_FALSE(h.has_metadata());
    }
    SUBCASE("entries are sorted by key and looked up") {
        auto h = must_parse(
            object({R"("__metadata__":{"z":"last","format":"pt","":"empty key","A":"","\u00e9":"\u00e9\n\"x\""})", a}), 1);
        REQUIRE(h.metadata().size() == 5);
        std::vector<std::string_view> keys;
        for (const auto& m : h.metadata()) keys.push_back(m.key);
        CHECK(keys == std::vector<std::string_view>{"", "A", "format", "z", "\xC3\xA9"});
        CHECK(h.metadata_value("format") == "pt");
        CHECK(h.metadata_value("z") == "last");
        CHECK(h.metadata_value("") == "empty key");
        CHECK(h.metadata_value("A") == "");
        CHECK(h.metadata_value("\xC3\xA9") == "\xC3\xA9\n\"x\"");
        CHECK_FALSE(h.metadata_value("Format").has_value());
        CHECK_FALSE(h.metadata_value("forma").has_value());
        CHECK_FALSE(h.metadata_value("formats").has_value());
        CHECK_FALSE(h.metadata_value("zz").has_value());
    }
    SUBCASE("a value holding JSON text, as PyTorch DCP writes") {
        auto h = must_parse(object({R"("__metadata__":{"DCP_SHARDING_INFO":"{\"a\": [1, 2]}","DCP_VERSION":"1.0","format":"pt"})", a}), 1);
        CHECK(h.metadata_value("DCP_SHARDING_INFO") == R"({"a": [1, 2]})");
        CHECK(h.metadata_value("DCP_VERSION") == "1.0");
    }
    SUBCASE("metadata in the middle or last") {
        auto h1 = must_parse(object({a, R"("__metadata__":{"k":"v"})", entry("b", "U8", "[1]", 1, 2)}), 2);
        CHECK(h1.size() == 2);
        CHECK(h1.metadata_value("k") == "v");
        auto h2 = must_parse(object({a, entry("b", "U8", "[1]", 1, 2), R"("__metadata__":{"k":"v"})"}), 2);
        CHECK(h2.size() == 2);
        CHECK(h2.metadata_value("k") == "v");
    }
    SUBCASE("nested object value") { CHECK(run(object({R"("__metadata__":{"k":{"x":"y"}})", a}), 1) == errc::metadata_not_map); }
    SUBCASE("array value") { CHECK(run(object({R"("__metadata__":{"k":["v"]})", a}), 1) == errc::metadata_not_map); }
    SUBCASE("number value") {
        auto r = parse_bytes(framed(object({R"("__metadata__":{"k":1})", a}), zeros(1)));
        CHECK(outcome_of(r) == errc::metadata_not_map);
        CHECK(std::string_view(r.error().detail()) == "k");
    }
    SUBCASE("null value") { CHECK(run(object({R"("__metadata__":{"k":null})", a}), 1) == errc::metadata_not_map); }
    SUBCASE("bool value") { CHECK(run(object({R"("__metadata__":{"k":true})", a}), 1) == errc::metadata_not_map); }
    SUBCASE("metadata a string") { CHECK(run(object({R"("__metadata__":"hello")", a}), 1) == errc::metadata_not_map); }
    SUBCASE("metadata an array") { CHECK(run(object({R"("__metadata__":[])", a}), 1) == errc::metadata_not_map); }
    SUBCASE("metadata a number") { CHECK(run(object({R"("__metadata__":0)", a}), 1) == errc::metadata_not_map); }
    SUBCASE("metadata false") { CHECK(run(object({R"("__metadata__":false)", a}), 1) == errc::metadata_not_map); }
    SUBCASE("metadata misspelt null") { CHECK(run(object({R"("__metadata__":nul)", a}), 1) == errc::header_not_json); }
    SUBCASE("bad escape in a value") { CHECK(run(object({R"("__metadata__":{"k":"\x"})", a}), 1) == errc::header_not_json); }
    SUBCASE("duplicate key") {
        auto r = parse_bytes(framed(object({R"("__metadata__":{"x":"1","y":"2","x":"3"})", a}), zeros(1)));
        CHECK(outcome_of(r) == errc::duplicate_metadata_key);
        CHECK(std::string_view(r.error().detail()) == "x");
    }
    SUBCASE("duplicate key with equal values") {
        CHECK(run(object({R"("__metadata__":{"x":"1","x":"1"})", a}), 1) == errc::duplicate_metadata_key);
    }
    SUBCASE("duplicate key through an escape") {
        CHECK(run(object({R"("__metadata__":{"k":"1","\u006b":"2"})", a}), 1) == errc::duplicate_metadata_key);
    }
    SUBCASE("keys that differ only in case are distinct") {
        auto h = must_parse(object({R"("__metadata__":{"k":"1","K":"2"})", a}), 1);
        CHECK(h.metadata().size() == 2);
    }
    SUBCASE("__metadata__ twice") { CHECK(run(object({R"("__metadata__":{"x":"1"})", a, R"("__metadata__":{"y":"2"})"}), 1) == errc::duplicate_metadata); }
    SUBCASE("__metadata__ null then {}") { CHECK(run(object({R"("__metadata__":null)", R"("__metadata__":{})", a}), 1) == errc::duplicate_metadata); }
    SUBCASE("a tensor entry under the name __metadata__") {
        CHECK(run(object({R"("__metadata__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]})"}), 1) == errc::metadata_not_map);
    }
    SUBCASE("a string-only object under __metadata__ is metadata, not a tensor") {
        auto h = must_parse(object({R"("__metadata__":{"dtype":"U8"})", a}), 1);
        CHECK(h.size() == 1);
        CHECK(h.find("__metadata__") == nullptr);
        CHECK(h.metadata_value("dtype") == "U8");
    }
}

TEST_CASE("lookups") {
    const std::string json = object({entry("model.layers.0.weight", "BF16", "[2,3]", 0, 12), entry("", "U8", "[1]", 12, 13),
                                     entry("model.layers.0.bias", "BF16", "[3]", 13, 19), entry("\xC3\xA9", "U8", "[0]", 19, 19)});
    auto h = must_parse(json, 19);
    SUBCASE("hits") {
        const auto* w = h.find("model.layers.0.weight");
        REQUIRE(w != nullptr);
        CHECK(w->dtype == dtype::BF16);
        CHECK(w->begin == 0);
        CHECK(w->end == 12);
        CHECK(w == &h.tensors()[0]);
        const auto* b = h.find("model.layers.0.bias");
        REQUIRE(b != nullptr);
        CHECK(b->begin == 13);
        CHECK(h.find("\xC3\xA9") == &h.tensors()[3]);
    }
    SUBCASE("the empty name") {
        const auto* e = h.find("");
        REQUIRE(e != nullptr);
        CHECK(e->name.empty());
        CHECK(e->begin == 12);
    }
    SUBCASE("misses") {
        CHECK(h.find("model.layers.0") == nullptr);
        CHECK(h.find("model.layers.0.weigh") == nullptr);
        CHECK(h.find("model.layers.0.weightx") == nullptr);
        CHECK(h.find("Model.layers.0.weight") == nullptr);
        CHECK(h.find("__metadata__") == nullptr);
        CHECK(h.find(std::string_view("\0", 1)) == nullptr);
    }
    SUBCASE("a name with a NUL inside") {
        auto g = must_parse(object({entry(R"(a\u0000b)", "U8", "[1]", 0, 1)}), 1);
        CHECK(g.find(std::string_view("a\0b", 3)) != nullptr);
        CHECK(g.find("a") == nullptr);
    }
    SUBCASE("a default header finds nothing") {
        header empty;
        CHECK(empty.find("") == nullptr);
        CHECK(empty.find("x") == nullptr);
        CHECK(empty.size() == 0);
        CHECK_FALSE(empty.metadata_value("k").has_value());
    }
    SUBCASE("a header moved elsewhere keeps its views") {
        header moved = std::move(h);
        const auto* w = moved.find("model.layers.0.weight");
        REQUIRE(w != nullptr);
        CHECK(w->name == "model.layers.0.weight");
        CHECK(w->shape.size() == 2);
        CHECK(w->shape[1] == 3);
    }
    SUBCASE("many names, all found") {
        std::string big = "{";
        for (int i = 0; i < 2000; ++i) {
            if (i) big += ",";
            big += entry("t" + std::to_string(i), "U8", "[1]", static_cast<u64>(i), static_cast<u64>(i) + 1);
        }
        big += "}";
        auto g = must_parse(big, 2000);
        bool all = true;
        for (int i = 0; i < 2000; ++i) {
            const auto* t = g.find("t" + std::to_string(i));
            all = all && t != nullptr && t->begin == static_cast<u64>(i);
        }
        CHECK(all);
        CHECK(g.find("t2000") == nullptr);
    }
}

TEST_CASE("the header owns its strings: the input may be freed") {
    auto file = std::make_unique<std::string>(
        framed(R"({"__metadata__":{"key":"value"},"name\u00e9":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})", zeros(3)));
    auto r = parse_bytes(*file);
    REQUIRE(r.has_value());
    std::fill(file->begin(), file->end(), '#');
    file.reset();
    CHECK(r->find("name\xC3\xA9") != nullptr);
    CHECK(r->tensors()[0].name == "name\xC3\xA9");
    CHECK(r->tensors()[0].shape[0] == 3);
    CHECK(r->metadata_value("key") == "value");
}

TEST_CASE("pretty-printed headers with newlines and tabs, keys in any order") {
    const std::string pretty =
        "{\n"
        "\t\"b\": {\n"
        "\t\t\"shape\": [ 2 ],\r\n"
        "\t\t\"data_offsets\": [ 8, 16 ],\n"
        "\t\t\"dtype\": \"F32\"\n"
        "\t},\n"
        "\t\"a\" : { \"data_offsets\" : [0 , 8] , \"dtype\" : \"I64\" , \"shape\" : [ ] } ,\n"
        "\t\"__metadata__\": {\n"
        "\t\t\"format\": \"pt\"\n"
        "\t}\n"
        "}\n";
    auto h = must_parse(pretty, 16);
    REQUIRE(h.size() == 2);
    CHECK(h.tensors()[0].name == "b");
    CHECK(h.tensors()[1].name == "a");
    CHECK(h.find("a")->dtype == dtype::I64);
    CHECK(h.find("a")->rank() == 0);
    CHECK(h.find("b")->begin == 8);
    CHECK(h.metadata_value("format") == "pt");
    CHECK(h.header_size() == pretty.size());
}

TEST_CASE("names: similar names hash apart, and the index finds each in a few probes") {
    // Names as checkpoints spell them: long shared prefixes, differing in a digit or two, of
    // every length around the 16-byte step of the hash.
    std::vector<std::string> names;
    for (int l = 0; l < 2000; ++l)
        for (const char* leaf : {"q_proj.weight", "k_proj.weight", "v", "o_proj.weight.scale_inv", "mlp.up", "x"})
            names.push_back("model.layers." + std::to_string(l) + "." + leaf);
    for (int i = 0; i < 3000; ++i) names.push_back(std::string(static_cast<std::size_t>(i % 40), 'a') + std::to_string(i));
    std::set<std::uint64_t> hashes;
    for (const auto& n : names) hashes.insert(detail::hash_name(n));
    CHECK(hashes.size() == names.size());  // no two of 15,000 names share a 64-bit hash
    detail::name_index index;
    REQUIRE(index.reset(names.size()));
    auto name_of = [&](std::uint32_t i) { return std::string_view(names[i]); };
    for (std::uint32_t i = 0; i < names.size(); ++i) REQUIRE(index.insert(names[i], i, name_of) == detail::name_index::npos);
    for (std::uint32_t i = 0; i < names.size(); ++i) CHECK(index.find(names[i], name_of) == i);
    CHECK(index.find("model.layers.2000.v", name_of) == detail::name_index::npos);
    CHECK(index.insert(names[7], 99, name_of) == 7);  // a duplicate gives the first one back
    // The low 32 bits pick the slot, scaled to the table: over the 30,002 slots of this
    // index, the fullest of 64 runs of slots holds no more than twice its share.
    const std::size_t slots = detail::name_index::slots_for(names.size());
    std::vector<int> buckets(64);
    for (auto h : hashes) ++buckets[detail::name_index::home_slot(h, slots) * 64 / slots];
    CHECK(*std::max_element(buckets.begin(), buckets.end()) < 2 * static_cast<int>(names.size()) / 64);
    // The portable multiply gives the same hash as the 128-bit one.
    for (auto h : hashes)
        CHECK(detail::fold_multiply_portable(h, h * 0x9E3779B97F4A7C15ull + 1) == detail::fold_multiply(h, h * 0x9E3779B97F4A7C15ull + 1));
    CHECK(detail::fold_multiply_portable(~0ull, ~0ull) == detail::fold_multiply(~0ull, ~0ull));
}

}  // TEST_SUITE
