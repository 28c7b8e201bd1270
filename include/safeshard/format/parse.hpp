// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_PARSE_HPP
#define SAFESHARD_FORMAT_PARSE_HPP

// The safetensors header parser: framing checks on the 8-byte length, then one simdjson
// ondemand pass over the JSON that enforces every rule of spec/safetensors.md, plus rejection
// of duplicate names and metadata keys. This and format/checkpoint_json_parse.hpp are the only headers that include simdjson.

#include <safeshard/detail/utf8.hpp>
#include <safeshard/format/header.hpp>

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
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

namespace detail {

// Bytes below 0x20 are legal in JSON only as whitespace between tokens, never inside a string
// (the reference rejects them; simdjson does not look). A compact header has none at all, so
// one branch-free pass settles the common case and the exact scan runs only on pretty JSON.
// What one vector pass over the JSON learns before simdjson runs: whether any control byte
// occurs (then the exact scan below looks for one inside a string), and counts that bound how
// many tensors ('{') and dimensions (',' and ']') the header can hold, so its arenas are sized
// to the header rather than to a worst case.
struct json_census {
    bool control = false;
    std::uint64_t braces = 0;      // '{'
    std::uint64_t separators = 0;  // ',' and ']'
};

inline json_census take_census(const char* p, std::size_t n) noexcept {
    // 16 bytes a step with the compilers' portable vector types (SSE2 / NEON, no intrinsics).
    // A true lane compares as 0xFF, so subtracting it counts one; lanes are emptied into the
    // totals before they can wrap (255 steps).
    using v16 = unsigned char __attribute__((vector_size(16)));
    json_census c;
    v16 ctrl = {};
    std::size_t i = 0;
    while (i + 16 <= n) {
        v16 braces = {}, seps = {};
        for (int step = 0; step < 255 && i + 16 <= n; ++step, i += 16) {
            v16 w;
            std::memcpy(&w, p + i, 16);
            ctrl |= (w < 0x20);
            braces -= (w == '{');
            seps -= (w == ',') | (w == ']');
        }
        for (int k = 0; k < 16; ++k) {
            c.braces += braces[k];
            c.separators += seps[k];
        }
    }
    unsigned char any = 0;
    for (int k = 0; k < 16; ++k) any |= ctrl[k];
    for (; i < n; ++i) {
        auto ch = static_cast<unsigned char>(p[i]);
        any |= static_cast<unsigned char>(ch < 0x20);
        c.braces += ch == '{';
        c.separators += ch == ',' || ch == ']';
    }
    c.control = any != 0;
    return c;
}

inline std::ptrdiff_t find_control_in_string(const char* p, std::size_t n) noexcept {
    bool in_string = false;
    for (std::size_t i = 0; i < n; ++i) {
        auto c = static_cast<unsigned char>(p[i]);
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
            else if (c < 0x20) return static_cast<std::ptrdiff_t>(i);
        } else if (c == '"') {
            in_string = true;
        }
    }
    return -1;
}

// The closing quote of the JSON string starting at `r` (just after its opening quote) when the
// string has no escapes, else the position of its first backslash. `end` bounds the search;
// simdjson's structural pass guarantees the closing quote comes before it.
inline const char* end_of_plain_string(const char* r, const char* end) noexcept {
    auto* q = static_cast<const char*>(std::memchr(r, '"', static_cast<std::size_t>(end - r)));
    if (!q) return end - 1;  // unreachable for a structurally valid document
    auto* bs = static_cast<const char*>(std::memchr(r, '\\', static_cast<std::size_t>(q - r)));
    return bs ? bs : q;
}

// Decodes the JSON string whose raw text starts at `raw` (just after the opening quote) into
// `out`. False on a bad escape. Used only for the rare tensor-entry keys written with escapes,
// so that `"dty\u0070e"` means `dtype` exactly as it does to the reference.
inline bool unescape_json_key(const char* raw, std::string& out) {
    auto hex4 = [](const char* h, std::uint32_t& v) {
        v = 0;
        for (int i = 0; i < 4; ++i) {
            char c = h[i];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
            else return false;
        }
        return true;
    };
    out.clear();
    for (const char* p = raw;; ++p) {
        char c = *p;
        if (c == '"') return true;
        if (c != '\\') {
            out.push_back(c);
            continue;
        }
        char e = *++p;
        switch (e) {
            case '"': case '\\': case '/': out.push_back(e); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u': {
                std::uint32_t cp = 0;
                if (!hex4(p + 1, cp)) return false;
                p += 4;
                if (cp >= 0xD800 && cp < 0xDC00) {  // a high surrogate needs its low half
                    std::uint32_t lo = 0;
                    if (p[1] != '\\' || p[2] != 'u' || !hex4(p + 3, lo) || lo < 0xDC00 || lo >= 0xE000) return false;
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    return false;
                }
                if (cp < 0x80) {
                    out.push_back(static_cast<char>(cp));
                } else if (cp < 0x800) {
                    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
                    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
                } else if (cp < 0x10000) {
                    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
                    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
                    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
                } else {
                    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
                    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
                    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
                    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
                }
                break;
            }
            default: return false;
        }
    }
}

}  // namespace detail

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

private:
    struct ctx {
        const char* base;
        header_builder* b;
    };

    static error_info json_error(simdjson::error_code e, std::uint64_t at) {
        errc c = e == simdjson::UTF8_ERROR ? errc::header_not_utf8 : errc::header_not_json;
        return error_info(c).at_offset(at).with_detail(simdjson::error_message(e));
    }
    std::uint64_t where(simdjson::ondemand::document& doc, const char* base) {
        const char* loc = nullptr;
        if (doc.current_location().get(loc) != simdjson::SUCCESS || loc < base) return 8;
        return 8 + static_cast<std::uint64_t>(loc - base);
    }

    // Walks and validates a value we do not use (unknown tensor fields), so that a malformed
    // value never passes just because it was skipped. Nesting is capped as serde_json caps it
    // (128 levels in all; the tensor entry and the root use two), so deep input is refused
    // like the reference refuses it, and never recurses deep enough to exhaust the stack.
    static constexpr int max_unknown_depth = 126;
    static simdjson::error_code consume(simdjson::ondemand::value v, int depth = 1) noexcept {
        using namespace simdjson;
        if (depth > max_unknown_depth) return DEPTH_ERROR;
        ondemand::json_type t;
        if (auto e = v.type().get(t)) return e;
        switch (t) {
            case ondemand::json_type::object: {
                ondemand::object o;
                if (auto e = v.get_object().get(o)) return e;
                for (auto f : o) {
                    ondemand::field fld;
                    if (auto e = std::move(f).get(fld)) return e;
                    std::string_view k;
                    if (auto e = fld.unescaped_key().get(k)) return e;
                    if (auto e = consume(fld.value(), depth + 1)) return e;
                }
                return SUCCESS;
            }
            case ondemand::json_type::array: {
                ondemand::array a;
                if (auto e = v.get_array().get(a)) return e;
                for (auto el : a) {
                    ondemand::value x;
                    if (auto e = std::move(el).get(x)) return e;
                    if (auto e = consume(x, depth + 1)) return e;
                }
                return SUCCESS;
            }
            case ondemand::json_type::number: {
                // As a double, like serde's buffered value: integers past 64 bits are fine, a
                // number past the double range (1e400) is not.
                double d;
                return v.get_double().get(d);
            }
            case ondemand::json_type::string: {
                std::string_view s;
                return v.get_string().get(s);
            }
            case ondemand::json_type::boolean: {
                bool b;
                return v.get_bool().get(b);
            }
            case ondemand::json_type::null: {
                bool n = false;
                if (auto e = v.is_null().get(n)) return e;
                return n ? SUCCESS : INCORRECT_TYPE;
            }
        }
        return INCORRECT_TYPE;
    }

    error_info parse_metadata(simdjson::ondemand::value v, header_builder& b, simdjson::ondemand::document& doc,
                              const char* base) {
        using namespace simdjson;
        ondemand::json_type t;
        if (auto e = v.type().get(t)) return json_error(e, where(doc, base));
        if (t == ondemand::json_type::null) {
            bool n = false;
            if (auto e = v.is_null().get(n); e || !n) return json_error(e ? e : INCORRECT_TYPE, where(doc, base));
            b.set_metadata_present(false);
            return {};
        }
        ondemand::object o;
        if (t != ondemand::json_type::object || v.get_object().get(o))
            return error_info(errc::metadata_not_map).at_offset(where(doc, base));
        b.set_metadata_present(true);
        for (auto f : o) {
            ondemand::field fld;
            if (auto e = std::move(f).get(fld)) return json_error(e, where(doc, base));
            std::string_view k, val;
            if (auto e = fld.unescaped_key().get(k)) return json_error(e, where(doc, base));
            k = b.intern(k);
            ondemand::value fv = fld.value();
            if (fv.type().get(t) || t != ondemand::json_type::string)
                return error_info(errc::metadata_not_map).at_offset(where(doc, base)).with_detail(k);
            if (auto e = fv.get_string().get(val)) return json_error(e, where(doc, base));
            if (auto err = b.add_metadata(k, b.intern(val)); err.code != errc::ok) return err;
        }
        return {};
    }

    // The canonical entry, exactly as writers emit it: {"dtype":"F32","shape":[2,4],
    // "data_offsets":[0,32]} with no spaces. Parsed straight from the bytes (simdjson's first
    // stage has already validated the structure and UTF-8), which is several times cheaper
    // than walking the object. Anything else, even valid JSON (spaces, other key order, extra
    // fields, escapes, leading zeros, numbers past 64 bits, an unknown dtype), returns
    // `fallback` and goes through the general path, which also produces the precise errors.
    enum class fast_result { parsed, fallback, failed };
    static fast_result parse_canonical_tensor(const char* q, const char* end, std::string_view name, header_builder& b,
                                              error_info& err) noexcept {
        auto literal = [&](const char* lit, std::size_t n) {
            if (static_cast<std::size_t>(end - q) < n || std::memcmp(q, lit, n) != 0) return false;
            q += n;
            return true;
        };
        auto number = [&](std::uint64_t& out) {
            if (q >= end || *q < '0' || *q > '9') return false;
            if (*q == '0') {  // "0" alone; "01" is not JSON, let the general path say so
                ++q;
                out = 0;
                return q < end && (*q < '0' || *q > '9');
            }
            std::uint64_t v = 0;
            while (q < end && *q >= '0' && *q <= '9') {
                if (detail::mul_overflow(v, 10, v) || detail::add_overflow(v, static_cast<std::uint64_t>(*q - '0'), v))
                    return false;
                ++q;
            }
            out = v;
            return true;
        };
        if (!literal("{\"dtype\":\"", 10)) return fast_result::fallback;
        const char* dt = q;
        while (q < end && q - dt <= 11 && *q != '"' && *q != '\\') ++q;
        if (q >= end || *q != '"') return fast_result::fallback;
        auto d = parse_dtype(std::string_view(dt, static_cast<std::size_t>(q - dt)));
        if (!d) return fast_result::fallback;
        ++q;
        if (!literal(",\"shape\":[", 10)) return fast_result::fallback;
        b.start_shape();
        if (q < end && *q == ']') {
            ++q;
        } else {
            for (;;) {
                std::uint64_t dim = 0;
                if (!number(dim)) return fast_result::fallback;
                // Made in place and copied out only on failure: an error_info is 450 bytes.
                if (auto e = b.push_dim(dim); e.code != errc::ok) {
                    err = e.at_tensor(name);
                    return fast_result::failed;
                }
                if (q < end && *q == ',') { ++q; continue; }
                if (q < end && *q == ']') { ++q; break; }
                return fast_result::fallback;
            }
        }
        std::uint64_t begin = 0, stop = 0;
        if (!literal(",\"data_offsets\":[", 17) || !number(begin) || !literal(",", 1) || !number(stop) ||
            !literal("]}", 2))
            return fast_result::fallback;
        if (stop < begin) return fast_result::fallback;  // the general path words this error
        if (auto e = b.add(name, *d, begin, stop); e.code != errc::ok) {
            err = e;
            return fast_result::failed;
        }
        return fast_result::parsed;
    }

    error_info parse_tensor(std::string_view name, simdjson::ondemand::value v, header_builder& b,
                            simdjson::ondemand::document& doc, const char* base) {
        using namespace simdjson;
        ondemand::object o;
        if (v.get_object().get(o)) return error_info(errc::tensor_not_object).at_tensor(name).at_offset(where(doc, base));
        bool seen_dtype = false, seen_shape = false, seen_offsets = false;
        dtype d = dtype::BOOL;
        std::uint64_t offsets[2] = {0, 0};
        for (auto f : o) {
            ondemand::field fld;
            if (auto e = std::move(f).get(fld)) return json_error(e, where(doc, base)).at_tensor(name);
            // Field names are compared raw (no unescape per field): the common case is a plain
            // ASCII key; a key with escapes is decoded first so it means what it says.
            ondemand::raw_json_string raw = fld.key();
            std::string_view k;
            {
                const char* r = raw.raw();
                // The three known keys, spelled plainly, end at their closing quote: compare
                // them in place (the padded buffer makes the 13-byte read safe) and scan only
                // keys that are something else.
                if (std::memcmp(r, "dtype\"", 6) == 0) k = "dtype";
                else if (std::memcmp(r, "shape\"", 6) == 0) k = "shape";
                else if (std::memcmp(r, "data_offsets\"", 13) == 0) k = "data_offsets";
                else if (const char* q = detail::end_of_plain_string(r, json_end_); *q == '"') {
                    k = std::string_view(r, static_cast<std::size_t>(q - r));
                } else {
                    if (!detail::unescape_json_key(r, key_scratch_))
                        return error_info(errc::header_not_json).at_tensor(name).at_offset(8 + static_cast<std::uint64_t>(r - base))
                            .with_detail("bad escape in a field name");
                    k = key_scratch_;
                }
            }
            if (k == "dtype") {
                if (seen_dtype) return error_info(errc::duplicate_field).at_tensor(name).with_detail("dtype");
                seen_dtype = true;
                std::string_view s;
                if (auto e = fld.value().get_string().get(s))
                    return error_info(errc::unknown_dtype).at_tensor(name).at_offset(where(doc, base))
                        .with_detail(e == INCORRECT_TYPE ? "not a string" : error_message(e));
                auto pd = parse_dtype(s);
                if (!pd) return error_info(errc::unknown_dtype).at_tensor(name).at_offset(where(doc, base)).with_detail(s);
                d = *pd;
            } else if (k == "shape") {
                if (seen_shape) return error_info(errc::duplicate_field).at_tensor(name).with_detail("shape");
                seen_shape = true;
                ondemand::array a;
                if (fld.value().get_array().get(a))
                    return error_info(errc::bad_shape).at_tensor(name).at_offset(where(doc, base));
                b.start_shape();
                for (auto el : a) {
                    std::uint64_t dim = 0;
                    if (auto e = el.get_uint64().get(dim))
                        return error_info(errc::bad_shape).at_tensor(name).at_offset(where(doc, base)).with_detail(
                            error_message(e));
                    if (auto err = b.push_dim(dim); err.code != errc::ok) return err.at_tensor(name);
                }
            } else if (k == "data_offsets") {
                if (seen_offsets) return error_info(errc::duplicate_field).at_tensor(name).with_detail("data_offsets");
                seen_offsets = true;
                ondemand::array a;
                if (fld.value().get_array().get(a))
                    return error_info(errc::bad_data_offsets).at_tensor(name).at_offset(where(doc, base));
                std::size_t count = 0;
                for (auto el : a) {
                    std::uint64_t x = 0;
                    if (auto e = el.get_uint64().get(x))
                        return error_info(errc::bad_data_offsets).at_tensor(name).at_offset(where(doc, base))
                            .with_detail(error_message(e));
                    if (count < 2) offsets[count] = x;
                    ++count;
                }
                if (count != 2)
                    return error_info(errc::bad_data_offsets).at_tensor(name).with_detail("needs exactly two numbers");
            } else {
                // Unknown fields are ignored, as the reference does, but must still be valid JSON.
                if (auto e = consume(fld.value())) return json_error(e, where(doc, base)).at_tensor(name);
            }
        }
        if (!seen_dtype) return error_info(errc::missing_field).at_tensor(name).with_detail("dtype");
        if (!seen_shape) return error_info(errc::missing_field).at_tensor(name).with_detail("shape");
        if (!seen_offsets) return error_info(errc::missing_field).at_tensor(name).with_detail("data_offsets");
        if (offsets[1] < offsets[0])
            return error_info(errc::bad_data_offsets).at_tensor(name).with_detail("end before begin");
        return b.add(name, d, offsets[0], offsets[1]);
    }

    result<header> parse_padded(const char* base, std::size_t len, std::size_t capacity, std::uint64_t file_size,
                                const parse_options& opt) {
        using namespace simdjson;
        json_end_ = base + len;
        const detail::json_census census = detail::take_census(base, len);
        if (census.control)
            if (auto at = detail::find_control_in_string(base, len); at >= 0)
                return error_info(errc::header_not_json).at_offset(8 + static_cast<std::uint64_t>(at))
                    .with_detail("control character in a string");
        ondemand::document doc;
        // simdjson's first stage validates UTF-8 on the way; only a failure pays for finding where.
        if (auto e = parser_.iterate(base, len, capacity).get(doc)) {
            if (e == UTF8_ERROR)
                return error_info(errc::header_not_utf8).at_offset(8 + detail::first_invalid_utf8(std::string_view(base, len)));
            return json_error(e, 8);
        }
        ondemand::object root;
        {
            ondemand::json_type t;
            if (auto e = doc.type().get(t)) return json_error(e, 8);
            if (t != ondemand::json_type::object) return error_info(errc::header_not_object).at_offset(8);
            if (auto e = doc.get_object().get(root)) return json_error(e, 8);
        }
        header_builder b(len, census.braces, census.separators, opt.limits);
        if (auto err = b.status(); err.code != errc::ok) return err;
        bool seen_metadata = false;
        for (auto f : root) {
            ondemand::field fld;
            if (auto e = std::move(f).get(fld)) return json_error(e, where(doc, base));
            // The raw key is the name unless it has escapes (rare): copy it once, straight from
            // the JSON into the arena, instead of through simdjson's string buffer.
            std::string_view key;
            {
                const char* r = fld.key().raw();
                const char* q = detail::end_of_plain_string(r, json_end_);
                if (*q == '"') {
                    key = std::string_view(r, static_cast<std::size_t>(q - r));
                } else {
                    if (!detail::unescape_json_key(r, key_scratch_))
                        return error_info(errc::header_not_json).at_offset(8 + static_cast<std::uint64_t>(r - base))
                            .with_detail("bad escape in a key");
                    key = key_scratch_;
                }
            }
            if (key == "__metadata__") {
                if (seen_metadata) return error_info(errc::duplicate_metadata).at_offset(where(doc, base));
                seen_metadata = true;
                if (auto err = parse_metadata(fld.value(), b, doc, base); err.code != errc::ok) return err;
            } else {
                std::string_view name = b.intern(key);
                ondemand::value v = fld.value();
                {
                    error_info err;  // raw_json_token only peeks: the value is still unread
                    switch (parse_canonical_tensor(v.raw_json_token().data(), json_end_, name, b, err)) {
                        case fast_result::parsed: continue;  // the iterator skips the untouched value
                        case fast_result::failed: return err;
                        case fast_result::fallback: break;
                    }
                }
                if (auto err = parse_tensor(name, v, b, doc, base); err.code != errc::ok) return err;
            }
        }
        // simdjson 3.0's document has no at_end(): a location after the root means more tokens.
        if (const char* rest = nullptr; doc.current_location().get(rest) == SUCCESS)
            return error_info(errc::header_not_json).at_offset(8 + static_cast<std::uint64_t>(rest - base))
                .with_detail("trailing characters after the object");
        return std::move(b).finish(len, file_size, opt.validation);
    }

    simdjson::ondemand::parser parser_;
    std::string key_scratch_;
    const char* json_end_ = nullptr;  // end of the header being parsed
    std::unique_ptr<char[]> copy_;
    std::size_t copy_cap_ = 0;
};

/// Parses a whole safetensors file held in memory (framing and header); the data section is
/// the rest of `file`. Uses a parser kept per thread.
inline result<header> parse_file_header(std::span<const std::byte> file, const parse_options& opt = {}) {
    auto frame = check_frame(file.first(file.size() < 8 ? file.size() : 8), file.size(), opt.limits);
    if (!frame) return frame.error();
    std::uint64_t n = *frame;
    thread_local header_parser parser;
    std::span<const char> json(reinterpret_cast<const char*>(file.data()) + 8, n);
    return parser.parse(json, file.size(), opt, file.size() - 8 - n);
}

}  // namespace safeshard

#endif
