// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_IO_ATOMIC_FILE_HPP
#define SAFESHARD_IO_ATOMIC_FILE_HPP

// The file sink behind every save: bytes go to a temporary file beside the target, and only a
// complete, fsynced file is renamed over it. rename(2) within one directory is atomic, so a
// reader sees the old file or the new one, never a mix, and a crash or error at any point
// leaves the previous checkpoint intact (at worst with a stray temp file, which
// `remove_stale_temp_files` clears).

#include <safeshard/io/concepts.hpp>
#include <safeshard/detail/huge_pages.hpp>
#include <safeshard/io/file_handle.hpp>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace safeshard::detail {

// 64 unpredictable bits for temp names. getrandom cannot fail for 8 bytes once the pool is
// ready; before that (early boot) the clock and a counter are unique enough, because
// O_EXCL, not the name, is what prevents clashes.
inline std::uint64_t temp_name_random() noexcept {
    std::uint64_t r = 0;
    if (::getrandom(&r, sizeof r, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof r)) return r;
    static std::uint64_t counter = 0;
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    r = static_cast<std::uint64_t>(ts.tv_sec) * 1000000007u + static_cast<std::uint64_t>(ts.tv_nsec);
    return r ^ (__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9e3779b97f4a7c15u);
}

inline constexpr std::string_view temp_marker = ".safeshard-tmp.";

}  // namespace safeshard::detail

namespace safeshard::io {

/// Whether `name` (a file name, not a path) has the form of an `atomic_file_sink` temp file:
/// `.<final-name>.safeshard-tmp.<decimal pid>.<lowercase hex>`. Strict, so a user's file that
/// merely contains the marker is never taken for one.
constexpr bool is_temp_file_name(std::string_view name) noexcept {
    std::size_t at = name.rfind(detail::temp_marker);
    if (name.empty() || name[0] != '.' || at == std::string_view::npos || at < 2) return false;
    std::string_view rest = name.substr(at + detail::temp_marker.size());
    std::size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos || dot + 1 == rest.size()) return false;
    for (char c : rest.substr(0, dot))
        if (c < '0' || c > '9') return false;
    for (char c : rest.substr(dot + 1))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

/// A `committing_sink` writing a file atomically: the bytes go to a temp file in the same
/// directory as the final path, and `commit()` fsyncs it and renames it into place.
///
/// * Readers never see a partial file under the final name; a file already there stays
///   untouched until the rename replaces it in one step (a symlink there is replaced, not
///   followed). Permissions are 0644 minus the umask, not copied from the old file.
/// * Writes are buffered in one 8 MiB buffer made at `create`; the file receives full-buffer
///   writes, and a write at least as large as the buffer goes straight to the file (together
///   with what was buffered, in one `writev`) without being copied.
/// * Any failure removes the temp file at once and is sticky: later `write` and `commit`
///   return the same error, so a failed save can never be committed by accident.
/// * Errors name the final path, the failing call and errno text, and the byte position.
/// * Move-only; destroying it without `commit()` removes the temp file. Not for concurrent use.
class atomic_file_sink {
public:
    /// Size of the write buffer, and so of every write but the last.
    static constexpr std::size_t buffer_size = std::size_t{8} << 20;

    /// A sink with no file: `write` and `commit` return `errc::invalid_argument`.
    atomic_file_sink() noexcept { failed_ = closed_error("sink is not open"); }

    /// Starts writing `final_path`: opens its directory, allocates the buffer and creates
    /// `.<name>.safeshard-tmp.<pid>.<random>` there (O_CREAT|O_EXCL, so never someone else's
    /// file). The name part is shortened if needed to keep the temp name within NAME_MAX.
    /// Errors: `errc::invalid_argument` for a path that is empty, contains NUL or ends in
    /// '/', '.' or '..'; `errc::io_error` ("open directory: ...", "mmap: ...",
    /// "create temp file: ...") naming `final_path`.
    static result<atomic_file_sink> create(std::string_view final_path) {
        std::size_t slash = final_path.rfind('/');
        std::string_view dir = slash == std::string_view::npos ? std::string_view(".")
                               : slash == 0                    ? std::string_view("/")
                                                               : final_path.substr(0, slash);
        std::string_view name = slash == std::string_view::npos ? final_path : final_path.substr(slash + 1);
        if (name.empty() || name == "." || name == ".." || final_path.find('\0') != std::string_view::npos)
            return error_info(errc::invalid_argument).in_file(final_path).with_detail("not a path to a file");

        atomic_file_sink s;
        s.final_path_.assign(final_path);
        s.final_name_.assign(name);

        std::string dir_path(dir);
        int dfd;
        do dfd = ::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        while (dfd < 0 && errno == EINTR);
        if (dfd < 0) return detail::os_error("open directory", errno, final_path);
        // Every later step works relative to this descriptor, so a relative path stays right
        // even if the process changes directory before commit.
        s.dir_ = file_handle(dfd, std::move(dir_path));

        // Made once per sink in 2 MiB pages: first-touch 4 KiB faults, not the disk, bound the
        // speed of fresh memory here (PERFORMANCE.md).
        s.buf_ = detail::memory_block(buffer_size, detail::memory_kind::huge_pages);
        if (!s.buf_.data()) return detail::os_error("mmap", ENOMEM, final_path);

        // '.' + name + marker + pid (<= 10 digits) + '.' + 16 hex digits must fit NAME_MAX.
        constexpr std::size_t name_max = 255;
        constexpr std::size_t overhead = 1 + detail::temp_marker.size() + 10 + 1 + 16;
        std::string_view kept = name.substr(0, name.size() < name_max - overhead ? name.size() : name_max - overhead);
        for (int attempt = 0;; ++attempt) {
            s.temp_name_.clear();  // not assign("."): GCC 12 at -O3 warns falsely (-Wrestrict)
            s.temp_name_.push_back('.');
            s.temp_name_.append(kept);
            s.temp_name_.append(detail::temp_marker);
            s.temp_name_.append(std::to_string(static_cast<unsigned long>(::getpid())));
            s.temp_name_.push_back('.');
            std::uint64_t r = detail::temp_name_random();
            for (int i = 15; i >= 0; --i) s.temp_name_.push_back("0123456789abcdef"[(r >> (4 * i)) & 0xf]);

            int fd;
            do fd = ::openat(s.dir_.fd(), s.temp_name_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            while (fd < 0 && errno == EINTR);
            if (fd >= 0) {
                s.file_ = file_handle(fd, s.final_path_);  // errors from the temp file name the final path
                break;
            }
            int err = errno;
            if (err != EEXIST || attempt == 15) {
                s.temp_name_.clear();  // nothing of ours to remove
                return detail::os_error("create temp file", err, final_path);
            }
        }
        s.failed_ = error_info{};
        return s;
    }

    atomic_file_sink(atomic_file_sink&& o) noexcept
        : file_(std::move(o.file_)), dir_(std::move(o.dir_)), final_path_(std::move(o.final_path_)),
          final_name_(std::move(o.final_name_)), temp_name_(std::move(o.temp_name_)), buf_(std::move(o.buf_)),
          used_(std::exchange(o.used_, 0)), flushed_(std::exchange(o.flushed_, 0)),
          prepared_(std::exchange(o.prepared_, false)), failed_(o.failed_) {
        o.temp_name_.clear();
        o.failed_ = closed_error("sink was moved from");
    }
    atomic_file_sink& operator=(atomic_file_sink&& o) noexcept {
        if (this != &o) {
            discard();
            file_ = std::move(o.file_);
            dir_ = std::move(o.dir_);
            final_path_ = std::move(o.final_path_);
            final_name_ = std::move(o.final_name_);
            temp_name_ = std::move(o.temp_name_);
            buf_ = std::move(o.buf_);
            used_ = std::exchange(o.used_, 0);
            flushed_ = std::exchange(o.flushed_, 0);
            prepared_ = std::exchange(o.prepared_, false);
            failed_ = o.failed_;
            o.temp_name_.clear();
            o.failed_ = closed_error("sink was moved from");
        }
        return *this;
    }
    atomic_file_sink(const atomic_file_sink&) = delete;
    atomic_file_sink& operator=(const atomic_file_sink&) = delete;

    /// Removes the temp file unless committed.
    ~atomic_file_sink() { discard(); }

    /// Appends `src`. An error ("write: <strerror>" at the byte position, e.g. a full disk)
    /// aborts the sink: the temp file is removed and the error sticks.
    status write(std::span<const std::byte> src) noexcept {
        if (failed_.code() != errc::ok) return failed_;
        if (prepared_) return closed_error("write after prepare");
        if (src.empty()) return {};
        std::byte* buf = buf_.data();
        std::size_t cap = buf_.size();
        std::size_t room = cap - used_;
        if (src.size() < room) {
            std::memcpy(buf + used_, src.data(), src.size());
            used_ += src.size();
            return {};
        }
        if (src.size() >= cap) {
            // Large enough to be worth a syscall on its own: no copy, and no small write either,
            // since the buffered head goes out in the same writev.
            if (status s = file_.write_all({buf, used_}, src, flushed_); !s) return fail(s.error());
            flushed_ += used_ + src.size();
            used_ = 0;
            return {};
        }
        // Top the buffer up and flush it whole, so every write but the last is a full buffer.
        std::memcpy(buf + used_, src.data(), room);
        used_ = cap;
        if (status s = flush(); !s) return fail(s.error());
        std::memcpy(buf, src.data() + room, src.size() - room);
        used_ = src.size() - room;
        return {};
    }

    /// Bytes accepted so far, buffered or written.
    std::uint64_t position() const noexcept { return flushed_ + used_; }

    /// Flushes, fsyncs and closes the temp file, renames it to the final path and fsyncs the
    /// directory. On an error before the rename the temp file is removed and the final path is
    /// as it was. An error from the last step ("fsync directory: ...") means the new file is
    /// in place but the rename may not survive a crash. Afterwards the sink is closed.
    status commit() noexcept {
        SAFESHARD_TRY(prepare());
        return publish();
    }

    /// The first half of `commit`, for saves of several files that must appear together:
    /// flushes, fsyncs and closes the temp file, which stays under its temp name (and is
    /// removed if the sink is destroyed or aborted before `publish`).
    status prepare() noexcept {
        if (failed_.code() != errc::ok) return failed_;
        if (prepared_) return {};
        if (status s = flush(); !s) return fail(s.error());
        if (status s = file_.sync(); !s) return fail(s.error());
        if (status s = file_.close(); !s) return fail(s.error());
        buf_ = detail::memory_block{};
        prepared_ = true;
        return {};
    }

    /// The second half: renames the prepared temp file to the final path and fsyncs the
    /// directory. Afterwards the sink is closed.
    status publish() noexcept {
        if (failed_.code() != errc::ok) return failed_;
        if (!prepared_) return closed_error("publish before prepare");
        if (::renameat(dir_.fd(), temp_name_.c_str(), dir_.fd(), final_name_.c_str()) != 0)
            return fail(detail::os_error("rename", errno, final_path_));
        temp_name_.clear();  // it is the final file now: nothing to remove
        failed_ = closed_error("sink already committed");
        int rc;
        do rc = ::fsync(dir_.fd());
        while (rc != 0 && errno == EINTR);
        // Some file systems cannot sync a directory (EINVAL); the rename is done regardless.
        int err = rc != 0 ? errno : 0;
        dir_ = file_handle();
        if (err != 0 && err != EINVAL) return detail::os_error("fsync directory", err, final_path_);
        return {};
    }

    /// Discards everything: closes and removes the temp file. Idempotent; later `write` and
    /// `commit` return `errc::invalid_argument`.
    void abort() noexcept {
        if (failed_.code() == errc::ok) failed_ = closed_error("sink was aborted");
        discard();
    }

    /// The path the file appears under on commit.
    std::string_view final_path() const noexcept { return final_path_; }

    /// The temp file's name within the final path's directory; empty once committed or aborted.
    std::string_view temp_name() const noexcept { return temp_name_; }

private:
    error_info closed_error(std::string_view why) const noexcept {
        error_info e(errc::invalid_argument);
        e.in_file(final_path_).with_detail(why);
        return e;
    }

    status flush() noexcept {
        if (used_ == 0) return {};
        SAFESHARD_TRY(file_.write_all({buf_.data(), used_}, flushed_));
        flushed_ += used_;
        used_ = 0;
        return {};
    }

    // Records the first error and gets rid of the temp file now, freeing the disk space a
    // failed save holds (often exactly what a full disk needs).
    status fail(const error_info& e) noexcept {
        failed_ = e;
        discard();
        return e;
    }

    void discard() noexcept {
        (void)file_.close();
        if (!temp_name_.empty() && dir_.is_open()) ::unlinkat(dir_.fd(), temp_name_.c_str(), 0);
        temp_name_.clear();
        dir_ = file_handle();
        buf_ = detail::memory_block{};
        used_ = 0;
    }

    file_handle file_;            // the temp file
    file_handle dir_;             // the directory of both names
    std::string final_path_;      // as given, for messages
    std::string final_name_;      // relative to dir_
    std::string temp_name_;       // relative to dir_; empty when there is nothing to remove
    detail::memory_block buf_;
    std::size_t used_ = 0;        // bytes in buf_
    std::uint64_t flushed_ = 0;   // bytes handed to the file
    bool prepared_ = false;       // synced and closed, waiting for publish()
    error_info failed_;           // ok while writable; else the error every call returns
};
static_assert(committing_sink<atomic_file_sink>);
static_assert(staged_sink<atomic_file_sink>);

/// Deletes the leftovers of saves that crashed: regular files in `directory` whose names pass
/// `is_temp_file_name`. Returns how many it removed. Call it only when no save into
/// `directory` is running (in any process): it cannot tell a live temp file from a stale one.
/// Errors: `errc::io_error` ("open: ...", "readdir: ...", "unlink: ..."), `errc::invalid_argument`
/// for an empty path.
inline result<std::size_t> remove_stale_temp_files(std::string_view directory) {
    result<file_handle> d = file_handle::open(directory, O_RDONLY | O_DIRECTORY);
    if (!d) return d.error();
    int fd = d->release();
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
        int err = errno;
        ::close(fd);
        return detail::os_error("fdopendir", err, directory);
    }
    std::size_t removed = 0;
    error_info failure;
    for (;;) {
        errno = 0;
        dirent* ent = ::readdir(dir);
        if (!ent) {
            if (errno != 0) failure = detail::os_error("readdir", errno, directory);
            break;
        }
        if (!is_temp_file_name(ent->d_name)) continue;
        bool regular = ent->d_type == DT_REG;
        if (ent->d_type == DT_UNKNOWN) {  // some file systems leave d_type out
            struct stat st;
            regular = ::fstatat(::dirfd(dir), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
        }
        if (!regular) continue;
        if (::unlinkat(::dirfd(dir), ent->d_name, 0) == 0) {
            ++removed;
        } else if (errno != ENOENT) {  // ENOENT: someone else removed it first, as wanted
            int err = errno;
            std::string path(directory);
            path.append("/").append(ent->d_name);
            failure = detail::os_error("unlink", err, path);
            break;
        }
    }
    ::closedir(dir);
    if (failure.code() != errc::ok) return failure;
    return removed;
}

}  // namespace safeshard::io

#endif
