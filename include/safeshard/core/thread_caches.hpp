// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_THREAD_CACHES_HPP
#define SAFESHARD_CORE_THREAD_CACHES_HPP

// The memory the library keeps per thread between calls, and how a program bounds and frees
// it: header parsers, the read bounce buffer, recycled heap blocks and the checkpoint JSON
// parser are kept so that back-to-back parses and reads do not fault fresh pages in each time
// (PERFORMANCE.md); a loader with a tight budget caps them or frees them when it is done.

#include <safeshard/detail/thread_caches.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

#if defined(__GLIBC__)
#  include <malloc.h>
#endif

namespace safeshard {

/// Frees every buffer the library keeps for the calling thread between calls (header parsers,
/// the read bounce buffer, recycled blocks, the checkpoint JSON parser) and, on glibc, returns
/// free heap memory to the system. Later calls allocate what they need again. Call it on each
/// thread that used the library, e.g. once a model is loaded.
inline void release_thread_caches() noexcept {
    detail::thread_cache_registry::local().release_all();
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
}

/// Caps the bytes each thread keeps in those buffers once an operation is done (during one,
/// it uses what it needs: a parse of an N-byte header, 8 MiB for strided reads). The default,
/// `SIZE_MAX`, leaves each cache to its own bound (recycled blocks keep at most 64 MiB a
/// thread); 0 keeps nothing between calls. Applies to every thread from its next operation.
inline void set_thread_cache_limit(std::size_t bytes) noexcept {
    detail::thread_cache_limit_value().store(bytes, std::memory_order_relaxed);
}

/// The cap set by `set_thread_cache_limit`.
inline std::size_t thread_cache_limit() noexcept {
    return detail::thread_cache_limit_value().load(std::memory_order_relaxed);
}

/// The bytes the calling thread's caches hold now.
inline std::size_t thread_cache_bytes() noexcept { return detail::thread_cache_registry::local().bytes(); }

}  // namespace safeshard

#endif
