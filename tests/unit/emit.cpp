// SPDX-License-Identifier: MIT
#include <safeshard/file/writer.hpp>
#include <safeshard/format/emit.hpp>
#include <safeshard/format/json_text.hpp>
#include <safeshard/format/parse.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using namespace safeshard;

namespace {

using u64 = std::uint64_t;

std::string le64(u64 n) {
    std::string s(8, '\0');
    std::memcpy(s.data(), &n, 8);
    return s;
}

// The whole canonical header: the length prefix, the JSON, the space padding.
std::string canonical(std::string_view json, std::size_t pad) {
    return le64(json.size() + pad) + std::string(json) + std::string(pad, ' ');
}

std::string escaped(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

result<header> parse_layout(const header_layout& l) {
    static thread_local std::string file;
    file = l.bytes + std::string(static_cast<std::size_t>(l.data_size), '\0');
    return parse_file_header(std::as_bytes(std::span<const char>(file.data(), file.size())));
}

}  // namespace

TEST_SUITE("emit") {

TEST_CASE("canonical bytes, written out") {
    SUBCASE("an empty file is N=8, {} and six spaces") {
        auto l = emit_header({});
        REQUIRE(l.has_value());
        CHECK(l->bytes == std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
        CHECK(l->data_size == 0);
        CHECK(l->data_offset() == 16);
        CHECK(l->file_size() == 16);
        CHECK(l->order.empty());
    }
    SUBCASE("one tensor, padded with 7 spaces") {
        const std::vector<u64> s = {2, 2};
        const tensor_spec specs[] = {{"a", dtype::F32, s}};
        auto l = emit_header(specs);
        REQUIRE(l.has_value());
        CHECK(l->bytes == canonical(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 7));
        CHECK(l->bytes.substr(0, 8) == std::string("\x40\0\0\0\0\0\0\0", 8));  // N = 64
        CHECK(l->data_size == 16);
        CHECK(l->data_offset() == 72);
        CHECK(l->file_size() == 88);
        CHECK(l->begin == std::vector<u64>{0});
        CHECK(l->size == std::vector<u64>{16});
    }
    SUBCASE("a JSON length that is already a multiple of 8 gets no padding") {
        const tensor_spec specs[] = {{"abcdefghijklmnopqrstuvwxyz012", dtype::U8, {}}};
        auto l = emit_header(specs);
        REQUIRE(l.has_value());
        CHECK(l->bytes == canonical(R"({"abcdefghijklmnopqrstuvwxyz012":{"dtype":"U8","shape":[],"data_offsets":[0,1]}})", 0));
        CHECK(l->bytes.size() == 88);
    }
    SUBCASE("__metadata__ first, keys sorted whatever the order given") {
        const std::vector<u64> s = {1};
        const tensor_spec specs[] = {{"x", dtype::U8, s}};
        const metadata_entry meta[] = {{"format", "pt"}, {"a", "b"}};
        auto l = emit_header(specs, meta);
        REQUIRE(l.has_value());
        CHECK(l->bytes == canonical(R"({"__metadata__":{"a":"b","format":"pt"},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 4));
    }
    SUBCASE("dtype descending, then name in byte order; offsets contiguous") {
        const std::vector<u64> s1 = {1}, s0 = {0}, s3 = {3}, scalar = {};
        const tensor_spec specs[] = {
            {"b", dtype::U8, s1},  {"a", dtype::F32, scalar},      {"c", dtype::BOOL, s3}, {"a2", dtype::F32, s1},
            {"z", dtype::I64, s1}, {"\xC3\xA9", dtype::F32, s0},  {"Z", dtype::F32, s0},
        };
        auto l = emit_header(specs);
        REQUIRE(l.has_value());
        CHECK(l->bytes ==
              canonical("{\"z\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                        "\"Z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
                        "\"a2\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
                        "\"\xC3\xA9\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,16]},"
                        "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[16,17]},"
                        "\"c\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[17,20]}}",
                        2));
        CHECK(l->order == std::vector<std::uint32_t>{4, 6, 1, 3, 5, 0, 2});
        // begin and size are indexed by spec, not by data order.
        CHECK(l->begin == std::vector<u64>{16, 8, 17, 12, 0, 16, 8});
        CHECK(l->size == std::vector<u64>{1, 4, 3, 4, 8, 0, 0});
        CHECK(l->data_size == 20);
    }
    SUBCASE("sub-byte dtypes sort below U8 and above BOOL, packed sizes") {
        const std::vector<u64> s4 = {4}, s22 = {2, 2}, s1 = {1};
        const tensor_spec specs[] = {{"m", dtype::BOOL, s1}, {"f4", dtype::F4, s22}, {"e2", dtype::F6_E2M3, s4}, {"e3", dtype::F6_E3M2, s4}};
        auto l = emit_header(specs);
        REQUIRE(l.has_value());
        CHECK(l->bytes == canonical(R"({"e3":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,3]},)"
                                    R"("e2":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[3,6]},)"
                                    R"("f4":{"dtype":"F4","shape":[2,2],"data_offsets":[6,8]},)"
                                    R"("m":{"dtype":"BOOL","shape":[1],"data_offsets":[8,9]}})",
                                    6));
        CHECK(l->data_size == 9);
    }
    SUBCASE("all 22 dtypes in descending reference order") {
        const std::vector<u64> s8 = {8};
        std::vector<std::string> names;
        for (auto d : all_dtypes) names.emplace_back(name(d));
        std::vector<tensor_spec> specs;
        for (std::size_t i = 0; i < all_dtypes.size(); ++i) specs.push_back({names[i], all_dtypes[i], s8});
        auto l = emit_header(specs);
        REQUIRE(l.has_value());
        const char* expected_order[] = {"U64", "I64", "F64", "C64", "F32", "U32", "I32", "BF16", "F16", "U16", "I16",
                                        "F8_E5M2FNUZ", "F8_E4M3FNUZ", "F8_E8M0", "F8_E4M3", "F8_E5M2", "I8", "U8",
                                        "F6_E3M2", "F6_E2M3", "F4", "BOOL"};
        std::size_t at = 0;
        u64 offset = 0;
        for (const char* n : expected_order) {
            auto d = *parse_dtype(n);
            std::string member = "\"" + std::string(n) + "\":{\"dtype\":\"" + n + "\",\"shape\":[8],\"data_offsets\":[" +
                                 std::to_string(offset) + "," + std::to_string(offset + 8 * bits(d) / 8) + "]}";
            offset += 8 * bits(d) / 8;
            auto found = l->bytes.find(member, at);
            CHECK_MESSAGE(found != std::string::npos, member);
            if (found != std::string::npos) at = found + member.size();
        }
        CHECK(l->data_size == offset);
        // Every whole-byte tensor starts at a multiple of its element size.
        for (std::size_t i = 0; i < specs.size(); ++i)
            if (byte_size(specs[i].dtype)) CHECK(l->begin[i] % byte_size(specs[i].dtype) == 0);
    }
    SUBCASE("always_metadata writes an empty map") {
        auto l = emit_header({}, {}, true);
        REQUIRE(l.has_value());
        CHECK(l->bytes == canonical(R"({"__metadata__":{}})", 5));
        const std::vector<u64> s = {2};
        const tensor_spec specs[] = {{"a", dtype::U8, s}};
        auto m = emit_header(specs, {}, true);
        REQUIRE(m.has_value());
        CHECK(m->bytes == canonical(R"({"__metadata__":{},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 1));
    }
    SUBCASE("metadata only") {
        const metadata_entry meta[] = {{"k", "v"}};
        auto l = emit_header({}, meta);
        REQUIRE(l.has_value());
        CHECK(l->bytes == canonical(R"({"__metadata__":{"k":"v"}})", 6));
    }
    SUBCASE("large numbers are written in full") {
        const std::vector<u64> s = {0, 18446744073709551615ull};
        const tensor_spec specs[] = {{"h", dtype::U8, s}};
        auto l = emit_header(specs);
        REQUIRE(l.has_value());
        CHECK(l->bytes.find(R"("shape":[0,18446744073709551615])") != std::string::npos);
    }
    SUBCASE("the output does not depend on the order specs come in") {
        const std::vector<u64> s1 = {1}, s2 = {2};
        const tensor_spec ab[] = {{"a", dtype::F16, s1}, {"b", dtype::F16, s2}, {"c", dtype::I8, s2}};
        const tensor_spec ba[] = {{"c", dtype::I8, s2}, {"b", dtype::F16, s2}, {"a", dtype::F16, s1}};
        const metadata_entry m1[] = {{"x", "1"}, {"y", "2"}, {"w", "0"}};
        const metadata_entry m2[] = {{"y", "2"}, {"w", "0"}, {"x", "1"}};
        auto l1 = emit_header(ab, m1);
        auto l2 = emit_header(ba, m2);
        REQUIRE(l1.has_value());
        REQUIRE(l2.has_value());
        CHECK(l1->bytes == l2->bytes);
    }
}

TEST_CASE("JSON string escaping matches serde_json, or Python's json with json_escape::ascii") {
    SUBCASE("quote and backslash") {
        CHECK(escaped("\"") == R"("\"")");
        CHECK(escaped("\\") == R"("\\")");
        CHECK(escaped("a\"b\\c") == R"("a\"b\\c")");
    }
    SUBCASE("the five short forms") {
        CHECK(escaped("\b") == R"("\b")");
        CHECK(escaped("\t") == R"("\t")");
        CHECK(escaped("\n") == R"("\n")");
        CHECK(escaped("\f") == R"("\f")");
        CHECK(escaped("\r") == R"("\r")");
    }
    SUBCASE("every other control character as \\u00xx in lowercase hex") {
        static constexpr char hex[] = "0123456789abcdef";
        for (int c = 0; c < 0x20; ++c) {
            std::string in(1, static_cast<char>(c));
            std::string want;
            switch (c) {
                case '\b': want = R"("\b")"; break;
                case '\t': want = R"("\t")"; break;
                case '\n': want = R"("\n")"; break;
                case '\f': want = R"("\f")"; break;
                case '\r': want = R"("\r")"; break;
                default: want = std::string("\"\\u00") + hex[c >> 4] + hex[c & 15] + "\"";
            }
            CHECK_MESSAGE(escaped(in) == want, "char ", c);
        }
        CHECK(escaped(std::string_view("\0", 1)) == R"("\u0000")");
        CHECK(escaped("\x1a\x1b\x1f\x0b") == R"("\u001a\u001b\u001f\u000b")");
    }
    SUBCASE("everything else verbatim: DEL, slash, non-ASCII, U+2028") {
        CHECK(escaped("\x7f") == "\"\x7f\"");
        CHECK(escaped("a/b") == "\"a/b\"");
        CHECK(escaped("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80") == "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"");
        CHECK(escaped("\xE2\x80\xA8") == "\"\xE2\x80\xA8\"");
        CHECK(escaped("") == R"("")");
        CHECK(escaped(" ~") == R"(" ~")");
    }
    SUBCASE("json_escape::ascii is Python's ensure_ascii: the same short forms, DEL and non-ASCII as \\uXXXX") {
        auto ascii = [](std::string_view s) {
            std::string out;
            append_json_string(out, s, json_escape::ascii);
            return out;
        };
        CHECK(ascii("a\"b\\c\b\t\n\f\r\x01/ ~") == R"("a\"b\\c\b\t\n\f\r\u0001/ ~")");
        CHECK(ascii("\x7f") == R"("\u007f")");
        CHECK(ascii("\xC3\xA9\xE2\x82\xAC\xE2\x80\xA8") == R"("\u00e9\u20ac\u2028")");
        CHECK(ascii("\xF0\x9F\x98\x80") == R"("\ud83d\ude00")");
        CHECK(ascii("\xF4\x8F\xBF\xBF") == R"("\udbff\udfff")");
        CHECK(ascii("") == R"("")");
    }
    SUBCASE("unsigned integers and lists, in both writers' separators") {
        std::string out;
        append_json_uint(out, 0);
        out += ' ';
        append_json_uint(out, 18446744073709551615u);
        CHECK(out == "0 18446744073709551615");
        const std::vector<u64> v = {3, 0, 12};
        out.clear();
        append_json_uint_list(out, v, ",");
        append_json_uint_list(out, v, ", ");
        append_json_uint_list(out, {}, ", ");
        CHECK(out == "[3,0,12][3, 0, 12][]");
    }
    SUBCASE("escaping is applied to tensor names and metadata in a header") {
        const std::vector<u64> s = {1};
        const tensor_spec specs[] = {{"w\"\\\n\x01\xC3\xA9", dtype::U8, s}};
        const metadata_entry meta[] = {{"k\t", "v\r\x1f/"}};
        auto l = emit_header(specs, meta);
        REQUIRE(l.has_value());
        CHECK(l->bytes.find(R"("__metadata__":{"k\t":"v\r\u001f/"})") != std::string::npos);
        CHECK(l->bytes.find("\"w\\\"\\\\\\n\\u0001\xC3\xA9\":{") != std::string::npos);
        auto h = parse_layout(*l);
        REQUIRE(h.has_value());
        CHECK(h->find("w\"\\\n\x01\xC3\xA9") != nullptr);
        CHECK(h->metadata_value("k\t") == "v\r\x1f/");
    }
}

TEST_CASE("emit errors") {
    const std::vector<u64> s1 = {1};
    SUBCASE("duplicate names") {
        const tensor_spec specs[] = {{"a", dtype::U8, s1}, {"b", dtype::U8, s1}, {"a", dtype::F32, s1}};
        auto l = emit_header(specs);
        CHECK(l.code() == errc::duplicate_tensor);
        CHECK(std::string_view(l.error().tensor()) == "a");
    }
    SUBCASE("duplicate empty names") {
        const tensor_spec specs[] = {{"", dtype::U8, s1}, {"", dtype::U8, s1}};
        CHECK(emit_header(specs).code() == errc::duplicate_tensor);
    }
    SUBCASE("__metadata__ as a tensor name") {
        const tensor_spec specs[] = {{"__metadata__", dtype::U8, s1}};
        auto l = emit_header(specs);
        CHECK(l.code() == errc::invalid_argument);
        CHECK(std::string_view(l.error().tensor()) == "__metadata__");
    }
    SUBCASE("near-misses of __metadata__ are ordinary names") {
        const tensor_spec specs[] = {{"__metadata", dtype::U8, s1}, {"__METADATA__", dtype::U8, s1}, {"__metadata__ ", dtype::U8, s1}};
        CHECK(emit_header(specs).has_value());
    }
    SUBCASE("invalid UTF-8 names") {
        for (std::string_view bad : {"\xff", "\x80", "a\xC3", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xE2\x82",
                                     "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xF0\x8F\xBF\xBF"}) {
            const tensor_spec specs[] = {{bad, dtype::U8, s1}};
            CHECK_MESSAGE(emit_header(specs).code() == errc::invalid_argument, "name bytes ", bad.size());
        }
    }
    SUBCASE("valid UTF-8 at the edges is accepted") {
        for (std::string_view good : {std::string_view("\0", 1), std::string_view("\x7f"), std::string_view("\xC2\x80"),
                                      std::string_view("\xDF\xBF"), std::string_view("\xE0\xA0\x80"),
                                      std::string_view("\xED\x9F\xBF"), std::string_view("\xEE\x80\x80"),
                                      std::string_view("\xEF\xBF\xBF"), std::string_view("\xF0\x90\x80\x80"),
                                      std::string_view("\xF4\x8F\xBF\xBF")}) {
            const tensor_spec specs[] = {{good, dtype::U8, s1}};
            auto l = emit_header(specs);
            REQUIRE_MESSAGE(l.has_value(), "name bytes ", good.size());
            auto h = parse_layout(*l);
            REQUIRE(h.has_value());
            CHECK(h->tensors()[0].name == good);
        }
    }
    SUBCASE("duplicate metadata keys") {
        const metadata_entry meta[] = {{"x", "1"}, {"y", "2"}, {"x", "1"}};
        auto l = emit_header({}, meta);
        CHECK(l.code() == errc::duplicate_metadata_key);
        CHECK(std::string_view(l.error().detail()) == "x");
    }
    SUBCASE("metadata that is not UTF-8") {
        const metadata_entry bad_key[] = {{"\xff", "v"}};
        const metadata_entry bad_value[] = {{"k", "\xC3"}};
        CHECK(emit_header({}, bad_key).code() == errc::invalid_argument);
        CHECK(emit_header({}, bad_value).code() == errc::invalid_argument);
    }
    SUBCASE("numel overflow") {
        const std::vector<u64> s = {1ull << 32, 1ull << 32};
        const tensor_spec specs[] = {{"a", dtype::U8, s}};
        auto l = emit_header(specs);
        CHECK(l.code() == errc::size_overflow);
        CHECK(std::string_view(l.error().tensor()) == "a");
    }
    SUBCASE("numel x bits overflow") {
        const std::vector<u64> s = {1ull << 61};
        const tensor_spec specs[] = {{"a", dtype::F64, s}};
        CHECK(emit_header(specs).code() == errc::size_overflow);
    }
    SUBCASE("the sum of sizes overflows") {
        const std::vector<u64> half = {1ull << 63};
        const tensor_spec specs[] = {{"a", dtype::U8, half}, {"b", dtype::U8, half}};
        CHECK(emit_header(specs).code() == errc::size_overflow);
    }
    SUBCASE("the file size (header + data) cannot wrap around") {
        // Eight tensors of 2^61 - 1 bytes (the most a U8 tensor's bit count allows) make
        // 2^64 - 8 bytes of data: that fits a u64 on its own, but not after the header.
        const std::vector<u64> s = {(1ull << 61) - 1};
        const tensor_spec specs[] = {{"a", dtype::U8, s}, {"b", dtype::U8, s}, {"c", dtype::U8, s}, {"d", dtype::U8, s},
                                     {"e", dtype::U8, s}, {"f", dtype::U8, s}, {"g", dtype::U8, s}, {"h", dtype::U8, s}};
        auto l = emit_header(specs);
        if (l) CHECK(l->file_size() >= l->data_size);
        else CHECK(l.code() == errc::size_overflow);
    }
    SUBCASE("F4 with an odd count") {
        const std::vector<u64> s3 = {3};
        const tensor_spec specs[] = {{"a", dtype::F4, s3}};
        auto l = emit_header(specs);
        CHECK(l.code() == errc::sub_byte_unaligned);
        CHECK(std::string_view(l.error().tensor()) == "a");
    }
    SUBCASE("F4 scalar, F6 with two elements") {
        const std::vector<u64> scalar = {}, s2 = {2};
        const tensor_spec f4[] = {{"a", dtype::F4, scalar}};
        const tensor_spec f6[] = {{"a", dtype::F6_E3M2, s2}};
        CHECK(emit_header(f4).code() == errc::sub_byte_unaligned);
        CHECK(emit_header(f6).code() == errc::sub_byte_unaligned);
    }
    SUBCASE("an error leaves nothing half-done: the next call works") {
        const tensor_spec bad[] = {{"a", dtype::U8, s1}, {"a", dtype::U8, s1}};
        CHECK_FALSE(emit_header(bad).has_value());
        const tensor_spec good[] = {{"a", dtype::U8, s1}};
        CHECK(emit_header(good).has_value());
    }
}

TEST_CASE("emit, parse, same specs") {
    const std::vector<u64> s23 = {2, 3}, s0 = {}, s4 = {4}, s05 = {0, 5}, s8 = {8}, s111 = {1, 1, 1};
    const tensor_spec specs[] = {
        {"model.embed", dtype::BF16, s23}, {"scale", dtype::F64, s0},          {"\xE4\xB8\xAD\xE6\x96\x87", dtype::I32, s4},
        {"empty", dtype::F32, s05},        {"packed", dtype::F4, s8},          {"six", dtype::F6_E2M3, s4},
        {"flag", dtype::BOOL, s111},       {"c", dtype::C64, s4},              {"\"q\"\n", dtype::F8_E4M3FNUZ, s4},
    };
    const metadata_entry meta[] = {{"format", "pt"}, {"note", "{\"json\": [1]}"}};
    auto l = emit_header(specs, meta);
    REQUIRE(l.has_value());
    auto h = parse_layout(*l);
    INFO((h ? std::string("ok") : h.error().to_string()));
    REQUIRE(h.has_value());
    REQUIRE(h->size() == std::size(specs));
    for (std::size_t i = 0; i < std::size(specs); ++i) {
        const auto* t = h->find(specs[i].name);
        REQUIRE(t != nullptr);
        CHECK(t->dtype == specs[i].dtype);
        CHECK(std::vector<u64>(t->shape.begin(), t->shape.end()) == std::vector<u64>(specs[i].shape.begin(), specs[i].shape.end()));
        CHECK(t->begin == l->begin[i]);
        CHECK(t->byte_size() == l->size[i]);
    }
    // The parsed order is the data order.
    for (std::size_t k = 0; k < l->order.size(); ++k) CHECK(h->tensors()[k].name == specs[l->order[k]].name);
    CHECK(h->metadata_value("format") == "pt");
    CHECK(h->metadata_value("note") == "{\"json\": [1]}");
    CHECK(h->data_size() == l->data_size);
    CHECK(h->data_offset() == l->data_offset());
    CHECK(h->data_offset() % 8 == 0);
}

TEST_CASE("save_to_memory writes the canonical header, then the data in canonical order") {
    const std::byte a_bytes[] = {std::byte{1}, std::byte{2}};
    const std::byte b_bytes[] = {std::byte{3}, std::byte{4}, std::byte{5}, std::byte{6}};
    const std::byte c_bytes[] = {std::byte{7}};
    const tensor_entry entries[] = {
        {"a", dtype::U8, {2}, a_bytes},
        {"b", dtype::F32, {}, b_bytes},
        {"c", dtype::BOOL, {1}, c_bytes},
    };
    const metadata_entry meta[] = {{"format", "pt"}};
    auto file = save_to_memory(entries, meta);
    REQUIRE(file.has_value());
    const std::string json =
        R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
        R"("a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"c":{"dtype":"BOOL","shape":[1],"data_offsets":[6,7]}})";
    REQUIRE(json.size() == 190);
    const std::string expected = canonical(json, 2) + std::string("\x03\x04\x05\x06\x01\x02\x07", 7);
    std::string got(reinterpret_cast<const char*>(file->data()), file->size());
    CHECK(got == expected);
    auto h = parse_file_header(*file);
    REQUIRE(h.has_value());
    CHECK(h->find("a")->begin == 4);

    SUBCASE("wrong byte count for a tensor") {
        const tensor_entry bad[] = {{"a", dtype::U8, {3}, a_bytes}};
        auto r = save_to_memory(bad);
        CHECK(r.code() == errc::size_mismatch);
        CHECK(std::string_view(r.error().tensor()) == "a");
    }
    SUBCASE("emit errors come through") {
        const tensor_entry dup[] = {{"a", dtype::U8, {2}, a_bytes}, {"a", dtype::U8, {2}, a_bytes}};
        CHECK(save_to_memory(dup).code() == errc::duplicate_tensor);
    }
}

}  // TEST_SUITE
