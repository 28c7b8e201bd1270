// SPDX-License-Identifier: MIT
// libFuzzer target: the tiling check and the read planner on arbitrary chunk lists. When the
// check accepts the chunks, the reads planned for any request box must cover it exactly once.

#include <safeshard/checkpoint/chunks.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace ck = safeshard::checkpoint;
    std::size_t at = 0;
    auto next = [&](unsigned mod) -> std::uint64_t { return at < size ? data[at++] % mod : 0; };
    const std::size_t rank = next(5);
    std::vector<std::uint64_t> shape(rank);
    for (auto& d : shape) d = next(9);
    const std::size_t n = next(17);
    std::vector<std::uint64_t> coords(2 * rank * n + 2 * rank);
    for (auto& c : coords) c = next(12);
    std::vector<ck::chunk_box> boxes;
    for (std::size_t i = 0; i < n; ++i)
        boxes.push_back({{coords.data() + 2 * rank * i, rank}, {coords.data() + 2 * rank * i + rank, rank}});
    auto e = ck::check_tiling("t", shape, boxes, [](std::uint32_t i) { return std::to_string(i); });
    if (e.code() != safeshard::errc::ok) {
        (void)e.to_string();
        return 0;
    }
    // A request box inside the shape, from the last coordinates.
    std::vector<std::uint64_t> off(rank), len(rank);
    std::uint64_t volume = 1;
    for (std::size_t d = 0; d < rank; ++d) {
        off[d] = shape[d] ? coords[2 * rank * n + d] % (shape[d] + 1) : 0;
        len[d] = shape[d] - off[d] ? coords[2 * rank * n + rank + d] % (shape[d] - off[d] + 1) : 0;
        volume *= len[d];
    }
    ck::read_plan plan;
    plan.add(0, ck::chunk_box{off, len}, boxes);
    std::vector<unsigned char> hit(volume, 0);
    for (const auto& it : plan.items()) {
        auto so = plan.storage_offsets(it, rank), dof = plan.dest_offsets(it, rank), ln = plan.lengths(it, rank);
        std::uint64_t cnt = 1;
        for (std::size_t d = 0; d < rank; ++d) {
            if (so[d] + ln[d] > boxes[it.chunk].sizes[d] || dof[d] + ln[d] > len[d] || ln[d] == 0) __builtin_trap();
            cnt *= ln[d];
        }
        std::vector<std::uint64_t> idx(rank, 0);
        for (std::uint64_t k = 0; k < cnt; ++k) {
            std::uint64_t flat = 0;
            for (std::size_t d = 0; d < rank; ++d) flat = flat * len[d] + dof[d] + idx[d];
            if (hit[flat]++) __builtin_trap();  // covered twice
            for (std::size_t d = rank; d-- > 0;) {
                if (++idx[d] < ln[d]) break;
                idx[d] = 0;
            }
        }
    }
    for (auto h : hit)
        if (h != 1) __builtin_trap();  // a hole in the planned reads
    return 0;
}
