// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_IO_HPP
#define SAFESHARD_TESTS_SUPPORT_IO_HPP

// Shared by the io suite's files.

#include <cstdint>
#include <string_view>

namespace safeshard::test {

inline constexpr std::uint64_t mib = std::uint64_t{1} << 20;

/// Whether `s` begins with `prefix`: error details end in the system's errno text (and temp
/// names in random digits), so only their start is compared.
inline bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace safeshard::test

#endif
