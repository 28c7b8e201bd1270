// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_INDEX_JSON_HPP
#define SAFESHARD_CHECKPOINT_INDEX_JSON_HPP

// The JSON text DCP writes, byte for byte: the index (`json.dump(obj, indent=2)`, no final
// newline) and the DCP_SHARDING_INFO value (`json.dumps({fqn: {"saved_offsets": [...]}})`).

#include <safeshard/format/json_text.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace safeshard::checkpoint {

/// `{"metadata": {"total_size": n}, "weight_map": {fqn: file, ...}}` with a 2-space indent,
/// entries in the given order.
inline std::string index_json(std::uint64_t total_size, std::span<const std::pair<std::string_view, std::string_view>> weight_map) {
    std::string out = "{\n  \"metadata\": {\n    \"total_size\": ";
    append_json_uint(out, total_size);
    out += "\n  },\n  \"weight_map\": {";
    for (std::size_t i = 0; i < weight_map.size(); ++i) {
        out += i ? ",\n    " : "\n    ";
        append_json_string(out, weight_map[i].first, json_escape::ascii);
        out += ": ";
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
        append_json_string(out, entries[i].name, json_escape::ascii);
        out += ": {\"saved_offsets\": ";
        append_json_uint_list(out, entries[i].saved_offsets, ", ");
        if (with_global_shape) {
            out += ", \"global_shape\": ";
            append_json_uint_list(out, entries[i].global_shape, ", ");
        }
        out += '}';
    }
    out += '}';
    return out;
}

}  // namespace safeshard::checkpoint

#endif
