// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_ERROR_HPP
#define SAFESHARD_CORE_ERROR_HPP

// The error model. An `error_info` is a code plus one pointer: success and every code carry
// nothing else, so a `status` is two words and a `result<T>` adds only its value. Where an error
// is made, its parts (file, tensor, byte offset, detail) go into one heap block that copies of
// the error share; running out of memory while building one keeps the code and drops the part.
// `result<T>` has the shape of simdjson_result; the throwing `safeshard::error` exists only
// when exceptions are on.

#include <safeshard/core/config.hpp>
#include <safeshard/core/errc.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#if SAFESHARD_EXCEPTIONS
#  include <stdexcept>
#endif

namespace safeshard {

namespace detail {

// An error's parts, in one block: the header, then the file, tensor and detail bytes back to
// back. Immutable once made; shared by the copies of an error, which may live on other threads.
struct error_parts {
    std::atomic<std::uint32_t> refs{1};
    std::uint32_t file_len = 0, tensor_len = 0, detail_len = 0;
    std::uint64_t offset = std::numeric_limits<std::uint64_t>::max();

    const char* text() const noexcept { return reinterpret_cast<const char*>(this + 1); }
    char* text() noexcept { return reinterpret_cast<char*>(this + 1); }

    // A block holding the given parts, or nullptr when the memory cannot be had.
    static error_parts* make(std::string_view file, std::string_view tensor, std::string_view detail,
                             std::uint64_t offset) noexcept {
        void* raw = ::operator new(sizeof(error_parts) + file.size() + tensor.size() + detail.size(), std::nothrow);
        if (!raw) return nullptr;
        auto* p = ::new (raw) error_parts;
        p->file_len = static_cast<std::uint32_t>(file.size());
        p->tensor_len = static_cast<std::uint32_t>(tensor.size());
        p->detail_len = static_cast<std::uint32_t>(detail.size());
        p->offset = offset;
        char* out = p->text();
        for (std::string_view s : {file, tensor, detail}) {
            if (!s.empty()) std::memcpy(out, s.data(), s.size());
            out += s.size();
        }
        return p;
    }
    static void retain(error_parts* p) noexcept {
        if (p) p->refs.fetch_add(1, std::memory_order_relaxed);
    }
    // Out of line: errors are rare, and GCC 12, inlining the count's last drop into callers
    // holding two copies of one error, warns of a use after free it cannot rule out
    // (-Wuse-after-free, a false positive: the other copy held a count).
#if defined(__GNUC__)
    __attribute__((noinline))
#endif
    static void release(error_parts* p) noexcept {
        if (p && p->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            p->~error_parts();
            ::operator delete(p);
        }
    }
};

// Where a part of `s` is kept when it is longer than `cap` bytes: its tail (a path, whose file
// name matters most) or its head (a name or a sentence), the cut marked with "...", never
// inside a UTF-8 sequence. `buf` holds at least `cap` bytes.
inline std::string_view bounded(std::string_view s, std::size_t cap, bool keep_tail, char* buf) noexcept {
    if (s.size() <= cap) return s;
    auto continuation = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; };
    std::size_t n = cap - 3, at = 0;
    if (keep_tail) {
        at = s.size() - n;
        while (n > 0 && continuation(s[at])) ++at, --n;
        std::memcpy(buf, "...", 3);
        std::memcpy(buf + 3, s.data() + at, n);
    } else {
        while (n > 0 && continuation(s[n])) --n;
        std::memcpy(buf, s.data(), n);
        std::memcpy(buf + n, "...", 3);
    }
    return {buf, n + 3};
}

}  // namespace detail

/// What failed and where: a code and, when known, the file, the tensor, the byte offset in the
/// file and a detail (the bad value, the OS call and its errno text). Two words: the parts live
/// out of line, made only when an error is built and shared by its copies, so an error travels
/// cheaply through `-fno-exceptions` code and across threads.
class error_info {
public:
    static constexpr std::uint64_t no_offset = std::numeric_limits<std::uint64_t>::max();
    /// The longest parts kept, in bytes; longer ones keep their tail (the file) or their head.
    static constexpr std::size_t max_file_bytes = 1024;
    static constexpr std::size_t max_tensor_bytes = 512;
    static constexpr std::size_t max_detail_bytes = 1024;

    constexpr error_info() noexcept = default;
    constexpr error_info(errc c) noexcept : code_(c) {}  // NOLINT: implicit, as errors are returned
    error_info(const error_info& o) noexcept : parts_(o.parts_), code_(o.code_) { detail::error_parts::retain(parts_); }
    error_info(error_info&& o) noexcept : parts_(std::exchange(o.parts_, nullptr)), code_(o.code_) {}
    error_info& operator=(const error_info& o) noexcept {
        detail::error_parts::retain(o.parts_);
        detail::error_parts::release(parts_);
        parts_ = o.parts_;
        code_ = o.code_;
        return *this;
    }
    error_info& operator=(error_info&& o) noexcept {
        if (this != &o) {
            detail::error_parts::release(parts_);
            parts_ = std::exchange(o.parts_, nullptr);
            code_ = o.code_;
        }
        return *this;
    }
    constexpr ~error_info() {
        if (parts_) detail::error_parts::release(parts_);
    }

    constexpr errc code() const noexcept { return code_; }
    /// The code as a `std::error_code` of `error_category()`.
    std::error_code error_code() const noexcept { return make_error_code(code_); }
    /// The byte offset in the file, or `no_offset`.
    std::uint64_t offset() const noexcept { return parts_ ? parts_->offset : no_offset; }
    std::string_view file() const noexcept { return parts_ ? std::string_view(parts_->text(), parts_->file_len) : std::string_view(); }
    std::string_view tensor() const noexcept {
        return parts_ ? std::string_view(parts_->text() + parts_->file_len, parts_->tensor_len) : std::string_view();
    }
    std::string_view detail() const noexcept {
        return parts_ ? std::string_view(parts_->text() + parts_->file_len + parts_->tensor_len, parts_->detail_len)
                      : std::string_view();
    }

    friend constexpr bool operator==(const error_info& e, errc c) noexcept { return e.code_ == c; }

    // Builders: each returns the error, so they chain on a temporary. Out of memory, a builder
    // leaves the error as it was (its code is never lost).
    error_info& in_file(std::string_view path) & noexcept {
        char buf[max_file_bytes];
        return rebuild(detail::bounded(path, max_file_bytes, true, buf), tensor(), detail(), offset());
    }
    error_info&& in_file(std::string_view path) && noexcept { return std::move(in_file(path)); }
    error_info& at_tensor(std::string_view name) & noexcept {
        char buf[max_tensor_bytes];
        return rebuild(file(), detail::bounded(name, max_tensor_bytes, false, buf), detail(), offset());
    }
    error_info&& at_tensor(std::string_view name) && noexcept { return std::move(at_tensor(name)); }
    error_info& at_offset(std::uint64_t off) & noexcept { return rebuild(file(), tensor(), detail(), off); }
    error_info&& at_offset(std::uint64_t off) && noexcept { return std::move(at_offset(off)); }
    error_info& with_detail(std::string_view d) & noexcept {
        char buf[max_detail_bytes];
        return rebuild(file(), tensor(), detail::bounded(d, max_detail_bytes, false, buf), offset());
    }
    error_info&& with_detail(std::string_view d) && noexcept { return std::move(with_detail(d)); }
    /// Another code, the parts kept (a lower layer's error reported as what it means above).
    error_info& with_code(errc c) & noexcept {
        code_ = c;
        return *this;
    }
    error_info&& with_code(errc c) && noexcept { return std::move(with_code(c)); }
    /// Fills in the file only where the error does not name one yet (inner layers know less).
    error_info& default_file(std::string_view path) & noexcept { return file().empty() ? in_file(path) : *this; }
    error_info&& default_file(std::string_view path) && noexcept { return std::move(default_file(path)); }

    /// Writes "FILE: tensor 'NAME': byte OFF: MESSAGE (DETAIL)" (absent parts left out) into
    /// `buf`, truncating; returns the length it wanted. Never allocates.
    std::size_t format(char* buf, std::size_t cap) const noexcept {
        std::size_t len = 0;
        char* out = buf;
        char* const last = cap ? buf + (cap - 1) : buf;  // the byte kept for the terminating NUL
        auto put = [&](std::string_view s) {
            for (char ch : s) {
                if (out < last) *out++ = ch;
                ++len;
            }
        };
        if (!file().empty()) { put(file()); put(": "); }
        if (!tensor().empty()) { put("tensor '"); put(tensor()); put("': "); }
        if (offset() != no_offset) {
            char digits[24];
            std::size_t n = sizeof digits;
            std::uint64_t v = offset();
            do { digits[--n] = static_cast<char>('0' + v % 10); v /= 10; } while (v);
            put("byte ");
            put(std::string_view(digits + n, sizeof digits - n));
            put(": ");
        }
        put(error_message(code_));
        if (!detail().empty()) { put(" ("); put(detail()); put(")"); }
        if (cap) *out = '\0';
        return len;
    }
    /// The same as a string (allocates).
    std::string to_string() const {
        std::string s(format(nullptr, 0), '\0');
        format(s.data(), s.size() + 1);
        return s;
    }

private:
    error_info& rebuild(std::string_view f, std::string_view t, std::string_view d, std::uint64_t off) noexcept {
        detail::error_parts* p = nullptr;
        if (!f.empty() || !t.empty() || !d.empty() || off != no_offset) {
            p = detail::error_parts::make(f, t, d, off);  // the views may point into parts_: made first
            if (!p) return *this;
        }
        detail::error_parts::release(parts_);
        parts_ = p;
        return *this;
    }

    detail::error_parts* parts_ = nullptr;
    errc code_ = errc::ok;
};

#if SAFESHARD_EXCEPTIONS
/// Thrown by the convenience calls (`value()`, `*_or_throw`) when exceptions are on.
class error : public std::runtime_error {
public:
    explicit error(const error_info& info) : std::runtime_error("safeshard: " + info.to_string()), info_(info) {}
    const error_info& info() const noexcept { return info_; }
    errc code() const noexcept { return info_.code(); }

private:
    error_info info_;
};
#endif

namespace detail {
[[noreturn]] inline void fail(const error_info& info) {
#if SAFESHARD_EXCEPTIONS
    throw error(info);
#else
    char buf[2048];
    info.format(buf, sizeof buf);
    std::fprintf(stderr, "safeshard: %s\n", buf);
    std::abort();
#endif
}
}  // namespace detail

/// Success or an `error_info`: the result of an operation that returns nothing. Two words.
class [[nodiscard]] status {
public:
    constexpr status() noexcept = default;
    status(const error_info& e) noexcept : err_(e) {}    // NOLINT: implicit, as errors are returned
    status(error_info&& e) noexcept : err_(std::move(e)) {}  // NOLINT
    constexpr status(errc c) noexcept : err_(c) {}           // NOLINT

    constexpr bool ok() const noexcept { return err_.code() == errc::ok; }
    constexpr explicit operator bool() const noexcept { return ok(); }
    /// The error, whole: its code, file, tensor, offset and detail (`to_string()` says it all).
    const error_info& error() const& noexcept { return err_; }
    error_info&& error() && noexcept { return std::move(err_); }
    constexpr errc code() const noexcept { return err_.code(); }
    friend constexpr bool operator==(const status& s, errc c) noexcept { return s.code() == c; }
    /// Throws (or aborts without exceptions) when this is an error.
    void value() const {
        if (!ok()) detail::fail(err_);
    }

private:
    error_info err_{};
};

/// A value or an `error_info`, after simdjson_result: `get(out)` moves the value out and
/// returns the whole error as a `status`; `value()` throws only where exceptions exist.
/// It holds the value or the error, never both: its size is the value's plus two words.
template <class T>
class [[nodiscard]] result {
public:
    using value_type = T;

    result(T v) noexcept(std::is_nothrow_move_constructible_v<T>) {  // NOLINT: implicit, as values are returned
        ::new (static_cast<void*>(&value_)) T(std::move(v));
    }
    result(const error_info& e) noexcept : err_(e) { SAFESHARD_ASSERT(e.code() != errc::ok); }  // NOLINT
    result(error_info&& e) noexcept : err_(std::move(e)) { SAFESHARD_ASSERT(err_.code() != errc::ok); }  // NOLINT
    result(errc c) noexcept : err_(c) { SAFESHARD_ASSERT(c != errc::ok); }                    // NOLINT
    result(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : err_(std::move(o.err_)) {
        if (has_value()) ::new (static_cast<void*>(&value_)) T(std::move(o.value_));
    }
    result(const result&) = delete;
    result& operator=(const result&) = delete;
    result& operator=(result&&) = delete;
    ~result() {
        if (has_value()) value_.~T();
    }

    bool has_value() const noexcept { return err_.code() == errc::ok; }
    explicit operator bool() const noexcept { return has_value(); }
    const error_info& error() const noexcept { return err_; }
    errc code() const noexcept { return err_.code(); }

    /// Moves the value into `out` on success; returns the error, whole, either way:
    /// `if (auto st = open(path).get(reader); !st) puts(st.error().to_string().c_str());`
    status get(T& out) && noexcept(std::is_nothrow_move_assignable_v<T>) {
        if (has_value()) out = std::move(value_);
        return status(err_);
    }

    T& operator*() & noexcept { SAFESHARD_ASSERT(has_value()); return value_; }
    const T& operator*() const& noexcept { SAFESHARD_ASSERT(has_value()); return value_; }
    T&& operator*() && noexcept { SAFESHARD_ASSERT(has_value()); return std::move(value_); }
    T* operator->() noexcept { SAFESHARD_ASSERT(has_value()); return &value_; }
    const T* operator->() const noexcept { SAFESHARD_ASSERT(has_value()); return &value_; }

    /// The value, or (exceptions on) a thrown `safeshard::error` / (off) a message and abort.
    T& value() & { if (!has_value()) detail::fail(err_); return value_; }
    const T& value() const& { if (!has_value()) detail::fail(err_); return value_; }
    T&& value() && { if (!has_value()) detail::fail(err_); return std::move(value_); }

private:
    union {
        T value_;
    };
    error_info err_{};
};

static_assert(sizeof(error_info) <= 2 * sizeof(void*) && sizeof(status) <= 16,
              "success must stay cheap: an error is a code and a pointer to its parts");

}  // namespace safeshard

/// Returns the error of a `status` or `result` expression from the enclosing function.
#define SAFESHARD_TRY(expr)                                    \
    do {                                                       \
        if (auto&& safeshard_try_r_ = (expr); !safeshard_try_r_) \
            return safeshard_try_r_.error();                   \
    } while (0)

#endif
