// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_PYTHON_JSON_HPP
#define SAFESHARD_DETAIL_PYTHON_JSON_HPP

// JSON text as Python's `json` module writes it with its defaults, which is what DCP writes
// (the index with `json.dump(indent=2)`, the sharding info with `json.dumps`): `ensure_ascii`
// escapes (every non-ASCII code point as \uXXXX, lowercase hex, astral ones as a surrogate
// pair; DEL too), separators ", " and ": ". Byte-equal output lets files be compared whole.

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

namespace safeshard::detail {

/// Appends `s` (valid UTF-8; callers check) as a Python `json.dumps` string literal.
inline void append_python_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    auto u4 = [&](std::uint32_t v) {
        out += "\\u";
        out += hex[(v >> 12) & 15];
        out += hex[(v >> 8) & 15];
        out += hex[(v >> 4) & 15];
        out += hex[v & 15];
    };
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\b': out += "\\b"; break;
                case '\t': out += "\\t"; break;
                case '\n': out += "\\n"; break;
                case '\f': out += "\\f"; break;
                case '\r': out += "\\r"; break;
                default:
                    if (c < 0x20 || c == 0x7f) u4(c);
                    else out.push_back(static_cast<char>(c));
            }
            ++i;
            continue;
        }
        // Decode one multi-byte sequence; the input was validated, so lengths hold.
        std::uint32_t cp;
        std::size_t len;
        if (c >= 0xF0) cp = c & 0x07u, len = 4;
        else if (c >= 0xE0) cp = c & 0x0Fu, len = 3;
        else cp = c & 0x1Fu, len = 2;
        for (std::size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
        i += len;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            u4(0xD800 + (cp >> 10));
            u4(0xDC00 + (cp & 0x3FF));
        } else {
            u4(cp);
        }
    }
    out.push_back('"');
}

inline void append_decimal(std::string& out, std::uint64_t v) {
    char buf[24];
    int n = std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
    out.append(buf, static_cast<std::size_t>(n));
}

/// `[a, b, c]` as Python writes a list of ints.
inline void append_python_int_list(std::string& out, std::span<const std::uint64_t> v) {
    out.push_back('[');
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        append_decimal(out, v[i]);
    }
    out.push_back(']');
}

}  // namespace safeshard::detail

#endif
