// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_HUGE_PAGES_HPP
#define SAFESHARD_DETAIL_HUGE_PAGES_HPP

// Memory the library allocates for itself. On these machines a first-touch 4 KiB page fault
// costs more than copying the page (PERFORMANCE.md): large data buffers are mmapped 2 MiB-
// aligned with MADV_HUGEPAGE so they fault in 2 MiB at a time. Header arenas are reserved at
// their upper bound so they never grow by copying (untouched pages cost nothing).

#include <safeshard/core/config.hpp>
#include <safeshard/detail/thread_caches.hpp>

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace safeshard::detail {

inline constexpr std::size_t huge_page_size = std::size_t{2} << 20;
// Below one huge page a block comes from malloc: a smaller mapping would still zero a whole
// 2 MiB page and cost mmap/madvise/munmap calls.
inline constexpr std::size_t huge_threshold = huge_page_size;
/// Below this, `fixed_vector::prefault` leaves the pages to fault in.
inline constexpr std::size_t prefault_min_bytes = std::size_t{64} << 10;

/// Where a block's memory comes from. `heap` suits memory freed and allocated again soon (the
/// allocator hands the same, already-faulted pages back); `huge_pages` suits large buffers
/// touched once (2 MiB faults instead of 512 of 4 KiB); `reused_huge_pages` is huge pages kept
/// by the thread after release and handed out again, pages and all, like `heap` (header
/// arenas: a program may parse header after header).
enum class memory_kind : unsigned char { heap, huge_pages, reused_huge_pages };

// Large heap blocks are kept per thread after use and handed out again: a program that parses
// header after header (a sharded checkpoint) would otherwise fault every page in afresh, since
// glibc maps and unmaps same-sized large blocks each time. Bounded, and off under ASan so it
// still sees use-after-free.
#if defined(__SANITIZE_ADDRESS__)
#  define SAFESHARD_RECYCLE_BLOCKS 0
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define SAFESHARD_RECYCLE_BLOCKS 0
#  endif
#endif
#ifndef SAFESHARD_RECYCLE_BLOCKS
#  define SAFESHARD_RECYCLE_BLOCKS 1
#endif

/// A block of memory the cache holds: from malloc (`map_base` null) or a mapping (`p` inside
/// [map_base, map_base + map_len)).
struct cached_block {
    void* p = nullptr;
    std::size_t cap = 0;
    void* map_base = nullptr;
    std::size_t map_len = 0;

    void free() noexcept {
        if (map_base) ::munmap(map_base, map_len);
        else std::free(p);
        *this = {};
    }
};

class block_cache {
public:
    static constexpr std::size_t min_bytes = std::size_t{128} << 10;
    static constexpr std::size_t max_total = std::size_t{64} << 20;
    static constexpr std::size_t slots = 8;

    /// A cached block of at least `bytes` (and not wastefully larger); false when there is none.
    bool take(std::size_t bytes, cached_block& out) noexcept {
        std::size_t best = slots;
        for (std::size_t i = 0; i < slots; ++i)
            if (blocks_[i].p && blocks_[i].cap >= bytes && blocks_[i].cap <= 2 * bytes + min_bytes &&
                (best == slots || blocks_[i].cap < blocks_[best].cap))
                best = i;
        if (best == slots) return false;
        out = std::exchange(blocks_[best], cached_block{});
        total_ -= out.cap;
        return true;
    }
    /// Keeps `b` for later, or frees it when the cache is full: at `max_total`, or when the
    /// thread's caches together (this one included) would go over the thread cache limit.
    void give(cached_block b) noexcept {
        const std::size_t limit = thread_cache_limit_value().load(std::memory_order_relaxed);
        const std::size_t kept = limit == SIZE_MAX ? total_ : thread_cache_registry::local().bytes();
        if (total_ + b.cap <= max_total && b.cap <= limit && kept <= limit - b.cap)
            for (auto& slot : blocks_)
                if (!slot.p) {
                    slot = b;
                    total_ += b.cap;
                    return;
                }
        b.free();
    }
    std::size_t retained_bytes() const noexcept { return total_; }
    void release() noexcept {
        for (auto& b : blocks_)
            if (b.p) b.free();
        total_ = 0;
    }
    ~block_cache() { release(); }
    static block_cache& local() noexcept {
        thread_local per_thread<block_cache> cache;
        return cache;
    }

private:
    cached_block blocks_[slots];
    std::size_t total_ = 0;
};

/// An owned block of raw memory: from malloc when small or `heap`, else from 2 MiB-aligned
/// anonymous huge-page mmap; `heap` and `reused_huge_pages` blocks may come from, and go back
/// to, the thread's block cache. Contents are indeterminate.
class memory_block {
public:
    memory_block() = default;
    /// Allocates `bytes`; `data()` is nullptr when the system refuses.
    explicit memory_block(std::size_t bytes, memory_kind kind = memory_kind::huge_pages) { allocate(bytes, kind); }
    memory_block(memory_block&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
          capacity_(std::exchange(o.capacity_, 0)), map_base_(std::exchange(o.map_base_, nullptr)),
          map_len_(std::exchange(o.map_len_, 0)), reuse_(std::exchange(o.reuse_, false)),
          recycled_(std::exchange(o.recycled_, false)) {}
    memory_block& operator=(memory_block&& o) noexcept {
        if (this != &o) {
            release();
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
            capacity_ = std::exchange(o.capacity_, 0);
            map_base_ = std::exchange(o.map_base_, nullptr);
            map_len_ = std::exchange(o.map_len_, 0);
            reuse_ = std::exchange(o.reuse_, false);
            recycled_ = std::exchange(o.recycled_, false);
        }
        return *this;
    }
    memory_block(const memory_block&) = delete;
    memory_block& operator=(const memory_block&) = delete;
    ~memory_block() { release(); }

    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    explicit operator bool() const noexcept { return data_ != nullptr || size_ == 0; }
    /// Whether the block came from the block cache: memory used before, its pages most likely
    /// mapped in already.
    bool recycled() const noexcept { return recycled_; }
    /// For a mapped block: huge pages for the first `bytes` (a multiple of 2 MiB), 4 KiB pages
    /// after them, for the part that may be only partly used, where a 2 MiB page would map in
    /// memory nobody touches. Hints, like MADV_HUGEPAGE itself; a malloc'd block is left alone.
    void advise_huge_prefix(std::size_t bytes) noexcept {
        if (!map_base_) return;
        if (bytes > capacity_) bytes = capacity_;
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
        if (bytes) ::madvise(data_, bytes, MADV_HUGEPAGE);  // a recycled block may have had other advice
        if (capacity_ > bytes) ::madvise(data_ + bytes, capacity_ - bytes, MADV_NOHUGEPAGE);
#endif
    }

private:
    void allocate(std::size_t bytes, memory_kind kind) {
        size_ = bytes;
        if (bytes == 0) return;
        const bool small = bytes < huge_threshold || kind == memory_kind::heap;
#if SAFESHARD_RECYCLE_BLOCKS
        reuse_ = small ? bytes >= block_cache::min_bytes : kind == memory_kind::reused_huge_pages;
        if (cached_block b; reuse_ && block_cache::local().take(bytes, b)) {
            data_ = static_cast<std::byte*>(b.p);
            capacity_ = b.cap;
            map_base_ = b.map_base;
            map_len_ = b.map_len;
            recycled_ = true;
            return;
        }
#endif
        if (small) {
            data_ = static_cast<std::byte*>(std::malloc(bytes));
            capacity_ = data_ ? bytes : 0;
            if (!data_) size_ = 0;
            return;
        }
        // Over-reserve by one huge page so the block can start on a 2 MiB boundary.
        std::size_t len = (bytes + huge_page_size - 1) / huge_page_size * huge_page_size + huge_page_size;
        void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            size_ = 0;
            return;
        }
        auto addr = reinterpret_cast<std::uintptr_t>(p);
        auto aligned = (addr + huge_page_size - 1) & ~(std::uintptr_t{huge_page_size} - 1);
        map_base_ = p;
        map_len_ = len;
        data_ = reinterpret_cast<std::byte*>(aligned);
        capacity_ = len - (aligned - addr);
#ifdef MADV_HUGEPAGE
        ::madvise(data_, capacity_, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
    }
    void release() noexcept {
        cached_block b{data_, capacity_, map_base_, map_len_};
        if (data_) {
#if SAFESHARD_RECYCLE_BLOCKS
            if (reuse_) block_cache::local().give(b);
            else b.free();
#else
            b.free();
#endif
        }
        data_ = nullptr;
        map_base_ = nullptr;
        size_ = capacity_ = map_len_ = 0;
        reuse_ = recycled_ = false;
    }

    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;  // usable bytes from data_ (a recycled block may exceed size_)
    void* map_base_ = nullptr;
    std::size_t map_len_ = 0;
    bool reuse_ = false;     // goes back to the block cache on release
    bool recycled_ = false;  // came from it
};

/// Maps in the whole pages of [from, to) for writing, in one system call, before they are
/// written: on these machines a first-touch fault costs about 15 µs and populating a page ahead
/// a fraction of that. A hint: where the kernel cannot (before Linux 5.14), the pages fault in
/// on first touch as before. Partial pages at either end are left alone.
inline void populate_for_write(const std::byte* from, const std::byte* to) noexcept {
#ifdef MADV_POPULATE_WRITE
    const auto page = std::uintptr_t{4096};
    const auto first = (reinterpret_cast<std::uintptr_t>(from) + page - 1) & ~(page - 1);
    const auto last = reinterpret_cast<std::uintptr_t>(to) & ~(page - 1);
    if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_WRITE);
#else
    (void)from;
    (void)to;
#endif
}

/// A vector of trivially copyable `T` with a fixed capacity chosen up front: elements never
/// move, so views into it stay valid while it lives, and it never copies to grow. Its memory
/// is its own (`reserve_exactly`) or carved from a block someone else owns (`place`), so that
/// several arrays filled together can share one mapping and one run of page faults.
template <class T>
class fixed_vector {
    static_assert(std::is_trivially_copyable_v<T>, "fixed_vector holds trivially copyable types only.");

public:
    fixed_vector() = default;
    fixed_vector(fixed_vector&& o) noexcept
        : block_(std::move(o.block_)), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)),
          cap_(std::exchange(o.cap_, 0)) {}
    fixed_vector& operator=(fixed_vector&& o) noexcept {
        if (this != &o) {
            block_ = std::move(o.block_);
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
            cap_ = std::exchange(o.cap_, 0);
        }
        return *this;
    }
    fixed_vector(const fixed_vector&) = delete;
    fixed_vector& operator=(const fixed_vector&) = delete;

    /// Reserves room for `capacity` elements; false when the memory cannot be had.
    bool reserve_exactly(std::size_t capacity, memory_kind kind = memory_kind::heap) {
        if (capacity > SIZE_MAX / sizeof(T)) return false;
        block_ = memory_block(capacity * sizeof(T), kind);
        if (capacity && !block_.data()) return false;
        data_ = reinterpret_cast<T*>(block_.data());
        cap_ = capacity;
        size_ = 0;
        return true;
    }
    /// Uses `capacity` elements of memory at `at` (aligned for T), which the caller keeps alive
    /// for as long as this vector and its views are used. Empty afterwards.
    void place(void* at, std::size_t capacity) noexcept {
        SAFESHARD_ASSERT(reinterpret_cast<std::uintptr_t>(at) % alignof(T) == 0);
        block_ = memory_block();
        data_ = static_cast<T*>(at);
        cap_ = capacity;
        size_ = 0;
    }
    bool push_back(const T& v) noexcept {
        if (size_ == cap_) return false;
        std::memcpy(static_cast<void*>(data_ + size_), &v, sizeof(T));
        ++size_;
        return true;
    }
    /// One more element, left for the caller to fill in place (a struct built elsewhere and
    /// copied in stalls on its own freshly written fields); nullptr when full.
    T* extend() noexcept {
        if (size_ == cap_) return nullptr;
        return data_ + size_++;
    }
    bool append(const T* p, std::size_t n) noexcept {
        if (n > cap_ - size_) return false;
        if (n) std::memcpy(static_cast<void*>(data_ + size_), p, n * sizeof(T));
        size_ += n;
        return true;
    }
    /// Maps in the pages of the first `n` elements (capped at the capacity) ahead of writing
    /// them (`populate_for_write`); a few pages are left to fault in.
    void prefault(std::size_t n) noexcept {
        if (n > cap_) n = cap_;
        if (n * sizeof(T) < prefault_min_bytes) return;  // a few pages: not worth a system call
        populate_for_write(reinterpret_cast<const std::byte*>(data_), reinterpret_cast<const std::byte*>(data_ + n));
    }

    /// Declares the first `n` elements written (by memset or memcpy into `data()`).
    void set_size(std::size_t n) noexcept {
        SAFESHARD_ASSERT(n <= cap_);
        size_ = n;
    }
    T* data() noexcept { return data_; }
    const T* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return cap_; }
    bool empty() const noexcept { return size_ == 0; }
    T& operator[](std::size_t i) noexcept { return data_[i]; }
    const T& operator[](std::size_t i) const noexcept { return data_[i]; }
    T* begin() noexcept { return data_; }
    T* end() noexcept { return data_ + size_; }
    const T* begin() const noexcept { return data_; }
    const T* end() const noexcept { return data_ + size_; }
    T& back() noexcept { return data_[size_ - 1]; }

private:
    memory_block block_;  // empty when the memory was placed
    T* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t cap_ = 0;
};

}  // namespace safeshard::detail

#endif
