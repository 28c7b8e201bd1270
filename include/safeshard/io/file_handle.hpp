// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_IO_FILE_HANDLE_HPP
#define SAFESHARD_IO_FILE_HANDLE_HPP

// An owning POSIX file descriptor and the transfer loops every file source and sink needs.
// The kernel may return fewer bytes than asked (signals, pipes, the 2 GiB per-call cap) or fail
// with EINTR; these loops hide both, so callers see all-or-nothing transfers, and every failure
// becomes an error_info naming the call, the errno text, the file and the byte offset.

#include <safeshard/core/error.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static_assert(sizeof(off_t) == 8,
              "safeshard needs 64-bit file offsets: build with -D_FILE_OFFSET_BITS=64 on this host.");

namespace safeshard::detail {

// One system call moves at most this much. Linux stops at 0x7ffff000 bytes anyway; staying
// well below SSIZE_MAX keeps every cast between size_t and ssize_t exact.
inline constexpr std::size_t max_io_chunk = std::size_t{1} << 30;

// strerror is not thread-safe, and strerror_r comes in a GNU flavour (returns the text) and
// an XSI one (fills the buffer, returns int); these overloads accept whichever libc declares.
inline const char* strerror_text(const char* text, const char*) noexcept { return text; }
inline const char* strerror_text(int rc, const char* buf) noexcept { return rc == 0 ? buf : "unknown error"; }

/// `errc::io_error` for `path` with detail "CALL: <strerror(err)>", at `offset` when known.
/// Allocates only the error's parts (and keeps the code when even that fails).
inline error_info os_error(std::string_view call, int err, std::string_view path,
                           std::uint64_t offset = error_info::no_offset) noexcept {
    char text[96] = {};
    const char* msg = strerror_text(::strerror_r(err, text, sizeof text), text);
    char buf[256];
    std::size_t n = 0;
    auto put = [&](std::string_view s) {
        for (char c : s)
            if (n < sizeof buf) buf[n++] = c;
    };
    put(call);
    put(": ");
    put(msg);
    error_info e(errc::io_error);
    e.in_file(path).at_offset(offset).with_detail(std::string_view(buf, n));
    return e;
}

// Views a span as the iovec the gather calls take.
inline iovec as_iovec(std::span<const std::byte> s) noexcept {
    return iovec{const_cast<std::byte*>(s.data()), s.size()};  // NOLINT: writev never writes through it
}

}  // namespace safeshard::detail

namespace safeshard::io {

/// An owning file descriptor plus the path it was opened with (kept for error messages).
/// Move-only; closes on destruction. Const member functions may be called concurrently
/// (they use only positionless `pread`/`pwrite`/`fstat`/`fsync`), except `write_all`.
class file_handle {
public:
    /// No file.
    file_handle() noexcept = default;

    /// Adopts `fd` (closed on destruction); `path` is only used to name the file in errors.
    file_handle(int fd, std::string path) noexcept : fd_(fd), path_(std::move(path)) {}

    file_handle(file_handle&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}
    file_handle& operator=(file_handle&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
            path_ = std::move(o.path_);
        }
        return *this;
    }
    file_handle(const file_handle&) = delete;
    file_handle& operator=(const file_handle&) = delete;
    ~file_handle() { reset(); }

    /// `open(path, flags | O_CLOEXEC, mode)`, retried on EINTR. Errors: `errc::invalid_argument`
    /// for an empty path or one containing NUL, `errc::io_error` ("open: <strerror>") otherwise.
    static result<file_handle> open(std::string_view path, int flags, mode_t mode = 0) {
        if (path.empty() || path.find('\0') != std::string_view::npos)
            return error_info(errc::invalid_argument).in_file(path).with_detail("path is empty or contains NUL");
        std::string p(path);
        int fd;
        do fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
        while (fd < 0 && errno == EINTR);
        if (fd < 0) return detail::os_error("open", errno, path);
        return file_handle(fd, std::move(p));
    }

    /// Opens `path` for reading.
    static result<file_handle> open_read(std::string_view path) { return open(path, O_RDONLY); }

    /// The descriptor, or -1.
    int fd() const noexcept { return fd_; }
    /// The path given at open (for messages).
    std::string_view path() const noexcept { return path_; }
    /// Whether a descriptor is held.
    bool is_open() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return is_open(); }

    /// The size of a regular file, from `fstat`. `errc::invalid_argument` ("not a regular
    /// file") for directories, pipes and devices, whose `st_size` means something else.
    result<std::uint64_t> size() const noexcept {
        struct stat st;
        if (::fstat(fd_, &st) != 0) return detail::os_error("fstat", errno, path_);
        if (!S_ISREG(st.st_mode))
            return error_info(errc::invalid_argument).in_file(path_).with_detail("not a regular file");
        return static_cast<std::uint64_t>(st.st_size);
    }

    /// Reads exactly `dst.size()` bytes at `offset`. Ending early is `errc::unexpected_eof` at
    /// the offset where the file ended (dst then holds what was read before it).
    status pread_exact(std::uint64_t offset, std::span<std::byte> dst) const noexcept {
        std::size_t done = 0;
        while (done < dst.size()) {
            std::size_t want = dst.size() - done < detail::max_io_chunk ? dst.size() - done : detail::max_io_chunk;
            ssize_t got = ::pread(fd_, dst.data() + done, want, static_cast<off_t>(offset + done));
            if (got < 0) {
                if (errno == EINTR) continue;
                return detail::os_error("pread", errno, path_, offset + done);
            }
            if (got == 0)
                return error_info(errc::unexpected_eof).in_file(path_).at_offset(offset + done).with_detail(
                    "pread: file ended early");
            done += static_cast<std::size_t>(got);
        }
        return {};
    }

    /// Reads consecutive bytes at `offset` into the buffers of `iov` in order (one `preadv` per
    /// up to IOV_MAX buffers, resumed after short reads). `iov` is consumed: entries are
    /// advanced as bytes arrive. Ending early is `errc::unexpected_eof` at the offset it ended.
    status preadv_exact(std::uint64_t offset, std::span<iovec> iov) const noexcept {
        std::size_t i = 0;
        while (i < iov.size()) {
            if (iov[i].iov_len == 0) {
                ++i;
                continue;
            }
            const int count = static_cast<int>(iov.size() - i < 1024 ? iov.size() - i : 1024);
            ssize_t got = ::preadv(fd_, iov.data() + i, count, static_cast<off_t>(offset));
            if (got < 0) {
                if (errno == EINTR) continue;
                return detail::os_error("preadv", errno, path_, offset);
            }
            if (got == 0)
                return error_info(errc::unexpected_eof).in_file(path_).at_offset(offset).with_detail("preadv: file ended early");
            offset += static_cast<std::uint64_t>(got);
            auto left = static_cast<std::size_t>(got);
            while (left > 0 && i < iov.size()) {
                if (left >= iov[i].iov_len) {
                    left -= iov[i].iov_len;
                    iov[i].iov_len = 0;
                    ++i;
                } else {
                    iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + left;
                    iov[i].iov_len -= left;
                    left = 0;
                }
            }
        }
        return {};
    }

    /// Writes all of `src` at `offset`, without moving the file position.
    status pwrite_all(std::uint64_t offset, std::span<const std::byte> src) const noexcept {
        std::size_t done = 0;
        while (done < src.size()) {
            std::size_t want = src.size() - done < detail::max_io_chunk ? src.size() - done : detail::max_io_chunk;
            ssize_t put = ::pwrite(fd_, src.data() + done, want, static_cast<off_t>(offset + done));
            if (put < 0) {
                if (errno == EINTR) continue;
                return detail::os_error("pwrite", errno, path_, offset + done);
            }
            if (put == 0) return detail::os_error("pwrite", EIO, path_, offset + done);
            done += static_cast<std::size_t>(put);
        }
        return {};
    }

    /// Writes all of `src` at the file position. `position` is where that is, for messages.
    status write_all(std::span<const std::byte> src, std::uint64_t position) const noexcept {
        return write_all(src, {}, position);
    }

    /// Writes `head` then `tail` at the file position, in one `writev` when the kernel takes
    /// it all: a buffered prefix and a large caller span leave together without a copy.
    status write_all(std::span<const std::byte> head, std::span<const std::byte> tail,
                     std::uint64_t position) const noexcept {
        while (!head.empty() || !tail.empty()) {
            iovec iov[2];
            int count = 0;
            std::size_t budget = detail::max_io_chunk;
            for (std::span<const std::byte> part : {head, tail}) {
                if (part.empty() || budget == 0) continue;
                iov[count] = detail::as_iovec(part.first(part.size() < budget ? part.size() : budget));
                budget -= iov[count].iov_len;
                ++count;
            }
            ssize_t put = ::writev(fd_, iov, count);
            if (put < 0) {
                if (errno == EINTR) continue;
                return detail::os_error("write", errno, path_, position);
            }
            if (put == 0) return detail::os_error("write", EIO, path_, position);
            auto n = static_cast<std::size_t>(put);
            position += n;
            std::size_t from_head = n < head.size() ? n : head.size();
            head = head.subspan(from_head);
            tail = tail.subspan(n - from_head);
        }
        return {};
    }

    /// `fsync`: the data and the metadata needed to read it back are on stable storage.
    status sync() const noexcept {
        int rc;
        do rc = ::fsync(fd_);
        while (rc != 0 && errno == EINTR);
        if (rc != 0) return detail::os_error("fsync", errno, path_);
        return {};
    }

    /// Closes now and reports what `close` says (on network file systems it can report a
    /// failed write-back). The handle is closed afterwards either way.
    status close() noexcept {
        if (fd_ < 0) return {};
        int fd = std::exchange(fd_, -1);
        // On Linux the descriptor is gone even when close fails with EINTR: never retry it, as
        // the number may already belong to another thread's file.
        if (::close(fd) != 0 && errno != EINTR) return detail::os_error("close", errno, path_);
        return {};
    }

    /// Gives up ownership of the descriptor and returns it.
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    int fd_ = -1;
    std::string path_;
};

}  // namespace safeshard::io

#endif
