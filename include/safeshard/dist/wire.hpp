// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DIST_WIRE_HPP
#define SAFESHARD_DIST_WIRE_HPP

// The byte form of the messages ranks exchange: little-endian integers, length-prefixed
// strings and lists, each message opened by a magic, a version and its kind. The reader checks
// every length against what is left, so a truncated or malformed message is an error (like a
// malformed file), never a read past the end.

#include <safeshard/core/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace safeshard::dist {

/// The kinds of message, each with its own layout (dist/messages.hpp).
enum class message_kind : std::uint16_t {
    status = 1,       ///< a rank's outcome, for the agreement
    rank_state = 2,   ///< a rank's chunks (metadata only), to the coordinator
    plan_part = 3,    ///< a rank's part of the save plan, from the coordinator
    write_results = 4,
    consolidation = 5,
    checkpoint = 6,   ///< a checkpoint's headers and sharding info, from the coordinator
};

/// Bumped whenever a message's layout changes: ranks built from other versions refuse each
/// other's messages instead of misreading them.
inline constexpr std::uint16_t wire_version = 1;
inline constexpr std::uint32_t wire_magic = 0x44485353;  // "SSHD" read little-endian

/// Appends a message's fields to a buffer.
class wire_writer {
public:
    explicit wire_writer(message_kind kind) {
        u32(wire_magic);
        u16(wire_version);
        u16(static_cast<std::uint16_t>(kind));
    }
    void u8(std::uint8_t v) { put(&v, 1); }
    void u16(std::uint16_t v) { put(&v, 2); }
    void u32(std::uint32_t v) { put(&v, 4); }
    void u64(std::uint64_t v) { put(&v, 8); }
    void str(std::string_view s) {
        u64(s.size());
        put(s.data(), s.size());
    }
    void dims(std::span<const std::uint64_t> v) {
        u32(static_cast<std::uint32_t>(v.size()));
        if (!v.empty()) put(v.data(), v.size() * 8);
    }
    std::vector<std::byte> take() && { return std::move(out_); }

private:
    // The host is little-endian (core/config.hpp), so integers go as they are in memory.
    void put(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::byte*>(p);
        out_.insert(out_.end(), b, b + n);
    }
    std::vector<std::byte> out_;
};

/// Reads a message's fields; after the first failure every read returns zero and `error()`
/// says what and where (`errc::bad_checkpoint_metadata`, "message from rank R: ...").
class wire_reader {
public:
    wire_reader(std::span<const std::byte> in, message_kind kind, std::uint32_t from_rank) : in_(in), from_(from_rank) {
        if (u32() != wire_magic) {
            fail("not a safeshard message");
        } else if (const auto v = u16(); v != wire_version) {
            fail("version " + std::to_string(v) + ", this build reads version " + std::to_string(wire_version));
        } else if (u16() != static_cast<std::uint16_t>(kind)) {
            fail("a message of another kind");
        }
    }
    std::uint8_t u8() { return get<std::uint8_t>(); }
    std::uint16_t u16() { return get<std::uint16_t>(); }
    std::uint32_t u32() { return get<std::uint32_t>(); }
    std::uint64_t u64() { return get<std::uint64_t>(); }
    /// A string viewing the message (valid while the message lives).
    std::string_view str() {
        const std::uint64_t n = u64();
        if (!take(n)) return {};
        return {reinterpret_cast<const char*>(in_.data() + at_ - n), static_cast<std::size_t>(n)};
    }
    /// A list of integers, at most `max` long.
    std::vector<std::uint64_t> dims(std::uint32_t max = 1u << 16) {
        const std::uint32_t n = u32();
        if (n > max) {
            fail("a list of " + std::to_string(n) + " numbers, over the limit of " + std::to_string(max));
            return {};
        }
        std::vector<std::uint64_t> v(n);
        if (n && take(std::uint64_t{n} * 8)) std::memcpy(v.data(), in_.data() + at_ - n * 8, n * 8);
        return ok() ? v : std::vector<std::uint64_t>{};
    }
    /// A count of items each at least `min_bytes` long: refused when more than the rest could hold.
    std::uint64_t count(std::uint64_t min_bytes) {
        const std::uint64_t n = u64();
        if (ok() && min_bytes && n > (in_.size() - at_) / min_bytes) {
            fail("a count of " + std::to_string(n) + " that the rest of the message cannot hold");
            return 0;
        }
        return ok() ? n : 0;
    }
    /// Records a failure (the first one wins).
    void fail(const std::string& what) {
        if (ok()) err_ = error_info(errc::bad_checkpoint_metadata).with_detail(
                       "message from rank " + std::to_string(from_) + ": " + what + " (at byte " + std::to_string(at_) + ")");
    }
    bool ok() const noexcept { return err_.code() == errc::ok; }
    /// The outcome: the first failure, or bytes left over after the last field.
    error_info finish() {
        if (ok() && at_ != in_.size()) fail(std::to_string(in_.size() - at_) + " bytes after the last field");
        return err_;
    }

private:
    template <class T>
    T get() {
        T v{};
        if (take(sizeof(T))) std::memcpy(&v, in_.data() + at_ - sizeof(T), sizeof(T));
        return v;
    }
    bool take(std::uint64_t n) {
        if (!ok()) return false;
        if (n > in_.size() - at_) {
            fail("truncated: " + std::to_string(n) + " bytes wanted, " + std::to_string(in_.size() - at_) + " left");
            return false;
        }
        at_ += static_cast<std::size_t>(n);
        return true;
    }

    std::span<const std::byte> in_;
    std::size_t at_ = 0;
    std::uint32_t from_ = 0;
    error_info err_;
};

}  // namespace safeshard::dist

#endif
