// SPDX-License-Identifier: MIT
// The header parser, part 3 of 4: the data section and the limits: tiling (gaps, overlaps,
// trailing bytes, data past the end), the lenient validation policy, header_limits, the byte
// offsets errors report, and header_parser reused across headers, in place or copied.

#include <safeshard/format/parse.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "../support/parse.hpp"

using namespace safeshard;
using namespace safeshard::test;

TEST_SUITE("parse") {

TEST_CASE("tiling of the data section") {
    SUBCASE("JSON order does not matter") {
        auto h = must_parse(object({entry("c", "U8", "[3]", 3, 6), entry("a", "U8", "[1]", 0, 1), entry("b", "U16", "[1]", 1, 3)}), 6);
        REQUIRE(h.size() == 3);
        // tensors() keeps the JSON order.
        CHECK(h.tensors()[0].name == "c");
        CHECK(h.tensors()[1].name == "a");
        CHECK(h.tensors()[2].name == "b");
        CHECK(h.data_size() == 6);
        CHECK(h.find("b")->begin == 1);
    }
    SUBCASE("no tensors and no data") {
        auto h = must_parse("{}", 0);
        CHECK(h.size() == 0);
        CHECK(h.data_size() == 0);
    }
    SUBCASE("zero-size tensors at every boundary, several at one offset") {
        auto h = must_parse(object({entry("z0", "F32", "[0]", 0, 0), entry("z1", "U8", "[0,4]", 0, 0), entry("a", "U8", "[2]", 0, 2),
                                    entry("z2", "I64", "[0]", 2, 2), entry("z3", "BOOL", "[3,0]", 2, 2), entry("b", "U8", "[2]", 2, 4),
                                    entry("z4", "F4", "[0]", 4, 4), entry("z5", "C64", "[0]", 4, 4)}),
                            4);
        CHECK(h.size() == 8);
        CHECK(h.data_size() == 4);
        CHECK(h.find("z5")->begin == 4);
    }
    SUBCASE("zero-size tensors listed in reverse order") {
        auto h = must_parse(object({entry("z", "U8", "[0]", 4, 4), entry("b", "U8", "[2]", 2, 4), entry("y", "U8", "[0]", 2, 2),
                                    entry("a", "U8", "[2]", 0, 2), entry("x", "U8", "[0]", 0, 0)}),
                            4);
        CHECK(h.size() == 5);
    }
    SUBCASE("only zero-size tensors, no data") {
        auto h = must_parse(object({entry("x", "U8", "[0]", 0, 0), entry("y", "F32", "[0,2]", 0, 0)}), 0);
        CHECK(h.size() == 2);
        CHECK(h.data_size() == 0);
    }
    SUBCASE("a zero-size tensor inside another's range") {
        auto r = parse_bytes(framed(object({entry("a", "U8", "[8]", 0, 8), entry("z", "U8", "[0]", 4, 4)}), zeros(8)));
        CHECK(outcome_of(r) == errc::data_overlap);
        CHECK(std::string_view(r.error().tensor()) == "z");
    }
    SUBCASE("a zero-size tensor past the end of the data") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("z", "U8", "[0]", 8, 8)}), 4) == errc::data_gap);
    }
    SUBCASE("a zero-size tensor alone, not at 0") { CHECK(run(object({entry("z", "U8", "[0]", 1, 1)}), 1) == errc::data_gap); }
    SUBCASE("first tensor not at 0") { CHECK(run(object({entry("a", "U8", "[4]", 1, 5)}), 5) == errc::data_gap); }
    SUBCASE("gap between") {
        auto r = parse_bytes(framed(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 6, 10)}), zeros(10)));
        CHECK(outcome_of(r) == errc::data_gap);
        CHECK(std::string_view(r.error().tensor()) == "b");
    }
    SUBCASE("partial overlap") {
        auto r = parse_bytes(framed(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 2, 6)}), zeros(6)));
        CHECK(outcome_of(r) == errc::data_overlap);
        CHECK(std::string_view(r.error().tensor()) == "b");
    }
    SUBCASE("one range inside another") {
        CHECK(run(object({entry("a", "U8", "[8]", 0, 8), entry("b", "U8", "[2]", 2, 4)}), 8) == errc::data_overlap);
    }
    SUBCASE("two tensors on one range") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("b", "I8", "[4]", 0, 4)}), 4) == errc::data_overlap);
    }
    SUBCASE("same start, different lengths") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[2]", 0, 2)}), 4) == errc::data_overlap);
    }
    SUBCASE("trailing bytes") { CHECK(run(object({entry("a", "U8", "[4]", 0, 4)}), 5) == errc::trailing_bytes); }
    SUBCASE("trailing bytes after an empty header") { CHECK(run("{}", 3) == errc::trailing_bytes); }
    SUBCASE("trailing bytes after zero-size tensors only") {
        CHECK(run(object({entry("z", "U8", "[0]", 0, 0)}), 1) == errc::trailing_bytes);
    }
    SUBCASE("data past the end") {
        auto r = parse_bytes(framed(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 4, 8)}), zeros(6)));
        CHECK(outcome_of(r) == errc::data_past_end);
        CHECK(std::string_view(r.error().tensor()) == "b");
    }
    SUBCASE("data past the end of a file with no data section") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4)}), 0) == errc::data_past_end);
    }
}

TEST_CASE("validation::allow_trailing_bytes") {
    parse_options lax;
    lax.validation = validation::allow_trailing_bytes;
    const std::string a = object({entry("a", "U8", "[4]", 0, 4)});
    SUBCASE("accepts and reports trailing bytes") {
        auto h = must_parse(a, 7, lax);
        CHECK(h.trailing_bytes() == 3);
        CHECK(h.data_size() == 4);
        CHECK(h.data_offset() == 8 + a.size());
        check_invariants(h, 8 + a.size() + 7);
    }
    SUBCASE("no trailing bytes reports 0") {
        auto h = must_parse(a, 4, lax);
        CHECK(h.trailing_bytes() == 0);
    }
    SUBCASE("an empty header with data: all of it trailing") {
        auto h = must_parse("{}", 5, lax);
        CHECK(h.trailing_bytes() == 5);
        CHECK(h.data_size() == 0);
    }
    SUBCASE("strict, the default, refuses the same file") { CHECK(run(a, 7) == errc::trailing_bytes); }
    SUBCASE("gaps are still refused") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[1]", 5, 6)}), 6, lax) == errc::data_gap);
    }
    SUBCASE("overlaps are still refused") {
        CHECK(run(object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[1]", 3, 4)}), 6, lax) == errc::data_overlap);
    }
    SUBCASE("missing bytes are still refused") { CHECK(run(a, 3, lax) == errc::data_past_end); }
}

TEST_CASE("header_limits") {
    SUBCASE("rank at and over a lowered limit") {
        parse_options opt;
        opt.limits.max_rank = 3;
        CHECK(run(object({entry("a", "U8", "[1,1,1]", 0, 1)}), 1, opt) == errc::ok);
        CHECK(run(object({entry("a", "U8", "[1,1,1,1]", 0, 1)}), 1, opt) == errc::limit_exceeded);
    }
    SUBCASE("rank at and over the default 256") {
        auto shape = [](std::size_t rank) {
            std::string s = "[";
            for (std::size_t i = 0; i < rank; ++i) s += i ? ",1" : "1";
            return s + "]";
        };
        CHECK(run(object({entry("a", "U8", shape(256), 0, 1)}), 1) == errc::ok);
        CHECK(run(object({entry("a", "U8", shape(257), 0, 1)}), 1) == errc::limit_exceeded);
        // The same entry spelled so that the fast path reads the whole shape, then gives up at
        // the space and hands the entry to the general path: the dimensions it pushed must not
        // count against the room the census of separators reserved (a 256-dimension shape
        // pushed twice overflowed it, refusing a valid header as "more dimensions than JSON").
        for (std::size_t rank : {2u, 200u, 256u}) {
            CAPTURE(rank);
            const std::string json = "{\"a\":{\"dtype\":\"U8\",\"shape\":" + shape(rank) + ",\"data_offsets\":[0,1] }}";
            auto r = parse_bytes(framed(json, zeros(1)));
            REQUIRE(outcome_of(r) == errc::ok);
            CHECK(r->tensors()[0].rank() == rank);
            CHECK(r->tensors()[0].numel() == 1);
        }
    }
    SUBCASE("rank limit 0 allows scalars only") {
        parse_options opt;
        opt.limits.max_rank = 0;
        CHECK(run(object({entry("a", "U8", "[]", 0, 1)}), 1, opt) == errc::ok);
        CHECK(run(object({entry("a", "U8", "[1]", 0, 1)}), 1, opt) == errc::limit_exceeded);
    }
    SUBCASE("tensor count at and over the limit") {
        parse_options opt;
        opt.limits.max_tensors = 3;
        CHECK(run(object({entry("a", "U8", "[1]", 0, 1), entry("b", "U8", "[1]", 1, 2), entry("c", "U8", "[1]", 2, 3)}), 3, opt) ==
              errc::ok);
        CHECK(run(object({entry("a", "U8", "[1]", 0, 1), entry("b", "U8", "[1]", 1, 2), entry("c", "U8", "[1]", 2, 3),
                          entry("d", "U8", "[1]", 3, 4)}),
                  4, opt) == errc::limit_exceeded);
    }
    SUBCASE("metadata entries do not count as tensors") {
        parse_options opt;
        opt.limits.max_tensors = 1;
        CHECK(run(object({R"("__metadata__":{"a":"1","b":"2","c":"3"})", entry("a", "U8", "[1]", 0, 1)}), 1, opt) == errc::ok);
    }
    SUBCASE("name length at and over the limit, in bytes") {
        parse_options opt;
        opt.limits.max_name_length = 8;
        CHECK(run(object({entry("abcdefgh", "U8", "[1]", 0, 1)}), 1, opt) == errc::ok);
        auto r = parse_bytes(framed(object({entry("abcdefghi", "U8", "[1]", 0, 1)}), zeros(1)), opt);
        CHECK(outcome_of(r) == errc::limit_exceeded);
        CHECK(std::string_view(r.error().tensor()) == "abcdefghi");
        // Four 2-byte characters are 8 bytes; a fifth makes 10.
        CHECK(run(object({entry("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "U8", "[1]", 0, 1)}), 1, opt) == errc::ok);
        CHECK(run(object({entry("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "U8", "[1]", 0, 1)}), 1, opt) == errc::limit_exceeded);
    }
    SUBCASE("name length counts unescaped bytes, not JSON text") {
        parse_options opt;
        opt.limits.max_name_length = 4;
        // 24 characters of JSON, 4 bytes of name.
        CHECK(run(object({entry(R"(\u0061\u0062\u0063\u0064)", "U8", "[1]", 0, 1)}), 1, opt) == errc::ok);
        CHECK(run(object({entry(R"(\u0061\u0062\u0063\u0064\u0065)", "U8", "[1]", 0, 1)}), 1, opt) == errc::limit_exceeded);
    }
    SUBCASE("header size at and over a lowered limit") {
        parse_options opt;
        opt.limits.max_header_size = 16;
        CHECK(run(std::string("{}") + std::string(14, ' '), 0, opt) == errc::ok);
        CHECK(run(std::string("{}") + std::string(15, ' '), 0, opt) == errc::header_too_large);
    }
}

TEST_CASE("error offsets point at the fault") {
    const std::string a16 = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";  // 57 bytes
    REQUIRE(a16.size() == 57);
    SUBCASE("framing errors are at byte 0") {
        CHECK(parse_bytes(framed_n(100, "{}")).error().offset() == 0);
        CHECK(parse_bytes(le64(0)).error().offset() == 0);
        CHECK(parse_bytes(std::string(3, 'x')).error().offset() == 0);
        CHECK(parse_bytes(framed_n(u64_max, "{}")).error().offset() == 0);
    }
    SUBCASE("a control character at its own byte") {
        std::string json = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16],"note":"x)" "\x01" R"("}})";
        auto r = parse_bytes(framed(json, zeros(16)));
        REQUIRE(outcome_of(r) == errc::header_not_json);
        CHECK(r.error().offset() == 8 + json.find('\x01'));
    }
    SUBCASE("trailing bytes where the tensors end") {
        auto r = parse_bytes(framed(a16, zeros(16) + "XYZ"));
        REQUIRE(outcome_of(r) == errc::trailing_bytes);
        CHECK(r.error().offset() == 8 + 57 + 16);
    }
    SUBCASE("a gap at the start of the tensor after it") {
        std::string json = object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 20, 24)});
        auto r = parse_bytes(framed(json, zeros(24)));
        REQUIRE(outcome_of(r) == errc::data_gap);
        CHECK(r.error().offset() == 8 + json.size() + 20);
    }
    SUBCASE("an overlap at the overlapping tensor's start") {
        std::string json = object({entry("a", "U8", "[4]", 0, 4), entry("b", "U8", "[4]", 2, 6)});
        auto r = parse_bytes(framed(json, zeros(6)));
        REQUIRE(outcome_of(r) == errc::data_overlap);
        CHECK(r.error().offset() == 8 + json.size() + 2);
    }
    SUBCASE("data past the end at the end of the file") {
        auto r = parse_bytes(framed(a16, zeros(10)));
        REQUIRE(outcome_of(r) == errc::data_past_end);
        CHECK(r.error().offset() == 8 + 57 + 10);
    }
    SUBCASE("a second object right after the first") {
        auto r = parse_bytes(framed("{}{}"));
        REQUIRE(outcome_of(r) == errc::header_not_json);
        CHECK(r.error().offset() == 8 + 2);
    }
    SUBCASE("invalid UTF-8 no later than its byte, a non-object at the start of the header") {
        auto u = parse_bytes(framed("{\"\xff\":1}"));
        REQUIRE(outcome_of(u) == errc::header_not_utf8);
        CHECK(u.error().offset() >= 8);
        CHECK(u.error().offset() <= 8 + 2);
        CHECK(parse_bytes(framed("  []")).error().offset() >= 8);
        CHECK(parse_bytes(framed("[]")).error().offset() == 8);
    }
    SUBCASE("errors name the tensor") {
        auto r = parse_bytes(framed(R"({"ok":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"bad":{"dtype":"X","shape":[1],"data_offsets":[1,2]}})",
                                    zeros(2)));
        REQUIRE(outcome_of(r) == errc::unknown_dtype);
        CHECK(std::string_view(r.error().tensor()) == "bad");
        CHECK(std::string_view(r.error().detail()) == "X");
        CHECK(r.error().to_string().find("tensor 'bad'") != std::string::npos);
    }
}

TEST_CASE("header_parser: in place or copied, reused across headers") {
    header_parser p;
    const std::string big = R"({"__metadata__":{"k":"v"},"t":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}})";
    const std::string small = R"({"u":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
    SUBCASE("parsed in place with data bytes that look like JSON right after") {
        // The data section follows the JSON in memory; bytes there must not leak into parsing.
        std::string file = big + std::string(64, '"') + "}\\\x01";
        std::span<const char> json(file.data(), big.size());
        auto r = p.parse(json, 8 + file.size(), {}, file.size() - big.size());
        INFO(outcome_of(r));
        // The file is 8 + N + 67 bytes: 3 bytes trailing.
        CHECK(outcome_of(r) == errc::trailing_bytes);
        parse_options lax;
        lax.validation = validation::allow_trailing_bytes;
        auto l = p.parse(json, 8 + file.size(), lax, file.size() - big.size());
        REQUIRE(l.has_value());
        CHECK(l->trailing_bytes() == 3);
        CHECK(l->find("t")->end == 64);
    }
    SUBCASE("the same parser, a big header then a small one then a bad one") {
        auto r1 = p.parse(std::span<const char>(big.data(), big.size()), 8 + big.size() + 64);
        REQUIRE(r1.has_value());
        auto r2 = p.parse(std::span<const char>(small.data(), small.size()), 8 + small.size() + 2);
        REQUIRE(r2.has_value());
        CHECK(r2->find("t") == nullptr);
        CHECK(r2->find("u") != nullptr);
        CHECK_FALSE(r2->has_metadata());
        // The first header is still intact: it owns its memory.
        CHECK(r1->find("t") != nullptr);
        CHECK(r1->metadata_value("k") == "v");
        const std::string bad = R"({"u":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},})";
        CHECK(outcome_of(p.parse(std::span<const char>(bad.data(), bad.size()), 8 + bad.size() + 2)) == errc::header_not_json);
        auto r3 = p.parse(std::span<const char>(small.data(), small.size()), 8 + small.size() + 2);
        CHECK(r3.has_value());
    }
    SUBCASE("an empty span is not JSON") {
        CHECK(outcome_of(p.parse(std::span<const char>(), 8)) == errc::header_not_json);
    }
}

}  // TEST_SUITE
