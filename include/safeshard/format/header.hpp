// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_HEADER_HPP
#define SAFESHARD_FORMAT_HEADER_HPP

// The model of a parsed safetensors header: tensors (name, dtype, shape, byte range) and the
// `__metadata__` map. The tensor list, the names and shapes, and the name index live in one
// block owned by the header, laid out in the order a parse fills them: a 100,000-tensor header
// costs one allocation, what it touches is one run of pages from the block's start (large
// headers: a few 2 MiB pages instead of hundreds of 4 KiB faults), and `tensor_info` is a
// small value.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/detail/checked.hpp>
#include <safeshard/detail/huge_pages.hpp>
#include <safeshard/detail/name_index.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <cstdio>
#include <new>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace safeshard {

/// Limits that guard against hostile headers. Defaults are safe; a caller may raise them.
struct header_limits {
    std::uint64_t max_header_size = 100'000'000;  ///< the reference crate's cap on N
    std::uint64_t max_tensors = 10'000'000;
    std::uint32_t max_rank = 256;
    std::uint32_t max_name_length = 65'536;  ///< bytes, after JSON unescaping
};

/// How strictly a file must follow the format. `strict` is the reference crate's rules plus
/// duplicate rejection; `allow_trailing_bytes` also accepts bytes after the last tensor (seen
/// in files from some tools), reporting them through `header::trailing_bytes()`.
enum class validation : std::uint8_t { strict, allow_trailing_bytes };

/// One tensor of a header. `begin`/`end` count from the start of the data section.
struct tensor_info {
    std::string_view name;
    safeshard::dtype dtype = safeshard::dtype::BOOL;
    std::span<const std::uint64_t> shape;
    std::uint64_t begin = 0;
    std::uint64_t end = 0;

    std::size_t rank() const noexcept { return shape.size(); }
    std::uint64_t byte_size() const noexcept { return end - begin; }
    /// Elements; never overflows for a parsed header (the parser checked it).
    std::uint64_t numel() const noexcept {
        std::uint64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
};

/// One `__metadata__` entry.
struct metadata_entry {
    std::string_view key;
    std::string_view value;
};

/// A parsed, validated header. Move-only: its views point into arenas it owns.
class header {
public:
    header() = default;
    header(header&&) noexcept = default;
    header& operator=(header&&) noexcept = default;

    /// Tensors in the order the JSON lists them.
    std::span<const tensor_info> tensors() const noexcept { return {tensors_.data(), tensors_.size()}; }
    std::size_t size() const noexcept { return tensors_.size(); }

    /// The tensor named `name`, or nullptr. O(1).
    const tensor_info* find(std::string_view name) const noexcept {
        auto i = index_.find(name, [this](std::uint32_t v) { return tensors_[v].name; });
        return i == detail::name_index::npos ? nullptr : &tensors_[i];
    }

    /// Whether the header had a `__metadata__` object (`null` counts as absent).
    bool has_metadata() const noexcept { return has_metadata_; }
    /// `__metadata__` entries sorted by key (byte order).
    std::span<const metadata_entry> metadata() const noexcept { return {metadata_.data(), metadata_.size()}; }
    std::optional<std::string_view> metadata_value(std::string_view key) const noexcept {
        auto m = metadata();
        auto it = std::lower_bound(m.begin(), m.end(), key,
                                   [](const metadata_entry& e, std::string_view k) { return e.key < k; });
        if (it != m.end() && it->key == key) return it->value;
        return std::nullopt;
    }

    /// N, the JSON length from the 8-byte prefix.
    std::uint64_t header_size() const noexcept { return header_size_; }
    /// Where the data section starts in the file: 8 + N.
    std::uint64_t data_offset() const noexcept { return 8 + header_size_; }
    /// Bytes of tensor data (the end of the last tensor).
    std::uint64_t data_size() const noexcept { return data_size_; }
    /// Bytes after the data, accepted only under `validation::allow_trailing_bytes`.
    std::uint64_t trailing_bytes() const noexcept { return trailing_; }

private:
    friend class header_builder;

    detail::memory_block arena_;                  // holds the three below
    detail::fixed_vector<tensor_info> tensors_;
    detail::fixed_vector<std::byte> text_;        // names, metadata strings and shapes, as parsed
    std::vector<metadata_entry> metadata_;        // views into text_, so it may grow
    detail::name_index index_;
    bool has_metadata_ = false;
    std::uint64_t header_size_ = 0;
    std::uint64_t data_size_ = 0;
    std::uint64_t trailing_ = 0;
};

/// Builds a `header` from the entries of an N-byte JSON header (the parser's back end).
/// Checks what can be checked per entry; `finish` checks the whole (tiling of the data).
class header_builder {
public:
    /// Reserves for the most a `json_bytes`-long header can hold: a tensor entry takes at least
    /// 48 bytes of JSON and a dimension 2. Only touched memory costs.
    explicit header_builder(std::uint64_t json_bytes, const header_limits& limits = {})
        : header_builder(json_bytes, json_bytes / 48 + 1, json_bytes / 2 + 1, limits) {}

    /// Reserves for at most `max_tensors` tensors and `max_dims` dimensions in all (the parser
    /// counts '{' and ',' / ']' in the JSON: each tensor opens one object, each dimension is
    /// followed by one of those), names of up to `json_bytes` bytes in all.
    header_builder(std::uint64_t json_bytes, std::uint64_t max_tensors, std::uint64_t max_dims,
                   const header_limits& limits = {})
        : limits_(limits) {
        const std::uint64_t most_tensors = json_bytes / 48 + 1;
        const bool counted = max_tensors < most_tensors;
        const std::uint64_t t = counted ? max_tensors : most_tensors;
        const std::uint64_t d = max_dims < json_bytes / 2 + 1 ? max_dims : json_bytes / 2 + 1;
        // Text: strings never outgrow their JSON; a shape takes 8 bytes a dimension after up
        // to 7 bytes of padding to align it.
        const std::uint64_t tensor_bytes = round_up(t * sizeof(tensor_info));
        const std::uint64_t index_bytes = round_up(detail::name_index::bytes_for(static_cast<std::size_t>(t)));
        const std::uint64_t known = tensor_bytes + index_bytes;
        std::uint64_t text_bytes = 0, total = 0;
        if (json_bytes > (std::uint64_t{1} << 40) || detail::mul_overflow(d + t + 1, std::uint64_t{8}, text_bytes) ||
            detail::add_overflow(text_bytes, json_bytes, text_bytes) || detail::add_overflow(known, text_bytes, total) ||
            total > SIZE_MAX)
            return;
        // What a parse will likely touch: the arrays, and about half the JSON as names and
        // shapes. The whole 2 MiB pages of that are huge pages (one fault each, instead of 512);
        // the rest, which may be only partly used, stays on 4 KiB pages mapped in ahead of use,
        // so the memory touched stays near what is used.
        const std::uint64_t likely = known + json_bytes / 2;
        const std::uint64_t huge = likely / detail::huge_page_size * detail::huge_page_size;
        h_.arena_ = detail::memory_block(static_cast<std::size_t>(total),
                                         huge ? detail::memory_kind::reused_huge_pages : detail::memory_kind::heap);
        if (!h_.arena_.data() && total) return;
        std::byte* at = h_.arena_.data();
        h_.tensors_.place(at, static_cast<std::size_t>(t));
        index_room_ = std::span<std::byte>(at + tensor_bytes, static_cast<std::size_t>(index_bytes));
        h_.text_.place(at + known, static_cast<std::size_t>(text_bytes));
        if (h_.arena_.recycled()) {
            // Used before: its pages are most likely mapped in, and asking again for each
            // step would walk them all in the kernel.
            mapped_to_ = arena_end();
        } else {
            h_.arena_.advise_huge_prefix(static_cast<std::size_t>(huge));
            mapped_to_ = at + huge;
            // A counted tensor bound (the parser's census of '{') is what the entries and the
            // index fill: map those pages in now. A bound from the JSON's length alone may be far
            // above what is used: those pages fault in as they are. Names and shapes are mapped
            // in as they grow.
            if (known > huge) {
                if (counted) populate_to(at + known);
                else mapped_to_ = at + known;
            }
        }
        // Names go into the index as they are added (while each is in cache), so the index is
        // ready before the first entry.
        ok_ = h_.index_.reset(static_cast<std::size_t>(t), index_room_);
    }

    /// Forgets every entry added (also after a failed `finish`), keeping the arena and the
    /// pages already mapped in: for parsing the same header again by another path.
    void restart() noexcept {
        h_.text_.set_size(0);
        h_.tensors_.set_size(0);
        h_.metadata_.clear();
        h_.has_metadata_ = false;
        h_.header_size_ = h_.data_size_ = h_.trailing_ = 0;
        (void)h_.index_.reset(h_.tensors_.capacity(), index_room_);  // the same size again: in place, cannot fail
        first_duplicate_ = detail::name_index::npos;
        shape_start_ = 0;
        shape_open_ = false;
        text_full_ = false;
    }

    /// Whether the arenas could be allocated; check before use.
    error_info status() const noexcept {
        if (ok_) return {};
        return error_info(errc::limit_exceeded).with_detail("out of memory for the header");
    }

    /// Copies `s` into the arena; the view stays valid for the header's life.
    std::string_view intern(std::string_view s) noexcept {
        auto* at = reinterpret_cast<const char*>(h_.text_.end());
        map_ahead(s.size());
        if (!h_.text_.append(reinterpret_cast<const std::byte*>(s.data()), s.size())) {
            SAFESHARD_ASSERT(false);  // unescaped JSON strings never outgrow the JSON
            text_full_ = true;
            return {};
        }
        return {at, s.size()};
    }

    /// A shape is given as `start_shape`, then `push_dim` per dimension; `add` takes it, or
    /// `drop_shape` forgets it (a parse that gives up on an entry to parse it another way).
    void start_shape() noexcept {
        const std::size_t aligned = (h_.text_.size() + 7) & ~std::size_t{7};
        if (aligned > h_.text_.capacity()) {
            SAFESHARD_ASSERT(false);  // the reserve counts 8 bytes of padding per tensor
            text_full_ = true;
        } else {
            h_.text_.set_size(aligned);
        }
        shape_start_ = h_.text_.size();
        shape_open_ = true;
    }
    error_info push_dim(std::uint64_t d) noexcept {
        if (shape_rank() >= limits_.max_rank)
            return error_info(errc::limit_exceeded).with_detail("tensor rank over the limit");
        if (h_.text_.capacity() - h_.text_.size() < sizeof d)
            return error_info(errc::header_not_json).with_detail("more dimensions than JSON");
        map_ahead(sizeof d);
        ::new (static_cast<void*>(h_.text_.end())) std::uint64_t(d);
        h_.text_.set_size(h_.text_.size() + sizeof d);
        return {};
    }
    void drop_shape() noexcept {
        if (!shape_open_) return;
        h_.text_.set_size(shape_start_);
        shape_open_ = false;
    }

    /// Adds a tensor whose name was interned and whose shape is the one just given.
    /// Checks size overflow and the byte length against dtype and shape.
    error_info add(std::string_view name, dtype d, std::uint64_t begin, std::uint64_t end) noexcept {
        if (h_.tensors_.size() >= limits_.max_tensors)
            return error_info(errc::limit_exceeded).with_detail("more tensors than the limit");
        if (name.size() > limits_.max_name_length)
            return error_info(errc::limit_exceeded).at_tensor(name).with_detail("tensor name longer than the limit");
        std::span<const std::uint64_t> dims;
        if (const std::size_t rank = shape_rank())  // push_dim made the objects: launder points at them
            dims = {std::launder(reinterpret_cast<const std::uint64_t*>(h_.text_.data() + shape_start_)), rank};
        std::uint64_t numel = 0, nbits = 0;
        if (!detail::checked_numel(dims, numel) || detail::mul_overflow(numel, bits(d), nbits))
            return error_info(errc::size_overflow).at_tensor(name);
        if (nbits % 8 != 0) return error_info(errc::sub_byte_unaligned).at_tensor(name);
        if (end < begin) return error_info(errc::bad_data_offsets).at_tensor(name);
        if (end - begin != nbits / 8) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "%llu bytes for %llu expected",
                          static_cast<unsigned long long>(end - begin), static_cast<unsigned long long>(nbits / 8));
            return error_info(errc::size_mismatch).at_tensor(name).with_detail(buf);
        }
        tensor_info* t = h_.tensors_.extend();
        if (!t) return error_info(errc::header_not_json).with_detail("more tensors than JSON");
        t->name = name;
        t->dtype = d;
        t->shape = dims;
        t->begin = begin;
        t->end = end;
        index_later(static_cast<std::uint32_t>(h_.tensors_.size() - 1), detail::hash_name(name));  // the name is in cache
        shape_open_ = false;
        return {};
    }

    void set_metadata_present(bool present) noexcept { h_.has_metadata_ = present; }
    error_info add_metadata(std::string_view key, std::string_view value) {
        h_.metadata_.push_back(metadata_entry{key, value});
        return {};
    }

    /// Finishes: rejects duplicate names and metadata keys, and checks that the tensors tile
    /// [0, data size) exactly (the reference crate's rule). `header_size` is N and `file_size`
    /// the whole file's size, with 8 + N <= file_size.
    result<header> finish(std::uint64_t header_size, std::uint64_t file_size, validation v = validation::strict) && {
        header& h = h_;
        h.header_size_ = header_size;
        if (text_full_) return error_info(errc::limit_exceeded).with_detail("header arena too small (a bug: please report)");
        // Duplicate metadata keys: the reference keeps the last silently; two readers that
        // disagree on which copy wins is a parser differential, so we refuse.
        std::sort(h.metadata_.begin(), h.metadata_.end(),
                  [](const metadata_entry& a, const metadata_entry& b) { return a.key < b.key; });
        for (std::size_t i = 1; i < h.metadata_.size(); ++i)
            if (h.metadata_[i].key == h.metadata_[i - 1].key)
                return error_info(errc::duplicate_metadata_key).with_detail(h.metadata_[i].key);

        const auto count = static_cast<std::uint32_t>(h.tensors_.size());
        for (std::uint32_t i = count > ahead ? count - ahead : 0; i < count; ++i) index_now(i, pending_[i % ahead]);
        if (first_duplicate_ != detail::name_index::npos)
            return error_info(errc::duplicate_tensor).at_tensor(h.tensors_[first_duplicate_].name);

        if (auto e = check_tiling(file_size - 8 - header_size, v); e.code() != errc::ok) return e;
        return std::move(h);
    }

private:
    error_info check_tiling(std::uint64_t data_size, validation v) {
        header& h = h_;
        const std::uint64_t data_start = 8 + h.header_size_;
        auto by_range = [&h](std::uint32_t a, std::uint32_t b) {
            const auto &x = h.tensors_[a], &y = h.tensors_[b];
            return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
        };
        // Writers list tensors in data order, so the JSON order usually is the sorted order.
        std::vector<std::uint32_t> order;
        bool sorted = true;
        for (std::uint32_t i = 1; i < h.tensors_.size() && sorted; ++i) sorted = !by_range(i, i - 1);
        if (!sorted) {
            order.resize(h.tensors_.size());
            for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
            std::sort(order.begin(), order.end(), by_range);
        }
        auto at = [&](std::size_t k) -> const tensor_info& { return h.tensors_[sorted ? k : order[k]]; };

        std::uint64_t cursor = 0;
        for (std::size_t k = 0; k < h.tensors_.size(); ++k) {
            const auto& t = at(k);
            if (t.begin != cursor) {
                auto e = error_info(t.begin > cursor ? errc::data_gap : errc::data_overlap).at_tensor(t.name);
                std::uint64_t abs = 0;
                if (!detail::add_overflow(data_start, t.begin, abs)) e.at_offset(abs);
                return e;
            }
            cursor = t.end;
        }
        char buf[96];
        if (cursor > data_size) {
            std::snprintf(buf, sizeof buf, "data needs %llu bytes, file has %llu",
                          static_cast<unsigned long long>(cursor), static_cast<unsigned long long>(data_size));
            return error_info(errc::data_past_end).at_tensor(at(h.tensors_.size() - 1).name)
                .at_offset(data_start + data_size).with_detail(buf);
        }
        if (cursor < data_size) {
            if (v != validation::allow_trailing_bytes) {
                std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(data_size - cursor));
                return error_info(errc::trailing_bytes).at_offset(data_start + cursor).with_detail(buf);
            }
            h.trailing_ = data_size - cursor;
        }
        h.data_size_ = cursor;
        return {};
    }

    static constexpr std::uint64_t round_up(std::uint64_t bytes) noexcept { return (bytes + 63) & ~std::uint64_t{63}; }
    // The text is last in the arena: its reserve ends the arena.
    std::byte* arena_end() noexcept { return h_.text_.data() + h_.text_.capacity(); }
    // Makes sure the next `bytes` of text are mapped in: when they are not, maps in up to them
    // and a step beyond, in one call (the text grows by a few bytes at a time, and each page's
    // first touch would otherwise fault alone).
    void map_ahead(std::size_t bytes) noexcept {
        if (bytes > static_cast<std::size_t>(mapped_to_ - h_.text_.end()))
            populate_to(h_.text_.end() + std::min(bytes, h_.text_.capacity() - h_.text_.size()));
    }
    void populate_to(std::byte* want) noexcept {
        constexpr std::size_t step = std::size_t{128} << 10;
        std::byte* const end = arena_end();
        std::byte* to = static_cast<std::size_t>(end - want) > step ? want + step : end;
        if (to <= mapped_to_) return;
        detail::populate_for_write(mapped_to_, to);
        mapped_to_ = to;
    }
    std::size_t shape_rank() const noexcept { return (h_.text_.size() - shape_start_) / sizeof(std::uint64_t); }

    // Names are indexed `ahead` tensors after they are added: the slot of each is prefetched
    // when it is added, so the insertion finds it in cache instead of waiting on a miss (a
    // large header's index is megabytes, touched at random). Tensor i's hash waits in
    // pending_[i % ahead]. The first name seen twice is reported by `finish`, as the JSON
    // order makes it.
    static constexpr std::uint32_t ahead = 16;
    void index_later(std::uint32_t i, std::uint64_t hash) noexcept {
        h_.index_.prefetch(hash);
        std::uint64_t& slot = pending_[i % ahead];
        if (i >= ahead) index_now(i - ahead, slot);
        slot = hash;
    }
    void index_now(std::uint32_t i, std::uint64_t hash) noexcept {
        auto name_of = [this](std::uint32_t v) { return h_.tensors_[v].name; };
        if (h_.index_.insert_hashed(h_.tensors_[i].name, hash, i, name_of) != detail::name_index::npos &&
            first_duplicate_ == detail::name_index::npos)
            first_duplicate_ = i;
    }

    header h_;
    std::uint64_t pending_[ahead] = {};
    std::uint32_t first_duplicate_ = detail::name_index::npos;
    std::span<std::byte> index_room_;              // the name index's table
    std::byte* mapped_to_ = nullptr;               // the arena is mapped in below this
    header_limits limits_;
    std::size_t shape_start_ = 0;
    bool shape_open_ = false;
    bool text_full_ = false;
    bool ok_ = false;
};

}  // namespace safeshard

#endif
