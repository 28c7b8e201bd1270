// SPDX-License-Identifier: MIT
// The header parser, part 1 of 4: the reference crate's hostile-corpus verdicts, the framing
// (the 8-byte length and the file around it), and the JSON itself: whitespace and padding,
// strings and escapes, UTF-8, unknown fields of every JSON type, nesting.

#include <safeshard/format/parse.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "../support/parse.hpp"

using namespace safeshard;
using namespace safeshard::test;

namespace {

// The crafted files of the reference crate's hostile corpus, built here byte by byte.
struct hostile_row {
    const char* file;
    std::string bytes;
    errc expected;  // errc::ok where the reference accepts
};

// expected.tsv of the reference crate, row by row, with the bytes of each crafted file.
std::vector<hostile_row> hostile_rows() {
    const std::string a16 = R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
    return {
        {"aliased_same_range.safetensors",
         framed(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})",
                zeros(16)),
         errc::data_overlap},
        {"dtype_unknown.safetensors", framed(R"({"a":{"dtype":"F128","shape":[2,2],"data_offsets":[0,16]}})", zeros(16)),
         errc::unknown_dtype},
        // The reference keeps the last "a" and then fails on the offsets; we refuse the name.
        {"dup_key_diff_info.safetensors",
         framed(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]}})",
                zeros(32)),
         errc::duplicate_tensor},
        // Accepted by the reference (last value wins); stricter here.
        {"dup_key_inside_metadata.safetensors", framed(R"({"__metadata__":{"x":"1","x":"2"},)" + a16 + "}", zeros(16)),
         errc::duplicate_metadata_key},
        {"dup_metadata_key.safetensors", framed(R"({"__metadata__":{"x":"1"},"__metadata__":{"y":"2"},)" + a16 + "}", zeros(16)),
         errc::duplicate_metadata},
        {"empty_header_with_data.safetensors", framed("{}", zeros(1)), errc::trailing_bytes},
        {"f4_even_elements.safetensors", framed(R"({"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}})", zeros(2)), errc::ok},
        {"f6_four_elements.safetensors", framed(R"({"a":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[0,3]}})", zeros(3)),
         errc::ok},
        {"file_empty_0_bytes.safetensors", std::string(), errc::file_too_small},
        {"gap_between.safetensors",
         framed(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2,2],"data_offsets":[20,36]}})",
                zeros(36)),
         errc::data_gap},
        {"header_invalid_utf8.safetensors", framed("{\"\xff\":1}"), errc::header_not_utf8},
        {"header_len_not_multiple_of_8.safetensors", framed("{" + a16 + "} ", zeros(16)), errc::ok},
        {"header_utf8_bom.safetensors", framed("\xEF\xBB\xBF{}"), errc::header_not_json},
        {"meta_nested_object.safetensors", framed(R"({"__metadata__":{"k":{"x":"y"}},)" + a16 + "}", zeros(16)),
         errc::metadata_not_map},
        {"meta_not_first.safetensors", framed("{" + a16 + R"(,"__metadata__":{"k":"v"}})", zeros(16)), errc::ok},
        {"meta_string.safetensors", framed(R"({"__metadata__":"hello",)" + a16 + "}", zeros(16)), errc::metadata_not_map},
        {"n_larger_than_file.safetensors", framed_n(64, "{}"), errc::header_past_end},
        {"n_u64_max.safetensors", framed_n(u64_max, "{}"), errc::header_too_large},
        {"offsets_float.safetensors", framed(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0.0,16.0]}})", zeros(16)),
         errc::bad_data_offsets},
        {"offsets_strings.safetensors", framed(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":["0","16"]}})", zeros(16)),
         errc::bad_data_offsets},
        {"ok_basic.safetensors", framed("{" + a16 + "}", zeros(16)), errc::ok},
        {"pad_leading_whitespace.safetensors", framed(" \t\n\r{" + a16 + "}", zeros(16)), errc::ok},
        {"pad_trailing_spaces_odd.safetensors", framed("{" + a16 + "}   ", zeros(16)), errc::ok},
        {"shape_mul_bits_overflow.safetensors",
         framed(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})"), errc::size_overflow},
        {"shape_overflow.safetensors",
         framed(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"), errc::size_overflow},
        {"tensor_empty_name.safetensors", framed(R"({"":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", zeros(16)),
         errc::ok},
        // The reference reads it as metadata and fails on the non-string values.
        {"tensor_named___metadata__.safetensors",
         framed(R"({"__metadata__":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", zeros(16)), errc::metadata_not_map},
        {"tensorinfo_unknown_field.safetensors",
         framed(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16],"extra":1}})", zeros(16)), errc::ok},
        {"trailing_bytes_after_data.safetensors", framed("{" + a16 + "}", zeros(16) + "X"), errc::trailing_bytes},
        {"zero_dim_but_bytes.safetensors", framed(R"({"a":{"dtype":"F32","shape":[0,3],"data_offsets":[0,4]}})", zeros(4)),
         errc::size_mismatch},
    };
}

}  // namespace

TEST_SUITE("parse") {

TEST_CASE("every verdict of the reference crate's hostile corpus, with our errc") {
    const auto rows = hostile_rows();
    REQUIRE(rows.size() == 30);  // expected.tsv has 30 rows
    for (const auto& row : rows) {
        SUBCASE(row.file) {
            auto r = parse_bytes(row.bytes);
            CHECK(outcome_of(r) == row.expected);
            if (r) check_invariants(*r, row.bytes.size());
        }
    }
}

TEST_CASE("accepted hostile files parse to the right values") {
    SUBCASE("ok_basic") {
        auto h = must_parse(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 16);
        REQUIRE(h.size() == 1);
        const auto& t = h.tensors()[0];
        CHECK(t.name == "a");
        CHECK(t.dtype == dtype::F32);
        CHECK(std::vector<u64>(t.shape.begin(), t.shape.end()) == std::vector<u64>{2, 2});
        CHECK(t.begin == 0);
        CHECK(t.end == 16);
        CHECK(t.numel() == 4);
        CHECK(t.rank() == 2);
        CHECK(h.header_size() == 57);
        CHECK(h.data_offset() == 65);
        CHECK(h.data_size() == 16);
        CHECK(h.trailing_bytes() == 0);
        CHECK_FALSE(h.has_metadata());
        CHECK(h.metadata().empty());
    }
    SUBCASE("f4_even_elements: 4 elements in 2 bytes") {
        auto h = must_parse(R"({"a":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}})", 2);
        CHECK(h.tensors()[0].dtype == dtype::F4);
        CHECK(h.tensors()[0].byte_size() == 2);
    }
    SUBCASE("f6_four_elements: 4 elements in 3 bytes") {
        auto h = must_parse(R"({"a":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[0,3]}})", 3);
        CHECK(h.tensors()[0].dtype == dtype::F6_E2M3);
        CHECK(h.data_size() == 3);
    }
    SUBCASE("meta_not_first") {
        auto h = must_parse(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"__metadata__":{"k":"v"}})", 16);
        CHECK(h.has_metadata());
        CHECK(h.metadata_value("k") == "v");
        CHECK(h.size() == 1);
    }
    SUBCASE("tensor_empty_name") {
        auto h = must_parse(R"({"":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 16);
        REQUIRE(h.find("") != nullptr);
        CHECK(h.find("")->name.empty());
        CHECK(h.find("a") == nullptr);
    }
    SUBCASE("odd N and whitespace padding") {
        auto h = must_parse(std::string(" \t\n\r") + R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})" + "   ", 16);
        CHECK(h.header_size() == 64);
        CHECK(h.size() == 1);
    }
}

TEST_CASE("framing") {
    const std::string a = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})";
    SUBCASE("empty file") { CHECK(run(std::string()) == errc::file_too_small); }
    SUBCASE("7 bytes") { CHECK(run(std::string("\x02\0\0\0\0\0\0", 7)) == errc::file_too_small); }
    SUBCASE("1 byte") { CHECK(run(std::string(1, '\x02')) == errc::file_too_small); }
    SUBCASE("N == 0, nothing else") { CHECK(run(le64(0)) == errc::header_length_zero); }
    SUBCASE("N == 0 followed by a valid-looking header") { CHECK(run(le64(0) + "{}") == errc::header_length_zero); }
    SUBCASE("N one past the end") { CHECK(run(framed_n(a.size() + 5, a, zeros(4))) == errc::header_past_end); }
    SUBCASE("N far past the end") { CHECK(run(framed_n(99'999'999, "{}")) == errc::header_past_end); }
    SUBCASE("N == 100,000,000 is within the limit but past this small file's end") {
        CHECK(run(framed_n(100'000'000, "{}")) == errc::header_past_end);
    }
    SUBCASE("N == 100,000,001 is over the limit before the file size matters") {
        CHECK(run(framed_n(100'000'001, "{}")) == errc::header_too_large);
    }
    SUBCASE("N == 2^64 - 1") { CHECK(run(framed_n(u64_max, "{}")) == errc::header_too_large); }
    SUBCASE("N == 2^63") { CHECK(run(framed_n(u64{1} << 63, "{}")) == errc::header_too_large); }
    SUBCASE("N runs exactly to the end: no data section") {
        auto h = must_parse(framed("{}"));
        CHECK(h.size() == 0);
        CHECK(h.data_offset() == 10);
        CHECK(h.data_size() == 0);
    }
    SUBCASE("N shorter than the JSON cuts the object") {
        CHECK(run(framed_n(a.size() - 1, a, zeros(4))) == errc::header_not_json);
    }
    SUBCASE("N longer than the JSON takes data bytes into the header") {
        CHECK(run(framed_n(a.size() + 2, a, zeros(4))) == errc::header_not_json);
    }
}

TEST_CASE("check_frame at the exact limit, without a 100 MB file") {
    // check_frame needs only the prefix and the size, so the reference's inclusive limit of
    // 100,000,000 can be checked without building such a file.
    auto frame = [](u64 n, u64 file_size, const header_limits& lim = {}) {
        std::string p = le64(n);
        return check_frame(bytes_of(p), file_size, lim);
    };
    SUBCASE("N == 100,000,000 in a file that holds it") {
        auto r = frame(100'000'000, 100'000'008);
        REQUIRE(r.has_value());
        CHECK(*r == 100'000'000);
    }
    SUBCASE("N == 100,000,001 in a file that holds it") {
        CHECK(frame(100'000'001, 200'000'000).code() == errc::header_too_large);
    }
    SUBCASE("N == 100,000,000 one byte short") {
        CHECK(frame(100'000'000, 100'000'007).code() == errc::header_past_end);
    }
    SUBCASE("a raised limit") {
        header_limits lim;
        lim.max_header_size = 200'000'000;
        auto r = frame(150'000'000, 150'000'008, lim);
        REQUIRE(r.has_value());
        CHECK(*r == 150'000'000);
    }
    SUBCASE("fewer than 8 prefix bytes") {
        std::string p = le64(2);
        CHECK(check_frame(bytes_of(p).first(7), 100).code() == errc::file_too_small);
        CHECK(check_frame(bytes_of(p), 7).code() == errc::file_too_small);
    }
    SUBCASE("a file size near 2^64 does not overflow the bounds check") {
        auto r = frame(64, u64_max);
        REQUIRE(r.has_value());
        CHECK(*r == 64);
    }
}

TEST_CASE("header JSON: framing of the object, padding and whitespace") {
    SUBCASE("trailing NUL padding") { CHECK(run(std::string_view("{}\0\0\0\0\0\0", 8), 0) == errc::header_not_json); }
    SUBCASE("one trailing NUL") { CHECK(run(std::string_view("{}\0", 3), 0) == errc::header_not_json); }
    SUBCASE("leading NUL") { CHECK(run(std::string_view("\0{}", 3), 0) == errc::header_not_json); }
    SUBCASE("UTF-8 byte-order mark") { CHECK(run("\xEF\xBB\xBF{}", 0) == errc::header_not_json); }
    SUBCASE("trailing vertical tab is not JSON whitespace") { CHECK(run("{}\v", 0) == errc::header_not_json); }
    SUBCASE("trailing form feed is not JSON whitespace") { CHECK(run("{}\f", 0) == errc::header_not_json); }
    SUBCASE("trailing non-breaking space") { CHECK(run("{}\xC2\xA0", 0) == errc::header_not_json); }
    SUBCASE("a second object") { CHECK(run("{}{}", 0) == errc::header_not_json); }
    SUBCASE("a stray closing brace") { CHECK(run("{}}", 0) == errc::header_not_json); }
    SUBCASE("a stray closing bracket") { CHECK(run("{}]", 0) == errc::header_not_json); }
    SUBCASE("a trailing comma after the object") { CHECK(run("{},", 0) == errc::header_not_json); }
    SUBCASE("a trailing word") { CHECK(run("{} x", 0) == errc::header_not_json); }
    SUBCASE("trailing comma inside the object") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},})", 1) == errc::header_not_json);
    }
    SUBCASE("unclosed object") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]})", 1) == errc::header_not_json);
    }
    SUBCASE("only whitespace") { CHECK(run("        ", 0) == errc::header_not_json); }
    SUBCASE("array root") { CHECK(run("[]", 0) == errc::header_not_object); }
    SUBCASE("string root") { CHECK(run(R"("x")", 0) == errc::header_not_object); }
    SUBCASE("number root") { CHECK(run("1", 0) == errc::header_not_object); }
    SUBCASE("null root") { CHECK(run("null", 0) == errc::header_not_object); }
    SUBCASE("single quotes") { CHECK(run("{'a':1}", 0) == errc::header_not_json); }
    SUBCASE("unquoted key") { CHECK(run("{a:1}", 0) == errc::header_not_json); }
    SUBCASE("a comment") { CHECK(run("{/*c*/}", 0) == errc::header_not_json); }
    SUBCASE("all JSON whitespace around the object is fine") {
        auto h = must_parse(" \t\r\n{ \t\r\n} \t\r\n", 0);
        CHECK(h.size() == 0);
        CHECK(h.header_size() == 14);
    }
    SUBCASE("space padding to a multiple of 8, as the reference writes") {
        auto h = must_parse("{}      ", 0);
        CHECK(h.header_size() == 8);
        CHECK(h.data_offset() == 16);
    }
}

TEST_CASE("strings: control characters, escapes and UTF-8") {
    const std::string tail = R"(":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    auto named = [&](std::string_view raw_name) { return "{\"" + std::string(raw_name) + tail; };

    SUBCASE("raw newline inside a name is refused, at its byte") {
        auto o = run(named("a\nb"), 1);
        CHECK(o == errc::header_not_json);
        auto r = parse_bytes(framed(named("a\nb"), zeros(1)));
        CHECK(r.error().offset() == 8 + 3);  // 8-byte prefix, then `{"a`
    }
    SUBCASE("the \\n escape of the same name is accepted") {
        auto h = must_parse(named("a\\nb"), 1);
        REQUIRE(h.find("a\nb") != nullptr);
        CHECK(h.find("a\\nb") == nullptr);
    }
    SUBCASE("raw tab inside a name") { CHECK(run(named("a\tb"), 1) == errc::header_not_json); }
    SUBCASE("raw NUL inside a name") { CHECK(run(named(std::string_view("a\0b", 3)), 1) == errc::header_not_json); }
    SUBCASE("raw 0x1F inside a name") { CHECK(run(named("a\x1f"), 1) == errc::header_not_json); }
    SUBCASE("raw CR inside a name") { CHECK(run(named("\r"), 1) == errc::header_not_json); }
    SUBCASE("raw control character in a dtype string") {
        CHECK(run(R"({"a":{"dtype":"U8)" "\x01" R"(","shape":[1],"data_offsets":[0,1]}})", 1) == errc::header_not_json);
    }
    SUBCASE("raw control character in a metadata value") {
        CHECK(run("{\"__metadata__\":{\"k\":\"a\tb\"}}", 0) == errc::header_not_json);
    }
    SUBCASE("raw control character in an unknown field's string") {
        CHECK(run(with_field("\"x\":\"\x02\""), 1) == errc::header_not_json);
    }
    SUBCASE("DEL (0x7F) is not a control character to JSON") {
        auto h = must_parse(named("a\x7f"), 1);
        CHECK(h.find("a\x7f") != nullptr);
    }
    SUBCASE("every short escape and \\u escapes decode") {
        auto h = must_parse(named(R"(q\"b\\s\/b\bf\fn\nr\rt\tu\u0041\u00e9\u20AC\ud83d\ude00\u0000)"), 1);
        const std::string want = std::string("q\"b\\s/b\bf\fn\nr\rt\tuA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80") + '\0';
        REQUIRE(h.size() == 1);
        CHECK(h.tensors()[0].name == want);
        CHECK(h.find(want) != nullptr);
    }
    SUBCASE("raw UTF-8 names are kept byte for byte") {
        auto h = must_parse(named("\xE2\x82\xAC.\xF0\x9F\x98\x80.\xC3\xA9"), 1);
        CHECK(h.find("\xE2\x82\xAC.\xF0\x9F\x98\x80.\xC3\xA9") != nullptr);
    }
    SUBCASE("bad escape \\q in a name") { CHECK(run(named(R"(a\q)"), 1) == errc::header_not_json); }
    SUBCASE("short \\u escape in a name") { CHECK(run(named(R"(a\u12)"), 1) == errc::header_not_json); }
    SUBCASE("non-hex \\u escape in a name") { CHECK(run(named(R"(a\u12g4)"), 1) == errc::header_not_json); }
    SUBCASE("lone high surrogate escape in a name") { CHECK(run(named(R"(\ud800)"), 1) == errc::header_not_json); }
    SUBCASE("lone low surrogate escape in a name") { CHECK(run(named(R"(\udc00)"), 1) == errc::header_not_json); }
    SUBCASE("reversed surrogate pair in a name") { CHECK(run(named(R"(\ude00\ud83d)"), 1) == errc::header_not_json); }
    SUBCASE("invalid UTF-8: lone continuation byte") { CHECK(run(named("\x80"), 1) == errc::header_not_utf8); }
    SUBCASE("invalid UTF-8: 0xFF") {
        auto r = parse_bytes(framed(named("\xff"), zeros(1)));
        CHECK(outcome_of(r) == errc::header_not_utf8);
        // At the header or at the bad byte (8 + 2), never past it.
        CHECK(r.error().offset() >= 8);
        CHECK(r.error().offset() <= 8 + 2);
    }
    SUBCASE("invalid UTF-8: overlong slash") { CHECK(run(named("\xC0\xAF"), 1) == errc::header_not_utf8); }
    SUBCASE("invalid UTF-8: overlong 3-byte") { CHECK(run(named("\xE0\x80\xAF"), 1) == errc::header_not_utf8); }
    SUBCASE("invalid UTF-8: encoded surrogate") { CHECK(run(named("\xED\xA0\x80"), 1) == errc::header_not_utf8); }
    SUBCASE("invalid UTF-8: truncated sequence") { CHECK(run(named("\xE2\x82"), 1) == errc::header_not_utf8); }
    SUBCASE("invalid UTF-8: above U+10FFFF") { CHECK(run(named("\xF4\x90\x80\x80"), 1) == errc::header_not_utf8); }
    SUBCASE("a non-ASCII byte anywhere in the header is checked as UTF-8") {
        // An all-ASCII header needs no UTF-8 check; one byte of 0x80 or more, wherever it falls
        // in the scan's 16-byte steps or its tail, and the header is checked again.
        for (std::size_t k = 0; k < 40; ++k) {
            CAPTURE(k);
            const std::string pad(k, 'a');
            CHECK(run(named(pad + "\xff"), 1) == errc::header_not_utf8);
            CHECK(run(named(pad + "\xC3"), 1) == errc::header_not_utf8);
            auto h = must_parse(named(pad + "\xC3\xA9"), 1);
            CHECK(h.find(pad + "\xC3\xA9") != nullptr);
            // Three bytes from the end: in the scan's tail for some lengths, in a step for others.
            CHECK(run("{\"__metadata__\":{\"k\":\"" + pad + "\xff\"}}", 0) == errc::header_not_utf8);
            auto m = must_parse("{\"__metadata__\":{\"k\":\"" + pad + "\xC3\xA9\"}}", 0);
            CHECK(m.metadata_value("k") == pad + "\xC3\xA9");
        }
    }
    SUBCASE("invalid UTF-8 in a metadata value") {
        CHECK(run("{\"__metadata__\":{\"k\":\"\xC3\"}}", 0) == errc::header_not_utf8);
    }
    SUBCASE("invalid UTF-8 in the data section is not the header's business") {
        auto h = must_parse(framed(named("a"), "\xff"));
        CHECK(h.size() == 1);
    }
}

TEST_CASE("field names are compared after unescaping") {
    SUBCASE("dty\\u0070e counts as dtype") {
        auto h = must_parse(R"({"a":{"dty\u0070e":"I8","shape":[2],"data_offsets":[0,2]}})", 2);
        REQUIRE(h.size() == 1);
        CHECK(h.tensors()[0].dtype == dtype::I8);
    }
    SUBCASE("all three fields escaped") {
        auto h = must_parse(R"({"a":{"\u0064type":"U16","sh\u0061pe":[3],"data_offset\u0073":[0,6]}})", 6);
        REQUIRE(h.size() == 1);
        CHECK(h.tensors()[0].dtype == dtype::U16);
        CHECK(h.tensors()[0].end == 6);
    }
    SUBCASE("an escaped slash in a field name") {
        auto h = must_parse(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x\/y":1}})", 1);
        CHECK(h.size() == 1);
    }
    SUBCASE("dtype given plainly and escaped: a duplicate") {
        CHECK(run(R"({"a":{"dtype":"U8","dty\u0070e":"U8","shape":[1],"data_offsets":[0,1]}})", 1) == errc::duplicate_field);
    }
    SUBCASE("shape given plainly and escaped: a duplicate") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"\u0073hape":[1],"data_offsets":[0,1]}})", 1) == errc::duplicate_field);
    }
    SUBCASE("data_offsets escaped twice: a duplicate") {
        CHECK(run(R"({"a":{"dtype":"U8","shape":[1],"data_\u006fffsets":[0,1],"data_offset\u0073":[0,1]}})", 1) ==
              errc::duplicate_field);
    }
    SUBCASE("a near miss stays an unknown field, so dtype is missing") {
        CHECK(run(R"({"a":{"Dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1) == errc::missing_field);
        CHECK(run(R"({"a":{"dtype ":"U8","shape":[1],"data_offsets":[0,1]}})", 1) == errc::missing_field);
        CHECK(run(R"({"a":{"dtype\u0000":"U8","shape":[1],"data_offsets":[0,1]}})", 1) == errc::missing_field);
    }
    SUBCASE("a bad escape in a field name") {
        CHECK(run(R"({"a":{"dt\u00zzype":"U8","shape":[1],"data_offsets":[0,1]}})", 1) == errc::header_not_json);
        CHECK(run(R"({"a":{"dt\qype":"U8","shape":[1],"data_offsets":[0,1]}})", 1) == errc::header_not_json);
        CHECK(run(R"({"a":{"\ud800":1,"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1) == errc::header_not_json);
    }
    SUBCASE("escapes in unknown field names are fine") {
        auto h = must_parse(R"({"a":{"dtype":"U8","\n\u00e9\ud83d\ude00":1,"shape":[1],"data_offsets":[0,1]}})", 1);
        CHECK(h.size() == 1);
    }
    SUBCASE("an escaped dtype value") {
        auto h = must_parse(R"({"a":{"dtype":"U\u0038","shape":[1],"data_offsets":[0,1]}})", 1);
        CHECK(h.tensors()[0].dtype == dtype::U8);
    }
    SUBCASE("an escaped __metadata__ key is the metadata") {
        auto h = must_parse(R"({"__metadata\u005f_":{"k":"v"}})", 0);
        CHECK(h.size() == 0);
        CHECK(h.has_metadata());
        CHECK(h.metadata_value("k") == "v");
    }
    SUBCASE("__metadata__ plainly and escaped: given twice") {
        CHECK(run(R"({"__metadata__":{},"\u005f_metadata__":{}})", 0) == errc::duplicate_metadata);
    }
    SUBCASE("a tensor name plainly and escaped: a duplicate") {
        CHECK(run(object({entry("a", "U8", "[1]", 0, 1), entry(R"(\u0061)", "U8", "[1]", 1, 2)}), 2) ==
              errc::duplicate_tensor);
    }
}

TEST_CASE("unknown fields: every JSON type accepted, malformed JSON refused") {
    SUBCASE("accepted values") {
        for (std::string_view v :
             {"0", "-0", "1", "-1", "18446744073709551615", "-9223372036854775808", "0.5", "-2.5e-3", "1E+2", "1e-400",
              "true", "false", "null", R"("")", R"("s")", R"("\u00e9\n\"")", "[]", "{}", R"([1,"a",null,true,{}])",
              R"({"k":{"k":[[],[{}]]},"j":false})", " [ 1 , 2 ] ", "\n{\t\"x\" : 1 }\r\n"}) {
            CHECK_MESSAGE(run(with_field("\"x\":" + std::string(v)), 1) == errc::ok, v);
        }
    }
    SUBCASE("several unknown fields, before, between and after the known ones") {
        auto h = must_parse(R"({"a":{"u":1,"dtype":"U8","v":[2],"shape":[1],"w":{"x":null},"data_offsets":[0,1],"z":"end"}})", 1);
        CHECK(h.size() == 1);
        CHECK(h.tensors()[0].byte_size() == 1);
    }
    SUBCASE("the same unknown field twice is ignored twice, as serde does") {
        CHECK(run(with_field(R"("x":1,"x":2)"), 1) == errc::ok);
    }
    SUBCASE("tru") { CHECK(run(with_field(R"("x":tru)"), 1) == errc::header_not_json); }
    SUBCASE("nul") { CHECK(run(with_field(R"("x":nul)"), 1) == errc::header_not_json); }
    SUBCASE("fals inside an array") { CHECK(run(with_field(R"("x":[1,fals])"), 1) == errc::header_not_json); }
    SUBCASE("True") { CHECK(run(with_field(R"("x":True)"), 1) == errc::header_not_json); }
    SUBCASE("leading zero 01") { CHECK(run(with_field(R"("x":01)"), 1) == errc::header_not_json); }
    SUBCASE("-") { CHECK(run(with_field(R"("x":-)"), 1) == errc::header_not_json); }
    SUBCASE("1.") { CHECK(run(with_field(R"("x":1.)"), 1) == errc::header_not_json); }
    SUBCASE(".5") { CHECK(run(with_field(R"("x":.5)"), 1) == errc::header_not_json); }
    SUBCASE("+1") { CHECK(run(with_field(R"("x":+1)"), 1) == errc::header_not_json); }
    SUBCASE("1e") { CHECK(run(with_field(R"("x":1e)"), 1) == errc::header_not_json); }
    SUBCASE("0x10") { CHECK(run(with_field(R"("x":0x10)"), 1) == errc::header_not_json); }
    SUBCASE("NaN") { CHECK(run(with_field(R"("x":NaN)"), 1) == errc::header_not_json); }
    SUBCASE("Infinity") { CHECK(run(with_field(R"("x":-Infinity)"), 1) == errc::header_not_json); }
    SUBCASE("bad escape \\q") { CHECK(run(with_field(R"("x":"\q")"), 1) == errc::header_not_json); }
    SUBCASE("bad escape \\x41") { CHECK(run(with_field(R"("x":"\x41")"), 1) == errc::header_not_json); }
    SUBCASE("short \\u escape") { CHECK(run(with_field(R"("x":"\u12")"), 1) == errc::header_not_json); }
    SUBCASE("bad escape in a nested string") { CHECK(run(with_field(R"("x":{"y":["\a"]})"), 1) == errc::header_not_json); }
    SUBCASE("trailing comma in an array") { CHECK(run(with_field(R"("x":[1,])"), 1) == errc::header_not_json); }
    SUBCASE("trailing comma in an object") { CHECK(run(with_field(R"("x":{"k":1,})"), 1) == errc::header_not_json); }
    SUBCASE("missing colon") { CHECK(run(with_field(R"("x":{"k"})"), 1) == errc::header_not_json); }
    SUBCASE("number as a key") { CHECK(run(with_field(R"("x":{1:2})"), 1) == errc::header_not_json); }
    SUBCASE("missing value") { CHECK(run(with_field(R"("x":)"), 1) == errc::header_not_json); }
    SUBCASE("unclosed array") { CHECK(run(with_field(R"("x":[1)"), 1) == errc::header_not_json); }
    SUBCASE("single-quoted string") { CHECK(run(with_field(R"("x":'s')"), 1) == errc::header_not_json); }
}

TEST_CASE("unknown fields: integers past 64 bits are numbers, out-of-range floats are not") {
    // The reference buffers tensor entries through serde's Content (its header struct flattens
    // the tensor map; hence the end-of-object columns in expected.tsv), so an unknown field's
    // value goes through serde_json's deserialize_any: an integer too big for u64/i64 becomes
    // an f64 and is accepted, while a float that overflows f64 is "number out of range".
    SUBCASE("integers beyond 64 bits are accepted") {
        for (std::string_view v : {"18446744073709551616", "-9223372036854775809", "123456789012345678901234567890",
                                   R"({"k":340282366920938463463374607431768211455})", "[99999999999999999999]"}) {
            CHECK_MESSAGE(run(with_field("\"x\":" + std::string(v)), 1) == errc::ok, v);
        }
    }
    SUBCASE("floats that overflow f64 are refused") {
        for (std::string_view v : {"1e400", "-1e400", "1e999", "[1e400]"})
            CHECK_MESSAGE(run(with_field("\"x\":" + std::string(v)), 1) == errc::header_not_json, v);
    }
    SUBCASE("floats that underflow are zero, and fine") {
        CHECK(run(with_field(R"("x":1e-400)"), 1) == errc::ok);
        CHECK(run(with_field(R"("x":-1e-999)"), 1) == errc::ok);
    }
}

TEST_CASE("deeply nested unknown fields are refused without a crash") {
    // Nothing in the format needs nesting; a hostile header may hold 100 MB of '['. Whatever
    // the depth, the parser must answer with an error, never exhaust the stack. The reference
    // refuses these too: serde_json's recursion limit (128) applies while it buffers the entry.
    auto nested = [](std::size_t depth, char open, char close) {
        std::string v;
        for (std::size_t i = 0; i < depth; ++i) v += open == '{' ? std::string(R"({"k":)") : std::string(1, open);
        v += "1";
        v += std::string(depth, close);
        return with_field("\"x\":" + v);
    };
    SUBCASE("a modest depth is fine") { CHECK(run(nested(64, '[', ']'), 1) == errc::ok); }
    SUBCASE("5000 nested arrays") {
        auto o = run(nested(5000, '[', ']'), 1);
        CHECK((o == errc::header_not_json || o == errc::limit_exceeded));
    }
    SUBCASE("5000 nested objects") {
        auto o = run(nested(5000, '{', '}'), 1);
        CHECK((o == errc::header_not_json || o == errc::limit_exceeded));
    }
    SUBCASE("1,000,000 nested arrays") {
        auto o = run(nested(1'000'000, '[', ']'), 1);
        CHECK((o == errc::header_not_json || o == errc::limit_exceeded));
    }
    SUBCASE("deep nesting where a tensor entry belongs is not walked at all") {
        CHECK(run("{\"a\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}", 0) == errc::tensor_not_object);
    }
    SUBCASE("deep nesting as metadata is refused at once") {
        CHECK(run("{\"__metadata__\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}", 0) ==
              errc::metadata_not_map);
    }
}

}  // TEST_SUITE
