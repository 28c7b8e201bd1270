// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_CHECKPOINT_NAMES_HPP
#define SAFESHARD_FORMAT_CHECKPOINT_NAMES_HPP

// The names of PyTorch DCP's Hugging Face checkpoints (spec/dcp-hf.md §1) that the format
// layer reads and the checkpoint layer writes: the keys of the `__metadata__` DCP stores and
// of its two JSON documents, and the grammar of `model-I-of-N.safetensors` file names. They
// live here, below both layers, so that the parser and the writers share one spelling; the
// rest of the naming (file names built, directory names, name order) is checkpoint/naming.hpp.

#include <cstdint>
#include <optional>
#include <string_view>

namespace safeshard {

/// `__metadata__` keys DCP writes into each file of a sharded save.
inline constexpr std::string_view sharding_info_key = "DCP_SHARDING_INFO";
inline constexpr std::string_view dcp_version_key = "DCP_VERSION";
inline constexpr std::string_view dcp_version_value = "1.0";
inline constexpr std::string_view format_key = "format";
inline constexpr std::string_view format_value = "pt";

/// Keys of one tensor's entry in the DCP_SHARDING_INFO JSON.
inline constexpr std::string_view saved_offsets_key = "saved_offsets";
/// Not written by PyTorch (yet: PR #189945 proposes it); safeshard writes it on request and
/// honours it on read, because without it a hole at a tensor's tail cannot be seen.
inline constexpr std::string_view global_shape_key = "global_shape";

/// Keys of `model.safetensors.index.json`.
inline constexpr std::string_view index_metadata_key = "metadata";
inline constexpr std::string_view total_size_key = "total_size";
inline constexpr std::string_view weight_map_key = "weight_map";

inline constexpr std::string_view file_suffix = ".safetensors";

/// The numbers of a `model-I-of-N.safetensors` name.
struct model_file_number {
    std::uint32_t index = 0;  ///< I, from 1
    std::uint32_t count = 0;  ///< N
};

/// Parses `model-<digits>-of-<digits>.safetensors` (any number of digits, zero-padded or not)
/// into I and N; nothing unless 1 <= I <= N < 2^32, the names a file layout can produce.
constexpr std::optional<model_file_number> parse_model_file_name(std::string_view name) noexcept {
    constexpr std::string_view prefix = "model-", of = "-of-";
    auto number = [](std::string_view digits) -> std::optional<std::uint32_t> {
        if (digits.empty()) return std::nullopt;
        std::uint64_t v = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
            if (v > 0xffffffffu) return std::nullopt;
        }
        return static_cast<std::uint32_t>(v);
    };
    if (!name.starts_with(prefix) || !name.ends_with(file_suffix)) return std::nullopt;
    name = name.substr(prefix.size(), name.size() - prefix.size() - file_suffix.size());
    const std::size_t at = name.find(of);
    if (at == std::string_view::npos) return std::nullopt;
    auto index = number(name.substr(0, at)), count = number(name.substr(at + of.size()));
    if (!index || !count || *index == 0 || *index > *count) return std::nullopt;
    return model_file_number{*index, *count};
}

}  // namespace safeshard

#endif
