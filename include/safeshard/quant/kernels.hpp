// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_QUANT_KERNELS_HPP
#define SAFESHARD_QUANT_KERNELS_HPP

// The element loops of dequantization, over data already read into memory: FP8 block rows and
// MXFP4 groups, into any float destination (float, double, bf16, f16) at any stride. Values are
// made in F32 and rounded once to the destination, to nearest even.

#include <safeshard/core/element_types.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace safeshard::quant {

/// The element types a dequantized value may be written as.
template <class T>
concept float_destination = std::same_as<T, float> || std::same_as<T, double> || std::same_as<T, bf16> || std::same_as<T, f16>;

/// The FP4 E2M1 values by code, as DCP's table lists them (index = nibble).
inline constexpr std::array<float, 16> e2m1_values = {+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
                                                      -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
static_assert([] {
    for (std::uint8_t c = 0; c < 16; ++c)
        if (std::bit_cast<std::uint32_t>(e2m1_values[c]) != std::bit_cast<std::uint32_t>(f4_e2m1_to_float(c))) return false;
    return true;
}(), "DCP's FP4 table and the E2M1 decoding of core/element_types.hpp agree");

namespace detail {

template <float_destination T>
constexpr T from_float(float f) noexcept {
    if constexpr (std::same_as<T, float> || std::same_as<T, double>) return f;
    else return T(f);
}

template <class S>
constexpr float to_float(S s) noexcept {
    return static_cast<float>(s);
}

// out[k * stride] = table[codes[k]] for k < n. The pointers are restrict-qualified: the stores
// cannot change the table, so its loads need not wait for them (a several-fold difference).
template <class T>
void lookup_run(const std::uint8_t* __restrict codes, const T* __restrict table, std::size_t n, T* __restrict out,
                std::ptrdiff_t stride) noexcept {
    if (stride == 1) {
        if constexpr (requires { out->bits; }) {
            // Bit containers through their bits: plain integer moves.
            for (std::size_t k = 0; k < n; ++k) out[k].bits = table[codes[k]].bits;
            return;
        }
        for (std::size_t k = 0; k < n; ++k) out[k] = table[codes[k]];
    } else {
        for (std::size_t k = 0; k < n; ++k) out[static_cast<std::ptrdiff_t>(k) * stride] = table[codes[k]];
    }
}

/// FP8 block: `n` rows of `m` stored elements `w` (row-major), the weight's rows [r0, r0+n) and
/// columns [c0, c0+m); `scales` the scale grid's rows [sr0, ...) and columns [sc0, sc0 + sw),
/// row-major, as floats. Element (i, j) goes to `dst[i * ds0 + j * ds1]`.
///
/// Row by row, so the destination is written as one stream. For one-byte codes and strips of
/// at least a few rows, each block's 256 possible values are made first (exactly as the loop
/// makes them: F32 product, one rounding) and every element is one lookup.
template <class S, float_destination T>
void dequantize_fp8_rows(const S* w, std::size_t n, std::size_t m, std::uint64_t r0, std::uint64_t c0, std::uint64_t bs,
                         const float* scales, std::size_t sw, std::uint64_t sr0, std::uint64_t sc0, T* dst, std::ptrdiff_t ds0,
                         std::ptrdiff_t ds1) noexcept {
    constexpr std::size_t table_rows = 8;  // rows of a strip past which its tables pay for themselves
    std::vector<T> tables;                 // per block column of the strip: its 256 values
    for (std::size_t i0 = 0; i0 < n;) {
        const std::uint64_t brow = (r0 + i0) / bs;
        const std::size_t i1 = static_cast<std::size_t>(std::min<std::uint64_t>(n, (brow + 1) * bs - r0));
        const float* srow = scales + (brow - sr0) * sw;
        bool use_tables = false;
        if constexpr (sizeof(S) == 1) {
            use_tables = i1 - i0 >= table_rows;
            if (use_tables) {
                tables.resize(sw * 256);  // sw, the strip's block columns, is at most m
                for (std::size_t b = 0; b < sw; ++b)
                    for (std::size_t c = 0; c < 256; ++c)
                        tables[b * 256 + c] = from_float<T>(to_float(std::bit_cast<S>(static_cast<std::uint8_t>(c))) * srow[b]);
            }
        }
        for (std::size_t i = i0; i < i1; ++i) {
            const S* wrow = w + i * m;
            T* drow = dst + static_cast<std::ptrdiff_t>(i) * ds0;
            for (std::size_t j0 = 0; j0 < m;) {
                const std::uint64_t bcol = (c0 + j0) / bs;
                const std::size_t j1 = static_cast<std::size_t>(std::min<std::uint64_t>(m, (bcol + 1) * bs - c0));
                if constexpr (sizeof(S) == 1) {
                    if (use_tables) {
                        lookup_run(reinterpret_cast<const std::uint8_t*>(wrow + j0), tables.data() + (bcol - sc0) * 256, j1 - j0,
                                   drow + static_cast<std::ptrdiff_t>(j0) * ds1, ds1);
                        j0 = j1;
                        continue;
                    }
                }
                const float s = srow[bcol - sc0];
                if (ds1 == 1) {
                    for (std::size_t k = j0; k < j1; ++k) drow[k] = from_float<T>(to_float(wrow[k]) * s);
                } else {
                    for (std::size_t k = j0; k < j1; ++k) drow[static_cast<std::ptrdiff_t>(k) * ds1] = from_float<T>(to_float(wrow[k]) * s);
                }
                j0 = j1;
            }
        }
        i0 = i1;
    }
}

/// The values of one MXFP4 group: each FP4 code times 2^(scale - 127), rounded to T once.
template <float_destination T>
void mxfp4_group_values(std::uint8_t scale, std::array<T, 16>& out) noexcept {
    const int e = static_cast<int>(scale) - 127;
    for (std::size_t c = 0; c < 16; ++c) out[c] = from_float<T>(std::ldexp(e2m1_values[c], e));
}

/// MXFP4: one row of the logical tensor. `blocks` holds groups [g0, g0 + ng) of the row (B
/// bytes each) and `scales` their exponents; logical columns [first, first + len) of those
/// groups (`first` counted from group g0's first value) go to `dst[k * ds]`.
template <float_destination T>
void dequantize_mxfp4_row(const std::uint8_t* blocks, const std::uint8_t* scales, std::size_t bytes_per_group, std::uint64_t first,
                          std::uint64_t len, T* dst, std::ptrdiff_t ds) noexcept {
    const std::uint64_t per_group = 2 * bytes_per_group;
    std::array<T, 16> values;
    std::uint64_t k = 0;  // output index
    while (k < len) {
        const std::uint64_t col = first + k;
        const std::uint64_t g = col / per_group;
        const std::uint64_t end = std::min<std::uint64_t>(len, (g + 1) * per_group - first);
        mxfp4_group_values(scales[g], values);
        const std::uint8_t* group = blocks + g * bytes_per_group;
        for (; k < end; ++k) {
            const std::uint64_t within = first + k - g * per_group;
            const std::uint8_t b = group[within / 2];
            dst[static_cast<std::ptrdiff_t>(k) * ds] = values[(within & 1u) != 0 ? b >> 4 : b & 0x0Fu];
        }
    }
}

}  // namespace detail

}  // namespace safeshard::quant

#endif
