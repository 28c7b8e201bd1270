// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_THREAD_CACHES_HPP
#define SAFESHARD_DETAIL_THREAD_CACHES_HPP

// Memory the library keeps per thread between calls, so that back-to-back parses and reads do
// not fault fresh pages in every time (PERFORMANCE.md): header parsers, the read bounce buffer,
// recycled heap blocks, the checkpoint JSON parser. Each such cache registers itself with its
// thread's registry, through which core/thread_caches.hpp frees them and bounds them.

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace safeshard::detail {

/// One cache a thread keeps: its object, how many bytes it holds, and how to free them.
struct thread_cache_entry {
    void* self = nullptr;
    std::size_t (*bytes)(const void*) noexcept = nullptr;
    void (*release)(void*) noexcept = nullptr;
};

/// The calling thread's caches. Trivially destructible, so that it outlives every cache at
/// thread exit whatever the order of destruction; the caches free themselves.
class thread_cache_registry {
public:
    static constexpr std::size_t max_entries = 16;

    static thread_cache_registry& local() noexcept {
        thread_local thread_cache_registry registry;
        return registry;
    }
    void add(const thread_cache_entry& e) noexcept {
        if (count_ < max_entries) entries_[count_++] = e;
    }
    std::size_t bytes() const noexcept {
        std::size_t total = 0;
        for (std::size_t i = 0; i < count_; ++i) total += entries_[i].bytes(entries_[i].self);
        return total;
    }
    void release_all() noexcept {
        for (std::size_t i = 0; i < count_; ++i) entries_[i].release(entries_[i].self);
    }
private:
    thread_cache_entry entries_[max_entries];
    std::size_t count_ = 0;
};

inline std::atomic<std::size_t>& thread_cache_limit_value() noexcept {
    static std::atomic<std::size_t> limit{SIZE_MAX};
    return limit;
}

/// Called by a cache's user once it is done with it: frees that cache when the thread keeps
/// more than the limit. Only the cache just used is freed, never one an outer call may still be
/// using. Free when no limit is set (one relaxed load).
template <class Cache>
void trim_cache(Cache& cache) noexcept {
    const std::size_t limit = thread_cache_limit_value().load(std::memory_order_relaxed);
    if (limit == SIZE_MAX) return;
    if (thread_cache_registry::local().bytes() > limit) cache.release();
}

/// Trims `cache` (see trim_cache) when it goes out of scope: declared before a cache's memory
/// is used in a function, it runs after the function's result is made from that memory.
template <class Cache>
class trim_on_exit {
public:
    explicit trim_on_exit(Cache& cache) noexcept : cache_(cache) {}
    trim_on_exit(const trim_on_exit&) = delete;
    trim_on_exit& operator=(const trim_on_exit&) = delete;
    ~trim_on_exit() { trim_cache(cache_); }

private:
    Cache& cache_;
};

/// A per-thread cache of type `T` (which has `retained_bytes() const noexcept` and
/// `release() noexcept`), registered with its thread's registry when first made: declare it
/// `thread_local per_thread<T> x;`.
template <class T>
struct per_thread : T {
    per_thread() noexcept(noexcept(T())) {
        thread_cache_registry::local().add(thread_cache_entry{
            static_cast<T*>(this), [](const void* p) noexcept { return static_cast<const T*>(p)->retained_bytes(); },
            [](void* p) noexcept { static_cast<T*>(p)->release(); }});
    }
    per_thread(const per_thread&) = delete;
    per_thread& operator=(const per_thread&) = delete;
};

}  // namespace safeshard::detail

#endif
