// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_IO_PREAD_SOURCE_HPP
#define SAFESHARD_IO_PREAD_SOURCE_HPP

// The main read path: pread straight into the caller's memory. Measured on the project's
// machines, pread of large runs from the page cache into touched memory is several times faster
// than copying out of an mmap (PERFORMANCE.md), and it has no shared file position, so threads
// can read one source at once.

#include <safeshard/io/concepts.hpp>
#include <safeshard/io/file_handle.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

namespace safeshard::io {

/// A `byte_source` reading a regular file with `pread`. Owns the descriptor; move-only.
/// `size()` is taken once, at open: bytes appended later are not seen, and a file truncated
/// under it reads as `errc::unexpected_eof`. `read` is safe to call from several threads.
class pread_source {
public:
    /// No file (size 0, empty path). Useful as the target of `result::get`.
    pread_source() noexcept = default;

    /// Opens `path` read-only. Errors: `errc::io_error` ("open: ..."/"fstat: ..."),
    /// `errc::invalid_argument` for an empty path or one that is not a regular file.
    static result<pread_source> open(std::string_view path) {
        result<file_handle> f = file_handle::open_read(path);
        if (!f) return f.error();
        return from_handle(std::move(*f));
    }

    /// Adopts an open descriptor (its path names the file in errors).
    static result<pread_source> from_handle(file_handle file) noexcept {
        result<std::uint64_t> n = file.size();
        if (!n) return n.error();
        return pread_source(std::move(file), *n);
    }

    /// The file size when it was opened.
    std::uint64_t size() const noexcept { return size_; }

    /// Reads `[offset, offset + dst.size())` into `dst`: `errc::unexpected_eof` past `size()`,
    /// `errc::io_error` ("pread: ...") when the OS fails, both naming the file and offset.
    status read(std::uint64_t offset, std::span<std::byte> dst) const noexcept {
        SAFESHARD_TRY(detail::check_read_range(offset, dst.size(), size_, file_.path()));
        return file_.pread_exact(offset, dst);
    }

    /// Reads `[offset, offset + total)` scattered over `iov` (total = the sum of their lengths)
    /// with `preadv`: the kernel copies straight into each buffer. Errors as `read`.
    status read_scatter(std::uint64_t offset, std::span<iovec> iov) const noexcept {
        std::uint64_t total = 0;
        for (const auto& v : iov) total += v.iov_len;
        SAFESHARD_TRY(detail::check_read_range(offset, total, size_, file_.path()));
        return file_.preadv_exact(offset, iov);
    }

    /// The path given at open.
    std::string_view path() const noexcept { return file_.path(); }

    /// The descriptor, for `posix_fadvise` and the like.
    const file_handle& handle() const noexcept { return file_; }

private:
    pread_source(file_handle file, std::uint64_t size) noexcept : file_(std::move(file)), size_(size) {}

    file_handle file_;
    std::uint64_t size_ = 0;
};
static_assert(byte_source<pread_source>);
static_assert(!mappable_source<pread_source>);
static_assert(scatter_source<pread_source>);

}  // namespace safeshard::io

#endif
