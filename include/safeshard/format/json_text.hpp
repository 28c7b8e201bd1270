// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_JSON_TEXT_HPP
#define SAFESHARD_FORMAT_JSON_TEXT_HPP

// The pieces of JSON text safeshard writes: string literals, unsigned integers, integer lists.
// Two writers must be matched byte for byte, and they differ only in escaping: the reference
// crate (serde_json) keeps UTF-8 in safetensors headers, while DCP writes the index and the
// sharding info with Python's `json` module, whose default `ensure_ascii` escapes every
// non-ASCII code point. One escaper with a mode serves both, so the common escapes cannot
// drift apart.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace safeshard {

/// How `append_json_string` escapes.
enum class json_escape : bool {
    /// `"` and `\`, then \b \t \n \f \r, other control characters as \u00xx; everything else
    /// verbatim, UTF-8 included: serde_json, and Python with `ensure_ascii=False`.
    minimal,
    /// As `minimal`, and DEL and every non-ASCII code point as \uXXXX (lowercase hex, astral
    /// ones as a surrogate pair): Python's `json.dumps` with its default `ensure_ascii=True`.
    ascii,
};

/// Appends `s` as a JSON string literal, quotes included. Requires: with `json_escape::ascii`,
/// `s` is valid UTF-8 (callers check; a cut sequence is not read past the end of `s`).
inline void append_json_string(std::string& out, std::string_view s, json_escape mode = json_escape::minimal) {
    static constexpr char hex[] = "0123456789abcdef";
    auto u4 = [&](std::uint32_t v) {
        out += "\\u";
        out += hex[(v >> 12) & 15];
        out += hex[(v >> 8) & 15];
        out += hex[(v >> 4) & 15];
        out += hex[v & 15];
    };
    const bool ascii = mode == json_escape::ascii;
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80 || !ascii) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\b': out += "\\b"; break;
                case '\t': out += "\\t"; break;
                case '\n': out += "\\n"; break;
                case '\f': out += "\\f"; break;
                case '\r': out += "\\r"; break;
                default:
                    if (c < 0x20 || (ascii && c == 0x7f)) u4(c);
                    else out.push_back(static_cast<char>(c));
            }
            ++i;
            continue;
        }
        // One multi-byte sequence; the input was validated, so its length holds.
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

/// Appends `v` in decimal, as both writers print integers.
inline void append_json_uint(std::string& out, std::uint64_t v) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) out.push_back(digits[--n]);
}

/// Appends `[a<sep>b<sep>c]`: `sep` is "," for serde_json's compact form, ", " for Python's.
inline void append_json_uint_list(std::string& out, std::span<const std::uint64_t> v, std::string_view sep) {
    out.push_back('[');
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += sep;
        append_json_uint(out, v[i]);
    }
    out.push_back(']');
}

}  // namespace safeshard

#endif
