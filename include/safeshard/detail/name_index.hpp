// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DETAIL_NAME_INDEX_HPP
#define SAFESHARD_DETAIL_NAME_INDEX_HPP

// An open-addressing map from a name (a string_view into storage the caller keeps alive) to a
// dense index. A header has up to hundreds of thousands of names and is looked up once per
// tensor: one flat array of 32-bit slots beats std::unordered_map's node per entry by 3x here
// (PERFORMANCE.md: building the index costs more than parsing the JSON).

#include <safeshard/core/config.hpp>
#include <safeshard/detail/huge_pages.hpp>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace safeshard::detail {

/// A 64-bit hash of a byte string: 8 bytes a step, multiply-xorshift mixing. Not for
/// adversarial collision resistance beyond what linear probing on a half-empty table tolerates.
inline std::uint64_t hash_name(std::string_view s) noexcept {
    constexpr std::uint64_t k = 0x9E3779B97F4A7C15ull;
    std::uint64_t h = 0x243F6A8885A308D3ull ^ (s.size() * k);
    const char* p = s.data();
    std::size_t n = s.size();
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    if (n) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, n);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 31);
}

class name_index {
public:
    static constexpr std::uint32_t npos = 0xFFFFFFFFu;

    name_index() = default;

    /// Sizes the table for `n` names (at most half full) and forgets all entries; false when
    /// the memory cannot be had.
    bool reset(std::size_t n) {
        std::size_t cap = std::bit_ceil(n * 2 + 2);
        if (!slots_.reserve_exactly(cap)) return false;
        slots_.prefault(cap);  // every slot is written next
        std::memset(static_cast<void*>(slots_.data()), 0xFF, cap * sizeof(slot));  // every value npos
        slots_.set_size(cap);
        mask_ = cap - 1;
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
        auto tag = static_cast<std::uint32_t>(h >> 32);
        for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
            if (slots_[i].value == npos) {
                slots_[i] = slot{value, tag};
                ++size_;
                return npos;
            }
            if (slots_[i].tag == tag && name_of(slots_[i].value) == name) return slots_[i].value;
        }
    }

    /// Starts loading the slot where a name of hash `h` goes, so that inserting a batch of
    /// known hashes overlaps its cache misses (a large header's table is megabytes, touched at
    /// random).
    void prefetch(std::uint64_t h) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(slots_.data() + (h & mask_), 1);
#else
        (void)h;
#endif
    }

    /// The value of `name`, or npos.
    template <class NameOf>
    std::uint32_t find(std::string_view name, NameOf&& name_of) const noexcept {
        if (slots_.empty()) return npos;
        std::uint64_t h = hash_name(name);
        auto tag = static_cast<std::uint32_t>(h >> 32);
        for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
            if (slots_[i].value == npos) return npos;
            if (slots_[i].tag == tag && name_of(slots_[i].value) == name) return slots_[i].value;
        }
    }

    std::size_t size() const noexcept { return size_; }

private:
    struct slot {
        std::uint32_t value;
        std::uint32_t tag;  // high hash bits: most mismatches never touch the name
    };
    fixed_vector<slot> slots_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
};

}  // namespace safeshard::detail

#endif
