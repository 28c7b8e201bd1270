// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_EMIT_HPP
#define SAFESHARD_FORMAT_EMIT_HPP

// The canonical header emitter: the bytes the reference crate writes (spec/safetensors.md,
// "The canonical writer layout") — tensors by dtype descending then name, contiguous offsets,
// compact JSON with `__metadata__` first (keys sorted, where the crate's order is random),
// padded with spaces to a multiple of 8.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/detail/checked.hpp>
#include <safeshard/detail/name_index.hpp>
#include <safeshard/detail/utf8.hpp>
#include <safeshard/format/header.hpp>
#include <safeshard/format/json_text.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace safeshard {

/// A tensor to be written: what the header says of it.
struct tensor_spec {
    std::string_view name;
    safeshard::dtype dtype = safeshard::dtype::F32;
    std::span<const std::uint64_t> shape;
};

/// A canonical header and where each tensor's bytes go.
struct header_layout {
    std::string bytes;                   ///< the 8-byte length prefix, then the padded JSON
    std::vector<std::uint32_t> order;    ///< spec indices in data order
    std::vector<std::uint64_t> begin;    ///< per spec index, offset in the data section
    std::vector<std::uint64_t> size;     ///< per spec index, byte size
    std::uint64_t data_size = 0;         ///< total tensor bytes

    std::uint64_t data_offset() const noexcept { return bytes.size(); }
    std::uint64_t file_size() const noexcept { return bytes.size() + data_size; }
};

namespace detail {

inline bool is_valid_utf8(std::string_view s) noexcept { return first_invalid_utf8(s) == s.size(); }

}  // namespace detail

/// Lays out `specs` canonically and renders the header. `metadata` may come in any order; it is
/// written sorted by key, and omitted entirely when empty unless `always_metadata` is set.
/// Errors: `invalid_argument` (a name that is `__metadata__` or not UTF-8), `duplicate_tensor`,
/// `duplicate_metadata_key`, `size_overflow`, `sub_byte_unaligned`.
inline result<header_layout> emit_header(std::span<const tensor_spec> specs, std::span<const metadata_entry> metadata = {},
                                         bool always_metadata = false) {
    header_layout out;
    const std::size_t n = specs.size();
    if (n >= 0xFFFFFFFFu) return error_info(errc::limit_exceeded).with_detail("too many tensors");
    out.begin.resize(n);
    out.size.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto& s = specs[i];
        if (s.name == "__metadata__")
            return error_info(errc::invalid_argument).at_tensor(s.name).with_detail("a tensor cannot be named __metadata__");
        if (!detail::is_valid_utf8(s.name))
            return error_info(errc::invalid_argument).at_tensor(s.name).with_detail("tensor name is not UTF-8");
        std::uint64_t numel = 0, nbits = 0;
        if (!detail::checked_numel(s.shape, numel) || detail::mul_overflow(numel, bits(s.dtype), nbits))
            return error_info(errc::size_overflow).at_tensor(s.name);
        if (nbits % 8) return error_info(errc::sub_byte_unaligned).at_tensor(s.name);
        out.size[i] = nbits / 8;
    }
    detail::name_index seen;
    if (!seen.reset(n)) return error_info(errc::limit_exceeded).with_detail("out of memory");
    for (std::uint32_t i = 0; i < n; ++i)
        if (seen.insert(specs[i].name, i, [&](std::uint32_t v) { return specs[v].name; }) != detail::name_index::npos)
            return error_info(errc::duplicate_tensor).at_tensor(specs[i].name);

    std::vector<metadata_entry> meta(metadata.begin(), metadata.end());
    std::sort(meta.begin(), meta.end(), [](const metadata_entry& a, const metadata_entry& b) { return a.key < b.key; });
    for (std::size_t i = 0; i < meta.size(); ++i) {
        if (i && meta[i].key == meta[i - 1].key)
            return error_info(errc::duplicate_metadata_key).with_detail(meta[i].key);
        if (!detail::is_valid_utf8(meta[i].key) || !detail::is_valid_utf8(meta[i].value))
            return error_info(errc::invalid_argument).with_detail("metadata is not UTF-8");
    }

    out.order.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) out.order[i] = i;
    std::sort(out.order.begin(), out.order.end(), [&](std::uint32_t a, std::uint32_t b) {
        if (specs[a].dtype != specs[b].dtype) return specs[a].dtype > specs[b].dtype;
        return specs[a].name < specs[b].name;
    });

    std::string& js = out.bytes;
    js.assign(8, '\0');
    js.push_back('{');
    bool first = true;
    if (!meta.empty() || always_metadata) {
        js += "\"__metadata__\":{";
        for (std::size_t i = 0; i < meta.size(); ++i) {
            if (i) js.push_back(',');
            append_json_string(js, meta[i].key);
            js.push_back(':');
            append_json_string(js, meta[i].value);
        }
        js.push_back('}');
        first = false;
    }
    std::uint64_t offset = 0;
    for (std::uint32_t i : out.order) {
        const auto& s = specs[i];
        if (!first) js.push_back(',');
        first = false;
        append_json_string(js, s.name);
        js += ":{\"dtype\":\"";
        js += name(s.dtype);
        js += "\",\"shape\":";
        append_json_uint_list(js, s.shape, ",");
        js += ",\"data_offsets\":[";
        out.begin[i] = offset;
        append_json_uint(js, offset);
        js.push_back(',');
        if (detail::add_overflow(offset, out.size[i], offset)) return error_info(errc::size_overflow).at_tensor(s.name);
        append_json_uint(js, offset);
        js += "]}";
    }
    js.push_back('}');
    while ((js.size() - 8) % 8) js.push_back(' ');
    std::uint64_t hn = js.size() - 8;
    if (hn > header_limits{}.max_header_size)
        return error_info(errc::limit_exceeded).with_detail("header over the 100,000,000 bytes readers accept");
    std::memcpy(js.data(), &hn, 8);
    std::uint64_t total = 0;
    if (detail::add_overflow(offset, js.size(), total))
        return error_info(errc::size_overflow).with_detail("file size overflows 64 bits");
    out.data_size = offset;
    return out;
}

}  // namespace safeshard

#endif
