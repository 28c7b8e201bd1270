// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_CHECKPOINT_JSON_EMIT_HPP
#define SAFESHARD_FORMAT_CHECKPOINT_JSON_EMIT_HPP

// The two JSON documents of a checkpoint besides the headers, as DCP writes them with Python's
// `json` module, byte for byte: the index (`json.dump(obj, indent=2)`, no final newline) and
// the DCP_SHARDING_INFO value (`json.dumps({fqn: {"saved_offsets": [...]}})`, separators ", "
// and ": "), both with `ensure_ascii`. Byte-equal output lets files be compared whole.
// format/checkpoint_json_parse.hpp reads them back; this header does not need simdjson.

#include <safeshard/format/checkpoint_names.hpp>
#include <safeshard/format/json_text.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace safeshard {

namespace detail {
// `"key": `, as Python writes an object key.
inline void append_python_key(std::string& out, std::string_view key) {
    append_json_string(out, key, json_escape::ascii);
    out += ": ";
}
}  // namespace detail

/// `{"metadata": {"total_size": n}, "weight_map": {fqn: file, ...}}` with a 2-space indent,
/// entries in the given order.
inline std::string index_json(std::uint64_t total_size, std::span<const std::pair<std::string_view, std::string_view>> weight_map) {
    std::string out = "{\n  ";
    detail::append_python_key(out, index_metadata_key);
    out += "{\n    ";
    detail::append_python_key(out, total_size_key);
    append_json_uint(out, total_size);
    out += "\n  },\n  ";
    detail::append_python_key(out, weight_map_key);
    out += '{';
    for (std::size_t i = 0; i < weight_map.size(); ++i) {
        out += i ? ",\n    " : "\n    ";
        detail::append_python_key(out, weight_map[i].first);
        append_json_string(out, weight_map[i].second, json_escape::ascii);
    }
    out += weight_map.empty() ? "}\n}" : "\n  }\n}";
    return out;
}

/// One entry of the sharding info.
struct sharding_info_entry {
    std::string_view name;
    std::span<const std::uint64_t> saved_offsets;
    std::span<const std::uint64_t> global_shape;  ///< written only when `with_global_shape`
};

/// The DCP_SHARDING_INFO text, entries in the given order.
inline std::string sharding_info_json(std::span<const sharding_info_entry> entries, bool with_global_shape = false) {
    std::string out = "{";
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (i) out += ", ";
        detail::append_python_key(out, entries[i].name);
        out += '{';
        detail::append_python_key(out, saved_offsets_key);
        append_json_uint_list(out, entries[i].saved_offsets, ", ");
        if (with_global_shape) {
            out += ", ";
            detail::append_python_key(out, global_shape_key);
            append_json_uint_list(out, entries[i].global_shape, ", ");
        }
        out += '}';
    }
    out += '}';
    return out;
}

}  // namespace safeshard

#endif
