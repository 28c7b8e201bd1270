// SPDX-License-Identifier: MIT
// The writer: the canonical layout checked against headers written out by hand here (not
// against the emitter's own output), streaming in pieces of random sizes, every error the
// streaming API reports, zero-size tensors and scalars, atomic saves (the final name only ever
// holds a complete file; a failed save leaves the old file byte-identical and no temp files),
// and `entry_of` for views of several element types.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/element_types.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/extents.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/io/atomic_file.hpp>
#include <safeshard/io/memory.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/files.hpp"

namespace {

using namespace safeshard;
using namespace safeshard::test;

// ---- helpers -------------------------------------------------------------------------------

// A file as the format defines it: N little-endian, the JSON padded with spaces to a multiple
// of 8, then the data. Written here from the spec, independently of the emitter.
std::vector<std::byte> canonical_file(std::string json, std::span<const std::byte> data) {
    while (json.size() % 8) json.push_back(' ');
    std::vector<std::byte> out(8);
    std::uint64_t n = json.size();
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
    for (char c : json) out.push_back(static_cast<std::byte>(c));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

std::string as_string(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

// One tensor to write, owning its name, shape and bytes (entries and specs borrow them).
struct owned_tensor {
    std::string name;
    dtype type;
    std::vector<std::uint64_t> shape;
    std::vector<std::byte> data;
};

std::vector<tensor_entry> entries_of(const std::vector<owned_tensor>& ts) {
    std::vector<tensor_entry> out;
    for (const auto& t : ts) out.push_back(tensor_entry{t.name, t.type, t.shape, t.data});
    return out;
}

std::vector<tensor_spec> specs_of(const std::vector<owned_tensor>& ts) {
    std::vector<tensor_spec> out;
    for (const auto& t : ts) out.push_back(tensor_spec{t.name, t.type, t.shape});
    return out;
}

const owned_tensor& by_name(const std::vector<owned_tensor>& ts, std::string_view name) {
    for (const auto& t : ts)
        if (t.name == name) return t;
    FAIL("no tensor " << std::string(name));
    return ts.front();
}

// The tensors of the canonical-layout test, in a scrambled order, with the byte order of names
// mattering: "Z" (0x5A) sorts before "a", and "B" before "\xc3\xa9" (é), which a signed char
// comparison would put first. Sizes: numel × bits / 8.
std::vector<owned_tensor> canonical_tensors() {
    std::vector<owned_tensor> ts = {
        {"b", dtype::F32, {2, 3}, {}},
        {"m", dtype::BF16, {5}, {}},
        {"q\"\\\x01", dtype::BOOL, {1}, {}},
        {"\xc3\xa9", dtype::U8, {3}, {}},
        {"z", dtype::I64, {2}, {}},
        {"a", dtype::F32, {3}, {}},
        {"f4", dtype::F4, {4}, {}},
        {"u", dtype::U64, {}, {}},
        {"B", dtype::U8, {2}, {}},
        {"c", dtype::C64, {1}, {}},
        {"Z", dtype::F32, {1}, {}},
        {"d", dtype::F64, {1}, {}},
    };
    const std::size_t sizes[] = {24, 10, 1, 3, 16, 12, 2, 8, 2, 8, 4, 8};
    for (std::size_t i = 0; i < ts.size(); ++i) ts[i].data = pattern(sizes[i], i + 1);
    return ts;
}

// The data order of canonical_tensors(), and the header the reference writer produces for it.
const std::vector<std::string> canonical_order = {"u", "z", "d", "c", "Z", "a", "b", "m", "B", "\xc3\xa9", "f4", "q\"\\\x01"};
const std::string canonical_json =
    R"({"u":{"dtype":"U64","shape":[],"data_offsets":[0,8]},)"
    R"("z":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},)"
    R"("d":{"dtype":"F64","shape":[1],"data_offsets":[24,32]},)"
    R"("c":{"dtype":"C64","shape":[1],"data_offsets":[32,40]},)"
    R"("Z":{"dtype":"F32","shape":[1],"data_offsets":[40,44]},)"
    R"("a":{"dtype":"F32","shape":[3],"data_offsets":[44,56]},)"
    R"("b":{"dtype":"F32","shape":[2,3],"data_offsets":[56,80]},)"
    R"("m":{"dtype":"BF16","shape":[5],"data_offsets":[80,90]},)"
    R"("B":{"dtype":"U8","shape":[2],"data_offsets":[90,92]},)"
    "\"\xc3\xa9\""
    R"(:{"dtype":"U8","shape":[3],"data_offsets":[92,95]},)"
    R"("f4":{"dtype":"F4","shape":[4],"data_offsets":[95,97]},)"
    R"("q\"\\\u0001":{"dtype":"BOOL","shape":[1],"data_offsets":[97,98]}})";

std::vector<std::byte> concat_in_order(const std::vector<owned_tensor>& ts, const std::vector<std::string>& order) {
    std::vector<std::byte> data;
    for (const auto& n : order) {
        const auto& t = by_name(ts, n);
        data.insert(data.end(), t.data.begin(), t.data.end());
    }
    return data;
}

// Writes `ts` through a basic_file_writer in pieces of random sizes (zero included), taking
// the tensors in the order `next()` gives, and returns the bytes.
std::vector<std::byte> stream_in_pieces(const std::vector<owned_tensor>& ts, std::mt19937_64& rng,
                                        std::vector<std::string>* seen_order = nullptr) {
    std::vector<std::byte> out;
    auto specs = specs_of(ts);
    auto w = basic_file_writer<io::memory_sink>::start(io::memory_sink(out), specs);
    REQUIRE(w);
    while (const tensor_spec* s = w->next()) {
        if (seen_order) seen_order->emplace_back(s->name);
        const auto& t = by_name(ts, s->name);
        std::size_t done = 0;
        while (done < t.data.size()) {
            std::size_t left = t.data.size() - done;
            std::size_t n = std::uniform_int_distribution<std::size_t>(0, std::min<std::size_t>(left, 7))(rng);
            if (rng() % 4 == 0) n = left;  // sometimes the whole rest at once
            REQUIRE(w->write(s->name, std::span<const std::byte>(t.data).subspan(done, n)).ok());
            done += n;
        }
    }
    CHECK(w->finish().ok());
    return out;
}

}  // namespace

TEST_SUITE("writer") {

// ---- the canonical layout ------------------------------------------------------------------

TEST_CASE("save_to_memory writes the reference writer's bytes: dtype descending, then name bytes") {
    const auto ts = canonical_tensors();
    const auto entries = entries_of(ts);
    auto bytes = save_to_memory(entries);
    REQUIRE(bytes);
    const auto expected = canonical_file(canonical_json, concat_in_order(ts, canonical_order));
    CHECK(as_string(*bytes) == as_string(expected));

    // The header is padded to 8, so every whole-byte tensor starts at a multiple of its
    // element size in the file (what makes zero-copy views possible).
    auto r = open_memory(*bytes);
    REQUIRE(r);
    CHECK(r->header().data_offset() % 8 == 0);
    CHECK(r->tensors().size() == ts.size());
    for (const auto& t : ts) {
        const tensor_info* info = r->find(t.name);
        REQUIRE(info != nullptr);
        CHECK(info->dtype == t.type);
        CHECK(std::vector<std::uint64_t>(info->shape.begin(), info->shape.end()) == t.shape);
        if (byte_size(t.type)) CHECK((r->header().data_offset() + info->begin) % byte_size(t.type) == 0);
        std::vector<std::byte> back(t.data.size());
        REQUIRE(r->read_bytes(*info, back).ok());
        CHECK(same_bytes(back, t.data));
    }
}

TEST_CASE("the input order does not matter") {
    auto ts = canonical_tensors();
    const auto want = canonical_file(canonical_json, concat_in_order(ts, canonical_order));
    std::mt19937_64 rng(7);
    for (int i = 0; i < 10; ++i) {
        std::shuffle(ts.begin(), ts.end(), rng);
        auto bytes = save_to_memory(entries_of(ts));
        REQUIRE(bytes);
        CHECK(same_bytes(*bytes, want));
    }
}

TEST_CASE("metadata comes first, keys sorted, strings escaped") {
    std::vector<owned_tensor> ts = {{"x", dtype::I16, {2}, pattern(4, 9)}};
    const metadata_entry meta[] = {{"format", "pt"}, {"b\tkey", "v\"1\""}, {"a", "line\nbreak"}};
    auto bytes = save_to_memory(entries_of(ts), meta);
    REQUIRE(bytes);
    const std::string json = R"({"__metadata__":{"a":"line\nbreak","b\tkey":"v\"1\"","format":"pt"},)"
                             R"("x":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}})";
    CHECK(as_string(*bytes) == as_string(canonical_file(json, ts[0].data)));

    auto r = open_memory(*bytes);
    REQUIRE(r);
    CHECK(r->header().metadata_value("a") == std::optional<std::string_view>("line\nbreak"));
    CHECK(r->header().metadata_value("b\tkey") == std::optional<std::string_view>("v\"1\""));
    CHECK(r->header().metadata_value("format") == std::optional<std::string_view>("pt"));
}

TEST_CASE("an empty file is N = 8, {} and six spaces") {
    auto bytes = save_to_memory({});
    REQUIRE(bytes);
    const char want[] = "\x08\0\0\0\0\0\0\0{}      ";
    CHECK(as_string(*bytes) == std::string(want, sizeof want - 1));
    CHECK(open_memory(*bytes).has_value());
}

TEST_CASE("zero-size tensors and scalars") {
    // Zero-size tensors take their place in the canonical order with begin == end; a scalar
    // (shape []) holds one element.
    std::vector<owned_tensor> ts = {
        {"e1", dtype::F32, {0}, {}},
        {"e2", dtype::F32, {3, 0, 2}, {}},
        {"s", dtype::F32, {}, pattern(4, 1)},
        {"t", dtype::I8, {}, pattern(1, 2)},
        {"e3", dtype::U64, {0, 5}, {}},
        {"v", dtype::F32, {2}, pattern(8, 3)},
        {"e4", dtype::BOOL, {0}, {}},
    };
    const std::string json =
        R"({"e3":{"dtype":"U64","shape":[0,5],"data_offsets":[0,0]},)"
        R"("e1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
        R"("e2":{"dtype":"F32","shape":[3,0,2],"data_offsets":[0,0]},)"
        R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
        R"("v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
        R"("t":{"dtype":"I8","shape":[],"data_offsets":[12,13]},)"
        R"("e4":{"dtype":"BOOL","shape":[0],"data_offsets":[13,13]}})";
    const auto want = canonical_file(json, concat_in_order(ts, {"s", "v", "t"}));

    SUBCASE("save_to_memory") {
        auto bytes = save_to_memory(entries_of(ts));
        REQUIRE(bytes);
        CHECK(as_string(*bytes) == as_string(want));
        auto r = open_memory(*bytes);
        REQUIRE(r);
        const tensor_info* s = r->find("s");
        REQUIRE(s != nullptr);
        CHECK(s->rank() == 0);
        CHECK(s->byte_size() == 4);
        const tensor_info* e2 = r->find("e2");
        REQUIRE(e2 != nullptr);
        CHECK(e2->byte_size() == 0);
        CHECK(e2->rank() == 3);
    }
    SUBCASE("streaming: next() never offers a zero-size tensor") {
        std::mt19937_64 rng(3);
        std::vector<std::string> seen;
        auto bytes = stream_in_pieces(ts, rng, &seen);
        CHECK(seen == std::vector<std::string>{"s", "v", "t"});
        CHECK(same_bytes(bytes, want));
    }
    SUBCASE("a file of zero-size tensors only is complete at once") {
        std::vector<owned_tensor> empty = {{"a", dtype::F32, {0}, {}}, {"b", dtype::I8, {2, 0}, {}}};
        std::vector<std::byte> out;
        auto specs = specs_of(empty);
        auto w = basic_file_writer<io::memory_sink>::start(io::memory_sink(out), specs);
        REQUIRE(w);
        CHECK(w->next() == nullptr);
        CHECK(w->finish().ok());
        const std::string j = R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                              R"("b":{"dtype":"I8","shape":[2,0],"data_offsets":[0,0]}})";
        CHECK(as_string(out) == as_string(canonical_file(j, {})));
    }
}

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
        CHECK(std::string_view(st.error().tensor) == "b");
        CHECK(std::string_view(st.error().detail).find("not the next tensor") != std::string_view::npos);
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
        CHECK(std::string_view(st.error().tensor) == "a");
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
        CHECK(std::string_view(st.error().tensor) == "a");
        REQUIRE(w->write("a", ts[0].data).ok());
        REQUIRE(w->write("b", std::span<const std::byte>(ts[1].data).first(11)).ok());
        st = w->finish();
        CHECK(st.code() == errc::size_mismatch);
        CHECK(std::string_view(st.error().tensor) == "b");
        CHECK(std::string_view(st.error().detail).find("not fully written") != std::string_view::npos);
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
    CHECK(std::string_view(r.error().tensor) == "bias");
    const std::string want_detail = std::to_string(ts[1].data.size()) + " bytes given, dtype and shape need 6";
    CHECK(std::string_view(r.error().detail) == want_detail);
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

// ---- atomic saves --------------------------------------------------------------------------

TEST_CASE("save_file: the file holds exactly the canonical bytes; only it is left") {
    temp_dir dir;
    const std::string path = dir / "model.safetensors";
    const auto ts = canonical_tensors();
    REQUIRE(save_file(path, entries_of(ts)).ok());
    CHECK(same_bytes(read_file(path), canonical_file(canonical_json, concat_in_order(ts, canonical_order))));
    CHECK(list_dir(dir.path) == std::vector<std::string>{"model.safetensors"});
    // Saving again replaces it.
    std::vector<owned_tensor> other = {{"x", dtype::U8, {3}, pattern(3, 5)}};
    REQUIRE(save_file(path, entries_of(other)).ok());
    auto back = save_to_memory(entries_of(other));
    REQUIRE(back);
    CHECK(same_bytes(read_file(path), *back));
    CHECK(list_dir(dir.path) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("save_file: a file larger than the sink's buffer") {
    // 18 MB of one tensor goes past the 8 MiB write buffer (the direct writev path) with small
    // tensors before and after it in data order.
    temp_dir dir;
    const std::string path = dir / "big.safetensors";
    std::vector<owned_tensor> ts = {
        {"big", dtype::F32, {3000, 1500}, pattern(std::size_t{3000} * 1500 * 4, 11)},
        {"head", dtype::F64, {3}, pattern(24, 12)},
        {"tail", dtype::U8, {5}, pattern(5, 13)},
    };
    REQUIRE(save_file(path, entries_of(ts)).ok());
    auto want = save_to_memory(entries_of(ts));
    REQUIRE(want);
    CHECK(same_bytes(read_file(path), *want));
    CHECK(list_dir(dir.path) == std::vector<std::string>{"big.safetensors"});
}

TEST_CASE("atomic save: the final name only ever holds a complete file") {
    temp_dir dir;
    const std::string path = dir / "model.safetensors";
    const auto ts = canonical_tensors();
    const auto want = canonical_file(canonical_json, concat_in_order(ts, canonical_order));
    std::vector<owned_tensor> old_ts = {{"old", dtype::I32, {4}, pattern(16, 99)}};
    std::vector<std::byte> old_bytes;

    SUBCASE("no file before") {}
    SUBCASE("an old file before") {
        REQUIRE(save_file(path, entries_of(old_ts)).ok());
        old_bytes = read_file(path);
        REQUIRE(!old_bytes.empty());
    }
    auto check_unchanged = [&]() {
        if (old_bytes.empty()) CHECK_FALSE(exists(path));
        else CHECK(same_bytes(read_file(path), old_bytes));
    };

    auto sink = io::atomic_file_sink::create(path);
    REQUIRE(sink);
    auto specs = specs_of(ts);
    auto w = basic_file_writer<io::atomic_file_sink>::start(std::move(*sink), specs);
    REQUIRE(w);
    check_unchanged();
    std::size_t k = 0;
    while (const tensor_spec* s = w->next()) {
        const auto& t = by_name(ts, s->name);
        REQUIRE(w->write(s->name, t.data).ok());
        // Mid-way, the directory holds the old file (if any) and one temp file of ours.
        if (++k == 4) {
            check_unchanged();
            auto names = list_dir(dir.path);
            CHECK(names.size() == (old_bytes.empty() ? 1u : 2u));
            std::size_t temps = 0;
            for (const auto& n : names) temps += io::is_temp_file_name(n) ? 1 : 0;
            CHECK(temps == 1);
        }
    }
    check_unchanged();  // every byte written, but not committed
    REQUIRE(w->finish().ok());
    CHECK(same_bytes(read_file(path), want));
    CHECK(list_dir(dir.path) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("atomic save: an existing file survives a failed save byte-identical, no temp files left") {
    temp_dir dir;
    const std::string path = dir / "model.safetensors";
    std::vector<owned_tensor> old_ts = {{"old", dtype::I32, {4}, pattern(16, 99)}, {"x", dtype::U8, {1}, pattern(1, 98)}};
    REQUIRE(save_file(path, entries_of(old_ts)).ok());
    const auto old_bytes = read_file(path);

    // The new save's tensors; the big one makes the sink write to its temp file before the
    // failure, so a failed save has something on disk to clean up.
    std::vector<owned_tensor> ts = {
        {"big", dtype::F64, {1200, 1000}, pattern(std::size_t{1200} * 1000 * 8, 1)},
        {"w", dtype::F32, {2, 3}, pattern(24, 2)},
        {"z", dtype::U8, {4}, pattern(4, 3)},
    };
    std::vector<metadata_entry> meta;
    errc want = errc::ok;
    std::string want_tensor;
    SUBCASE("an entry with the wrong byte count (the last in data order)") {
        ts[2].data.pop_back();
        want = errc::size_mismatch;
        want_tensor = "z";
    }
    SUBCASE("an entry with the wrong byte count (the first in data order)") {
        ts[0].data.push_back(std::byte{0});
        want = errc::size_mismatch;
        want_tensor = "big";
    }
    SUBCASE("duplicate names") {
        ts[2].name = "w";
        ts[2].type = dtype::F32;
        ts[2].shape = {2, 3};
        ts[2].data = pattern(24, 4);
        want = errc::duplicate_tensor;
        want_tensor = "w";
    }
    SUBCASE("a tensor named __metadata__") {
        ts[1].name = "__metadata__";
        want = errc::invalid_argument;
        want_tensor = "__metadata__";
    }
    SUBCASE("duplicate metadata keys") {
        meta = {{"format", "pt"}, {"format", "np"}};
        want = errc::duplicate_metadata_key;
    }
    status st = save_file(path, entries_of(ts), meta);
    CHECK(st.code() == want);
    CHECK(std::string_view(st.error().file) == path);
    CHECK(std::string_view(st.error().tensor) == want_tensor);
    CHECK(st.error().to_string().find(path) != std::string::npos);
    CHECK(same_bytes(read_file(path), old_bytes));
    CHECK(list_dir(dir.path) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("atomic save: an abandoned or incomplete streaming save changes nothing") {
    temp_dir dir;
    const std::string path = dir / "model.safetensors";
    std::vector<owned_tensor> old_ts = {{"old", dtype::I32, {4}, pattern(16, 99)}};
    REQUIRE(save_file(path, entries_of(old_ts)).ok());
    const auto old_bytes = read_file(path);
    std::vector<owned_tensor> ts = {{"a", dtype::F32, {2}, pattern(8, 1)}, {"b", dtype::F64, {2}, pattern(16, 2)}};
    auto specs = specs_of(ts);

    SUBCASE("destroyed mid-way") {
        auto sink = io::atomic_file_sink::create(path);
        REQUIRE(sink);
        auto w = basic_file_writer<io::atomic_file_sink>::start(std::move(*sink), specs);
        REQUIRE(w);
        REQUIRE(w->write("b", ts[1].data).ok());
        CHECK(list_dir(dir.path).size() == 2);  // the old file and our temp file
    }
    SUBCASE("finish before complete, then destroyed") {
        auto sink = io::atomic_file_sink::create(path);
        REQUIRE(sink);
        auto w = basic_file_writer<io::atomic_file_sink>::start(std::move(*sink), specs);
        REQUIRE(w);
        REQUIRE(w->write("b", ts[1].data).ok());
        REQUIRE(w->write("a", std::span<const std::byte>(ts[0].data).first(7)).ok());
        status st = w->finish();
        CHECK(st.code() == errc::size_mismatch);
        CHECK(std::string_view(st.error().tensor) == "a");
        CHECK(same_bytes(read_file(path), old_bytes));
    }
    CHECK(same_bytes(read_file(path), old_bytes));
    CHECK(list_dir(dir.path) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("save_file: paths that cannot be written name the path") {
    temp_dir dir;
    std::vector<owned_tensor> ts = {{"a", dtype::F32, {2}, pattern(8, 1)}};
    SUBCASE("missing directory") {
        const std::string path = dir / "no-such-dir/model.safetensors";
        status st = save_file(path, entries_of(ts));
        CHECK(st.code() == errc::io_error);
        CHECK(std::string_view(st.error().file) == path);
    }
    SUBCASE("a path ending in '/'") {
        const std::string path = dir.path + "/";
        status st = save_file(path, entries_of(ts));
        CHECK(st.code() == errc::invalid_argument);
        CHECK(std::string_view(st.error().file) == path);
    }
    CHECK(list_dir(dir.path).empty());
}

// ---- entry_of ------------------------------------------------------------------------------

template <class V>
concept can_make_entry = requires(V v) { entry_of(std::string_view{}, v); };

struct no_dtype {
    int x;
};

// Only packed row-major views of types with a dtype have an entry: a strided view's bytes
// are not one run, and a type without a dtype has nothing to write in "dtype".
static_assert(can_make_entry<tensor_view<float, dextents<std::size_t, 2>>>);
static_assert(can_make_entry<tensor_view<const bf16, extents<std::uint32_t, 2, 2>>>);
static_assert(!can_make_entry<strided_view<float, std::size_t, 2>>);
static_assert(!can_make_entry<tensor_view<no_dtype, dextents<std::size_t, 1>>>);

TEST_CASE("entry_of: dtype from the element type, shape from the extents, bytes borrowed") {
    float f[6] = {1, 2, 3, 4, 5, 6};
    const std::int64_t i64[4] = {-1, 2, -3, 4};
    bf16 b[8];
    for (int i = 0; i < 8; ++i) b[i] = bf16(static_cast<float>(i) * 0.5f);
    bool flag = true;
    std::uint8_t u8[1] = {7};
    std::complex<float> c[2] = {{1, 2}, {3, 4}};
    f8_e4m3 e4[3] = {f8_e4m3(1.0f), f8_e4m3(-2.0f), f8_e4m3(0.25f)};
    f16 h[2] = {f16(1.5f), f16(-0.5f)};
    double d[3] = {0.1, 0.2, 0.3};
    std::uint16_t u16[2] = {1, 65535};

    const tensor_entry entries[] = {
        entry_of("f32", make_view(f, 2, 3)),
        entry_of("i64", tensor_view<const std::int64_t, extents<std::uint32_t, 4>>(i64)),
        entry_of("bf16", make_view(b, 2, 2, 2)),
        entry_of("bool", make_view(&flag)),
        entry_of("u8_empty", make_view(u8, 0, 5)),
        entry_of("c64", make_view(c, 2)),
        entry_of("e4m3", make_view(e4, 3, 1)),
        entry_of("f16", make_view<std::uint32_t>(h, 2)),
        entry_of("f64", make_view(d, 1, 3)),
        entry_of("u16", make_view(u16, 2)),
    };
    struct want_t {
        dtype type;
        std::vector<std::uint64_t> shape;
        const void* data;
        std::size_t bytes;
    };
    const want_t want[] = {
        {dtype::F32, {2, 3}, f, 24},      {dtype::I64, {4}, i64, 32},     {dtype::BF16, {2, 2, 2}, b, 16},
        {dtype::BOOL, {}, &flag, 1},      {dtype::U8, {0, 5}, u8, 0},     {dtype::C64, {2}, c, 16},
        {dtype::F8_E4M3, {3, 1}, e4, 3},  {dtype::F16, {2}, h, 4},        {dtype::F64, {1, 3}, d, 24},
        {dtype::U16, {2}, u16, 4},
    };
    for (std::size_t i = 0; i < std::size(entries); ++i) {
        CAPTURE(i);
        CHECK(entries[i].dtype == want[i].type);
        CHECK(entries[i].shape == want[i].shape);
        CHECK(entries[i].data.size() == want[i].bytes);
        if (want[i].bytes) CHECK(static_cast<const void*>(entries[i].data.data()) == want[i].data);
    }

    // And they save and read back as the values they hold.
    auto bytes = save_to_memory(entries);
    REQUIRE(bytes);
    auto r = open_memory(*bytes);
    REQUIRE(r);
    float fb[6] = {};
    REQUIRE(r->read("f32", make_view<std::uint64_t>(fb, 2, 3)).ok());
    CHECK(std::memcmp(fb, f, sizeof f) == 0);
    std::int64_t ib[4] = {};
    REQUIRE(r->read("i64", make_view<std::uint64_t>(ib, 4)).ok());
    CHECK(std::memcmp(ib, i64, sizeof i64) == 0);
    bf16 bb[8] = {};
    REQUIRE(r->read("bf16", make_view(bb, 2, 2, 2)).ok());
    for (int i = 0; i < 8; ++i) CHECK(static_cast<float>(bb[i]) == static_cast<float>(i) * 0.5f);
    // The scalar by its bytes: reading a rank-0 view does not compile yet (see reader.cpp).
    const tensor_info* s = r->find("bool");
    REQUIRE(s != nullptr);
    CHECK(s->rank() == 0);
    std::byte flag_back[1] = {};
    REQUIRE(r->read_bytes(*s, flag_back).ok());
    CHECK(flag_back[0] == std::byte{1});
    std::complex<float> cb[2];
    REQUIRE(r->read("c64", make_view(cb, 2)).ok());
    CHECK(cb[1] == std::complex<float>(3, 4));
    f8_e4m3 eb[3];
    REQUIRE(r->read("e4m3", make_view(eb, 3, 1)).ok());
    CHECK(static_cast<float>(eb[1]) == -2.0f);
    f16 hb[2];
    REQUIRE(r->read("f16", make_view(hb, 2)).ok());
    CHECK(static_cast<float>(hb[0]) == 1.5f);
    double db[3];
    REQUIRE(r->read("f64", make_view(db, 1, 3)).ok());
    CHECK(db[2] == 0.3);
    std::uint16_t ub[2];
    REQUIRE(r->read("u16", make_view(ub, 2)).ok());
    CHECK(ub[1] == 65535);
    const tensor_info* e = r->find("u8_empty");
    REQUIRE(e != nullptr);
    CHECK(e->byte_size() == 0);
}

}  // TEST_SUITE("writer")
