// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CORE_ERROR_HPP
#define SAFESHARD_CORE_ERROR_HPP

// The error model: a plain `errc` (ok == 0), an `error_info` that says where (file, tensor,
// byte offset) without allocating, `result<T>` in the shape of simdjson_result, and the
// throwing `safeshard::error` only when exceptions are on.

#include <safeshard/core/config.hpp>

#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#if SAFESHARD_EXCEPTIONS
#  include <stdexcept>
#endif

namespace safeshard {

/// Every way an operation can fail. `ok` is zero, so `if (ec != errc::ok)` reads naturally.
/// Values are stable: tests and callers may compare them.
enum class errc : std::uint16_t {
    ok = 0,
    // framing
    file_too_small,          ///< fewer than 8 bytes: no header length
    header_length_zero,      ///< the header length N is 0
    header_too_large,        ///< N above the header size limit (100,000,000 by default)
    header_past_end,         ///< 8 + N is past the end of the file
    header_not_utf8,         ///< the header bytes are not valid UTF-8
    header_not_json,         ///< the header is not one well-formed JSON value
    header_not_object,       ///< the header JSON is not an object
    // entries
    metadata_not_map,        ///< `__metadata__` is not an object of string to string, nor null
    duplicate_metadata,      ///< `__metadata__` given twice
    duplicate_metadata_key,  ///< one key twice inside `__metadata__`
    duplicate_tensor,        ///< one tensor name twice
    tensor_not_object,       ///< a tensor entry is not an object
    unknown_dtype,           ///< not one of the 22 dtype names
    missing_field,           ///< a tensor entry lacks dtype, shape or data_offsets
    duplicate_field,         ///< a field given twice inside one tensor entry
    bad_shape,               ///< shape is not an array of non-negative integers
    bad_data_offsets,        ///< data_offsets is not two non-negative integers, begin <= end
    size_overflow,           ///< numel or numel × bits overflows 64 bits
    size_mismatch,           ///< end - begin differs from numel × bits / 8
    sub_byte_unaligned,      ///< a sub-byte dtype whose numel × bits is not a multiple of 8
    // tiling of the data section
    data_gap,                ///< bytes no tensor covers
    data_overlap,            ///< two tensors share bytes, or one sits inside another
    trailing_bytes,          ///< bytes after the last tensor
    data_past_end,           ///< a tensor ends past the end of the file
    // limits a caller can raise
    limit_exceeded,          ///< tensor count, rank, name length or metadata size over a limit
    // I/O
    io_error,                ///< an OS call failed; the detail names the call and errno text
    unexpected_eof,          ///< a read ended before the bytes it needed
    // API use with valid files
    tensor_not_found,        ///< no tensor of that name
    dtype_mismatch,          ///< the file's dtype does not meet the view's element type
    shape_mismatch,          ///< the destination's shape differs from the tensor's or the slice's
    out_of_bounds,           ///< a slice reaches outside the tensor
    invalid_argument,        ///< a caller-supplied value is unusable (name, shape, path)
    unsupported_conversion,  ///< no conversion between these dtypes
    // checkpoints (many files)
    bad_checkpoint_metadata,  ///< the index or DCP sharding info is malformed or disagrees with the files
    chunk_mismatch,           ///< chunks of one tensor disagree on dtype or rank
    chunk_overlap,            ///< two saved chunks of one tensor share elements (or stale shards)
    chunk_hole,               ///< the saved chunks leave part of a tensor uncovered
    path_outside_checkpoint,  ///< a file named by the checkpoint lies outside its directory
    file_not_found,           ///< a file the checkpoint names does not exist
};

/// A short, stable sentence for each code (no file or tensor: `error_info` adds those).
constexpr const char* error_message(errc ec) noexcept {
    switch (ec) {
        case errc::ok: return "no error";
        case errc::file_too_small: return "file is shorter than the 8-byte header length";
        case errc::header_length_zero: return "header length is zero";
        case errc::header_too_large: return "header length is over the limit";
        case errc::header_past_end: return "header length runs past the end of the file";
        case errc::header_not_utf8: return "header is not valid UTF-8";
        case errc::header_not_json: return "header is not valid JSON";
        case errc::header_not_object: return "header is not a JSON object";
        case errc::metadata_not_map: return "__metadata__ is not an object of strings";
        case errc::duplicate_metadata: return "__metadata__ is given twice";
        case errc::duplicate_metadata_key: return "duplicate key in __metadata__";
        case errc::duplicate_tensor: return "duplicate tensor name";
        case errc::tensor_not_object: return "tensor entry is not an object";
        case errc::unknown_dtype: return "unknown dtype";
        case errc::missing_field: return "tensor entry lacks a required field";
        case errc::duplicate_field: return "field given twice in a tensor entry";
        case errc::bad_shape: return "shape is not an array of non-negative integers";
        case errc::bad_data_offsets: return "data_offsets is not [begin, end] with begin <= end";
        case errc::size_overflow: return "tensor size overflows 64 bits";
        case errc::size_mismatch: return "data_offsets length differs from the size of dtype and shape";
        case errc::sub_byte_unaligned: return "sub-byte dtype does not fill whole bytes";
        case errc::data_gap: return "gap between tensors in the data section";
        case errc::data_overlap: return "tensors overlap in the data section";
        case errc::trailing_bytes: return "bytes after the last tensor";
        case errc::data_past_end: return "tensor data runs past the end of the file";
        case errc::limit_exceeded: return "over a configured limit";
        case errc::io_error: return "I/O error";
        case errc::unexpected_eof: return "unexpected end of file";
        case errc::tensor_not_found: return "no such tensor";
        case errc::dtype_mismatch: return "dtype does not match the element type";
        case errc::shape_mismatch: return "shape does not match";
        case errc::out_of_bounds: return "region is outside the tensor";
        case errc::invalid_argument: return "invalid argument";
        case errc::unsupported_conversion: return "no conversion between these dtypes";
        case errc::bad_checkpoint_metadata: return "checkpoint metadata is malformed or disagrees with the files";
        case errc::chunk_mismatch: return "chunks of one tensor disagree on dtype or rank";
        case errc::chunk_overlap: return "saved chunks of one tensor overlap";
        case errc::chunk_hole: return "saved chunks leave part of the tensor uncovered";
        case errc::path_outside_checkpoint: return "file lies outside the checkpoint directory";
        case errc::file_not_found: return "file named by the checkpoint does not exist";
    }
    return "unknown error";
}

namespace detail {
// Copies `s` into a fixed buffer, keeping the tail of a long path (the file name matters most)
// and the head of a long tensor name; always NUL-terminated.
// GCC 12 inlines this into callers holding a std::string and then warns that the copy may
// start before the string (-Warray-bounds, "offset -184"): it cannot see n <= s.size(). The
// arithmetic is sound (from + n never leaves s), so the warning is silenced here alone.
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Warray-bounds"
#  pragma GCC diagnostic ignored "-Wstringop-overflow"
#  pragma GCC diagnostic ignored "-Wstringop-overread"
#endif
template <std::size_t N>
constexpr void copy_bounded(char (&dst)[N], std::string_view s, bool keep_tail) noexcept {
    static_assert(N > 4);
    auto continuation = [](char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; };
    std::size_t n = s.size(), at = 0;  // copy s[at, at + n)
    const bool cut = s.size() > N - 1;
    if (cut) {  // keep N - 4 bytes plus "...", never splitting a UTF-8 sequence
        n = N - 4;
        if (keep_tail) {
            at = s.size() - n;
            while (n > 0 && continuation(s[at])) ++at, --n;
        } else {
            while (n > 0 && continuation(s[n])) --n;
        }
    }
    char* out = dst;
    if (cut && keep_tail) out = dst + 3;
    const char* from = s.data() + at;
    if (std::is_constant_evaluated()) {
        for (std::size_t i = 0; i < n; ++i) out[i] = from[i];
    } else if (n) {
        std::memcpy(out, from, n);
    }
    if (cut) {
        char* dots = keep_tail ? dst : out + n;
        dots[0] = dots[1] = dots[2] = '.';
    }
    dst[(cut ? 3 : 0) + n] = '\0';
}
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic pop
#endif
}  // namespace detail

/// What failed and where. Trivially copyable and allocation-free, so it can travel through
/// `-fno-exceptions` code and across threads. Fields that are unknown stay empty / `no_offset`.
struct error_info {
    static constexpr std::uint64_t no_offset = std::numeric_limits<std::uint64_t>::max();

    errc code = errc::ok;
    std::uint64_t offset = no_offset;  ///< byte offset in the file, when one is known
    char file[200];                    ///< path of the file (its tail, if long)
    char tensor[120];                  ///< tensor name, when one is involved
    char detail[120];                  ///< extra: the bad value, the OS call and errno text

    // Only the first byte of each text is set: success values are made on hot paths, and
    // zeroing 440 bytes per call showed up in the header parser's profile.
    constexpr error_info() noexcept { file[0] = tensor[0] = detail[0] = '\0'; }
    constexpr error_info(errc c) noexcept : code(c) { file[0] = tensor[0] = detail[0] = '\0'; }  // NOLINT: implicit

    friend constexpr bool operator==(const error_info& e, errc c) noexcept { return e.code == c; }

    constexpr error_info& in_file(std::string_view path) noexcept {
        detail::copy_bounded(file, path, true);
        return *this;
    }
    constexpr error_info& at_tensor(std::string_view name) noexcept {
        detail::copy_bounded(tensor, name, false);
        return *this;
    }
    constexpr error_info& at_offset(std::uint64_t off) noexcept {
        offset = off;
        return *this;
    }
    constexpr error_info& with_detail(std::string_view d) noexcept {
        detail::copy_bounded(detail, d, false);
        return *this;
    }
    /// Fills in the file only where the error does not name one yet (inner layers know less).
    constexpr error_info& default_file(std::string_view path) noexcept {
        if (file[0] == '\0') in_file(path);
        return *this;
    }

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
        if (file[0]) { put(file); put(": "); }
        if (tensor[0]) { put("tensor '"); put(tensor); put("': "); }
        if (offset != no_offset) {
            char digits[24];
            std::size_t n = sizeof digits;
            std::uint64_t v = offset;
            do { digits[--n] = static_cast<char>('0' + v % 10); v /= 10; } while (v);
            put("byte ");
            put(std::string_view(digits + n, sizeof digits - n));
            put(": ");
        }
        put(error_message(code));
        if (detail[0]) { put(" ("); put(detail); put(")"); }
        if (cap) *out = '\0';
        return len;
    }
    std::string to_string() const {
        char buf[640];
        std::size_t n = format(buf, sizeof buf);
        return std::string(buf, n < sizeof buf ? n : sizeof buf - 1);
    }
};
static_assert(std::is_trivially_copyable_v<error_info>);

#if SAFESHARD_EXCEPTIONS
/// Thrown by the convenience calls (`value()`, `*_or_throw`) when exceptions are on.
class error : public std::runtime_error {
public:
    explicit error(const error_info& info) : std::runtime_error("safeshard: " + info.to_string()), info_(info) {}
    const error_info& info() const noexcept { return info_; }
    errc code() const noexcept { return info_.code; }

private:
    error_info info_;
};
#endif

namespace detail {
[[noreturn]] inline void fail(const error_info& info) {
#if SAFESHARD_EXCEPTIONS
    throw error(info);
#else
    char buf[640];
    info.format(buf, sizeof buf);
    std::fprintf(stderr, "safeshard: %s\n", buf);
    std::abort();
#endif
}
}  // namespace detail

/// A value or an `error_info`, after simdjson_result: `get(out)` moves the value out and
/// returns the code; `value()` throws only where exceptions exist.
template <class T>
class [[nodiscard]] result {
public:
    using value_type = T;

    result(T v) noexcept(std::is_nothrow_move_constructible_v<T>) : has_(true) {  // NOLINT
        ::new (static_cast<void*>(&value_)) T(std::move(v));
    }
    result(const error_info& e) noexcept : err_(e) { SAFESHARD_ASSERT(e.code != errc::ok); }  // NOLINT
    result(errc c) noexcept : err_(c) { SAFESHARD_ASSERT(c != errc::ok); }                    // NOLINT
    result(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : err_(o.err_), has_(o.has_) {
        if (has_) ::new (static_cast<void*>(&value_)) T(std::move(o.value_));
    }
    result(const result&) = delete;
    result& operator=(const result&) = delete;
    result& operator=(result&&) = delete;
    ~result() {
        if (has_) value_.~T();
    }

    bool has_value() const noexcept { return has_; }
    explicit operator bool() const noexcept { return has_; }
    const error_info& error() const noexcept { return err_; }
    errc code() const noexcept { return err_.code; }

    /// Moves the value into `out` on success; returns the error code either way.
    errc get(T& out) && noexcept(std::is_nothrow_move_assignable_v<T>) {
        if (has_) out = std::move(value_);
        return err_.code;
    }

    T& operator*() & noexcept { SAFESHARD_ASSERT(has_); return value_; }
    const T& operator*() const& noexcept { SAFESHARD_ASSERT(has_); return value_; }
    T&& operator*() && noexcept { SAFESHARD_ASSERT(has_); return std::move(value_); }
    T* operator->() noexcept { SAFESHARD_ASSERT(has_); return &value_; }
    const T* operator->() const noexcept { SAFESHARD_ASSERT(has_); return &value_; }

    /// The value, or (exceptions on) a thrown `safeshard::error` / (off) a message and abort.
    T& value() & { if (!has_) detail::fail(err_); return value_; }
    const T& value() const& { if (!has_) detail::fail(err_); return value_; }
    T&& value() && { if (!has_) detail::fail(err_); return std::move(value_); }

private:
    union {
        T value_;
    };
    error_info err_{};
    bool has_ = false;
};

/// Success or an `error_info`: the result of an operation that returns nothing.
class [[nodiscard]] status {
public:
    constexpr status() noexcept = default;
    constexpr status(const error_info& e) noexcept : err_(e) {}  // NOLINT
    constexpr status(errc c) noexcept : err_(c) {}               // NOLINT

    constexpr bool ok() const noexcept { return err_.code == errc::ok; }
    constexpr explicit operator bool() const noexcept { return ok(); }
    constexpr const error_info& error() const noexcept { return err_; }
    constexpr errc code() const noexcept { return err_.code; }
    /// Throws (or aborts without exceptions) when this is an error.
    void value() const { if (!ok()) detail::fail(err_); }

private:
    error_info err_{};
};

}  // namespace safeshard

/// Returns the error of a `status` or `result` expression from the enclosing function.
#define SAFESHARD_TRY(expr)                                    \
    do {                                                       \
        if (auto&& safeshard_try_r_ = (expr); !safeshard_try_r_) \
            return safeshard_try_r_.error();                   \
    } while (0)

#endif
