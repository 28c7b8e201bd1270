// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_READ_SCHEDULE_HPP
#define SAFESHARD_CHECKPOINT_READ_SCHEDULE_HPP

// In what order, and on which threads, a batch's reads run. The planner's pieces come in
// request order; they are read file by file, each file front to back. On several threads the
// work is cut by bytes, not by file: a destination rank of a resharded load needs far more of
// some files than of others (a row slab takes whole chunks from a few files and a column strip
// from every file), so whole files as tasks leave one thread reading alone at the end. Pieces
// larger than a task's share are cut along their first dimension longer than 1.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace safeshard::checkpoint {

/// Where one read of a plan lies: its file, the byte position of its first element in that
/// file (for ordering), how many bytes it moves, and its length along the dimension it may be
/// cut on (1: it is never cut).
struct read_extent {
    std::uint32_t file = 0;
    std::uint64_t position = 0;
    std::uint64_t bytes = 0;
    std::uint64_t cuttable = 1;
};

/// Part of plan item `item`: indices [begin, begin + count) of its cut dimension (the whole
/// item when `count` equals its `cuttable`).
struct read_piece {
    std::uint32_t item = 0;
    std::uint64_t begin = 0;
    std::uint64_t count = 0;
};

/// A batch's reads in the order they run, grouped into tasks: task k is pieces
/// [task_starts[k], task_starts[k + 1]).
struct read_schedule {
    std::vector<read_piece> pieces;
    std::vector<std::size_t> task_starts;

    std::size_t task_count() const noexcept { return task_starts.empty() ? 0 : task_starts.size() - 1; }
};

/// Smallest share of a task on several threads: below this, starting a task costs more than
/// the reading it balances.
inline constexpr std::uint64_t default_min_task_bytes = std::uint64_t{1} << 20;
/// Tasks per thread on several threads: enough that the last ones even out the threads.
inline constexpr std::uint64_t tasks_per_thread = 8;

/// Orders `extents` (one per plan item) by file, then position (ties keep plan order). On one
/// thread each file is one task; on `threads` > 1 tasks of about total / (threads ×
/// `tasks_per_thread`) bytes (at least `min_task`), cutting pieces that are larger.
/// Cost: O(n log n) in items, plus one piece per `share` bytes.
inline read_schedule schedule_reads(const std::vector<read_extent>& extents, unsigned threads,
                                    std::uint64_t min_task = default_min_task_bytes) {
    read_schedule s;
    std::vector<std::uint32_t> order(extents.size());
    for (std::uint32_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
        const read_extent &x = extents[a], &y = extents[b];
        return x.file != y.file ? x.file < y.file : x.position < y.position;
    });
    s.pieces.reserve(order.size());
    if (threads <= 1) {
        for (std::size_t k = 0; k < order.size(); ++k) {
            const read_extent& e = extents[order[k]];
            if (k == 0 || e.file != extents[order[k - 1]].file) s.task_starts.push_back(k);
            s.pieces.push_back(read_piece{order[k], 0, e.cuttable});
        }
        s.task_starts.push_back(order.size());
        return s;
    }
    std::uint64_t total = 0;
    for (const read_extent& e : extents) total += e.bytes;
    const std::uint64_t share =
        std::max<std::uint64_t>(std::max<std::uint64_t>(min_task, 1), total / (std::uint64_t{threads} * tasks_per_thread));
    std::uint64_t in_task = 0;
    s.task_starts.push_back(0);
    auto add = [&](std::uint32_t item, std::uint64_t begin, std::uint64_t count, std::uint64_t bytes) {
        if (in_task != 0 && in_task + bytes > share) {
            s.task_starts.push_back(s.pieces.size());
            in_task = 0;
        }
        s.pieces.push_back(read_piece{item, begin, count});
        in_task += bytes;
    };
    for (std::uint32_t item : order) {
        const read_extent& e = extents[item];
        const std::uint64_t n = e.cuttable == 0 ? 1 : e.cuttable;
        const std::uint64_t per = e.bytes / n;  // bytes per index of the cut dimension
        if (e.bytes <= share || n == 1 || per == 0) {
            add(item, 0, e.cuttable, e.bytes);
            continue;
        }
        const std::uint64_t step = std::max<std::uint64_t>(1, share / per);
        for (std::uint64_t b = 0; b < n; b += step) {
            const std::uint64_t c = std::min(step, n - b);
            add(item, b, c, c * per);
        }
    }
    if (s.task_starts.back() != s.pieces.size()) s.task_starts.push_back(s.pieces.size());
    if (s.pieces.empty()) s.task_starts.clear();
    return s;
}

}  // namespace safeshard::checkpoint

#endif
