// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_CHECKED_HPP
#define SAFESHARD_DETAIL_CHECKED_HPP

// Overflow-checked arithmetic: every size computed from a number in a file goes through here,
// so a hostile shape fails instead of wrapping around.

#include <cstdint>
#include <span>

namespace safeshard::detail {

/// `a * b` into `out`; false on overflow.
constexpr bool mul_overflow(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
    return __builtin_mul_overflow(a, b, &out);
}
/// `a + b` into `out`; false on overflow.
constexpr bool add_overflow(std::uint64_t a, std::uint64_t b, std::uint64_t& out) noexcept {
    return __builtin_add_overflow(a, b, &out);
}

/// The product of `dims` (1 for none), or false when it overflows.
constexpr bool checked_numel(std::span<const std::uint64_t> dims, std::uint64_t& out) noexcept {
    std::uint64_t n = 1;
    for (std::uint64_t d : dims)
        if (mul_overflow(n, d, n)) return false;
    out = n;
    return true;
}

}  // namespace safeshard::detail

#endif
