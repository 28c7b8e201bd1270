// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_PARSE_HPP
#define SAFESHARD_TESTS_SUPPORT_PARSE_HPP

// Header-parser test helpers shared by the parse suite's files: safetensors files built byte by
// byte (the suite must run where /work/shared is absent), parse outcomes that print the
// library's own message when a CHECK fails, and the invariants every parsed header satisfies.

#include <safeshard/format/parse.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace safeshard::test {

using u64 = std::uint64_t;
inline constexpr u64 u64_max = UINT64_MAX;

inline std::string le64(u64 n) {
    std::string s(8, '\0');
    std::memcpy(s.data(), &n, 8);
    return s;
}
inline std::string zeros(std::size_t n) { return std::string(n, '\0'); }

// `[u64 N][json][data]` with N the JSON's length, or a given N for framing corruptions.
inline std::string framed(std::string_view json, std::string_view data = {}) {
    return le64(json.size()) + std::string(json) + std::string(data);
}
inline std::string framed_n(u64 n, std::string_view json, std::string_view data = {}) {
    return le64(n) + std::string(json) + std::string(data);
}

inline std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

inline result<header> parse_bytes(const std::string& file, const parse_options& opt = {}) {
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
inline outcome outcome_of(const result<header>& r) {
    if (r) return {errc::ok, "ok"};
    return {r.code(), r.error().to_string()};
}
inline outcome run(const std::string& file, const parse_options& opt = {}) { return outcome_of(parse_bytes(file, opt)); }
inline outcome run(std::string_view json, std::size_t data_len, const parse_options& opt = {}) {
    return run(framed(json, zeros(data_len)), opt);
}

// Parses a file that must be valid; the header owns its strings, so the input may go away.
inline header must_parse(const std::string& file, const parse_options& opt = {}) {
    auto r = parse_bytes(file, opt);
    INFO(outcome_of(r));
    REQUIRE(r.has_value());
    return std::move(*r);
}
inline header must_parse(std::string_view json, std::size_t data_len, const parse_options& opt = {}) {
    return must_parse(framed(json, zeros(data_len)), opt);
}

// `"name":{"dtype":"D","shape":S,"data_offsets":[b,e]}`; `name` goes in as written (escapes
// are the caller's).
inline std::string entry(std::string_view name, std::string_view dt, std::string_view shape, u64 b, u64 e) {
    return "\"" + std::string(name) + "\":{\"dtype\":\"" + std::string(dt) + "\",\"shape\":" + std::string(shape) +
           ",\"data_offsets\":[" + std::to_string(b) + "," + std::to_string(e) + "]}";
}
inline std::string object(std::initializer_list<std::string> members) {
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
inline std::string with_field(std::string_view extra) {
    return R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],)" + std::string(extra) + "}}";
}

// Checks what every successfully parsed header must satisfy, whatever its input.
inline void check_invariants(const header& h, u64 file_size) {
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

}  // namespace safeshard::test

#endif
