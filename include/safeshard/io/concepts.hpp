// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_IO_CONCEPTS_HPP
#define SAFESHARD_IO_CONCEPTS_HPP

// The io policies as concepts. Readers and writers are templates over these, so choosing
// memory, pread or mmap costs nothing at run time; each model is proved beside its definition
// with a static_assert.

#include <safeshard/core/error.hpp>

#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <sys/uio.h>

namespace safeshard::io {

/// **`byte_source<S>`** — random-access bytes of a fixed size: a file or a buffer.
///
/// Syntax, on a `const S& s`:
/// * `s.size() noexcept -> std::uint64_t`
/// * `s.read(std::uint64_t offset, std::span<std::byte> dst) -> status`
/// * `s.path() -> std::string_view` (anything convertible to it)
///
/// Semantics:
/// * `size()` is the byte count fixed when the source was opened; it does not change.
/// * `read` is all-or-nothing: it fills all of `dst` with bytes `[offset, offset + dst.size())`
///   and returns ok, or returns an error. A range reaching past `size()` (including an `offset`
///   past the end with an empty `dst`) is `errc::unexpected_eof`, never a short read; an OS
///   failure is `errc::io_error`. On error the contents of `dst` are unspecified. Errors name
///   `path()` and the offset.
/// * `path()` names the source in error messages; it may be empty for memory.
/// * Calls on a `const` source may run concurrently from several threads.
///
/// Cost: `size()` and `path()` are O(1) without system calls; `read` is at most O(n) copying
/// plus, for files, a few system calls per call independent of the split of `dst` (callers
/// should read large runs, not elements).
template <class S>
concept byte_source = requires(const S& s, std::uint64_t offset, std::span<std::byte> dst) {
    { s.size() } noexcept -> std::same_as<std::uint64_t>;
    { s.read(offset, dst) } -> std::same_as<status>;
    { s.path() } -> std::convertible_to<std::string_view>;
};

/// **`mappable_source<S>`** — a `byte_source` whose bytes are already addressable, so a reader
/// can take views instead of copies (it chooses with `if constexpr (mappable_source<S>)`).
///
/// Syntax, on a `const S& s` (besides `byte_source`):
/// * `s.view(std::uint64_t offset, std::uint64_t n) -> result<std::span<const std::byte>>`
/// * `s.padding_after(std::uint64_t offset) noexcept -> std::uint64_t`
///
/// Semantics:
/// * `view` returns exactly bytes `[offset, offset + n)` without copying, valid while the
///   source lives (moving the source keeps them valid). The same range rules and errors as
///   `read` apply (`errc::unexpected_eof` past the end).
/// * `padding_after(offset)` is how many bytes are readable starting at `offset`, counting the
///   source's own bytes and any slack after its end (0 when `offset` is past all of them).
///   The slack bytes are readable but their values are unspecified unless the model says so.
///   It lets the header parser hand simdjson the header in place when at least
///   `SIMDJSON_PADDING` (64) bytes follow it, instead of copying into a padded buffer.
///
/// Cost: both O(1), no system calls, no allocation.
template <class S>
concept mappable_source = byte_source<S> && requires(const S& s, std::uint64_t offset, std::uint64_t n) {
    { s.view(offset, n) } -> std::same_as<result<std::span<const std::byte>>>;
    { s.padding_after(offset) } noexcept -> std::same_as<std::uint64_t>;
};

/// **`copies_through_read<S>`** — a `mappable_source` whose bytes are better copied with
/// `read` than out of its mapping: for a file, `pread` from the page cache copies at memcpy
/// speed while the first touch of each mapped page faults (PERFORMANCE.md). Readers still take
/// zero-copy views from it; only their copies go through `read`.
///
/// Syntax: `S::prefer_read`, a `static constexpr bool` that is true.
template <class S>
concept copies_through_read = mappable_source<S> && requires { requires S::prefer_read; };

/// A byte source that can read one range of bytes into many buffers at once.
///
/// Requires: `s.read_scatter(offset, iov) -> status`, where `iov` is a `std::span<iovec>` the
/// call may modify; the bytes `[offset, offset + total)` go to the buffers in order.
/// Guarantees: as `read` (range checked, errors name the file and offset), and the bytes land
/// in the buffers directly (for files, one `preadv` per up to 1024 buffers): a strided
/// destination is filled without a second copy. Cost: one system call per 1024 buffers.
template <class S>
concept scatter_source = byte_source<S> && requires(const S& s, std::uint64_t offset, std::span<iovec> iov) {
    { s.read_scatter(offset, iov) } -> std::same_as<status>;
};

/// **`byte_sink<S>`** — a sequential byte writer: a file being written, or memory.
///
/// Syntax, on an `S& s` / `const S& cs`:
/// * `s.write(std::span<const std::byte> src) -> status`
/// * `cs.position() noexcept -> std::uint64_t`
///
/// Semantics:
/// * `write` appends all of `src` after what was written before, or returns an error. After an
///   error the sink's content is unspecified and later writes may keep failing.
/// * `position()` is the count of bytes accepted so far (the offset the next byte goes to),
///   whether or not they have reached the OS yet.
/// * Not for concurrent use: one writer at a time.
///
/// Cost: amortised O(n) copying; file sinks buffer and issue few, large system calls, so a
/// caller may write headers and tensors of any size without batching them itself.
template <class S>
concept byte_sink = requires(S& s, const S& cs, std::span<const std::byte> src) {
    { s.write(src) } -> std::same_as<status>;
    { cs.position() } noexcept -> std::same_as<std::uint64_t>;
};

/// **`committing_sink<S>`** — a `byte_sink` whose result becomes visible all at once, so a
/// reader never sees a half-written file and a failed save leaves the previous one untouched.
///
/// Syntax, on an `S& s` (besides `byte_sink`):
/// * `s.commit() -> status`
/// * `s.abort() noexcept`
///
/// Semantics:
/// * `commit()` makes everything written visible under the final name, durably, only when it
///   returns ok; on error nothing new is visible and whatever was there before is intact.
/// * `abort()` discards everything written (removes temporary files); it is idempotent and
///   never fails. Destroying a sink that was not committed aborts it.
/// * After `commit()` or `abort()`, `write` and `commit` return errors.
/// * Models are move-only: each owns its temporary state.
///
/// Cost: `commit()` pays for durability (for files: `fsync` of the file and its directory).
template <class S>
concept committing_sink = byte_sink<S> && requires(S& s) {
    { s.commit() } -> std::same_as<status>;
    { s.abort() } noexcept;
};

/// **`staged_sink<S>`** — a `committing_sink` whose commit comes in two steps, so that many
/// files can all be made durable first and then all become visible (a checkpoint's files, a
/// consolidation's outputs): a failure before the last publish leaves every old file in place.
///
/// Syntax, on an `S& s` (besides `committing_sink`):
/// * `s.prepare() -> status`
/// * `s.publish() -> status`
///
/// Semantics:
/// * `prepare()` makes everything written durable under a temporary name; nothing new is
///   visible. On error nothing new is visible and the temporary state is gone.
/// * `publish()`, after a successful `prepare()`, makes the result visible under the final
///   name, durably; `commit()` is `prepare()` then `publish()`.
/// * A prepared sink destroyed or aborted before `publish()` leaves nothing behind.
///
/// Cost: `prepare()` pays for the data's durability (for files: `fsync`), `publish()` for the
/// name's (a rename and an `fsync` of the directory). The checkpoint writers and consolidation
/// use `io::atomic_file_sink`, its model.
template <class S>
concept staged_sink = committing_sink<S> && requires(S& s) {
    { s.prepare() } -> std::same_as<status>;
    { s.publish() } -> std::same_as<status>;
};

}  // namespace safeshard::io

namespace safeshard::detail {

/// The range check every source shares: `[offset, offset + n)` must lie inside `[0, size)`.
/// Written so that a hostile `offset` near 2^64 cannot wrap around.
inline status check_read_range(std::uint64_t offset, std::uint64_t n, std::uint64_t size,
                               std::string_view path) noexcept {
    if (offset <= size && n <= size - offset) return {};
    // "wanted N bytes, source has S": enough for a reader to see how far off the request was.
    char text[80];
    char* p = text;
    char* end = text + sizeof text;
    auto put = [&](std::string_view s) {
        for (char c : s)
            if (p < end) *p++ = c;
    };
    put("wanted ");
    p = std::to_chars(p, end, n).ptr;
    put(" bytes, source has ");
    p = std::to_chars(p, end, size).ptr;
    error_info e(errc::unexpected_eof);
    e.in_file(path).at_offset(offset).with_detail(std::string_view(text, static_cast<std::size_t>(p - text)));
    return e;
}

}  // namespace safeshard::detail

#endif
