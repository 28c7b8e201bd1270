// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FILE_CHECKSUM_HPP
#define SAFESHARD_FILE_CHECKSUM_HPP

// FNV-1a 64 over a tensor's bytes: the checksum of the corpus summaries (`*.info.json`), used
// by `safeshard inspect --hash` and to compare tensors without holding them in memory.

#include <safeshard/core/error.hpp>
#include <safeshard/format/header.hpp>
#include <safeshard/io/concepts.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace safeshard {

inline constexpr std::uint64_t fnv1a64_offset_basis = 0xcbf29ce484222325ull;

/// Continues an FNV-1a 64 hash `h` over `bytes`.
constexpr std::uint64_t fnv1a64(std::span<const std::byte> bytes, std::uint64_t h = fnv1a64_offset_basis) noexcept {
    for (std::byte b : bytes) {
        h ^= static_cast<std::uint64_t>(b);
        h *= 0x100000001b3ull;
    }
    return h;
}

/// FNV-1a 64 of tensor `t`'s bytes in `src` (whose data section starts at `data_offset`),
/// streamed in 4 MiB blocks.
template <io::byte_source Source>
result<std::uint64_t> tensor_fnv1a64(const Source& src, std::uint64_t data_offset, const tensor_info& t) {
    constexpr std::size_t block = std::size_t{4} << 20;
    std::vector<std::byte> buf(t.byte_size() < block ? static_cast<std::size_t>(t.byte_size()) : block);
    std::uint64_t h = fnv1a64_offset_basis;
    for (std::uint64_t done = 0; done < t.byte_size();) {
        std::size_t n = t.byte_size() - done < block ? static_cast<std::size_t>(t.byte_size() - done) : block;
        if (auto st = src.read(data_offset + t.begin + done, std::span(buf).first(n)); !st)
            return error_info(st.error()).at_tensor(t.name);
        h = fnv1a64(std::span<const std::byte>(buf).first(n), h);
        done += n;
    }
    return h;
}

}  // namespace safeshard

#endif
