// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_UTF8_HPP
#define SAFESHARD_DETAIL_UTF8_HPP

// A scalar UTF-8 validator that says where the first bad byte is: used for names we write and
// to point an error at the offending byte (simdjson's fast check only says yes or no).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace safeshard::detail {

/// The offset of the first byte of `s` that starts an invalid sequence (overlongs, surrogates
/// and code points past U+10FFFF are invalid), or `s.size()` when all of `s` is valid.
constexpr std::size_t first_invalid_utf8(std::string_view s) noexcept {
    std::size_t n = s.size(), i = 0;
    while (i < n) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len;
        std::uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1Fu; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0Fu; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07u; }
        else return i;
        if (n - i < len) return i;
        for (std::size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += len;
    }
    return n;
}

}  // namespace safeshard::detail

#endif
