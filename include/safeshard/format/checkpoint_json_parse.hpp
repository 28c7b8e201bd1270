// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_CHECKPOINT_JSON_PARSE_HPP
#define SAFESHARD_FORMAT_CHECKPOINT_JSON_PARSE_HPP

// The two JSON documents of a checkpoint besides the headers: the DCP sharding info (a JSON
// string inside `__metadata__`, `{fqn: {"saved_offsets": [...]}}`) and the Hugging Face index
// `model.safetensors.index.json` (`{"metadata": {"total_size": n}, "weight_map": {fqn: file}}`),
// plus the fqn-to-file-index mapping a consolidation may be given as a file. All are small and
// read once, so they use simdjson's DOM; with format/parse.hpp this is the only header that
// includes simdjson (format/checkpoint_json_emit.hpp writes the same documents without it).
// Strict: duplicate keys, wrong types and negative or fractional numbers are errors, since two
// readers that disagree on such input see two models.

#include <safeshard/core/error.hpp>
#include <safeshard/detail/thread_caches.hpp>
#include <safeshard/format/checkpoint_names.hpp>

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace safeshard {

/// One tensor's entry of the DCP sharding info.
struct sharding_entry {
    std::string_view name;
    std::span<const std::uint64_t> saved_offsets;
    bool has_global_shape = false;
    std::span<const std::uint64_t> global_shape;  ///< safeshard's optional extension
};

/// A parsed `DCP_SHARDING_INFO` value. Move-only; views point into its own storage.
class sharding_info {
public:
    sharding_info() = default;
    sharding_info(sharding_info&&) noexcept = default;
    sharding_info& operator=(sharding_info&&) noexcept = default;

    std::span<const sharding_entry> entries() const noexcept { return entries_; }
    /// The entry for `name`, or nullptr. O(log n).
    const sharding_entry* find(std::string_view name) const noexcept {
        auto it = std::lower_bound(sorted_.begin(), sorted_.end(), name,
                                   [this](std::uint32_t i, std::string_view n) { return entries_[i].name < n; });
        return it != sorted_.end() && entries_[*it].name == name ? &entries_[*it] : nullptr;
    }

    /// The sharding info holding `entries` (copied), as the parser would give it for the same
    /// text: for metadata that arrives another way (from a coordinator that parsed the file).
    /// Errors: `errc::bad_checkpoint_metadata` naming a tensor listed twice.
    static result<sharding_info> from_entries(std::span<const sharding_entry> entries) {
        sharding_info info;
        std::size_t name_bytes = 0, dims = 0;
        for (const auto& e : entries) {
            name_bytes += e.name.size();
            dims += e.saved_offsets.size() + (e.has_global_shape ? e.global_shape.size() : 0);
        }
        info.names_.reserve(name_bytes);  // reserved whole: the entries view into it
        info.dims_.reserve(dims);
        struct at {
            std::size_t name, off, shape;
        };
        std::vector<at> starts;
        starts.reserve(entries.size());
        for (const auto& e : entries) {
            starts.push_back(at{info.names_.size(), info.dims_.size(), 0});
            info.names_.insert(info.names_.end(), e.name.begin(), e.name.end());
            info.dims_.insert(info.dims_.end(), e.saved_offsets.begin(), e.saved_offsets.end());
            starts.back().shape = info.dims_.size();
            if (e.has_global_shape) info.dims_.insert(info.dims_.end(), e.global_shape.begin(), e.global_shape.end());
        }
        info.entries_.reserve(entries.size());
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const auto& e = entries[i];
            const std::uint64_t* base = info.dims_.data();
            info.entries_.push_back(sharding_entry{std::string_view(info.names_.data() + starts[i].name, e.name.size()),
                                                   {base + starts[i].off, e.saved_offsets.size()},
                                                   e.has_global_shape,
                                                   {base + starts[i].shape, e.has_global_shape ? e.global_shape.size() : 0}});
        }
        if (auto e = info.index_names(); e.code() != errc::ok) return e;
        return info;
    }

private:
    friend result<sharding_info> parse_sharding_info(std::string_view);

    // Sorts the entries by name for `find`, refusing a name listed twice.
    error_info index_names() {
        sorted_.resize(entries_.size());
        for (std::uint32_t i = 0; i < sorted_.size(); ++i) sorted_[i] = i;
        std::sort(sorted_.begin(), sorted_.end(), [&](std::uint32_t a, std::uint32_t b) { return entries_[a].name < entries_[b].name; });
        for (std::size_t i = 1; i < sorted_.size(); ++i)
            if (entries_[sorted_[i]].name == entries_[sorted_[i - 1]].name)
                return error_info(errc::bad_checkpoint_metadata)
                    .at_tensor(entries_[sorted_[i]].name)
                    .with_detail(std::string(sharding_info_key) + ": tensor listed twice");
        return {};
    }

    std::vector<char> names_;
    std::vector<std::uint64_t> dims_;
    std::vector<sharding_entry> entries_;
    std::vector<std::uint32_t> sorted_;
};

/// One `weight_map` entry of an index.
struct index_entry {
    std::string_view tensor;
    std::string_view file;
};

/// A parsed `model.safetensors.index.json`.
class checkpoint_index {
public:
    checkpoint_index() = default;
    checkpoint_index(checkpoint_index&&) noexcept = default;
    checkpoint_index& operator=(checkpoint_index&&) noexcept = default;

    /// In the order the JSON lists them.
    std::span<const index_entry> weight_map() const noexcept { return entries_; }
    /// `metadata.total_size` when present (Hugging Face and DCP write it; readers never need it).
    std::optional<std::uint64_t> total_size() const noexcept { return total_size_; }
    /// The distinct files, in order of first mention.
    std::span<const std::string_view> files() const noexcept { return files_; }

private:
    friend result<checkpoint_index> parse_index(std::string_view);
    std::vector<char> strings_;
    std::vector<index_entry> entries_;
    std::vector<std::string_view> files_;
    std::optional<std::uint64_t> total_size_;
};

namespace detail {

inline error_info json_metadata_error(std::string_view what, std::string_view detail_text) {
    std::string d(what);
    d += ": ";
    d += detail_text;
    return error_info(errc::bad_checkpoint_metadata).with_detail(d);
}

// Copies a string into an arena reserved up front (so views stay valid).
inline std::string_view keep(std::vector<char>& arena, std::string_view s) {
    const char* at = arena.data() + arena.size();
    arena.insert(arena.end(), s.begin(), s.end());
    return {at, s.size()};
}

inline bool read_uint_array(simdjson::dom::element e, std::vector<std::uint64_t>& out) {
    simdjson::dom::array a;
    if (e.get_array().get(a) != simdjson::SUCCESS) return false;
    for (simdjson::dom::element v : a) {
        std::uint64_t n;
        if (v.get_uint64().get(n) != simdjson::SUCCESS) return false;
        out.push_back(n);
    }
    return true;
}

template <class Names>
std::optional<std::string_view> first_duplicate(Names names) {
    std::sort(names.begin(), names.end());
    auto it = std::adjacent_find(names.begin(), names.end());
    if (it == names.end()) return std::nullopt;
    return *it;
}

// simdjson's DOM parser, kept per thread (its buffers grow to the largest document parsed).
struct dom_parser_cache {
    simdjson::dom::parser parser;
    std::size_t retained_bytes() const noexcept { return parser.capacity() * 16; }  // tape, strings, indexes
    void release() noexcept { parser = simdjson::dom::parser(); }
};
inline per_thread<dom_parser_cache>& checkpoint_json_parser() {
    thread_local per_thread<dom_parser_cache> cache;
    return cache;
}

}  // namespace detail

/// Parses a `DCP_SHARDING_INFO` value. Errors are `errc::bad_checkpoint_metadata` saying what
/// is wrong (the caller adds the file).
inline result<sharding_info> parse_sharding_info(std::string_view json) {
    detail::trim_on_exit trim(detail::checkpoint_json_parser());
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    if (auto e = detail::checkpoint_json_parser().parser.parse(padded).get(root); e != simdjson::SUCCESS)
        return detail::json_metadata_error(std::string(sharding_info_key) + " is not JSON", simdjson::error_message(e));
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS)
        return detail::json_metadata_error(sharding_info_key, "not a JSON object of tensor names");
    sharding_info info;
    info.names_.reserve(json.size());
    std::vector<std::uint64_t> dims;
    struct pending {
        std::string_view name;
        std::size_t off_at, off_n, shape_at, shape_n;
        bool has_shape;
    };
    std::vector<pending> items;
    for (auto field : obj) {
        std::string_view name = detail::keep(info.names_, field.key);
        simdjson::dom::object entry;
        if (field.value.get_object().get(entry) != simdjson::SUCCESS)
            return error_info(detail::json_metadata_error(sharding_info_key, "entry is not an object")).at_tensor(name);
        pending p{name, dims.size(), 0, 0, 0, false};
        bool have_offsets = false;
        for (auto f : entry) {
            if (f.key == saved_offsets_key) {
                if (have_offsets)
                    return error_info(detail::json_metadata_error(sharding_info_key, "saved_offsets given twice")).at_tensor(name);
                have_offsets = true;
                p.off_at = dims.size();
                if (!detail::read_uint_array(f.value, dims))
                    return error_info(detail::json_metadata_error(sharding_info_key,
                                                                  "saved_offsets is not a list of non-negative integers"))
                        .at_tensor(name);
                p.off_n = dims.size() - p.off_at;
            } else if (f.key == global_shape_key) {
                if (p.has_shape)
                    return error_info(detail::json_metadata_error(sharding_info_key, "global_shape given twice")).at_tensor(name);
                p.has_shape = true;
                p.shape_at = dims.size();
                if (!detail::read_uint_array(f.value, dims))
                    return error_info(detail::json_metadata_error(sharding_info_key,
                                                                  "global_shape is not a list of non-negative integers"))
                        .at_tensor(name);
                p.shape_n = dims.size() - p.shape_at;
            }  // other keys: later versions may add some; they do not change the layout
        }
        if (!have_offsets)
            return error_info(detail::json_metadata_error(sharding_info_key, "entry lacks saved_offsets")).at_tensor(name);
        items.push_back(p);
    }
    info.dims_ = std::move(dims);
    info.entries_.reserve(items.size());
    for (const auto& p : items) {
        const std::uint64_t* base = info.dims_.data();
        info.entries_.push_back(sharding_entry{p.name, {base + p.off_at, p.off_n}, p.has_shape, {base + p.shape_at, p.shape_n}});
    }
    if (auto e = info.index_names(); e.code() != errc::ok) return e;
    return info;
}

/// Parses a `model.safetensors.index.json`. `weight_map` is required; `metadata` is optional
/// and only its `total_size` is read.
inline result<checkpoint_index> parse_index(std::string_view json) {
    detail::trim_on_exit trim(detail::checkpoint_json_parser());
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    if (auto e = detail::checkpoint_json_parser().parser.parse(padded).get(root); e != simdjson::SUCCESS)
        return detail::json_metadata_error("index is not JSON", simdjson::error_message(e));
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) return detail::json_metadata_error("index", "not a JSON object");
    checkpoint_index idx;
    idx.strings_.reserve(json.size());
    bool have_map = false, have_meta = false;
    for (auto field : obj) {
        if (field.key == weight_map_key) {
            if (have_map) return detail::json_metadata_error("index", "weight_map given twice");
            have_map = true;
            simdjson::dom::object map;
            if (field.value.get_object().get(map) != simdjson::SUCCESS)
                return detail::json_metadata_error("index", "weight_map is not an object");
            for (auto e : map) {
                std::string_view tensor = detail::keep(idx.strings_, e.key);
                std::string_view file;
                if (e.value.get_string().get(file) != simdjson::SUCCESS)
                    return error_info(detail::json_metadata_error("index", "weight_map value is not a file name")).at_tensor(tensor);
                idx.entries_.push_back(index_entry{tensor, detail::keep(idx.strings_, file)});
            }
        } else if (field.key == index_metadata_key) {
            if (have_meta) return detail::json_metadata_error("index", "metadata given twice");
            have_meta = true;
            simdjson::dom::object meta;
            if (field.value.is_null()) continue;
            if (field.value.get_object().get(meta) != simdjson::SUCCESS)
                return detail::json_metadata_error("index", "metadata is not an object");
            for (auto m : meta) {
                if (m.key != total_size_key) continue;
                std::uint64_t n;
                // Some writers store it as a float (e.g. 1.0e10); accept integral values only.
                double d;
                if (m.value.get_uint64().get(n) == simdjson::SUCCESS) idx.total_size_ = n;
                else if (m.value.get_double().get(d) == simdjson::SUCCESS && d >= 0 && d < 1.8e19 &&
                         static_cast<double>(static_cast<std::uint64_t>(d)) == d)
                    idx.total_size_ = static_cast<std::uint64_t>(d);
                else return detail::json_metadata_error("index", "metadata.total_size is not a byte count");
            }
        }
    }
    if (!have_map) return detail::json_metadata_error("index", "no weight_map");
    std::vector<std::string_view> names;
    names.reserve(idx.entries_.size());
    for (const auto& e : idx.entries_) names.push_back(e.tensor);
    if (auto dup = detail::first_duplicate(std::move(names)))
        return error_info(detail::json_metadata_error("index", "tensor listed twice in weight_map")).at_tensor(*dup);
    for (const auto& e : idx.entries_)
        if (std::find(idx.files_.begin(), idx.files_.end(), e.file) == idx.files_.end()) idx.files_.push_back(e.file);
    return idx;
}

/// Parses an fqn-to-file-index mapping (DCP's `fqn_to_index_mapping`, what
/// `checkpoint::mapped_files` takes) written in either of two forms:
/// * an object `{fqn: index}`, each index an integer from 1 to 4294967295;
/// * a `model.safetensors.index.json` (an object whose `weight_map` is an object): each file
///   name, `model-I-of-N.safetensors`, gives its tensors the index I, so that a checkpoint's
///   layout can be applied again.
/// Entries keep the order of the text. Errors: `errc::invalid_argument` saying what is wrong
/// and naming the tensor (a name given twice; an index that is fractional, negative, zero, too
/// large or not a number; a file name of another form; text that is not a JSON object), or an
/// index's errors as `parse_index` gives them. The caller adds the file.
inline result<std::vector<std::pair<std::string, std::uint32_t>>> parse_fqn_to_index_mapping(std::string_view json) {
    using mapping = std::vector<std::pair<std::string, std::uint32_t>>;
    auto bad = [](std::string_view tensor, std::string_view what) {
        return error_info(errc::invalid_argument).at_tensor(tensor).with_detail(what);
    };
    detail::trim_on_exit trim(detail::checkpoint_json_parser());
    simdjson::padded_string padded(json);
    simdjson::dom::element root;
    if (auto e = detail::checkpoint_json_parser().parser.parse(padded).get(root); e != simdjson::SUCCESS)
        return error_info(errc::invalid_argument).with_detail(std::string("mapping is not JSON: ") + simdjson::error_message(e));
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS)
        return error_info(errc::invalid_argument).with_detail("mapping is not a JSON object");
    simdjson::dom::element map;
    if (obj[weight_map_key].get(map) == simdjson::SUCCESS && map.is_object()) {
        // parse_index reuses this thread's parser, which ends `obj`: it is not touched again.
        auto index = parse_index(json);
        if (!index) return index.error();
        mapping out;
        out.reserve(index->weight_map().size());
        for (const auto& e : index->weight_map()) {
            auto n = parse_model_file_name(e.file);
            if (!n) return bad(e.tensor, "file name \"" + std::string(e.file) + "\" is not model-I-of-N.safetensors");
            out.emplace_back(std::string(e.tensor), n->index);
        }
        return out;
    }
    mapping out;
    std::unordered_set<std::string_view> seen;
    for (auto field : obj) {
        if (!seen.insert(field.key).second) return bad(field.key, "name given twice in the mapping");
        std::uint64_t i = 0;
        if (field.value.get_uint64().get(i) != simdjson::SUCCESS || i > 0xffffffffu)
            return bad(field.key, "file index is not an integer from 1 to 4294967295");
        if (i == 0) return bad(field.key, "file index 0: indices are 1-based, as in model-00001-of-N");
        out.emplace_back(std::string(field.key), static_cast<std::uint32_t>(i));
    }
    return out;
}

}  // namespace safeshard

#endif
