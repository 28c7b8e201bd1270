// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_IO_MMAP_SOURCE_HPP
#define SAFESHARD_IO_MMAP_SOURCE_HPP

// The zero-copy read path: the whole file mapped once, views handed out into the mapping.
// Good for lazy access and for reading tensors in place; for bulk copies pread is faster on
// these machines (page faults dominate, see PERFORMANCE.md), so `read` here is a convenience.

#include <safeshard/core/error.hpp>
#include <safeshard/io/concepts.hpp>
#include <safeshard/io/file_handle.hpp>
#include <safeshard/io/pread_source.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

namespace safeshard::detail {

/// The VM page size, read once.
inline std::uint64_t page_size() noexcept {
    static const std::uint64_t size = [] {
        long p = ::sysconf(_SC_PAGESIZE);
        return p > 0 ? static_cast<std::uint64_t>(p) : std::uint64_t{4096};
    }();
    return size;
}

}  // namespace safeshard::detail

namespace safeshard::io {

/// Access-pattern hints for `mmap_source::advise` (`madvise`).
enum class advice {
    normal,      ///< MADV_NORMAL: the kernel's default read-ahead
    sequential,  ///< MADV_SEQUENTIAL: aggressive read-ahead, pages dropped soon after use
    random,      ///< MADV_RANDOM: no read-ahead
    willneed,    ///< MADV_WILLNEED: start reading the range in now
    dontneed,    ///< MADV_DONTNEED: drop the pages; later access faults them in again
    populate,    ///< MADV_POPULATE_READ: map the range in now, reading what is not cached, in
                 ///< one call instead of a fault per few pages (Linux 5.14+; MADV_WILLNEED before)
};

/// A `mappable_source` over a whole file mapped read-only (`MAP_PRIVATE`). Move-only; views
/// stay valid while the source lives, moves included.
///
/// The mapping is lazy: opening costs one `mmap`, and each page is read on first touch. Bytes
/// after the end of the file up to the end of its last page read as zeros (POSIX guarantees
/// it), which `padding_after` reports so parsers can skip a copy. A file truncated by another
/// process while mapped raises SIGBUS on access to the lost pages; that is inherent to mmap,
/// so use `pread_source` for files that may change under the reader.
class mmap_source {
public:
    /// No file (size 0, empty path).
    mmap_source() noexcept = default;

    /// Maps `path`. An empty file is served without a mapping (mmap rejects length 0).
    /// Errors: `errc::io_error` ("open: ...", "fstat: ...", "mmap: ..."), `errc::invalid_argument`
    /// for an empty path or one that is not a regular file.
    static result<mmap_source> open(std::string_view path) {
        result<pread_source> f = pread_source::open(path);
        if (!f) return f.error();
        const std::uint64_t n = f->size();
        if (n == 0) return mmap_source(nullptr, std::move(*f));
        if constexpr (sizeof(std::size_t) < sizeof(std::uint64_t)) {
            if (n > static_cast<std::uint64_t>(SIZE_MAX))
                return error_info(errc::invalid_argument).in_file(path).with_detail("file larger than the address space");
        }
        void* p = ::mmap(nullptr, static_cast<std::size_t>(n), PROT_READ, MAP_PRIVATE, f->handle().fd(), 0);
        if (p == MAP_FAILED) return detail::os_error("mmap", errno, path);
        // The pread_source stays open beside the mapping: copies go through it (see read()).
        return mmap_source(static_cast<const std::byte*>(p), std::move(*f));
    }

    // A moved-from source is empty (size 0, no path), as a default-constructed one.
    mmap_source(mmap_source&& o) noexcept
        : data_(std::exchange(o.data_, nullptr)), file_(std::exchange(o.file_, pread_source())) {}
    mmap_source& operator=(mmap_source&& o) noexcept {
        if (this != &o) {
            unmap();
            data_ = std::exchange(o.data_, nullptr);
            file_ = std::exchange(o.file_, pread_source());
        }
        return *this;
    }
    mmap_source(const mmap_source&) = delete;
    mmap_source& operator=(const mmap_source&) = delete;
    ~mmap_source() { unmap(); }

    /// The file size when it was opened.
    std::uint64_t size() const noexcept { return file_.size(); }

    /// Copies take `read` rather than the mapping: pread from the page cache runs at memcpy
    /// speed while first touches of a mapping fault page by page (PERFORMANCE.md).
    static constexpr bool prefer_read = true;

    /// Copies `[offset, offset + dst.size())` with pread (`pread_source::read`).
    status read(std::uint64_t offset, std::span<std::byte> dst) const noexcept { return file_.read(offset, dst); }

    /// Reads `[offset, offset + total)` scattered over `iov` with `preadv` (see
    /// `io::scatter_source`); like `read`, a copy that costs no page faults on the mapping.
    status read_scatter(std::uint64_t offset, std::span<iovec> iov) const noexcept {
        return file_.read_scatter(offset, iov);
    }

    /// The path given at open.
    std::string_view path() const noexcept { return file_.path(); }

    /// The mapped bytes `[offset, offset + n)`, or `errc::unexpected_eof`. No copy, no syscall.
    result<std::span<const std::byte>> view(std::uint64_t offset, std::uint64_t n) const noexcept {
        SAFESHARD_TRY(detail::check_read_range(offset, n, size(), path()));
        if (n == 0) return std::span<const std::byte>{};
        return std::span<const std::byte>(data_ + offset, static_cast<std::size_t>(n));
    }

    /// Readable bytes from `offset` to the end of the last mapped page (the tail past the end
    /// of the file reads as zeros); 0 for an empty file or an offset past that.
    std::uint64_t padding_after(std::uint64_t offset) const noexcept {
        std::uint64_t mapped = mapped_length();
        return offset <= mapped ? mapped - offset : 0;
    }

    /// Hints how `[offset, offset + n)` will be used. The range is widened to whole pages and
    /// clipped to the mapping (a hint outside it does nothing). Errors: `errc::io_error`
    /// ("madvise: ...").
    status advise(std::uint64_t offset, std::uint64_t n, advice a) const noexcept {
        std::uint64_t mapped = mapped_length();
        if (offset >= mapped || n == 0) return {};
        std::uint64_t end = n < mapped - offset ? offset + n : mapped;
        std::uint64_t begin = offset - offset % detail::page_size();
        int how = MADV_NORMAL;
        switch (a) {
            case advice::normal: how = MADV_NORMAL; break;
            case advice::sequential: how = MADV_SEQUENTIAL; break;
            case advice::random: how = MADV_RANDOM; break;
            case advice::willneed: how = MADV_WILLNEED; break;
            case advice::dontneed: how = MADV_DONTNEED; break;
            case advice::populate:
#ifdef MADV_POPULATE_READ
                how = MADV_POPULATE_READ;
#else
                how = MADV_WILLNEED;
#endif
                break;
        }
        // madvise takes a non-const pointer but only changes paging, never the bytes.
        void* at = const_cast<std::byte*>(data_ + begin);  // NOLINT
        if (::madvise(at, static_cast<std::size_t>(end - begin), how) != 0) {
            // A kernel before 5.14 does not know MADV_POPULATE_READ: ask for read-ahead instead.
            if (a != advice::populate || errno != EINVAL || ::madvise(at, static_cast<std::size_t>(end - begin), MADV_WILLNEED) != 0)
                return detail::os_error("madvise", errno, path(), offset);
        }
        return {};
    }

    /// The first mapped byte (null for an empty file).
    const std::byte* data() const noexcept { return data_; }

private:
    mmap_source(const std::byte* data, pread_source file) noexcept : data_(data), file_(std::move(file)) {}

    std::uint64_t mapped_length() const noexcept {
        std::uint64_t page = detail::page_size();
        return (size() + page - 1) / page * page;
    }

    void unmap() noexcept {
        // munmap only fails for arguments we never pass; nothing useful to do with its error.
        if (data_) ::munmap(const_cast<std::byte*>(data_), static_cast<std::size_t>(size()));  // NOLINT
        data_ = nullptr;
    }

    const std::byte* data_ = nullptr;
    pread_source file_;  // owns the descriptor the mapping was made from, and does every copy
};
static_assert(byte_source<mmap_source>);
static_assert(mappable_source<mmap_source>);
static_assert(scatter_source<mmap_source>);
static_assert(copies_through_read<mmap_source>);

}  // namespace safeshard::io

#endif
