// SPDX-License-Identifier: MIT
#include <safeshard/format/emit.hpp>
#include <safeshard/format/parse.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <ostream>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace safeshard;

// Every input is built here, byte by byte: the suite must run where /work/shared is absent.
namespace {

using u64 = std::uint64_t;
constexpr u64 u64_max = UINT64_MAX;
constexpr auto last_errc = errc::file_not_found;

std::string le64(u64 n) {
    std::string s(8, '\0');
    std::memcpy(s.data(), &n, 8);
    return s;
}
std::string zeros(std::size_t n) { return std::string(n, '\0'); }

// `[u64 N][json][data]` with N the JSON's length, or a given N for framing corruptions.
std::string framed(std::string_view json, std::string_view data = {}) {
    return le64(json.size()) + std::string(json) + std::string(data);
}
std::string framed_n(u64 n, std::string_view json, std::string_view data = {}) {
    return le64(n) + std::string(json) + std::string(data);
}

std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

result<header> parse_bytes(const std::string& file, const parse_options& opt = {}) {
    return parse_file_header(bytes_of(file), opt);
}

// What a parse came to, printable, so a failed CHECK shows the library's own message.
struct outcome {
    errc code = errc::ok;
    std::string text;
    friend bool operator==(const outcome& o, errc c) { return o.code == c; }
    friend std::ostream& operator<<(std::ostream& os, const outcome& o) {
        return os << "{errc " << static_cast<int>(o.code) << ": " << o.text << "}";
    }
};
outcome outcome_of(const result<header>& r) {
    if (r) return {errc::ok, "ok"};
    return {r.code(), r.error().to_string()};
}
outcome run(const std::string& file, const parse_options& opt = {}) { return outcome_of(parse_bytes(file, opt)); }
outcome run(std::string_view json, std::size_t data_len, const parse_options& opt = {}) {
    return run(framed(json, zeros(data_len)), opt);
}

// Parses a file that must be valid; the header owns its strings, so the input may go away.
header must_parse(const std::string& file, const parse_options& opt = {}) {
    auto r = parse_bytes(file, opt);
    INFO(outcome_of(r));
    REQUIRE(r.has_value());
    return std::move(*r);
}
header must_parse(std::string_view json, std::size_t data_len, const parse_options& opt = {}) {
    return must_parse(framed(json, zeros(data_len)), opt);
}

// `"name":{"dtype":"D","shape":S,"data_offsets":[b,e]}`; `name` goes in as written (escapes
// are the caller's).
std::string entry(std::string_view name, std::string_view dt, std::string_view shape, u64 b, u64 e) {
    return "\"" + std::string(name) + "\":{\"dtype\":\"" + std::string(dt) + "\",\"shape\":" + std::string(shape) +
           ",\"data_offsets\":[" + std::to_string(b) + "," + std::to_string(e) + "]}";
}
std::string object(std::initializer_list<std::string> members) {
    std::string s = "{";
    bool first = true;
    for (const auto& m : members) {
        if (!first) s += ",";
        first = false;
        s += m;
    }
    return s + "}";
}
// One U8 tensor "a" (1 byte) with an extra member inside its entry.
std::string with_field(std::string_view extra) {
    return R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],)" + std::string(extra) + "}}";
}

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

// Checks what every successfully parsed header must satisfy, whatever its input.
void check_invariants(const header& h, u64 file_size) {
    u64 covered = 0;
    for (const auto& t : h.tensors()) {
        CHECK(t.begin <= t.end);
        CHECK(t.end <= h.data_size());
        covered += t.byte_size();
        CHECK(h.find(t.name) == &t);
        u64 numel = 0, nbits = 0;
        REQUIRE(detail::checked_numel(t.shape, numel));
        REQUIRE_FALSE(detail::mul_overflow(numel, bits(t.dtype), nbits));
        CHECK(nbits % 8 == 0);
        CHECK(nbits / 8 == t.byte_size());
        CHECK(t.numel() == numel);
    }
    CHECK(covered == h.data_size());  // tiles: no gap, no overlap
    CHECK(h.data_offset() + h.data_size() + h.trailing_bytes() == file_size);
    for (std::size_t i = 1; i < h.metadata().size(); ++i) CHECK(h.metadata()[i - 1].key < h.metadata()[i].key);
}

// ---- a small random JSON writer for the property tests -----------------------------------

std::string utf8(char32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return s;
}
std::string utf8(const std::u32string& s) {
    std::string out;
    for (char32_t c : s) out += utf8(c);
    return out;
}

using rng_t = std::mt19937_64;
std::size_t pick(rng_t& rng, std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }

// Names mix ASCII, JSON specials, control characters, and 2-, 3- and 4-byte UTF-8.
std::u32string random_text(rng_t& rng, std::size_t max_len) {
    static constexpr char32_t pool[] = {
        U'a', U'b', U'z', U'A', U'0', U'9', U'.', U'_', U'-', U'/', U' ', U'"', U'\\', U'\b', U'\t', U'\n', U'\f', U'\r',
        0x00, 0x01, 0x1F, 0x7F, 0xE9, 0x3A9, 0x20AC, 0x2028, 0xFEFF, 0xFFFD, 0x1F600, 0x10FFFF, 0x4E2D, 0x800, 0x7FF};
    std::u32string s;
    std::size_t n = pick(rng, max_len + 1);
    for (std::size_t i = 0; i < n; ++i) s.push_back(pool[pick(rng, std::size(pool))]);
    return s;
}

// A JSON string literal for `s`, each character written in one of the ways JSON allows.
std::string random_json_string(rng_t& rng, const std::u32string& s) {
    static constexpr char hex_lower[] = "0123456789abcdef";
    static constexpr char hex_upper[] = "0123456789ABCDEF";
    auto u_escape = [&](std::uint32_t v) {
        const char* hx = pick(rng, 2) ? hex_lower : hex_upper;
        std::string e = "\\u";
        for (int sh = 12; sh >= 0; sh -= 4) e.push_back(hx[(v >> sh) & 15]);
        return e;
    };
    std::string out = "\"";
    for (char32_t c : s) {
        bool escape = pick(rng, 4) == 0;
        if (c == U'"') out += escape ? u_escape(c) : "\\\"";
        else if (c == U'\\') out += escape ? u_escape(c) : "\\\\";
        else if (c == U'/' && escape) out += "\\/";
        else if (c < 0x20) {
            const char* short_form = c == U'\b' ? "\\b" : c == U'\t' ? "\\t" : c == U'\n' ? "\\n" : c == U'\f' ? "\\f"
                                   : c == U'\r' ? "\\r" : nullptr;
            out += short_form && !escape ? std::string(short_form) : u_escape(c);
        } else if (!escape) {
            out += utf8(c);
        } else if (c < 0x10000) {
            out += u_escape(c);
        } else {  // a surrogate pair
            std::uint32_t v = c - 0x10000;
            out += u_escape(0xD800 + (v >> 10));
            out += u_escape(0xDC00 + (v & 0x3FF));
        }
    }
    return out + "\"";
}

std::string random_ws(rng_t& rng) {
    static constexpr const char* ws[] = {"", "", "", " ", "\n", "\t", "\r\n", "  \n\t "};
    return ws[pick(rng, std::size(ws))];
}

struct random_tensor {
    std::u32string name;
    dtype d;
    std::vector<u64> shape;
};

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
        CHECK(r.error().offset == 8 + 3);  // 8-byte prefix, then `{"a`
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
        CHECK(r.error().offset >= 8);
        CHECK(r.error().offset <= 8 + 2);
    }
    SUBCASE("invalid UTF-8: overlong slash") { CHECK(run(named("\xC0\xAF"), 1) == errc::header_not_utf8); }
    SUBCASE("invalid UTF-8: overlong 3-byte") { CHECK(run(named("\xE0\x80\xAF"), 1) == errc::header_not_utf8); }
    SUBCASE("invalid UTF-8: encoded surrogate") { CHECK(run(named("\xED\xA0\x80"), 1) == errc::header_not_utf8); }
    SUBCASE("invalid UTF-8: truncated sequence") { CHECK(run(named("\xE2\x82"), 1) == errc::header_not_utf8); }
    SUBCASE("invalid UTF-8: above U+10FFFF") { CHECK(run(named("\xF4\x90\x80\x80"), 1) == errc::header_not_utf8); }
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
        CHECK(std::string_view(r.error().tensor) == "a");
    }
    SUBCASE("missing dtype") {
        auto r = parse_bytes(framed(R"({"a":{"shape":[1],"data_offsets":[0,1]}})", zeros(1)));
        CHECK(outcome_of(r) == errc::missing_field);
        CHECK(std::string_view(r.error().detail) == "dtype");
    }
    SUBCASE("missing shape") {
        auto r = parse_bytes(framed(R"({"a":{"dtype":"U8","data_offsets":[0,1]}})", zeros(1)));
        CHECK(outcome_of(r) == errc::missing_field);
        CHECK(std::string_view(r.error().detail) == "shape");
    }
    SUBCASE("missing data_offsets") {
        auto r = parse_bytes(framed(R"({"a":{"dtype":"U8","shape":[1]}})", zeros(1)));
        CHECK(outcome_of(r) == errc::missing_field);
        CHECK(std::string_view(r.error().detail) == "data_offsets");
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
        CHECK(std::string_view(r.error().tensor) == "w");
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
        CHECK(std::string_view(r.error().detail) == "k");
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
        CHECK(std::string_view(r.error().detail) == "x");
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

TEST_CASE("tiling of the data section") {
    SUBCASE("JSON order does not matter") {
        auto h = must_parse(object({entry("c", "U8", "[3]", 3, 6), entry("a", "U8", "[1]", 0, 1), entry("b", "U16", "[1]", 1, 3)}), 6);
        REQUIRE(h.size() == 3);
        // tensors() keeps the JSON order.
        CHECK(h.tensors()[0].name == "c");
        CHECK(h.tensors()[1].name == "a");
        CHECK(h.tensors()[2].name == "b");
        CHECK(h.data_size() == 6);
        CHECK(h.find("b")->begin == 1);
    }
    SUBCASE("no tensors and no data") {
        auto h = must_parse("{}", 0);
        CHECK(h.size() == 0);
        CHECK(h.data_size() == 0);
    }
    SUBCASE("zero-size tensors at every boundary, several at one offset") {
        auto h = must_parse(object({entry("z0", "F32", "[0]", 0, 0), entry("z1", "U8", "[0,4]", 0, 0), entry("a", "U8", "[2]", 0, 2),
                                    entry("z2", "I64", "[0]", 2, 2), entry("z3", "BOOL", "[3,0]", 2, 2), entry("b", "U8", "[2]", 2, 4),
                                    entry("z4", "F4", "[0]", 4, 4), entry("z5", "C64", "[0]", 4, 4)}),
                            4);
        CHECK(h.size() == 8);
        CHECK(h.data_size() == 4);
        CHECK(h.find("z5")->begin == 4);
    }
    SUBCASE("zero-size tensors listed in reverse order") {
        auto h = must_parse(object({entry("z", "U8", "[0]", 4, 4), entry("b", "U8", "[2]", 2, 4), entry("y", "U8", "[0]", 2, 2),
                                    entry("a", "U8", "[2]", 0, 2), entry("x", "U8", "[0]", 0, 0)}),
                            4);
        CHECK(h.size() == 5);
    }
    SUBCASE("only zero-size tensors, no data") {
        auto h = must_parse(object({entry("x", "U8", "[0]", 0, 0), entry("y", "F32", "[0,2]", 0, 0)}), 0);
        CHECK(h.size() == 2);
        CHECK(h.data_size() == 0);
    }
    SUBCASE("a zero-size tensor inside another's range") {
        auto r = parse_bytes(framed(object({entry("a", "U8", "[8]", 0, 8), entry("z", "U8", "[0]", 4, 4)}), zeros(8)));
        CHECK(outcome_of(r) == errc::data_overlap);
        CHECK(std::string_view(r.error().tensor) == "z");
    }
    SUBCASE("a zero-size tensor past the end of the data") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("z", "U8", "[0]", 8, 8)}), 4) == errc::data_gap);
    }
    SUBCASE("a zero-size tensor alone, not at 0") { CHECK(run(object({entry("z", "U8", "[0]", 1, 1)}), 1) == errc::data_gap); }
    SUBCASE("first tensor not at 0") { CHECK(run(object({entry("a", "U8", "[4]", 1, 5)}), 5) == errc::data_gap); }
    SUBCASE("gap between") {
        auto r = parse_bytes(framed(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 6, 10)}), zeros(10)));
        CHECK(outcome_of(r) == errc::data_gap);
        CHECK(std::string_view(r.error().tensor) == "b");
    }
    SUBCASE("partial overlap") {
        auto r = parse_bytes(framed(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 2, 6)}), zeros(6)));
        CHECK(outcome_of(r) == errc::data_overlap);
        CHECK(std::string_view(r.error().tensor) == "b");
    }
    SUBCASE("one range inside another") {
        CHECK(run(object({entry("a", "U8", "[8]", 0, 8), entry("b", "U8", "[2]", 2, 4)}), 8) == errc::data_overlap);
    }
    SUBCASE("two tensors on one range") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("b", "I8", "[4]", 0, 4)}), 4) == errc::data_overlap);
    }
    SUBCASE("same start, different lengths") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[2]", 0, 2)}), 4) == errc::data_overlap);
    }
    SUBCASE("trailing bytes") { CHECK(run(object({entry("a", "U8", "[4]", 0, 4)}), 5) == errc::trailing_bytes); }
    SUBCASE("trailing bytes after an empty header") { CHECK(run("{}", 3) == errc::trailing_bytes); }
    SUBCASE("trailing bytes after zero-size tensors only") {
        CHECK(run(object({entry("z", "U8", "[0]", 0, 0)}), 1) == errc::trailing_bytes);
    }
    SUBCASE("data past the end") {
        auto r = parse_bytes(framed(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 4, 8)}), zeros(6)));
        CHECK(outcome_of(r) == errc::data_past_end);
        CHECK(std::string_view(r.error().tensor) == "b");
    }
    SUBCASE("data past the end of a file with no data section") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4)}), 0) == errc::data_past_end);
    }
}

TEST_CASE("validation::allow_trailing_bytes") {
    parse_options lax;
    lax.validation = validation::allow_trailing_bytes;
    const std::string a = object({entry("a", "U8", "[4]", 0, 4)});
    SUBCASE("accepts and reports trailing bytes") {
        auto h = must_parse(a, 7, lax);
        CHECK(h.trailing_bytes() == 3);
        CHECK(h.data_size() == 4);
        CHECK(h.data_offset() == 8 + a.size());
        check_invariants(h, 8 + a.size() + 7);
    }
    SUBCASE("no trailing bytes reports 0") {
        auto h = must_parse(a, 4, lax);
        CHECK(h.trailing_bytes() == 0);
    }
    SUBCASE("an empty header with data: all of it trailing") {
        auto h = must_parse("{}", 5, lax);
        CHECK(h.trailing_bytes() == 5);
        CHECK(h.data_size() == 0);
    }
    SUBCASE("strict, the default, refuses the same file") { CHECK(run(a, 7) == errc::trailing_bytes); }
    SUBCASE("gaps are still refused") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[1]", 5, 6)}), 6, lax) == errc::data_gap);
    }
    SUBCASE("overlaps are still refused") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[1]", 3, 4)}), 6, lax) == errc::data_overlap);
    }
    SUBCASE("missing bytes are still refused") { CHECK(run(a, 3, lax) == errc::data_past_end); }
}

TEST_CASE("header_limits") {
    SUBCASE("rank at and over a lowered limit") {
        parse_options opt;
        opt.limits.max_rank = 3;
        CHECK(run(object({entry("a", "U8", "[1,1,1]", 0, 1)}), 1, opt) == errc::ok);
        CHECK(run(object({entry("a", "U8", "[1,1,1,1]", 0, 1)}), 1, opt) == errc::limit_exceeded);
    }
    SUBCASE("rank at and over the default 256") {
        auto shape = [](std::size_t rank) {
            std::string s = "[";
            for (std::size_t i = 0; i < rank; ++i) s += i ? ",1" : "1";
            return s + "]";
        };
        CHECK(run(object({entry("a", "U8", shape(256), 0, 1)}), 1) == errc::ok);
        CHECK(run(object({entry("a", "U8", shape(257), 0, 1)}), 1) == errc::limit_exceeded);
    }
    SUBCASE("rank limit 0 allows scalars only") {
        parse_options opt;
        opt.limits.max_rank = 0;
        CHECK(run(object({entry("a", "U8", "[]", 0, 1)}), 1, opt) == errc::ok);
        CHECK(run(object({entry("a", "U8", "[1]", 0, 1)}), 1, opt) == errc::limit_exceeded);
    }
    SUBCASE("tensor count at and over the limit") {
        parse_options opt;
        opt.limits.max_tensors = 3;
        CHECK(run(object({entry("a", "U8", "[1]", 0, 1), entry("b", "U8", "[1]", 1, 2), entry("c", "U8", "[1]", 2, 3)}), 3, opt) ==
              errc::ok);
        CHECK(run(object({entry("a", "U8", "[1]", 0, 1), entry("b", "U8", "[1]", 1, 2), entry("c", "U8", "[1]", 2, 3),
                          entry("d", "U8", "[1]", 3, 4)}),
                  4, opt) == errc::limit_exceeded);
    }
    SUBCASE("metadata entries do not count as tensors") {
        parse_options opt;
        opt.limits.max_tensors = 1;
        CHECK(run(object({R"("__metadata__":{"a":"1","b":"2","c":"3"})", entry("a", "U8", "[1]", 0, 1)}), 1, opt) == errc::ok);
    }
    SUBCASE("name length at and over the limit, in bytes") {
        parse_options opt;
        opt.limits.max_name_length = 8;
        CHECK(run(object({entry("abcdefgh", "U8", "[1]", 0, 1)}), 1, opt) == errc::ok);
        auto r = parse_bytes(framed(object({entry("abcdefghi", "U8", "[1]", 0, 1)}), zeros(1)), opt);
        CHECK(outcome_of(r) == errc::limit_exceeded);
        CHECK(std::string_view(r.error().tensor) == "abcdefghi");
        // Four 2-byte characters are 8 bytes; a fifth makes 10.
        CHECK(run(object({entry("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "U8", "[1]", 0, 1)}), 1, opt) == errc::ok);
        CHECK(run(object({entry("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "U8", "[1]", 0, 1)}), 1, opt) == errc::limit_exceeded);
    }
    SUBCASE("name length counts unescaped bytes, not JSON text") {
        parse_options opt;
        opt.limits.max_name_length = 4;
        // 24 characters of JSON, 4 bytes of name.
        CHECK(run(object({entry(R"(\u0061\u0062\u0063\u0064)", "U8", "[1]", 0, 1)}), 1, opt) == errc::ok);
        CHECK(run(object({entry(R"(\u0061\u0062\u0063\u0064\u0065)", "U8", "[1]", 0, 1)}), 1, opt) == errc::limit_exceeded);
    }
    SUBCASE("header size at and over a lowered limit") {
        parse_options opt;
        opt.limits.max_header_size = 16;
        CHECK(run(std::string("{}") + std::string(14, ' '), 0, opt) == errc::ok);
        CHECK(run(std::string("{}") + std::string(15, ' '), 0, opt) == errc::header_too_large);
    }
}

TEST_CASE("error offsets point at the fault") {
    const std::string a16 = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";  // 57 bytes
    REQUIRE(a16.size() == 57);
    SUBCASE("framing errors are at byte 0") {
        CHECK(parse_bytes(framed_n(100, "{}")).error().offset == 0);
        CHECK(parse_bytes(le64(0)).error().offset == 0);
        CHECK(parse_bytes(std::string(3, 'x')).error().offset == 0);
        CHECK(parse_bytes(framed_n(u64_max, "{}")).error().offset == 0);
    }
    SUBCASE("a control character at its own byte") {
        std::string json = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16],"note":"x)" "\x01" R"("}})";
        auto r = parse_bytes(framed(json, zeros(16)));
        REQUIRE(outcome_of(r) == errc::header_not_json);
        CHECK(r.error().offset == 8 + json.find('\x01'));
    }
    SUBCASE("trailing bytes where the tensors end") {
        auto r = parse_bytes(framed(a16, zeros(16) + "XYZ"));
        REQUIRE(outcome_of(r) == errc::trailing_bytes);
        CHECK(r.error().offset == 8 + 57 + 16);
    }
    SUBCASE("a gap at the start of the tensor after it") {
        std::string json = object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 20, 24)});
        auto r = parse_bytes(framed(json, zeros(24)));
        REQUIRE(outcome_of(r) == errc::data_gap);
        CHECK(r.error().offset == 8 + json.size() + 20);
    }
    SUBCASE("an overlap at the overlapping tensor's start") {
        std::string json = object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 2, 6)});
        auto r = parse_bytes(framed(json, zeros(6)));
        REQUIRE(outcome_of(r) == errc::data_overlap);
        CHECK(r.error().offset == 8 + json.size() + 2);
    }
    SUBCASE("data past the end at the end of the file") {
        auto r = parse_bytes(framed(a16, zeros(10)));
        REQUIRE(outcome_of(r) == errc::data_past_end);
        CHECK(r.error().offset == 8 + 57 + 10);
    }
    SUBCASE("a second object right after the first") {
        auto r = parse_bytes(framed("{}{}"));
        REQUIRE(outcome_of(r) == errc::header_not_json);
        CHECK(r.error().offset == 8 + 2);
    }
    SUBCASE("invalid UTF-8 no later than its byte, a non-object at the start of the header") {
        auto u = parse_bytes(framed("{\"\xff\":1}"));
        REQUIRE(outcome_of(u) == errc::header_not_utf8);
        CHECK(u.error().offset >= 8);
        CHECK(u.error().offset <= 8 + 2);
        CHECK(parse_bytes(framed("  []")).error().offset >= 8);
        CHECK(parse_bytes(framed("[]")).error().offset == 8);
    }
    SUBCASE("errors name the tensor") {
        auto r = parse_bytes(framed(R"({"ok":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"bad":{"dtype":"X","shape":[1],"data_offsets":[1,2]}})",
                                    zeros(2)));
        REQUIRE(outcome_of(r) == errc::unknown_dtype);
        CHECK(std::string_view(r.error().tensor) == "bad");
        CHECK(std::string_view(r.error().detail) == "X");
        CHECK(r.error().to_string().find("tensor 'bad'") != std::string::npos);
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

TEST_CASE("header_parser: in place or copied, reused across headers") {
    header_parser p;
    const std::string big = R"({"__metadata__":{"k":"v"},"t":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}})";
    const std::string small = R"({"u":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
    SUBCASE("parsed in place with data bytes that look like JSON right after") {
        // The data section follows the JSON in memory; bytes there must not leak into parsing.
        std::string file = big + std::string(64, '"') + "}\\\x01";
        std::span<const char> json(file.data(), big.size());
        auto r = p.parse(json, 8 + file.size(), {}, file.size() - big.size());
        INFO(outcome_of(r));
        // The file is 8 + N + 67 bytes: 3 bytes trailing.
        CHECK(outcome_of(r) == errc::trailing_bytes);
        parse_options lax;
        lax.validation = validation::allow_trailing_bytes;
        auto l = p.parse(json, 8 + file.size(), lax, file.size() - big.size());
        REQUIRE(l.has_value());
        CHECK(l->trailing_bytes() == 3);
        CHECK(l->find("t")->end == 64);
    }
    SUBCASE("the same parser, a big header then a small one then a bad one") {
        auto r1 = p.parse(std::span<const char>(big.data(), big.size()), 8 + big.size() + 64);
        REQUIRE(r1.has_value());
        auto r2 = p.parse(std::span<const char>(small.data(), small.size()), 8 + small.size() + 2);
        REQUIRE(r2.has_value());
        CHECK(r2->find("t") == nullptr);
        CHECK(r2->find("u") != nullptr);
        CHECK_FALSE(r2->has_metadata());
        // The first header is still intact: it owns its memory.
        CHECK(r1->find("t") != nullptr);
        CHECK(r1->metadata_value("k") == "v");
        const std::string bad = R"({"u":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},})";
        CHECK(outcome_of(p.parse(std::span<const char>(bad.data(), bad.size()), 8 + bad.size() + 2)) == errc::header_not_json);
        auto r3 = p.parse(std::span<const char>(small.data(), small.size()), 8 + small.size() + 2);
        CHECK(r3.has_value());
    }
    SUBCASE("an empty span is not JSON") {
        CHECK(outcome_of(p.parse(std::span<const char>(), 8)) == errc::header_not_json);
    }
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

TEST_CASE("property: emitted headers parse back field by field") {
    rng_t rng(0x5afe5ba4d);
    int checked = 0;
    for (int iter = 0; iter < 300; ++iter) {
        // Random tensors: unique names (unicode, escapes, control characters), any dtype, rank
        // 0..4 with zero extents; sub-byte shapes get a last extent of 8 so their bits fill bytes.
        std::vector<random_tensor> ts;
        std::set<std::string> seen_names;
        std::size_t n = pick(rng, 12);
        while (ts.size() < n) {
            random_tensor t;
            t.name = random_text(rng, 10);
            std::string u = utf8(t.name);
            if (u == "__metadata__" || !seen_names.insert(u).second) continue;
            t.d = all_dtypes[pick(rng, all_dtypes.size())];
            std::size_t rank = pick(rng, 5);
            for (std::size_t r = 0; r < rank; ++r) t.shape.push_back(pick(rng, 5));
            u64 numel = 1;
            for (auto d : t.shape) numel *= d;
            if (numel * bits(t.d) % 8) t.shape.push_back(8);
            ts.push_back(std::move(t));
        }
        std::vector<std::string> name_store;
        for (const auto& t : ts) name_store.push_back(utf8(t.name));
        std::vector<tensor_spec> specs;
        for (std::size_t i = 0; i < ts.size(); ++i) specs.push_back(tensor_spec{name_store[i], ts[i].d, ts[i].shape});

        std::map<std::string, std::string> meta_map;
        std::size_t nm = pick(rng, 4);
        while (meta_map.size() < nm) {
            std::string k = utf8(random_text(rng, 6));
            std::string v = utf8(random_text(rng, 12));
            meta_map.emplace(std::move(k), std::move(v));
        }
        std::vector<metadata_entry> meta;
        for (const auto& [k, v] : meta_map) meta.push_back({k, v});
        std::shuffle(meta.begin(), meta.end(), rng);
        bool always = pick(rng, 4) == 0;

        auto layout = emit_header(specs, meta, always);
        INFO("iteration ", iter);
        REQUIRE(layout.has_value());
        const std::string file = layout->bytes + zeros(layout->data_size);
        auto r = parse_bytes(file);
        INFO(outcome_of(r));
        REQUIRE(r.has_value());
        const header& h = *r;

        CHECK(h.header_size() == layout->bytes.size() - 8);
        CHECK(h.header_size() % 8 == 0);
        CHECK(h.data_offset() == layout->data_offset());
        CHECK(h.data_size() == layout->data_size);
        REQUIRE(h.size() == specs.size());
        for (std::size_t k = 0; k < h.size(); ++k) {
            // The JSON lists tensors in data order, so tensors()[k] is the k-th of layout.order.
            const auto i = layout->order[k];
            const auto& t = h.tensors()[k];
            CHECK(t.name == specs[i].name);
            CHECK(t.dtype == specs[i].dtype);
            CHECK(std::vector<u64>(t.shape.begin(), t.shape.end()) == ts[i].shape);
            CHECK(t.begin == layout->begin[i]);
            CHECK(t.end == layout->begin[i] + layout->size[i]);
            CHECK(h.find(specs[i].name) == &t);
        }
        CHECK(h.has_metadata() == (always || !meta.empty()));
        REQUIRE(h.metadata().size() == meta_map.size());
        std::size_t m = 0;
        for (const auto& [k, v] : meta_map) {  // std::map iterates in byte order, as metadata() does
            CHECK(h.metadata()[m].key == k);
            CHECK(h.metadata()[m].value == v);
            CHECK(h.metadata_value(k) == v);
            ++m;
        }
        check_invariants(h, file.size());
        ++checked;
    }
    CHECK(checked == 300);
}

TEST_CASE("property: the same header in any JSON spelling parses the same") {
    // A hand-rolled writer spells each header differently: random whitespace, field and member
    // order, metadata position, and each character either verbatim or escaped.
    rng_t rng(20260101);
    for (int iter = 0; iter < 300; ++iter) {
        std::vector<random_tensor> ts;
        std::set<std::string> seen_names;
        std::size_t n = pick(rng, 8);
        while (ts.size() < n) {
            random_tensor t;
            t.name = random_text(rng, 8);
            std::string u = utf8(t.name);
            if (u == "__metadata__" || !seen_names.insert(u).second) continue;
            t.d = all_dtypes[pick(rng, all_dtypes.size())];
            std::size_t rank = pick(rng, 4);
            for (std::size_t r = 0; r < rank; ++r) t.shape.push_back(pick(rng, 4));
            u64 numel = 1;
            for (auto d : t.shape) numel *= d;
            if (numel * bits(t.d) % 8) t.shape.push_back(8);
            ts.push_back(std::move(t));
        }
        // Offsets in the listed order (any order tiles, as long as the ranges are contiguous).
        std::vector<u64> begin(ts.size()), end(ts.size());
        u64 at = 0;
        for (std::size_t i = 0; i < ts.size(); ++i) {
            u64 numel = 1;
            for (auto d : ts[i].shape) numel *= d;
            begin[i] = at;
            at += numel * bits(ts[i].d) / 8;
            end[i] = at;
        }
        std::map<std::u32string, std::u32string> meta;
        bool with_meta = pick(rng, 2) == 0;
        if (with_meta) {
            std::size_t nm = pick(rng, 4);
            std::set<std::string> seen_keys;
            while (meta.size() < nm) {
                auto k = random_text(rng, 5);
                auto v = random_text(rng, 8);
                if (seen_keys.insert(utf8(k)).second) meta.emplace(k, v);
            }
        }

        std::vector<std::string> members;
        for (std::size_t i = 0; i < ts.size(); ++i) {
            // Each draw from `rng` is its own statement: the order of operands in one expression is
            // unspecified, and the inputs must be the same whichever compiler builds the test.
            std::vector<std::string> fields;
            std::string shape = "[";
            shape += random_ws(rng);
            for (std::size_t d = 0; d < ts[i].shape.size(); ++d) {
                if (d) {
                    shape += ",";
                    shape += random_ws(rng);
                }
                shape += std::to_string(ts[i].shape[d]);
                shape += random_ws(rng);
            }
            shape += "]";
            auto field = [&](std::u32string key, const std::string& value) {
                std::string f = random_json_string(rng, key);
                f += random_ws(rng);
                f += ":";
                f += random_ws(rng);
                return f + value;
            };
            std::u32string dname;
            for (char c : name(ts[i].d)) dname.push_back(static_cast<char32_t>(c));
            const std::string dvalue = random_json_string(rng, dname);
            fields.push_back(field(U"dtype", dvalue));
            fields.push_back(field(U"shape", shape));
            std::string offsets = "[" + std::to_string(begin[i]) + ",";
            offsets += random_ws(rng);
            offsets += std::to_string(end[i]) + "]";
            fields.push_back(field(U"data_offsets", offsets));
            if (pick(rng, 3) == 0) fields.push_back(field(U"extra", R"({"x":[1,2.5,null,"s"]})"));
            std::shuffle(fields.begin(), fields.end(), rng);
            std::string obj = "{";
            obj += random_ws(rng);
            for (std::size_t f = 0; f < fields.size(); ++f) {
                if (f) {
                    obj += ",";
                    obj += random_ws(rng);
                }
                obj += fields[f];
            }
            obj += random_ws(rng);
            obj += "}";
            std::string member = random_json_string(rng, ts[i].name);
            member += random_ws(rng);
            member += ":";
            member += random_ws(rng);
            members.push_back(member + obj);
        }
        if (with_meta) {
            std::string obj = "{";
            bool first = true;
            for (const auto& [k, v] : meta) {
                if (!first) obj += ",";
                first = false;
                obj += random_ws(rng);
                obj += random_json_string(rng, k);
                obj += ":";
                obj += random_json_string(rng, v);
            }
            obj += "}";
            std::string member = random_json_string(rng, U"__metadata__");
            members.push_back(member + ":" + obj);
        }
        // Members in a random order; the metadata member, when present, is the last index.
        std::vector<std::size_t> perm(members.size());
        for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
        std::shuffle(perm.begin(), perm.end(), rng);
        std::string json = random_ws(rng);
        json += "{";
        json += random_ws(rng);
        for (std::size_t i = 0; i < perm.size(); ++i) {
            if (i) {
                json += ",";
                json += random_ws(rng);
            }
            json += members[perm[i]];
        }
        json += random_ws(rng);
        json += "}";
        json += random_ws(rng);

        INFO("iteration ", iter, " json ", json);
        auto r = parse_bytes(framed(json, zeros(at)));
        INFO(outcome_of(r));
        REQUIRE(r.has_value());
        const header& h = *r;
        REQUIRE(h.size() == ts.size());
        for (std::size_t i = 0; i < ts.size(); ++i) {
            const auto* t = h.find(utf8(ts[i].name));
            REQUIRE(t != nullptr);
            CHECK(t->dtype == ts[i].d);
            CHECK(std::vector<u64>(t->shape.begin(), t->shape.end()) == ts[i].shape);
            CHECK(t->begin == begin[i]);
            CHECK(t->end == end[i]);
        }
        // tensors() lists the tensors in the order this spelling wrote them.
        std::size_t listed = 0;
        for (std::size_t m : perm) {
            if (m >= ts.size()) continue;  // the metadata member
            CHECK(h.tensors()[listed].name == utf8(ts[m].name));
            ++listed;
        }
        CHECK(h.has_metadata() == with_meta);
        REQUIRE(h.metadata().size() == meta.size());
        for (const auto& [k, v] : meta) CHECK(h.metadata_value(utf8(k)) == utf8(v));
        CHECK(h.data_size() == at);
        check_invariants(h, 8 + json.size() + at);
    }
}

TEST_CASE("property: mutated files never crash and fail with a real errc") {
    // Run under ASan/UBSan, this is the test that catches out-of-bounds reads on hostile bytes.
    std::vector<std::string> seeds;
    {
        const std::vector<u64> s23 = {2, 3}, s4 = {4}, s22 = {2, 2}, s0 = {}, s05 = {0, 5}, s16 = {16};
        const tensor_spec specs[] = {{"w\xC3\xA9ight", dtype::F32, s23}, {"b", dtype::BF16, s4}, {"q\n\"x", dtype::F4, s22},
                                     {"s", dtype::U8, s0},              {"e", dtype::I64, s05}, {"big", dtype::F32, s16}};
        const metadata_entry meta[] = {{"format", "pt"}, {"k\t", "v\"\\"}};
        auto layout = emit_header(specs, meta);
        REQUIRE(layout.has_value());
        std::string data;
        for (u64 i = 0; i < layout->data_size; ++i) data.push_back(static_cast<char>(i * 37));
        seeds.push_back(layout->bytes + data);  // more than 64 data bytes: parsed in place
    }
    seeds.push_back(framed(" {\n\t\"__metadata__\" : null,\n \"a\\u00e9\" : {\"shape\":[2],\"dtype\":\"U16\",\"x\":[{\"y\":-1.5e3}],"
                           "\"data_offsets\":[0,4]}, \"z\":{\"dtype\":\"F6_E3M2\",\"shape\":[4],\"data_offsets\":[4,7]}} ",
                           "abcdefg"));  // a short data section: parsed from a copy
    for (const auto& s : seeds) REQUIRE(parse_bytes(s).has_value());

    static constexpr char interesting[] = {'\0', '"', '\\', '{', '}', '[', ']', ',', ':', '-', '.', 'e', '0', '1', '9',
                                           'u', ' ', '\n', '\x7f', '\x80', '\xbf', '\xc3', '\xed', '\xf4', '\xff'};
    rng_t rng(42);
    int parsed = 0, failed = 0;
    auto check_one = [&](const std::string& f) {
        auto r = parse_bytes(f);
        if (r) {
            ++parsed;
            check_invariants(*r, f.size());
        } else {
            ++failed;
            CHECK(r.code() != errc::ok);
            CHECK(static_cast<int>(r.code()) <= static_cast<int>(last_errc));
            CHECK(std::string_view(error_message(r.code())) != "unknown error");
            CHECK(!r.error().to_string().empty());
        }
    };
    for (const auto& seed : seeds) {
        u64 n = 0;
        std::memcpy(&n, seed.data(), 8);
        const std::size_t header_end = 8 + static_cast<std::size_t>(n);
        for (int iter = 0; iter < 3000; ++iter) {
            std::string f = seed;
            switch (pick(rng, 5)) {
                case 0: {  // one random byte anywhere in the prefix or JSON, or just past it
                    std::size_t at = pick(rng, header_end + 4);
                    f[at] = static_cast<char>(pick(rng, 256));
                    break;
                }
                case 1: {  // one structurally interesting byte in the JSON
                    std::size_t at = 8 + pick(rng, header_end - 8);
                    f[at] = interesting[pick(rng, std::size(interesting))];
                    break;
                }
                case 2: {  // delete a JSON byte, keeping N consistent
                    f.erase(8 + pick(rng, header_end - 8), 1);
                    u64 m = n - 1;
                    std::memcpy(f.data(), &m, 8);
                    break;
                }
                case 3: {  // insert a byte into the JSON, keeping N consistent
                    std::size_t at = 8 + pick(rng, header_end - 8);
                    f.insert(at, 1, interesting[pick(rng, std::size(interesting))]);
                    u64 m = n + 1;
                    std::memcpy(f.data(), &m, 8);
                    break;
                }
                default:  // truncate
                    f.resize(pick(rng, f.size()));
                    break;
            }
            check_one(f);
        }
    }
    // Both outcomes happen: the mutations reach past the framing checks.
    CHECK(parsed > 50);
    CHECK(failed > 1000);
}

}  // TEST_SUITE
