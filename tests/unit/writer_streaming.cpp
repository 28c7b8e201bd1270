// SPDX-License-Identifier: MIT
// The writer, part 2 of 3: basic_file_writer streaming in pieces of random sizes, its layout,
// its copies of the specs, and every error the streaming API and save_to_memory report.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/io/memory.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/files.hpp"
#include "../support/writer.hpp"

using namespace safeshard;
using namespace safeshard::test;

TEST_SUITE("writer") {

// ---- streaming -----------------------------------------------------------------------------

TEST_CASE("basic_file_writer: pieces of random sizes give the same bytes as save_to_memory") {
    const auto ts = canonical_tensors();
    const auto want = canonical_file(canonical_json, concat_in_order(ts, canonical_order));
    for (std::uint64_t seed = 0; seed < 25; ++seed) {
        CAPTURE(seed);
        std::mt19937_64 rng(seed);
        std::vector<std::string> seen;
        auto bytes = stream_in_pieces(ts, rng, &seen);
        CHECK(seen == canonical_order);
        CHECK(same_bytes(bytes, want));
    }
}

TEST_CASE("basic_file_writer: layout() says where each tensor goes; the sink owns its vector") {
    const auto ts = canonical_tensors();
    auto specs = specs_of(ts);
    auto w = basic_file_writer<io::memory_sink>::start(io::memory_sink(), specs);
    REQUIRE(w);
    const header_layout& l = w->layout();
    REQUIRE(l.order.size() == ts.size());
    std::uint64_t offset = 0;
    for (std::size_t k = 0; k < l.order.size(); ++k) {
        const std::uint32_t i = l.order[k];
        CHECK(ts[i].name == canonical_order[k]);
        CHECK(l.begin[i] == offset);
        CHECK(l.size[i] == ts[i].data.size());
        offset += ts[i].data.size();
    }
    CHECK(l.data_size == 98);
    CHECK(l.data_offset() % 8 == 0);
    CHECK(l.file_size() == l.data_offset() + 98);
    // The header is in the sink already, before any data.
    CHECK(w->sink().position() == l.data_offset());
    // The specs were copied: the writer keeps working after the caller's strings are gone.
    specs.clear();
    for (const auto& n : canonical_order) {
        const auto& t = by_name(ts, n);
        REQUIRE(w->write(n, t.data).ok());
    }
    REQUIRE(w->finish().ok());
    CHECK(same_bytes(w->sink().bytes(), canonical_file(canonical_json, concat_in_order(ts, canonical_order))));
}

TEST_CASE("basic_file_writer: the names and shapes are copied at start") {
    // Specs whose strings die before the data is written: the writer must not borrow them.
    std::vector<std::byte> out;
    std::vector<std::byte> d1 = pattern(8, 1), d2 = pattern(6, 2);
    auto make = [&]() {
        std::string n1 = "first-tensor-with-a-long-name-beyond-sso", n2 = "second";
        std::vector<std::uint64_t> s1 = {2}, s2 = {3};
        const tensor_spec specs[] = {{n1, dtype::F32, s1}, {n2, dtype::I16, s2}};
        auto w = basic_file_writer<io::memory_sink>::start(io::memory_sink(out), specs);
        REQUIRE(w);
        n1.assign(n1.size(), 'x');
        n2.assign(n2.size(), 'y');
        s1[0] = 99;
        s2[0] = 99;
        return std::move(*w);
    };
    auto w = make();
    REQUIRE(w.next() != nullptr);
    CHECK(w.next()->name == "first-tensor-with-a-long-name-beyond-sso");
    CHECK(w.next()->shape[0] == 2);
    REQUIRE(w.write("first-tensor-with-a-long-name-beyond-sso", d1).ok());
    REQUIRE(w.next() != nullptr);
    CHECK(w.next()->name == "second");
    REQUIRE(w.write("second", d2).ok());
    REQUIRE(w.finish().ok());
    auto r = open_memory(out);
    REQUIRE(r);
    REQUIRE(r->find("second") != nullptr);
    CHECK(r->find("second")->shape[0] == 3);
}

// ---- errors --------------------------------------------------------------------------------

TEST_CASE("basic_file_writer: misuse is reported and writes nothing") {
    std::vector<owned_tensor> ts = {{"a", dtype::F32, {2}, pattern(8, 1)}, {"b", dtype::F32, {3}, pattern(12, 2)}};
    const auto want = save_to_memory(entries_of(ts));
    REQUIRE(want);
    std::vector<std::byte> out;
    auto specs = specs_of(ts);
    auto w = basic_file_writer<io::memory_sink>::start(io::memory_sink(out), specs);
    REQUIRE(w);
    const std::size_t header = out.size();

    SUBCASE("wrong tensor order: invalid_argument naming the tensor given") {
        status st = w->write("b", std::span<const std::byte>(ts[1].data).first(4));
        CHECK(st.code() == errc::invalid_argument);
        CHECK(std::string_view(st.error().tensor()) == "b");
        CHECK(std::string_view(st.error().detail()).find("not the next tensor") != std::string_view::npos);
        CHECK(out.size() == header);
        status unknown = w->write("nope", ts[0].data);
        CHECK(unknown.code() == errc::invalid_argument);
        CHECK(out.size() == header);
    }
    SUBCASE("more bytes than the tensor holds: size_mismatch, nothing of the piece written") {
        REQUIRE(w->write("a", std::span<const std::byte>(ts[0].data).first(3)).ok());
        std::vector<std::byte> too_many(6);  // 3 + 6 > 8
        status st = w->write("a", too_many);
        CHECK(st.code() == errc::size_mismatch);
        CHECK(std::string_view(st.error().tensor()) == "a");
        CHECK(out.size() == header + 3);
        // Nothing was consumed: the right bytes still complete the file.
        REQUIRE(w->write("a", std::span<const std::byte>(ts[0].data).subspan(3)).ok());
        std::vector<std::byte> b_plus(13);
        CHECK(w->write("b", b_plus).code() == errc::size_mismatch);
        REQUIRE(w->write("b", ts[1].data).ok());
        REQUIRE(w->finish().ok());
        CHECK(same_bytes(out, *want));
    }
    SUBCASE("finish before every byte came: size_mismatch naming the next tensor") {
        status st = w->finish();
        CHECK(st.code() == errc::size_mismatch);
        CHECK(std::string_view(st.error().tensor()) == "a");
        REQUIRE(w->write("a", ts[0].data).ok());
        REQUIRE(w->write("b", std::span<const std::byte>(ts[1].data).first(11)).ok());
        st = w->finish();
        CHECK(st.code() == errc::size_mismatch);
        CHECK(std::string_view(st.error().tensor()) == "b");
        CHECK(std::string_view(st.error().detail()).find("not fully written") != std::string_view::npos);
    }
    SUBCASE("writing after the last tensor: invalid_argument") {
        REQUIRE(w->write("a", ts[0].data).ok());
        REQUIRE(w->write("b", ts[1].data).ok());
        CHECK(w->next() == nullptr);
        std::byte one[1] = {};
        CHECK(w->write("b", one).code() == errc::invalid_argument);
        CHECK(w->finish().ok());
        CHECK(same_bytes(out, *want));
    }
}

TEST_CASE("save_to_memory: an entry with the wrong byte count is size_mismatch naming it") {
    std::vector<owned_tensor> ts = {{"w", dtype::F32, {2, 3}, pattern(24, 1)}, {"bias", dtype::BF16, {3}, pattern(6, 2)}};
    SUBCASE("too few") { ts[1].data.pop_back(); }
    SUBCASE("too many") { ts[1].data.push_back(std::byte{1}); }
    SUBCASE("none at all") { ts[1].data.clear(); }
    auto r = save_to_memory(entries_of(ts));
    REQUIRE_FALSE(r);
    CHECK(r.code() == errc::size_mismatch);
    CHECK(std::string_view(r.error().tensor()) == "bias");
    const std::string want_detail = std::to_string(ts[1].data.size()) + " bytes given, dtype and shape need 6";
    CHECK(std::string_view(r.error().detail()) == want_detail);
    CHECK(r.error().to_string().find("tensor 'bias'") != std::string::npos);
}

TEST_CASE("save_to_memory / start: headers that cannot be written") {
    std::vector<owned_tensor> ts = {{"a", dtype::F32, {1}, pattern(4, 1)}, {"b", dtype::F32, {1}, pattern(4, 2)}};
    errc want = errc::ok;
    std::vector<metadata_entry> meta;
    SUBCASE("duplicate names") {
        ts[1].name = "a";
        want = errc::duplicate_tensor;
    }
    SUBCASE("a tensor named __metadata__") {
        ts[1].name = "__metadata__";
        want = errc::invalid_argument;
    }
    SUBCASE("a name that is not UTF-8") {
        ts[1].name = "bad\xff";
        want = errc::invalid_argument;
    }
    SUBCASE("a sub-byte tensor that does not fill whole bytes") {
        ts[1] = {"f4", dtype::F4, {3}, pattern(2, 3)};
        want = errc::sub_byte_unaligned;
    }
    SUBCASE("numel overflows") {
        ts[1] = {"huge", dtype::U8, {std::uint64_t{1} << 32, std::uint64_t{1} << 32}, {}};
        want = errc::size_overflow;
    }
    SUBCASE("duplicate metadata keys") {
        meta = {{"k", "1"}, {"k", "2"}};
        want = errc::duplicate_metadata_key;
    }
    auto r = save_to_memory(entries_of(ts), meta);
    REQUIRE_FALSE(r);
    CHECK(r.code() == want);
    auto specs = specs_of(ts);
    auto w = basic_file_writer<io::memory_sink>::start(io::memory_sink(), specs, meta);
    REQUIRE_FALSE(w);
    CHECK(w.code() == want);
}

}  // TEST_SUITE("writer")
