// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_IO_MEMORY_HPP
#define SAFESHARD_IO_MEMORY_HPP

// Sources and sinks over memory the caller already has: files received over a network, built
// in tests, or embedded in a binary. No system calls, no allocation on the source side.

#include <safeshard/io/concepts.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#if SAFESHARD_EXCEPTIONS
#  include <new>
#  include <stdexcept>
#endif

namespace safeshard::io {

/// A `mappable_source` over a caller's bytes. It does not own them: they must outlive the
/// source and every view taken from it. Trivially copyable; copies share the bytes.
class memory_source {
public:
    /// An empty source (size 0).
    constexpr memory_source() noexcept = default;

    /// Serves `bytes`. `name` appears in error messages (kept by reference, so it must outlive
    /// the source). `readable_padding` is how many bytes past `bytes.end()` the caller
    /// guarantees are readable (e.g. a simdjson padded buffer); it only feeds `padding_after`.
    constexpr explicit memory_source(std::span<const std::byte> bytes, std::string_view name = {},
                                     std::uint64_t readable_padding = 0) noexcept
        : bytes_(bytes), name_(name), padding_(readable_padding) {}

    /// The number of bytes served.
    constexpr std::uint64_t size() const noexcept { return bytes_.size(); }

    /// Copies `[offset, offset + dst.size())` into `dst`, or `errc::unexpected_eof`.
    status read(std::uint64_t offset, std::span<std::byte> dst) const noexcept {
        SAFESHARD_TRY(detail::check_read_range(offset, dst.size(), size(), name_));
        // memcpy with a null pointer is undefined even for zero bytes; an empty source has one.
        if (!dst.empty()) std::memcpy(dst.data(), bytes_.data() + offset, dst.size());
        return {};
    }

    /// The name given at construction; empty by default.
    constexpr std::string_view path() const noexcept { return name_; }

    /// The caller's bytes `[offset, offset + n)`, or `errc::unexpected_eof`.
    result<std::span<const std::byte>> view(std::uint64_t offset, std::uint64_t n) const noexcept {
        SAFESHARD_TRY(detail::check_read_range(offset, n, size(), name_));
        return bytes_.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(n));
    }

    /// `size() - offset` plus the padding promised at construction; 0 past that.
    constexpr std::uint64_t padding_after(std::uint64_t offset) const noexcept {
        std::uint64_t readable = size() + padding_;
        return offset <= readable ? readable - offset : 0;
    }

    /// All the bytes served.
    constexpr std::span<const std::byte> bytes() const noexcept { return bytes_; }

private:
    std::span<const std::byte> bytes_{};
    std::string_view name_{};
    std::uint64_t padding_ = 0;
};
static_assert(byte_source<memory_source>);
static_assert(mappable_source<memory_source>);
static_assert(!copies_through_read<memory_source>);  // its copies come straight from the bytes

/// A `byte_sink` appending to a `std::vector<std::byte>`: one it owns (default constructor)
/// or one the caller lends (which must outlive the sink). Growth is geometric, so a stream of
/// small writes costs amortised O(n). Move-only, so two sinks never append to one vector.
class memory_sink {
public:
    /// Appends to a vector of its own; read it with `bytes()` or move it out with `take()`.
    memory_sink() noexcept = default;

    /// Appends to `target` after whatever it already holds. `position()` counts only the
    /// bytes written through this sink.
    explicit memory_sink(std::vector<std::byte>& target) noexcept : target_(&target) {}

    memory_sink(memory_sink&& o) noexcept
        : own_(std::move(o.own_)), target_(std::exchange(o.target_, nullptr)),
          written_(std::exchange(o.written_, 0)) {}
    memory_sink& operator=(memory_sink&& o) noexcept {
        if (this != &o) {
            own_ = std::move(o.own_);
            target_ = std::exchange(o.target_, nullptr);
            written_ = std::exchange(o.written_, 0);
        }
        return *this;
    }
    memory_sink(const memory_sink&) = delete;
    memory_sink& operator=(const memory_sink&) = delete;
    ~memory_sink() = default;

    /// Appends `src`. With exceptions on, running out of memory is reported as
    /// `errc::io_error` ("out of memory") and leaves the vector as it was.
    status write(std::span<const std::byte> src) noexcept {
        if (src.empty()) return {};
        std::vector<std::byte>& v = vec();
#if SAFESHARD_EXCEPTIONS
        try {
            v.insert(v.end(), src.begin(), src.end());
        } catch (const std::bad_alloc&) {
            return error_info(errc::io_error).with_detail("memory_sink: out of memory");
        } catch (const std::length_error&) {
            return error_info(errc::io_error).with_detail("memory_sink: vector length limit");
        }
#else
        v.insert(v.end(), src.begin(), src.end());
#endif
        written_ += src.size();
        return {};
    }

    /// Bytes written through this sink.
    std::uint64_t position() const noexcept { return written_; }

    /// The vector written to (the caller's, if one was lent).
    const std::vector<std::byte>& bytes() const noexcept { return target_ ? *target_ : own_; }

    /// Moves the vector written to out of the sink (leaving it empty) and resets `position()`.
    std::vector<std::byte> take() noexcept {
        written_ = 0;
        std::vector<std::byte> out = std::move(vec());
        vec().clear();  // a moved-from vector is only "valid but unspecified"
        return out;
    }

private:
    std::vector<std::byte>& vec() noexcept { return target_ ? *target_ : own_; }

    std::vector<std::byte> own_;
    std::vector<std::byte>* target_ = nullptr;  // lent by the caller; null when writing own_
    std::uint64_t written_ = 0;
};
static_assert(byte_sink<memory_sink>);

}  // namespace safeshard::io

#endif
