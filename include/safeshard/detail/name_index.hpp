// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_NAME_INDEX_HPP
#define SAFESHARD_DETAIL_NAME_INDEX_HPP

// An open-addressing map from a name (a string_view into storage the caller keeps alive) to a
// dense index. A header has up to hundreds of thousands of names and is looked up once per
// tensor: one flat array of 32-bit slots beats std::unordered_map's node per entry by 3x here
// (PERFORMANCE.md: building the index costs more than parsing the JSON).

#include <safeshard/core/config.hpp>
#include <safeshard/detail/huge_pages.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace safeshard::detail {

// The 128-bit product of a and b, folded to 64 bits by xor: one multiply mixes every bit of
// both inputs into the result. The portable form, for compilers without a 128-bit integer.
constexpr std::uint64_t fold_multiply_portable(std::uint64_t a, std::uint64_t b) noexcept {
    const std::uint64_t al = a & 0xFFFFFFFFu, ah = a >> 32, bl = b & 0xFFFFFFFFu, bh = b >> 32;
    const std::uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    const std::uint64_t mid = (ll >> 32) + (lh & 0xFFFFFFFFu) + (hl & 0xFFFFFFFFu);
    const std::uint64_t lo = (mid << 32) | (ll & 0xFFFFFFFFu);
    const std::uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return lo ^ hi;
}
inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;  // __extension__: no -Wpedantic warning
    const u128 r = static_cast<u128>(a) * b;
    return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
#else
    return fold_multiply_portable(a, b);
#endif
}

/// A 64-bit hash of a byte string: 16 bytes a step, each folded in by one 64x64->128-bit
/// multiply (a header hashes every name once, so the step's latency is what counts). The last
/// bytes are read as whole words that overlap bytes already taken, never byte by byte: a word
/// assembled from single-byte stores stalls when it is loaded. Not for adversarial collision
/// resistance beyond what linear probing on a half-empty table tolerates.
inline std::uint64_t hash_name(std::string_view s) noexcept {
    constexpr std::uint64_t k0 = 0xA0761D6478BD642Full, k1 = 0xE7037ED1A0B428DBull, k2 = 0x8EBC6AF09C88C6E3ull;
    auto word = [](const char* at) {
        std::uint64_t w;
        std::memcpy(&w, at, 8);
        return w;
    };
    auto half = [](const char* at) {
        std::uint32_t w;
        std::memcpy(&w, at, 4);
        return std::uint64_t{w};
    };
    const char* p = s.data();
    const std::size_t size = s.size();
    std::uint64_t h = 0x243F6A8885A308D3ull ^ (size * 0x9E3779B97F4A7C15ull);
    std::uint64_t a = 0, b = 0;
    if (size >= 16) {
        const char* last = p + size - 16;
        for (; p < last; p += 16) h = fold_multiply(word(p) ^ k0, word(p + 8) ^ h);
        a = word(last);  // the last 16 bytes, overlapping the last step when size is no multiple of 16
        b = word(last + 8);
    } else if (size >= 8) {
        a = word(p);
        b = word(p + size - 8);
    } else if (size >= 4) {
        a = half(p);
        b = half(p + size - 4);
    } else if (size > 0) {
        a = (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
            (std::uint64_t{static_cast<unsigned char>(p[size / 2])} << 8) | static_cast<unsigned char>(p[size - 1]);
    }
    h = fold_multiply(a ^ k1, b ^ h);
    return fold_multiply(h ^ k2, size ^ k0);
}

class name_index {
public:
    static constexpr std::uint32_t npos = 0xFFFFFFFFu;

    name_index() = default;

    /// The slots of the table `reset(n)` makes: at most half full, and no larger (a table of
    /// any size, not a power of two, so a header's index is no bigger than it must be).
    static constexpr std::size_t slots_for(std::size_t n) noexcept { return n * 2 + 2; }
    /// Its bytes.
    static constexpr std::size_t bytes_for(std::size_t n) noexcept { return slots_for(n) * sizeof(std::uint64_t); }
    /// The slot a name of hash `h` starts probing from, in a table of `slots`: the low 32 bits
    /// scaled to the table (the high 32 bits are the tag).
    static constexpr std::size_t home_slot(std::uint64_t h, std::size_t slots) noexcept {
        return static_cast<std::size_t>((static_cast<std::uint64_t>(static_cast<std::uint32_t>(h)) * slots) >> 32);
    }

    /// Sizes the table for `n` names and forgets all entries; false when the memory cannot be
    /// had. The table lives in `room` when it is given and large enough (`bytes_for(n)`, 8-byte
    /// aligned, kept alive by the caller), else in memory of its own.
    bool reset(std::size_t n, std::span<std::byte> room = {}) {
        if (n >= npos / 2) return false;  // values are 32-bit
        const std::size_t cap = slots_for(n);
        if (room.size() >= cap * sizeof(slot)) {
            slots_.place(room.data(), cap);
        } else {
            if (!slots_.reserve_exactly(cap)) return false;
            slots_.prefault(cap);  // every slot is written next
        }
        std::memset(static_cast<void*>(slots_.data()), 0xFF, cap * sizeof(slot));  // every value npos
        slots_.set_size(cap);
        size_ = 0;
        return true;
    }

    /// Inserts `name` → `value` unless present: returns the existing value for a duplicate,
    /// otherwise npos. `name_of(v)` returns the name of value v. At most the `n` of `reset`.
    template <class NameOf>
    std::uint32_t insert(std::string_view name, std::uint32_t value, NameOf&& name_of) noexcept {
        return insert_hashed(name, hash_name(name), value, name_of);
    }

    /// `insert` with `hash_name(name)` computed by the caller (while the name was hot).
    template <class NameOf>
    std::uint32_t insert_hashed(std::string_view name, std::uint64_t h, std::uint32_t value, NameOf&& name_of) noexcept {
        SAFESHARD_ASSERT(size_ * 2 < slots_.size());
        slot& s = slots_[probe(name, h, name_of)];
        if (s.value != npos) return s.value;
        s = slot{value, static_cast<std::uint32_t>(h >> 32)};
        ++size_;
        return npos;
    }

    /// Starts loading the slot where a name of hash `h` goes, so that inserting a batch of
    /// known hashes overlaps its cache misses (a large header's table is megabytes, touched at
    /// random).
    void prefetch(std::uint64_t h) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(slots_.data() + home_slot(h, slots_.size()), 1);
#else
        (void)h;
#endif
    }

    /// The value of `name`, or npos.
    template <class NameOf>
    std::uint32_t find(std::string_view name, NameOf&& name_of) const noexcept {
        if (slots_.empty()) return npos;
        return slots_[probe(name, hash_name(name), name_of)].value;
    }

    std::size_t size() const noexcept { return size_; }

private:
    // The slot holding `name` (hash `h`), or the empty slot where the probe from its home slot
    // stops: the table is never full, so there is one.
    template <class NameOf>
    std::size_t probe(std::string_view name, std::uint64_t h, NameOf& name_of) const noexcept {
        const auto tag = static_cast<std::uint32_t>(h >> 32);
        const std::size_t cap = slots_.size();
        for (std::size_t i = home_slot(h, cap);; i = i + 1 == cap ? 0 : i + 1)
            if (slots_[i].value == npos || (slots_[i].tag == tag && name_of(slots_[i].value) == name)) return i;
    }

    struct slot {
        std::uint32_t value;
        std::uint32_t tag;  // high hash bits: most mismatches never touch the name
    };
    static_assert(sizeof(slot) == sizeof(std::uint64_t), "bytes_for counts 8 bytes a slot");
    fixed_vector<slot> slots_;
    std::size_t size_ = 0;
};

}  // namespace safeshard::detail

#endif
