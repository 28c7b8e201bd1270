// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_JSON_SCAN_HPP
#define SAFESHARD_DETAIL_JSON_SCAN_HPP

// Byte-level scans of a safetensors header's JSON text that the parser runs beside simdjson:
// checks the reference makes and simdjson does not, sizing counts, and plain-key shortcuts.
// No simdjson here: these read the raw bytes only.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

// The census 16 bytes a step with GNU vector types (g++ and clang: SSE2 / NEON without
// intrinsics), and the quote search with SSE2 where there is SSE2, or a byte at a time where
// they are missing or SAFESHARD_PORTABLE_SCAN is defined to 1 (CI builds the parse and corpus
// suites that way, so both paths stay tested).
#ifndef SAFESHARD_PORTABLE_SCAN
#  if defined(__GNUC__) || defined(__clang__)
#    define SAFESHARD_PORTABLE_SCAN 0
#  else
#    define SAFESHARD_PORTABLE_SCAN 1
#  endif
#endif
#if !SAFESHARD_PORTABLE_SCAN && defined(__SSE2__)
#  include <emmintrin.h>
#endif

namespace safeshard::detail {

// What one pass over the JSON learns before simdjson runs: whether any control byte
// occurs (then the exact scan below looks for one inside a string), whether it is all ASCII
// (then it is valid UTF-8 without a second pass to check), and counts that bound how many
// tensors ('{') and dimensions (',' and ']') the header can hold, so its arenas are sized to
// the header rather than to a worst case.
struct json_census {
    bool control = false;
    bool ascii = true;             // no byte >= 0x80
    std::uint64_t braces = 0;      // '{'
    std::uint64_t separators = 0;  // ',' and ']'
};

inline json_census take_census(const char* p, std::size_t n) noexcept {
    json_census c;
    std::size_t i = 0;
    unsigned char any = 0, bits = 0;
#if !SAFESHARD_PORTABLE_SCAN
    // A true lane compares as 0xFF, so subtracting it counts one; lanes are emptied into the
    // totals before they can wrap (255 steps).
    using v16 = unsigned char __attribute__((vector_size(16)));
    v16 ctrl = {}, all = {};
    while (i + 16 <= n) {
        v16 braces = {}, seps = {};
        for (int step = 0; step < 255 && i + 16 <= n; ++step, i += 16) {
            v16 w;
            std::memcpy(&w, p + i, 16);
            ctrl |= (w < 0x20);
            all |= w;
            braces -= (w == '{');
            seps -= (w == ',') | (w == ']');
        }
        for (int k = 0; k < 16; ++k) {
            c.braces += braces[k];
            c.separators += seps[k];
        }
    }
    for (int k = 0; k < 16; ++k) {
        any |= ctrl[k];
        bits |= all[k];
    }
#endif
    for (; i < n; ++i) {
        auto ch = static_cast<unsigned char>(p[i]);
        any |= static_cast<unsigned char>(ch < 0x20);
        bits |= ch;
        c.braces += ch == '{';
        c.separators += ch == ',' || ch == ']';
    }
    c.control = any != 0;
    c.ascii = (bits & 0x80) == 0;
    return c;
}

// The offset of the first byte below 0x20 inside a string, or -1. Such bytes are legal in JSON
// only as whitespace between tokens, never inside a string (the reference rejects them;
// simdjson does not look). A compact header has none at all, so the census settles the common
// case in one branch-free pass and this exact scan runs only on pretty JSON.
inline std::ptrdiff_t find_control_in_string(const char* p, std::size_t n) noexcept {
    bool in_string = false;
    for (std::size_t i = 0; i < n; ++i) {
        auto c = static_cast<unsigned char>(p[i]);
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
            else if (c < 0x20) return static_cast<std::ptrdiff_t>(i);
        } else if (c == '"') {
            in_string = true;
        }
    }
    return -1;
}

// The first '"' or '\\' in [r, end), or `end` when there is none: where a string that starts
// at `r` ends, or would need unescaping. One pass for both bytes, 16 at a time, where memchr
// for each would take two (names are short: the calls' setup is most of their cost). Reads
// whole 16-byte blocks, up to 15 bytes past `end`: the caller's buffer must be padded (the
// parser's is, by SIMDJSON_PADDING).
inline const char* find_quote_or_backslash(const char* r, const char* end) noexcept {
#if !SAFESHARD_PORTABLE_SCAN && defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    for (; r < end; r += 16) {
        const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r));
        const auto hits = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(w, quote), _mm_cmpeq_epi8(w, backslash))));
        if (hits) {
            const char* at = r + __builtin_ctz(hits);
            return at < end ? at : end;
        }
    }
    return end;
#else
    for (; r < end; ++r)
        if (*r == '"' || *r == '\\') return r;
    return end;
#endif
}

// The closing quote of the JSON string starting at `r` (just after its opening quote) when the
// string has no escapes, else the position of its first backslash. `end` bounds the search;
// simdjson's structural pass guarantees the closing quote comes before it, and its padding
// makes the read-ahead of find_quote_or_backslash safe.
inline const char* end_of_plain_string(const char* r, const char* end) noexcept {
    const char* q = find_quote_or_backslash(r, end);
    return q == end ? end - 1 : q;  // end: unreachable for a structurally valid document
}

// Decodes the JSON string whose raw text starts at `raw` (just after the opening quote) into
// `out`. False on a bad escape. Used only for the rare tensor-entry keys written with escapes,
// so that `"dty\u0070e"` means `dtype` exactly as it does to the reference.
inline bool unescape_json_key(const char* raw, std::string& out) {
    auto hex4 = [](const char* h, std::uint32_t& v) {
        v = 0;
        for (int i = 0; i < 4; ++i) {
            char c = h[i];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
            else return false;
        }
        return true;
    };
    out.clear();
    for (const char* p = raw;; ++p) {
        char c = *p;
        if (c == '"') return true;
        if (c != '\\') {
            out.push_back(c);
            continue;
        }
        char e = *++p;
        switch (e) {
            case '"': case '\\': case '/': out.push_back(e); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u': {
                std::uint32_t cp = 0;
                if (!hex4(p + 1, cp)) return false;
                p += 4;
                if (cp >= 0xD800 && cp < 0xDC00) {  // a high surrogate needs its low half
                    std::uint32_t lo = 0;
                    if (p[1] != '\\' || p[2] != 'u' || !hex4(p + 3, lo) || lo < 0xDC00 || lo >= 0xE000) return false;
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    return false;
                }
                if (cp < 0x80) {
                    out.push_back(static_cast<char>(cp));
                } else if (cp < 0x800) {
                    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
                    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
                } else if (cp < 0x10000) {
                    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
                    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
                    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
                } else {
                    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
                    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
                    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
                    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
                }
                break;
            }
            default: return false;
        }
    }
}

}  // namespace safeshard::detail

#endif
