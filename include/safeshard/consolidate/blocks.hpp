// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CONSOLIDATE_BLOCKS_HPP
#define SAFESHARD_CONSOLIDATE_BLOCKS_HPP

// How consolidation cuts an output tensor into blocks it assembles in bounded memory.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace safeshard::checkpoint::detail {

// One block of an output tensor: a box of it (offsets, lengths) and its bytes.
struct block {
    std::uint32_t tensor = 0;  // index into the file's tensor list
    std::size_t at = 0;        // coordinates: offsets then lengths, rank values each
    std::uint64_t bytes = 0;
};

// Cuts a tensor of `shape` (element `elem` bytes) into blocks of at most `cap` bytes: whole
// trailing dimensions after some k, a range of dimension k, single indices before it.
inline void cut_blocks(std::uint32_t tensor, std::span<const std::uint64_t> shape, std::uint64_t elem, std::uint64_t cap,
                       std::vector<block>& out, std::vector<std::uint64_t>& coords) {
    const std::size_t R = shape.size();
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    if (n == 0) return;
    if (R == 0) {
        out.push_back(block{tensor, coords.size(), elem});
        return;
    }
    std::size_t k = 0;
    std::uint64_t inner = elem * n / shape[0];  // bytes of one index of dimension 0
    while (inner > cap && k + 1 < R) inner /= shape[++k];
    const std::uint64_t per = std::max<std::uint64_t>(1, cap / inner);
    std::vector<std::uint64_t> idx(k, 0);
    for (bool done = false; !done;) {
        for (std::uint64_t j = 0; j < shape[k]; j += per) {
            const std::uint64_t len = std::min(per, shape[k] - j);
            out.push_back(block{tensor, coords.size(), len * inner});
            for (std::size_t d = 0; d < R; ++d) coords.push_back(d < k ? idx[d] : d == k ? j : 0);
            for (std::size_t d = 0; d < R; ++d) coords.push_back(d < k ? 1 : d == k ? len : shape[d]);
        }
        done = true;
        for (std::size_t d = k; d-- > 0;) {
            if (++idx[d] < shape[d]) {
                done = false;
                break;
            }
            idx[d] = 0;
        }
    }
}

}  // namespace safeshard::checkpoint::detail

#endif
