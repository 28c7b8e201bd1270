// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_PARALLEL_HPP
#define SAFESHARD_DETAIL_PARALLEL_HPP

// Runs n independent tasks on up to `threads` threads (the caller's thread is one of them).
// Each task returns an `error_info`; after the first failure no new task starts, and the error
// returned is the failing task with the lowest index, so the report does not depend on timing.
// DCP's reader counts finished files and loses the worker's exception; here it is never lost.

#include <safeshard/core/error.hpp>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace safeshard::detail {

template <class Task>
error_info run_tasks(std::size_t n, unsigned threads, Task&& task) {
    if (n == 0) return {};
    std::size_t workers = threads < 1 ? 1 : threads;
    if (workers > n) workers = n;
    if (workers == 1) {
        for (std::size_t i = 0; i < n; ++i)
            if (error_info e = task(i); e.code != errc::ok) return e;
        return {};
    }
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex m;
    std::size_t first_bad = n;
    error_info first_error;
    auto work = [&] {
        for (;;) {
            if (failed.load(std::memory_order_relaxed)) return;
            std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
            if (i >= n) return;
            error_info e = task(i);
            if (e.code != errc::ok) {
                std::lock_guard<std::mutex> lock(m);
                if (i < first_bad) first_bad = i, first_error = e;
                failed.store(true, std::memory_order_relaxed);
            }
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(workers - 1);
    for (std::size_t t = 1; t < workers; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    return first_error;
}

}  // namespace safeshard::detail

#endif
