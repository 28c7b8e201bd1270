// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_PARALLEL_HPP
#define SAFESHARD_DETAIL_PARALLEL_HPP

// The two shapes of parallel work the library runs, each on threads it starts and joins before
// returning, each stopping at the first error and returning it, never losing a worker's error
// (DCP's reader counts finished files and loses the worker's exception):
// * run_tasks: n independent tasks (a file each, when loading or saving);
// * run_pipeline: n items made by worker threads and consumed in order by the calling thread
//   through a fixed set of buffers (consolidation's blocks: assembled, then written).

#include <safeshard/core/error.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace safeshard::detail {

/// Runs `task(i)` for i in [0, n) on up to `threads` threads, the calling thread one of them.
/// Each task returns an `error_info`. After the first failure no new task starts; the error
/// returned is the failing task's with the lowest index, so the report does not depend on
/// timing. Tasks must be independent: they run in any order, concurrently.
template <class Task>
error_info run_tasks(std::size_t n, unsigned threads, Task&& task) {
    if (n == 0) return {};
    std::size_t workers = threads < 1 ? 1 : threads;
    if (workers > n) workers = n;
    if (workers == 1) {
        for (std::size_t i = 0; i < n; ++i)
            if (error_info e = task(i); e.code() != errc::ok) return e;
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
            if (e.code() != errc::ok) {
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

/// Runs `fill(i, slot)` then `write(i, slot)` for each item i in [0, n), both returning an
/// `error_info`: fills on up to `threads - 1` worker threads, ahead of the writes by at most
/// `slots` items, and writes on the calling thread in the order 0, 1, ..., n - 1. Item i uses
/// buffer slot i % slots; the caller owns the `slots` buffers (`slots` >= 1).
///
/// Guarantees: write(i, s) starts after fill(i, s) returned success; fill(i, s) starts only
/// after write(i - slots, s) returned, so a slot is never filled while it is written or before
/// it was; none runs twice. With threads <= 1 or n <= 1, everything runs on the
/// calling thread, fill(i, 0) then write(i, 0), and only slot 0 is used. After the first
/// failure no fill or write starts; that error is returned once the workers have joined. Of
/// two fills that fail at about the same time, which one is reported depends on timing.
/// Cost: a lock and a wake-up per item; size items so that these do not matter (consolidation
/// fills megabytes per item).
template <class Fill, class Write>
error_info run_pipeline(std::size_t n, unsigned threads, std::size_t slots, Fill&& fill, Write&& write) {
    if (threads <= 1 || n <= 1) {
        for (std::size_t i = 0; i < n; ++i) {
            if (error_info e = fill(i, 0); e.code() != errc::ok) return e;
            if (error_info e = write(i, 0); e.code() != errc::ok) return e;
        }
        return {};
    }
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::size_t> ready(slots, ~std::size_t{0});  // which item each slot holds
    std::size_t written = 0;
    bool failed = false;
    error_info err;
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (;;) {
            const std::size_t i = next.fetch_add(1);
            if (i >= n) return;
            {
                std::unique_lock<std::mutex> lock(m);
                cv.wait(lock, [&] { return failed || i < written + slots; });
                if (failed) return;
            }
            error_info e = fill(i, i % slots);
            std::lock_guard<std::mutex> lock(m);
            if (e.code() != errc::ok) {
                if (!failed) failed = true, err = e;
            } else {
                ready[i % slots] = i;
            }
            cv.notify_all();
            if (failed) return;
        }
    };
    const std::size_t fillers = std::min<std::size_t>(threads - 1, n);
    std::vector<std::thread> pool;
    pool.reserve(fillers);
    for (std::size_t t = 0; t < fillers; ++t) pool.emplace_back(worker);
    for (std::size_t i = 0; i < n; ++i) {
        {
            std::unique_lock<std::mutex> lock(m);
            cv.wait(lock, [&] { return failed || ready[i % slots] == i; });
            if (failed) break;
        }
        error_info e = write(i, i % slots);
        std::lock_guard<std::mutex> lock(m);
        if (e.code() != errc::ok && !failed) failed = true, err = e;
        written = i + 1;
        cv.notify_all();
        if (failed) break;
    }
    for (auto& t : pool) t.join();
    return err;
}

}  // namespace safeshard::detail

#endif
