// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_HEADER_PARSER_HPP
#define SAFESHARD_FORMAT_HEADER_PARSER_HPP

// The safetensors header parser: framing checks on the 8-byte length, then the JSON. A header
// in the canonical spelling writers emit is parsed straight from its bytes (after one pass
// that counts control and non-ASCII bytes, and simdjson's UTF-8 check when there are non-ASCII
// ones); any other, and any header with an error, by one simdjson ondemand pass (the root
// object here, its entries in format/parse_entries.hpp) that enforces every rule of
// spec/safetensors.md, plus rejection of duplicate names and metadata keys, and words the
// error.

#include <safeshard/core/error.hpp>
#include <safeshard/detail/json_scan.hpp>
#include <safeshard/detail/utf8.hpp>
#include <safeshard/detail/thread_caches.hpp>
#include <safeshard/format/header.hpp>
#include <safeshard/format/parse_entries.hpp>

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace safeshard {

/// Options of a header parse.
struct parse_options {
    header_limits limits{};
    safeshard::validation validation = validation::strict;
};

/// Checks the 8-byte length prefix against the file size and the limits. `prefix` holds the
/// first min(8, file_size) bytes. Returns N, the JSON length.
inline result<std::uint64_t> check_frame(std::span<const std::byte> prefix, std::uint64_t file_size,
                                         const header_limits& limits = {}) noexcept {
    if (file_size < 8 || prefix.size() < 8) {
        char buf[48];
        std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(file_size));
        return error_info(errc::file_too_small).at_offset(0).with_detail(buf);
    }
    std::uint64_t n = 0;
    std::memcpy(&n, prefix.data(), 8);  // little-endian host (config.hpp)
    char buf[96];
    if (n == 0) return error_info(errc::header_length_zero).at_offset(0);
    if (n > limits.max_header_size) {
        std::snprintf(buf, sizeof buf, "N = %llu, limit %llu", static_cast<unsigned long long>(n),
                      static_cast<unsigned long long>(limits.max_header_size));
        return error_info(errc::header_too_large).at_offset(0).with_detail(buf);
    }
    if (n > file_size - 8) {
        std::snprintf(buf, sizeof buf, "N = %llu, file has %llu bytes", static_cast<unsigned long long>(n),
                      static_cast<unsigned long long>(file_size));
        return error_info(errc::header_past_end).at_offset(0).with_detail(buf);
    }
    return n;
}

/// A reusable parser: keeps simdjson's parser and a padded copy buffer between headers (a DCP
/// checkpoint has a header per file). One per thread; not thread-safe.
class header_parser {
public:
    /// Parses the N header bytes `json` of a file of `file_size` bytes. `readable_after` says
    /// how many bytes after the JSON may be read (not used): with SIMDJSON_PADDING of them the
    /// JSON is parsed in place, otherwise it is copied once into a padded buffer.
    result<header> parse(std::span<const char> json, std::uint64_t file_size, const parse_options& opt = {},
                         std::size_t readable_after = 0) {
        const char* base = json.data();
        if (readable_after < simdjson::SIMDJSON_PADDING) {
            if (copy_cap_ < json.size() + simdjson::SIMDJSON_PADDING) {
                copy_cap_ = json.size() + simdjson::SIMDJSON_PADDING;
                copy_ = std::make_unique_for_overwrite<char[]>(copy_cap_);
            }
            if (!json.empty()) std::memcpy(copy_.get(), json.data(), json.size());
            std::memset(copy_.get() + json.size(), 0, simdjson::SIMDJSON_PADDING);
            base = copy_.get();
        }
        return parse_padded(base, json.size(), json.size() + simdjson::SIMDJSON_PADDING, file_size, opt);
    }

    /// The bytes kept between headers (simdjson's buffers, about six times the largest header
    /// parsed, and the copy buffer).
    std::size_t retained_bytes() const noexcept {
        return parser_.capacity() * 6 + copy_cap_ + (key_scratch_.capacity() - std::string().capacity());  // beyond the inline buffer
    }
    /// Frees them; the next parse allocates what it needs.
    void release() noexcept {
        parser_ = simdjson::ondemand::parser();
        copy_.reset();
        copy_cap_ = 0;
        std::string().swap(key_scratch_);
    }

private:
    result<header> parse_padded(const char* base, std::size_t len, std::size_t capacity, std::uint64_t file_size,
                                const parse_options& opt) {
        using namespace simdjson;
        const detail::json_census census = detail::take_census(base, len);
        if (census.control)
            if (auto at = detail::find_control_in_string(base, len); at >= 0)
                return error_info(errc::header_not_json).at_offset(8 + static_cast<std::uint64_t>(at))
                    .with_detail("control character in a string");
        // One builder for both paths: a header the fast path hands on is parsed again into the
        // same arenas, already allocated and mapped in.
        header_builder b(len, census.braces, census.separators, opt.limits);
        if (auto err = b.status(); err.code() != errc::ok) return err;
        // The canonical spelling first, straight from the bytes; anything else, the general path.
        if (!census.control && (census.ascii || simdjson::validate_utf8(base, len))) {
            if (detail::parse_canonical_document(base, base + len, b) == detail::fast_result::parsed) {
                auto h = std::move(b).finish(len, file_size, opt.validation);
                if (h) return h;  // an error here is the general path's to word (it finds the same one)
            }
            b.restart();
        }
        ondemand::document doc;
        // simdjson's first stage validates UTF-8 on the way; only a failure pays for finding where.
        if (auto e = parser_.iterate(base, len, capacity).get(doc)) {
            if (e == UTF8_ERROR)
                return error_info(errc::header_not_utf8).at_offset(8 + detail::first_invalid_utf8(std::string_view(base, len)));
            return detail::json_error(e, 8);
        }
        ondemand::object root;
        {
            ondemand::json_type t;
            if (auto e = doc.type().get(t)) return detail::json_error(e, 8);
            if (t != ondemand::json_type::object) return error_info(errc::header_not_object).at_offset(8);
            if (auto e = doc.get_object().get(root)) return detail::json_error(e, 8);
        }
        detail::json_walk w{doc, base, base + len, b, key_scratch_};
        bool seen_metadata = false;
        for (auto f : root) {
            ondemand::field fld;
            if (auto e = std::move(f).get(fld)) return detail::json_error(e, w.where());
            // The raw key is the name unless it has escapes (rare): copy it once, straight from
            // the JSON into the arena, instead of through simdjson's string buffer.
            std::string_view key;
            if (const char* r = fld.key().raw(); !w.key_at(r, key))
                return error_info(errc::header_not_json).at_offset(8 + static_cast<std::uint64_t>(r - base))
                    .with_detail("bad escape in a key");
            if (key == "__metadata__") {
                if (seen_metadata) return error_info(errc::duplicate_metadata).at_offset(w.where());
                seen_metadata = true;
                if (auto err = detail::parse_metadata(w, fld.value()); err.code() != errc::ok) return err;
            } else {
                std::string_view name = b.intern(key);
                ondemand::value v = fld.value();
                {
                    error_info err;  // raw_json_token only peeks: the value is still unread
                    switch (detail::parse_canonical_tensor(v.raw_json_token().data(), w.end, name, b, err)) {
                        case detail::fast_result::parsed: continue;  // the iterator skips the untouched value
                        case detail::fast_result::failed: return err;
                        case detail::fast_result::fallback: break;
                    }
                }
                if (auto err = detail::parse_tensor(w, name, v); err.code() != errc::ok) return err;
            }
        }
        // simdjson 3.0's document has no at_end(): a location after the root means more tokens.
        if (const char* rest = nullptr; doc.current_location().get(rest) == SUCCESS)
            return error_info(errc::header_not_json).at_offset(8 + static_cast<std::uint64_t>(rest - base))
                .with_detail("trailing characters after the object");
        return std::move(b).finish(len, file_size, opt.validation);
    }

    simdjson::ondemand::parser parser_;
    std::string key_scratch_;  // keys written with escapes, decoded (see detail::json_walk)
    std::unique_ptr<char[]> copy_;
    std::size_t copy_cap_ = 0;
};

/// Parses a whole safetensors file held in memory (framing and header); the data section is
/// the rest of `file`. Uses a parser kept per thread.
inline result<header> parse_file_header(std::span<const std::byte> file, const parse_options& opt = {}) {
    auto frame = check_frame(file.first(file.size() < 8 ? file.size() : 8), file.size(), opt.limits);
    if (!frame) return frame.error();
    std::uint64_t n = *frame;
    thread_local detail::per_thread<header_parser> parser;
    std::span<const char> json(reinterpret_cast<const char*>(file.data()) + 8, n);
    auto h = parser.parse(json, file.size(), opt, file.size() - 8 - n);
    detail::trim_cache(parser);
    return h;
}

}  // namespace safeshard

#endif
