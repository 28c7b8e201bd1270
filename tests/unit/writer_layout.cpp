// SPDX-License-Identifier: MIT
// The writer, part 1 of 3: the bytes save_to_memory and save_file write: the canonical layout,
// checked against headers written out by hand (dtype descending then name bytes, metadata
// first, padding, zero-size tensors and scalars), and atomic saves: the final name only ever
// holds a complete file; a failed, abandoned or incomplete save leaves the old file
// byte-identical and no temp files; paths that cannot be written are named.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/io/atomic_file.hpp>
#include <safeshard/io/memory.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
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
    CHECK(std::string_view(st.error().file()) == path);
    CHECK(std::string_view(st.error().tensor()) == want_tensor);
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
        CHECK(std::string_view(st.error().tensor()) == "a");
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
        CHECK(std::string_view(st.error().file()) == path);
    }
    SUBCASE("a path ending in '/'") {
        const std::string path = dir.path + "/";
        status st = save_file(path, entries_of(ts));
        CHECK(st.code() == errc::invalid_argument);
        CHECK(std::string_view(st.error().file()) == path);
    }
    CHECK(list_dir(dir.path).empty());
}

}  // TEST_SUITE("writer")
