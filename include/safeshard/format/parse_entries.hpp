// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FORMAT_PARSE_ENTRIES_HPP
#define SAFESHARD_FORMAT_PARSE_ENTRIES_HPP

// The entries of a safetensors header's root object, parsed with simdjson ondemand: a tensor
// (a fast path for the canonical spelling, the general path for everything else) and
// `__metadata__`. The loop over the root object is format/header_parser.hpp's.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/detail/checked.hpp>
#include <safeshard/detail/json_scan.hpp>
#include <safeshard/format/header.hpp>

#include <simdjson.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace safeshard::detail {

// A simdjson failure as the parser reports it: not UTF-8, or not JSON, at file offset `at`.
inline error_info json_error(simdjson::error_code e, std::uint64_t at) {
    errc c = e == simdjson::UTF8_ERROR ? errc::header_not_utf8 : errc::header_not_json;
    return error_info(c).at_offset(at).with_detail(simdjson::error_message(e));
}

// What the steps of one header's parse share: the document (for the location errors name),
// where the JSON starts (file offset 8) and ends, the builder the entries go into, and a
// scratch string for the rare keys written with escapes.
struct json_walk {
    simdjson::ondemand::document& doc;
    const char* base;
    const char* end;
    header_builder& b;
    std::string& key_scratch;

    // The file offset simdjson has reached, or 8 when it cannot say.
    std::uint64_t where() {
        const char* loc = nullptr;
        if (doc.current_location().get(loc) != simdjson::SUCCESS || loc < base) return 8;
        return 8 + static_cast<std::uint64_t>(loc - base);
    }

    // The key whose raw text starts at `r` (after its opening quote): the text itself when it
    // has no escapes, else its decoding in `key_scratch`. False on a bad escape.
    bool key_at(const char* r, std::string_view& out) {
        if (const char* q = end_of_plain_string(r, end); *q == '"') {
            out = std::string_view(r, static_cast<std::size_t>(q - r));
            return true;
        }
        if (!unescape_json_key(r, key_scratch)) return false;
        out = key_scratch;
        return true;
    }
};

// Walks and validates a value we do not use (unknown tensor fields), so that a malformed
// value never passes just because it was skipped. Nesting is capped as serde_json caps it
// (128 levels in all; the tensor entry and the root use two), so deep input is refused
// like the reference refuses it, and never recurses deep enough to exhaust the stack.
inline constexpr int max_unknown_depth = 126;
inline simdjson::error_code consume(simdjson::ondemand::value v, int depth = 1) noexcept {
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

// The `__metadata__` value: null, or an object of strings, each added to the builder.
inline error_info parse_metadata(json_walk& w, simdjson::ondemand::value v) {
    using namespace simdjson;
    ondemand::json_type t;
    if (auto e = v.type().get(t)) return json_error(e, w.where());
    if (t == ondemand::json_type::null) {
        bool n = false;
        if (auto e = v.is_null().get(n); e || !n) return json_error(e ? e : INCORRECT_TYPE, w.where());
        w.b.set_metadata_present(false);
        return {};
    }
    ondemand::object o;
    if (t != ondemand::json_type::object || v.get_object().get(o))
        return error_info(errc::metadata_not_map).at_offset(w.where());
    w.b.set_metadata_present(true);
    for (auto f : o) {
        ondemand::field fld;
        if (auto e = std::move(f).get(fld)) return json_error(e, w.where());
        std::string_view k, val;
        if (auto e = fld.unescaped_key().get(k)) return json_error(e, w.where());
        k = w.b.intern(k);
        ondemand::value fv = fld.value();
        if (fv.type().get(t) || t != ondemand::json_type::string)
            return error_info(errc::metadata_not_map).at_offset(w.where()).with_detail(k);
        if (auto e = fv.get_string().get(val)) return json_error(e, w.where());
        if (auto err = w.b.add_metadata(k, w.b.intern(val)); err.code() != errc::ok) return err;
    }
    return {};
}

// The canonical entry, exactly as writers emit it: {"dtype":"F32","shape":[2,4],
// "data_offsets":[0,32]} with no spaces. Parsed straight from the bytes (UTF-8 is checked
// before, by simdjson's first stage or the whole-document path's own check), which is
// several times cheaper than walking the object. Anything else, even valid JSON (spaces, other key order, extra
// fields, escapes, leading zeros, numbers past 64 bits, an unknown dtype), returns
// `fallback` and goes through the general path, which also produces the precise errors.
enum class fast_result { parsed, fallback, failed };

// The literal `lit` at `q`: true and `q` past it, or false. The length is a constant, so the
// comparison compiles to a few loads.
template <std::size_t N>
inline bool take_literal(const char*& q, const char* end, const char (&lit)[N]) noexcept {
    constexpr std::size_t n = N - 1;
    if (static_cast<std::size_t>(end - q) < n || std::memcmp(q, lit, n) != 0) return false;
    q += n;
    return true;
}

// A JSON unsigned integer as writers spell it: false for a leading zero ("01" is not JSON; the
// general path says so), a sign, a fraction or a value past 64 bits (all the general path's).
[[gnu::always_inline]] inline bool take_number(const char*& q, const char* end, std::uint64_t& out) noexcept {
    auto digit = [](char c) { return static_cast<unsigned>(static_cast<unsigned char>(c)) - unsigned{'0'}; };
    if (q >= end || digit(*q) > 9) return false;
    if (*q == '0') {
        ++q;
        out = 0;
        return q == end || digit(*q) > 9;
    }
    const char* first = q;
    std::uint64_t v = 0;
    for (unsigned d; q < end && (d = digit(*q)) <= 9; ++q) {
        if (q - first < 19) {
            v = v * 10 + d;  // 19 digits always fit in 64 bits
        } else if (mul_overflow(v, 10, v) || add_overflow(v, std::uint64_t{d}, v)) {
            return false;
        }
    }
    out = v;
    return true;
}

// The index of the first byte equal to `c` in the little-endian word `w`, or 8 when there is
// none (the borrow trick flags the lowest equal byte exactly).
constexpr unsigned first_byte_of(std::uint64_t w, char c) noexcept {
    const std::uint64_t x = w ^ (0x0101010101010101ull * static_cast<unsigned char>(c));
    const std::uint64_t hit = (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
    return hit ? static_cast<unsigned>(std::countr_zero(hit)) / 8 : 8;
}
static_assert(first_byte_of(0x2200000000000000ull, '"') == 7 && first_byte_of(0x0000000000002241ull, '"') == 1 &&
              first_byte_of(0x4141414141414141ull, '"') == 8 && first_byte_of(0x2222222222222222ull, '"') == 0);

// `after`, when given, receives the position just past the entry's closing brace.
inline fast_result parse_canonical_tensor(const char* q, const char* end, std::string_view name, header_builder& b,
                                          error_info& err, const char** after = nullptr) noexcept {
    auto literal = [&](const auto& lit) { return take_literal(q, end, lit); };
    auto number = [&](std::uint64_t& out) { return take_number(q, end, out); };
    if (!literal("{\"dtype\":\"")) return fast_result::fallback;
    const char* dt = q;
    std::optional<dtype> d;
    // The name read as one word (the buffer is padded): when its closing quote is within 7
    // bytes, before any backslash and before `end`, the word up to it is the packed name.
    std::uint64_t w;
    std::memcpy(&w, dt, 8);
    if (const unsigned quote = first_byte_of(w, '"'); quote < first_byte_of(w, '\\') && quote < end - dt) {
        d = detail::dtype_of_packed((w & ((std::uint64_t{1} << (8 * quote)) - 1)) | (std::uint64_t{quote} << 56));
        q = dt + quote;
    } else {
        while (q < end && q - dt <= 11 && *q != '"' && *q != '\\') ++q;
        if (q >= end || *q != '"') return fast_result::fallback;
        d = parse_dtype(std::string_view(dt, static_cast<std::size_t>(q - dt)));
    }
    if (!d) return fast_result::fallback;
    ++q;
    if (!literal(",\"shape\":[")) return fast_result::fallback;
    b.start_shape();
    // Dimensions pushed by an attempt that gives up would stay behind the general path's own.
    auto give_up = [&b] { b.drop_shape(); return fast_result::fallback; };
    if (q < end && *q == ']') {
        ++q;
    } else {
        for (;;) {
            std::uint64_t dim = 0;
            if (!number(dim)) return give_up();
            // Made in place and copied out only on failure: an error_info is 450 bytes.
            if (auto e = b.push_dim(dim); e.code() != errc::ok) {
                err = e.at_tensor(name);
                return fast_result::failed;
            }
            if (q < end && *q == ',') { ++q; continue; }
            if (q < end && *q == ']') { ++q; break; }
            return give_up();
        }
    }
    std::uint64_t begin = 0, stop = 0;
    if (!literal(",\"data_offsets\":[") || !number(begin) || !literal(",") || !number(stop) || !literal("]}"))
        return give_up();
    if (stop < begin) return give_up();  // the general path words this error
    if (auto e = b.add(name, *d, begin, stop); e.code() != errc::ok) {
        err = e;
        return fast_result::failed;
    }
    if (after) *after = q;
    return fast_result::parsed;
}

// A plain JSON string at `q` (its opening quote): no escapes, so its text is its value. False
// when there is none there, or it has a backslash; else `out` is the text and `q` moves past
// the closing quote. Control bytes and UTF-8 are the caller's to have checked; the buffer
// must be padded past `end` (find_quote_or_backslash reads ahead).
inline bool plain_string(const char*& q, const char* end, std::string_view& out) noexcept {
    if (q >= end || *q != '"') return false;
    const char* r = q + 1;
    // Nothing has checked the structure yet: the closing quote may be missing.
    const char* c = find_quote_or_backslash(r, end);
    if (c == end || *c != '"') return false;
    out = std::string_view(r, static_cast<std::size_t>(c - r));
    q = c + 1;
    return true;
}

// The whole header in the canonical spelling writers emit: the root object with no spaces
// inside, each tensor entry canonical (parse_canonical_tensor), `__metadata__` null or an
// object of plain strings, and nothing after the root but spaces (the reference pads the
// header with them). Parsed straight from the bytes, without simdjson's structural pass or
// its parser's buffers: the first parse in a process touches no memory but the header's own.
// The caller has checked that `json` holds no control byte and is valid UTF-8. Anything else,
// and any error, returns `fallback` (and the builder is spent): the general path then parses
// the header and words the error exactly as it always does.
inline fast_result parse_canonical_document(const char* q, const char* end, header_builder& b) noexcept {
    error_info ignored;
    if (q >= end || *q != '{') return fast_result::fallback;
    ++q;
    bool seen_metadata = false;
    if (q < end && *q == '}') {
        ++q;
    } else {
        for (;;) {
            std::string_view key;
            if (!plain_string(q, end, key) || q >= end || *q != ':') return fast_result::fallback;
            ++q;
            if (key == "__metadata__") {
                if (seen_metadata) return fast_result::fallback;
                seen_metadata = true;
                if (end - q >= 4 && std::memcmp(q, "null", 4) == 0) {
                    q += 4;
                    b.set_metadata_present(false);
                } else {
                    if (q >= end || *q != '{') return fast_result::fallback;
                    ++q;
                    b.set_metadata_present(true);
                    if (q < end && *q == '}') {
                        ++q;
                    } else {
                        for (;;) {
                            std::string_view k, v;
                            if (!plain_string(q, end, k) || q >= end || *q != ':') return fast_result::fallback;
                            ++q;
                            if (!plain_string(q, end, v)) return fast_result::fallback;
                            k = b.intern(k);
                            if (b.add_metadata(k, b.intern(v)).code() != errc::ok) return fast_result::fallback;
                            if (q < end && *q == ',') { ++q; continue; }
                            if (q < end && *q == '}') { ++q; break; }
                            return fast_result::fallback;
                        }
                    }
                }
            } else {
                const std::string_view name = b.intern(key);
                if (parse_canonical_tensor(q, end, name, b, ignored, &q) != fast_result::parsed) return fast_result::fallback;
            }
            if (q < end && *q == ',') { ++q; continue; }
            if (q < end && *q == '}') { ++q; break; }
            return fast_result::fallback;
        }
    }
    while (q < end && *q == ' ') ++q;
    return q == end ? fast_result::parsed : fast_result::fallback;
}

// A tensor entry by the general path: any key order, escapes, unknown fields, and an
// error that says precisely what is wrong.
inline error_info parse_tensor(json_walk& w, std::string_view name, simdjson::ondemand::value v) {
    using namespace simdjson;
    ondemand::object o;
    if (v.get_object().get(o)) return error_info(errc::tensor_not_object).at_tensor(name).at_offset(w.where());
    bool seen_dtype = false, seen_shape = false, seen_offsets = false;
    dtype d = dtype::BOOL;
    std::uint64_t offsets[2] = {0, 0};
    for (auto f : o) {
        ondemand::field fld;
        if (auto e = std::move(f).get(fld)) return json_error(e, w.where()).at_tensor(name);
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
            else if (!w.key_at(r, k))
                return error_info(errc::header_not_json).at_tensor(name).at_offset(8 + static_cast<std::uint64_t>(r - w.base))
                    .with_detail("bad escape in a field name");
        }
        if (k == "dtype") {
            if (seen_dtype) return error_info(errc::duplicate_field).at_tensor(name).with_detail("dtype");
            seen_dtype = true;
            std::string_view s;
            if (auto e = fld.value().get_string().get(s))
                return error_info(errc::unknown_dtype).at_tensor(name).at_offset(w.where())
                    .with_detail(e == INCORRECT_TYPE ? "not a string" : error_message(e));
            auto pd = parse_dtype(s);
            if (!pd) return error_info(errc::unknown_dtype).at_tensor(name).at_offset(w.where()).with_detail(s);
            d = *pd;
        } else if (k == "shape") {
            if (seen_shape) return error_info(errc::duplicate_field).at_tensor(name).with_detail("shape");
            seen_shape = true;
            ondemand::array a;
            if (fld.value().get_array().get(a))
                return error_info(errc::bad_shape).at_tensor(name).at_offset(w.where());
            w.b.start_shape();
            for (auto el : a) {
                std::uint64_t dim = 0;
                if (auto e = el.get_uint64().get(dim))
                    return error_info(errc::bad_shape).at_tensor(name).at_offset(w.where()).with_detail(
                        error_message(e));
                if (auto err = w.b.push_dim(dim); err.code() != errc::ok) return err.at_tensor(name);
            }
        } else if (k == "data_offsets") {
            if (seen_offsets) return error_info(errc::duplicate_field).at_tensor(name).with_detail("data_offsets");
            seen_offsets = true;
            ondemand::array a;
            if (fld.value().get_array().get(a))
                return error_info(errc::bad_data_offsets).at_tensor(name).at_offset(w.where());
            std::size_t count = 0;
            for (auto el : a) {
                std::uint64_t x = 0;
                if (auto e = el.get_uint64().get(x))
                    return error_info(errc::bad_data_offsets).at_tensor(name).at_offset(w.where())
                        .with_detail(error_message(e));
                if (count < 2) offsets[count] = x;
                ++count;
            }
            if (count != 2)
                return error_info(errc::bad_data_offsets).at_tensor(name).with_detail("needs exactly two numbers");
        } else {
            // Unknown fields are ignored, as the reference does, but must still be valid JSON.
            if (auto e = consume(fld.value())) return json_error(e, w.where()).at_tensor(name);
        }
    }
    if (!seen_dtype) return error_info(errc::missing_field).at_tensor(name).with_detail("dtype");
    if (!seen_shape) return error_info(errc::missing_field).at_tensor(name).with_detail("shape");
    if (!seen_offsets) return error_info(errc::missing_field).at_tensor(name).with_detail("data_offsets");
    if (offsets[1] < offsets[0])
        return error_info(errc::bad_data_offsets).at_tensor(name).with_detail("end before begin");
    return w.b.add(name, d, offsets[0], offsets[1]);
}

}  // namespace safeshard::detail

#endif
