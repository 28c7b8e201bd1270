// SPDX-License-Identifier: MIT
// The header parser, part 4 of 4: property tests over random headers: emitted headers parse
// back field by field, any JSON spelling of a header parses the same, and mutated files never
// crash and fail with a real errc (under ASan/UBSan, the out-of-bounds read finder).

#include <safeshard/format/emit.hpp>
#include <safeshard/format/parse.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/parse.hpp"

using namespace safeshard;
using namespace safeshard::test;

namespace {

constexpr auto last_errc = errc::file_not_found;

// ---- a small random JSON writer for the property tests -----------------------------------

std::string utf8(char32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return s;
}
std::string utf8(const std::u32string& s) {
    std::string out;
    for (char32_t c : s) out += utf8(c);
    return out;
}

using rng_t = std::mt19937_64;
std::size_t pick(rng_t& rng, std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }

// Names mix ASCII, JSON specials, control characters, and 2-, 3- and 4-byte UTF-8.
std::u32string random_text(rng_t& rng, std::size_t max_len) {
    static constexpr char32_t pool[] = {
        U'a', U'b', U'z', U'A', U'0', U'9', U'.', U'_', U'-', U'/', U' ', U'"', U'\\', U'\b', U'\t', U'\n', U'\f', U'\r',
        0x00, 0x01, 0x1F, 0x7F, 0xE9, 0x3A9, 0x20AC, 0x2028, 0xFEFF, 0xFFFD, 0x1F600, 0x10FFFF, 0x4E2D, 0x800, 0x7FF};
    std::u32string s;
    std::size_t n = pick(rng, max_len + 1);
    for (std::size_t i = 0; i < n; ++i) s.push_back(pool[pick(rng, std::size(pool))]);
    return s;
}

// A JSON string literal for `s`, each character written in one of the ways JSON allows.
std::string random_json_string(rng_t& rng, const std::u32string& s) {
    static constexpr char hex_lower[] = "0123456789abcdef";
    static constexpr char hex_upper[] = "0123456789ABCDEF";
    auto u_escape = [&](std::uint32_t v) {
        const char* hx = pick(rng, 2) ? hex_lower : hex_upper;
        std::string e = "\\u";
        for (int sh = 12; sh >= 0; sh -= 4) e.push_back(hx[(v >> sh) & 15]);
        return e;
    };
    std::string out = "\"";
    for (char32_t c : s) {
        bool escape = pick(rng, 4) == 0;
        if (c == U'"') out += escape ? u_escape(c) : "\\\"";
        else if (c == U'\\') out += escape ? u_escape(c) : "\\\\";
        else if (c == U'/' && escape) out += "\\/";
        else if (c < 0x20) {
            const char* short_form = c == U'\b' ? "\\b" : c == U'\t' ? "\\t" : c == U'\n' ? "\\n" : c == U'\f' ? "\\f"
                                   : c == U'\r' ? "\\r" : nullptr;
            out += short_form && !escape ? std::string(short_form) : u_escape(c);
        } else if (!escape) {
            out += utf8(c);
        } else if (c < 0x10000) {
            out += u_escape(c);
        } else {  // a surrogate pair
            std::uint32_t v = c - 0x10000;
            out += u_escape(0xD800 + (v >> 10));
            out += u_escape(0xDC00 + (v & 0x3FF));
        }
    }
    return out + "\"";
}

std::string random_ws(rng_t& rng) {
    static constexpr const char* ws[] = {"", "", "", " ", "\n", "\t", "\r\n", "  \n\t "};
    return ws[pick(rng, std::size(ws))];
}

struct random_tensor {
    std::u32string name;
    dtype d;
    std::vector<u64> shape;
};

}  // namespace

TEST_SUITE("parse") {

TEST_CASE("property: emitted headers parse back field by field") {
    rng_t rng(0x5afe5ba4d);
    int checked = 0;
    for (int iter = 0; iter < 300; ++iter) {
        // Random tensors: unique names (unicode, escapes, control characters), any dtype, rank
        // 0..4 with zero extents; sub-byte shapes get a last extent of 8 so their bits fill bytes.
        std::vector<random_tensor> ts;
        std::set<std::string> seen_names;
        std::size_t n = pick(rng, 12);
        while (ts.size() < n) {
            random_tensor t;
            t.name = random_text(rng, 10);
            std::string u = utf8(t.name);
            if (u == "__metadata__" || !seen_names.insert(u).second) continue;
            t.d = all_dtypes[pick(rng, all_dtypes.size())];
            std::size_t rank = pick(rng, 5);
            for (std::size_t r = 0; r < rank; ++r) t.shape.push_back(pick(rng, 5));
            u64 numel = 1;
            for (auto d : t.shape) numel *= d;
            if (numel * bits(t.d) % 8) t.shape.push_back(8);
            ts.push_back(std::move(t));
        }
        std::vector<std::string> name_store;
        for (const auto& t : ts) name_store.push_back(utf8(t.name));
        std::vector<tensor_spec> specs;
        for (std::size_t i = 0; i < ts.size(); ++i) specs.push_back(tensor_spec{name_store[i], ts[i].d, ts[i].shape});

        std::map<std::string, std::string> meta_map;
        std::size_t nm = pick(rng, 4);
        while (meta_map.size() < nm) {
            std::string k = utf8(random_text(rng, 6));
            std::string v = utf8(random_text(rng, 12));
            meta_map.emplace(std::move(k), std::move(v));
        }
        std::vector<metadata_entry> meta;
        for (const auto& [k, v] : meta_map) meta.push_back({k, v});
        std::shuffle(meta.begin(), meta.end(), rng);
        bool always = pick(rng, 4) == 0;

        auto layout = emit_header(specs, meta, always);
        INFO("iteration ", iter);
        REQUIRE(layout.has_value());
        const std::string file = layout->bytes + zeros(layout->data_size);
        auto r = parse_bytes(file);
        INFO(outcome_of(r));
        REQUIRE(r.has_value());
        const header& h = *r;

        CHECK(h.header_size() == layout->bytes.size() - 8);
        CHECK(h.header_size() % 8 == 0);
        CHECK(h.data_offset() == layout->data_offset());
        CHECK(h.data_size() == layout->data_size);
        REQUIRE(h.size() == specs.size());
        for (std::size_t k = 0; k < h.size(); ++k) {
            // The JSON lists tensors in data order, so tensors()[k] is the k-th of layout.order.
            const auto i = layout->order[k];
            const auto& t = h.tensors()[k];
            CHECK(t.name == specs[i].name);
            CHECK(t.dtype == specs[i].dtype);
            CHECK(std::vector<u64>(t.shape.begin(), t.shape.end()) == ts[i].shape);
            CHECK(t.begin == layout->begin[i]);
            CHECK(t.end == layout->begin[i] + layout->size[i]);
            CHECK(h.find(specs[i].name) == &t);
        }
        CHECK(h.has_metadata() == (always || !meta.empty()));
        REQUIRE(h.metadata().size() == meta_map.size());
        std::size_t m = 0;
        for (const auto& [k, v] : meta_map) {  // std::map iterates in byte order, as metadata() does
            CHECK(h.metadata()[m].key == k);
            CHECK(h.metadata()[m].value == v);
            CHECK(h.metadata_value(k) == v);
            ++m;
        }
        check_invariants(h, file.size());
        ++checked;
    }
    CHECK(checked == 300);
}

TEST_CASE("property: the same header in any JSON spelling parses the same") {
    // A hand-rolled writer spells each header differently: random whitespace, field and member
    // order, metadata position, and each character either verbatim or escaped.
    rng_t rng(20260101);
    for (int iter = 0; iter < 300; ++iter) {
        std::vector<random_tensor> ts;
        std::set<std::string> seen_names;
        std::size_t n = pick(rng, 8);
        while (ts.size() < n) {
            random_tensor t;
            t.name = random_text(rng, 8);
            std::string u = utf8(t.name);
            if (u == "__metadata__" || !seen_names.insert(u).second) continue;
            t.d = all_dtypes[pick(rng, all_dtypes.size())];
            std::size_t rank = pick(rng, 4);
            for (std::size_t r = 0; r < rank; ++r) t.shape.push_back(pick(rng, 4));
            u64 numel = 1;
            for (auto d : t.shape) numel *= d;
            if (numel * bits(t.d) % 8) t.shape.push_back(8);
            ts.push_back(std::move(t));
        }
        // Offsets in the listed order (any order tiles, as long as the ranges are contiguous).
        std::vector<u64> begin(ts.size()), end(ts.size());
        u64 at = 0;
        for (std::size_t i = 0; i < ts.size(); ++i) {
            u64 numel = 1;
            for (auto d : ts[i].shape) numel *= d;
            begin[i] = at;
            at += numel * bits(ts[i].d) / 8;
            end[i] = at;
        }
        std::map<std::u32string, std::u32string> meta;
        bool with_meta = pick(rng, 2) == 0;
        if (with_meta) {
            std::size_t nm = pick(rng, 4);
            std::set<std::string> seen_keys;
            while (meta.size() < nm) {
                auto k = random_text(rng, 5);
                auto v = random_text(rng, 8);
                if (seen_keys.insert(utf8(k)).second) meta.emplace(k, v);
            }
        }

        std::vector<std::string> members;
        for (std::size_t i = 0; i < ts.size(); ++i) {
            // Each draw from `rng` is its own statement: the order of operands in one expression is
            // unspecified, and the inputs must be the same whichever compiler builds the test.
            std::vector<std::string> fields;
            std::string shape = "[";
            shape += random_ws(rng);
            for (std::size_t d = 0; d < ts[i].shape.size(); ++d) {
                if (d) {
                    shape += ",";
                    shape += random_ws(rng);
                }
                shape += std::to_string(ts[i].shape[d]);
                shape += random_ws(rng);
            }
            shape += "]";
            auto field = [&](std::u32string key, const std::string& value) {
                std::string f = random_json_string(rng, key);
                f += random_ws(rng);
                f += ":";
                f += random_ws(rng);
                return f + value;
            };
            std::u32string dname;
            for (char c : name(ts[i].d)) dname.push_back(static_cast<char32_t>(c));
            const std::string dvalue = random_json_string(rng, dname);
            fields.push_back(field(U"dtype", dvalue));
            fields.push_back(field(U"shape", shape));
            std::string offsets = "[" + std::to_string(begin[i]) + ",";
            offsets += random_ws(rng);
            offsets += std::to_string(end[i]) + "]";
            fields.push_back(field(U"data_offsets", offsets));
            if (pick(rng, 3) == 0) fields.push_back(field(U"extra", R"({"x":[1,2.5,null,"s"]})"));
            std::shuffle(fields.begin(), fields.end(), rng);
            std::string obj = "{";
            obj += random_ws(rng);
            for (std::size_t f = 0; f < fields.size(); ++f) {
                if (f) {
                    obj += ",";
                    obj += random_ws(rng);
                }
                obj += fields[f];
            }
            obj += random_ws(rng);
            obj += "}";
            std::string member = random_json_string(rng, ts[i].name);
            member += random_ws(rng);
            member += ":";
            member += random_ws(rng);
            members.push_back(member + obj);
        }
        if (with_meta) {
            std::string obj = "{";
            bool first = true;
            for (const auto& [k, v] : meta) {
                if (!first) obj += ",";
                first = false;
                obj += random_ws(rng);
                obj += random_json_string(rng, k);
                obj += ":";
                obj += random_json_string(rng, v);
            }
            obj += "}";
            std::string member = random_json_string(rng, U"__metadata__");
            members.push_back(member + ":" + obj);
        }
        // Members in a random order; the metadata member, when present, is the last index.
        std::vector<std::size_t> perm(members.size());
        for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
        std::shuffle(perm.begin(), perm.end(), rng);
        std::string json = random_ws(rng);
        json += "{";
        json += random_ws(rng);
        for (std::size_t i = 0; i < perm.size(); ++i) {
            if (i) {
                json += ",";
                json += random_ws(rng);
            }
            json += members[perm[i]];
        }
        json += random_ws(rng);
        json += "}";
        json += random_ws(rng);

        INFO("iteration ", iter, " json ", json);
        auto r = parse_bytes(framed(json, zeros(at)));
        INFO(outcome_of(r));
        REQUIRE(r.has_value());
        const header& h = *r;
        REQUIRE(h.size() == ts.size());
        for (std::size_t i = 0; i < ts.size(); ++i) {
            const auto* t = h.find(utf8(ts[i].name));
            REQUIRE(t != nullptr);
            CHECK(t->dtype == ts[i].d);
            CHECK(std::vector<u64>(t->shape.begin(), t->shape.end()) == ts[i].shape);
            CHECK(t->begin == begin[i]);
            CHECK(t->end == end[i]);
        }
        // tensors() lists the tensors in the order this spelling wrote them.
        std::size_t listed = 0;
        for (std::size_t m : perm) {
            if (m >= ts.size()) continue;  // the metadata member
            CHECK(h.tensors()[listed].name == utf8(ts[m].name));
            ++listed;
        }
        CHECK(h.has_metadata() == with_meta);
        REQUIRE(h.metadata().size() == meta.size());
        for (const auto& [k, v] : meta) CHECK(h.metadata_value(utf8(k)) == utf8(v));
        CHECK(h.data_size() == at);
        check_invariants(h, 8 + json.size() + at);
    }
}

TEST_CASE("property: mutated files never crash and fail with a real errc") {
    // Run under ASan/UBSan, this is the test that catches out-of-bounds reads on hostile bytes.
    std::vector<std::string> seeds;
    {
        const std::vector<u64> s23 = {2, 3}, s4 = {4}, s22 = {2, 2}, s0 = {}, s05 = {0, 5}, s16 = {16};
        const tensor_spec specs[] = {{"w\xC3\xA9ight", dtype::F32, s23}, {"b", dtype::BF16, s4}, {"q\n\"x", dtype::F4, s22},
                                     {"s", dtype::U8, s0},              {"e", dtype::I64, s05}, {"big", dtype::F32, s16}};
        const metadata_entry meta[] = {{"format", "pt"}, {"k\t", "v\"\\"}};
        auto layout = emit_header(specs, meta);
        REQUIRE(layout.has_value());
        std::string data;
        for (u64 i = 0; i < layout->data_size; ++i) data.push_back(static_cast<char>(i * 37));
        seeds.push_back(layout->bytes + data);  // more than 64 data bytes: parsed in place
    }
    seeds.push_back(framed(" {\n\t\"__metadata__\" : null,\n \"a\\u00e9\" : {\"shape\":[2],\"dtype\":\"U16\",\"x\":[{\"y\":-1.5e3}],"
                           "\"data_offsets\":[0,4]}, \"z\":{\"dtype\":\"F6_E3M2\",\"shape\":[4],\"data_offsets\":[4,7]}} ",
                           "abcdefg"));  // a short data section: parsed from a copy
    for (const auto& s : seeds) REQUIRE(parse_bytes(s).has_value());

    static constexpr char interesting[] = {'\0', '"', '\\', '{', '}', '[', ']', ',', ':', '-', '.', 'e', '0', '1', '9',
                                           'u', ' ', '\n', '\x7f', '\x80', '\xbf', '\xc3', '\xed', '\xf4', '\xff'};
    rng_t rng(42);
    int parsed = 0, failed = 0;
    auto check_one = [&](const std::string& f) {
        auto r = parse_bytes(f);
        if (r) {
            ++parsed;
            check_invariants(*r, f.size());
        } else {
            ++failed;
            CHECK(r.code() != errc::ok);
            CHECK(static_cast<int>(r.code()) <= static_cast<int>(last_errc));
            CHECK(std::string_view(error_message(r.code())) != "unknown error");
            CHECK(!r.error().to_string().empty());
        }
    };
    for (const auto& seed : seeds) {
        u64 n = 0;
        std::memcpy(&n, seed.data(), 8);
        const std::size_t header_end = 8 + static_cast<std::size_t>(n);
        for (int iter = 0; iter < 3000; ++iter) {
            std::string f = seed;
            switch (pick(rng, 5)) {
                case 0: {  // one random byte anywhere in the prefix or JSON, or just past it
                    std::size_t at = pick(rng, header_end + 4);
                    f[at] = static_cast<char>(pick(rng, 256));
                    break;
                }
                case 1: {  // one structurally interesting byte in the JSON
                    std::size_t at = 8 + pick(rng, header_end - 8);
                    f[at] = interesting[pick(rng, std::size(interesting))];
                    break;
                }
                case 2: {  // delete a JSON byte, keeping N consistent
                    f.erase(8 + pick(rng, header_end - 8), 1);
                    u64 m = n - 1;
                    std::memcpy(f.data(), &m, 8);
                    break;
                }
                case 3: {  // insert a byte into the JSON, keeping N consistent
                    std::size_t at = 8 + pick(rng, header_end - 8);
                    f.insert(at, 1, interesting[pick(rng, std::size(interesting))]);
                    u64 m = n + 1;
                    std::memcpy(f.data(), &m, 8);
                    break;
                }
                default:  // truncate
                    f.resize(pick(rng, f.size()));
                    break;
            }
            check_one(f);
        }
    }
    // Both outcomes happen: the mutations reach past the framing checks.
    CHECK(parsed > 50);
    CHECK(failed > 1000);
}

TEST_CASE("property: canonical headers parse the same on the fast path as on the general one") {
    // A canonical header is parsed straight from its bytes; one space before the root object
    // sends the same header through simdjson instead. Mutated canonical files must come out the
    // same both ways: the same tensors and metadata, or the same error.
    auto spaced = [](const std::string& f) {
        u64 n = 0;
        std::memcpy(&n, f.data(), 8);
        std::string g = f;
        g.insert(8, 1, ' ');
        const u64 m = n + 1;
        std::memcpy(g.data(), &m, 8);
        return g;
    };
    std::vector<std::string> seeds;
    {
        const std::vector<u64> s23 = {2, 3}, s4 = {4}, s22 = {2, 2}, s0 = {}, s05 = {0, 5}, s16 = {16};
        const tensor_spec specs[] = {{"w\xC3\xA9ight", dtype::F32, s23}, {"b", dtype::BF16, s4}, {"q.x", dtype::F4, s22},
                                     {"s", dtype::U8, s0},              {"e", dtype::I64, s05}, {"big", dtype::F32, s16}};
        const metadata_entry meta[] = {{"format", "pt"}, {"k", "v w"}};
        for (bool with_meta : {true, false}) {
            auto layout = emit_header(specs, with_meta ? std::span<const metadata_entry>(meta) : std::span<const metadata_entry>());
            REQUIRE(layout.has_value());
            std::string data(static_cast<std::size_t>(layout->data_size), 'd');
            seeds.push_back(layout->bytes + data);
        }
    }
    seeds.push_back(framed(R"({"__metadata__":null,"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}})", "abcd"));
    seeds.push_back(framed(R"({})"));
    static constexpr char interesting[] = {'\0', '"', '\\', '{', '}', '[', ']', ',', ':', '0', '1', '9', 'u', ' ', '\n', '\x80', '\xc3'};
    rng_t rng(77);
    int fast = 0, agreed_errors = 0;
    for (const auto& seed : seeds) {
        REQUIRE(parse_bytes(seed).has_value());
        u64 n = 0;
        std::memcpy(&n, seed.data(), 8);
        const std::size_t header_end = 8 + static_cast<std::size_t>(n);
        for (int iter = 0; iter < 2000; ++iter) {
            std::string f = seed;
            if (iter > 0) {  // the seed itself first
                const std::size_t at = 8 + pick(rng, header_end - 8);
                if (pick(rng, 2) == 0) f[at] = interesting[pick(rng, std::size(interesting))];
                else f[at] = static_cast<char>(pick(rng, 256));
            }
            auto a = parse_bytes(f);
            auto b = parse_bytes(spaced(f));
            INFO(outcome_of(a));
            INFO(outcome_of(b));
            REQUIRE(a.has_value() == b.has_value());
            if (!a) {
                CHECK(a.code() == b.code());
                ++agreed_errors;
                continue;
            }
            ++fast;
            REQUIRE(a->size() == b->size());
            CHECK(a->has_metadata() == b->has_metadata());
            for (std::size_t i = 0; i < a->size(); ++i) {
                const tensor_info &x = a->tensors()[i], &y = b->tensors()[i];
                CHECK(x.name == y.name);
                CHECK(x.dtype == y.dtype);
                CHECK(std::vector<u64>(x.shape.begin(), x.shape.end()) == std::vector<u64>(y.shape.begin(), y.shape.end()));
                CHECK(x.begin == y.begin);
                CHECK(x.end == y.end);
            }
            REQUIRE(a->metadata().size() == b->metadata().size());
            for (std::size_t i = 0; i < a->metadata().size(); ++i) {
                CHECK(a->metadata()[i].key == b->metadata()[i].key);
                CHECK(a->metadata()[i].value == b->metadata()[i].value);
            }
        }
    }
    CHECK(fast > 100);
    CHECK(agreed_errors > 1000);
    // Found by the fuzzer: a JSON cut just after a string's opening quote (the rest is data).
    for (const char* cut : {R"({"__metadata__":{"note":"x","k":")", R"({"__metadata__":{"note":")", R"({")"}) {
        auto r = parse_bytes(framed(cut, R"("pt"}})"));
        CHECK(!r.has_value());
        CHECK(r.code() == errc::header_not_json);
    }
}

}  // TEST_SUITE
