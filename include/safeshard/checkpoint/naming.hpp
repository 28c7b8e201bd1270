// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_NAMING_HPP
#define SAFESHARD_CHECKPOINT_NAMING_HPP

// The names PyTorch DCP's Hugging Face storage gives its files (spec/dcp-hf.md §1), and the
// order tensors take in them. Kept verbatim: other tools find checkpoints by these names. The
// metadata keys and the `model-I-of-N` grammar, which the format layer's parser needs too, are
// in format/checkpoint_names.hpp.

#include <safeshard/format/checkpoint_names.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace safeshard::checkpoint {

inline constexpr std::string_view index_file_name = "model.safetensors.index.json";
inline constexpr std::string_view sharded_dir_name = "sharded";

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

/// Whether `name` is a consolidated output's file name, `model-I-of-N.safetensors` with
/// 1 <= I <= N (as `parse_model_file_name` reads it).
constexpr bool is_model_file_name(std::string_view name) noexcept { return parse_model_file_name(name).has_value(); }

/// Natural order: digit runs compare as numbers, so layers.2 comes before layers.10 (the order
/// a model defines its layers in, which Hugging Face's size split follows).
inline bool natural_less(std::string_view a, std::string_view b) noexcept {
    std::size_t i = 0, j = 0;
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    while (i < a.size() && j < b.size()) {
        if (digit(a[i]) && digit(b[j])) {
            std::size_t i2 = i, j2 = j;
            while (i2 < a.size() && a[i2] == '0') ++i2;
            while (j2 < b.size() && b[j2] == '0') ++j2;
            std::size_t ie = i2, je = j2;
            while (ie < a.size() && digit(a[ie])) ++ie;
            while (je < b.size() && digit(b[je])) ++je;
            if (ie - i2 != je - j2) return ie - i2 < je - j2;
            if (int c = a.substr(i2, ie - i2).compare(b.substr(j2, je - j2)); c != 0) return c < 0;
            if (ie - i != je - j) return ie - i > je - j;  // more leading zeros first: a total order
            i = ie, j = je;
        } else {
            if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
            ++i, ++j;
        }
    }
    return a.size() - i < b.size() - j;
}

}  // namespace safeshard::checkpoint

#endif
