// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_NAMING_HPP
#define SAFESHARD_CHECKPOINT_NAMING_HPP

// The names PyTorch DCP's Hugging Face storage gives its files and metadata keys
// (spec/dcp-hf.md §1). Kept verbatim: other tools find checkpoints by these names.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace safeshard::checkpoint {

inline constexpr std::string_view index_file_name = "model.safetensors.index.json";
inline constexpr std::string_view sharded_dir_name = "sharded";
inline constexpr std::string_view file_suffix = ".safetensors";
inline constexpr std::string_view sharding_info_key = "DCP_SHARDING_INFO";
inline constexpr std::string_view saved_offsets_key = "saved_offsets";
/// Not written by PyTorch (yet: PR #189945 proposes it); safeshard writes it on request and
/// honours it on read, because without it a hole at a tensor's tail cannot be seen.
inline constexpr std::string_view global_shape_key = "global_shape";
inline constexpr std::string_view dcp_version_key = "DCP_VERSION";
inline constexpr std::string_view dcp_version_value = "1.0";
inline constexpr std::string_view format_key = "format";
inline constexpr std::string_view format_value = "pt";

namespace detail {
// Python's str(n).zfill(5): at least five digits, more kept as they are.
inline void append_zfill5(std::string& out, std::uint64_t n) {
    char buf[24];
    int len = std::snprintf(buf, sizeof buf, "%05llu", static_cast<unsigned long long>(n));
    out.append(buf, static_cast<std::size_t>(len));
}
}  // namespace detail

/// `model-{index:05}-of-{largest:05}.safetensors`, or with a rank's files
/// `shard-{shard:05}-model-{index:05}-of-{largest:05}.safetensors` (shard = rank + 1).
inline std::string file_name(std::uint64_t index, std::uint64_t largest, std::optional<std::uint64_t> shard = {}) {
    std::string out;
    out.reserve(48);
    if (shard) {
        out += "shard-";
        detail::append_zfill5(out, *shard);
        out += '-';
    }
    out += "model-";
    detail::append_zfill5(out, index);
    out += "-of-";
    detail::append_zfill5(out, largest);
    out += file_suffix;
    return out;
}

/// Whether `name` ends in `.safetensors` (the files a directory scan considers).
inline bool is_safetensors_name(std::string_view name) noexcept {
    return name.size() > file_suffix.size() && name.substr(name.size() - file_suffix.size()) == file_suffix;
}

}  // namespace safeshard::checkpoint

#endif
