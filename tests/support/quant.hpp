// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_QUANT_HPP
#define SAFESHARD_TESTS_SUPPORT_QUANT_HPP

// Reference dequantizers for the quantized reader's tests, written from the format definitions
// (OCP FP8, OCP MX) with plain arithmetic, independently of the library's tables; and helpers
// that write quantized checkpoints.

#include <safeshard/core/element_types.hpp>
#include <safeshard/file/writer.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "files.hpp"

namespace safeshard::test {

/// OCP E4M3 ("fn"): bias 7, no infinities, NaN at S.1111.111.
inline float ref_e4m3(std::uint8_t c) {
    const float sign = (c & 0x80) ? -1.0f : 1.0f;
    const int e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
    if (e == 0) return sign * std::ldexp(static_cast<float>(m) / 8.0f, -6);
    return sign * std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
}

/// OCP E5M2: IEEE-style, bias 15, with infinities and NaNs.
inline float ref_e5m2(std::uint8_t c) {
    const float sign = (c & 0x80) ? -1.0f : 1.0f;
    const int e = (c >> 2) & 31, m = c & 3;
    if (e == 31) return m == 0 ? sign * std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
    if (e == 0) return sign * std::ldexp(static_cast<float>(m) / 4.0f, -14);
    return sign * std::ldexp(1.0f + static_cast<float>(m) / 4.0f, e - 15);
}

/// FP4 E2M1: bias 1, one mantissa bit: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
inline float ref_e2m1(std::uint8_t c) {
    const float sign = (c & 8) ? -1.0f : 1.0f;
    const int e = (c >> 1) & 3, m = c & 1;
    if (e == 0) return sign * 0.5f * static_cast<float>(m);
    return sign * std::ldexp(1.0f + 0.5f * static_cast<float>(m), e - 1);
}

/// MXFP4 value of nibble `c` in a group with E8M0 exponent byte `scale`.
inline float ref_mxfp4(std::uint8_t c, std::uint8_t scale) { return std::ldexp(ref_e2m1(c), static_cast<int>(scale) - 127); }

/// Bitwise float equality, with every NaN equal to every NaN.
inline bool same_float(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

/// Writes `model.safetensors.index.json` mapping each (name, file) pair.
inline void write_index(const temp_dir& dir, const std::vector<std::pair<std::string, std::string>>& map) {
    std::string s = "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {";
    for (std::size_t i = 0; i < map.size(); ++i) s += (i ? ", \"" : "\"") + map[i].first + "\": \"" + map[i].second + "\"";
    s += "}}";
    write_file(dir / "model.safetensors.index.json", std::as_bytes(std::span(s)));
}

/// Saves `entries` to `path`, failing the test on error.
inline void save(const std::string& path, const std::vector<tensor_entry>& entries) {
    auto st = save_file(path, entries);
    REQUIRE_MESSAGE(st.ok(), st.error().to_string());
}

}  // namespace safeshard::test

#endif
