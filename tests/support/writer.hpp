// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_WRITER_HPP
#define SAFESHARD_TESTS_SUPPORT_WRITER_HPP

// Shared by the writer suite's files: the expected bytes are written here from the spec (not
// taken from the emitter), a set of tensors whose canonical order exercises every ordering
// rule, and a streaming writer driven in pieces of random sizes.

#include <safeshard/core/dtype.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/io/memory.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "files.hpp"

namespace safeshard::test {

// A file as the format defines it: N little-endian, the JSON padded with spaces to a multiple
// of 8, then the data. Written here from the spec, independently of the emitter.
inline std::vector<std::byte> canonical_file(std::string json, std::span<const std::byte> data) {
    while (json.size() % 8) json.push_back(' ');
    std::vector<std::byte> out(8);
    std::uint64_t n = json.size();
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
    for (char c : json) out.push_back(static_cast<std::byte>(c));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

inline std::string as_string(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

// One tensor to write, owning its name, shape and bytes (entries and specs borrow them).
struct owned_tensor {
    std::string name;
    dtype type;
    std::vector<std::uint64_t> shape;
    std::vector<std::byte> data;
};

inline std::vector<tensor_entry> entries_of(const std::vector<owned_tensor>& ts) {
    std::vector<tensor_entry> out;
    for (const auto& t : ts) out.push_back(tensor_entry{t.name, t.type, t.shape, t.data});
    return out;
}

inline std::vector<tensor_spec> specs_of(const std::vector<owned_tensor>& ts) {
    std::vector<tensor_spec> out;
    for (const auto& t : ts) out.push_back(tensor_spec{t.name, t.type, t.shape});
    return out;
}

inline const owned_tensor& by_name(const std::vector<owned_tensor>& ts, std::string_view name) {
    for (const auto& t : ts)
        if (t.name == name) return t;
    FAIL("no tensor " << std::string(name));
    return ts.front();
}

// The tensors of the canonical-layout test, in a scrambled order, with the byte order of names
// mattering: "Z" (0x5A) sorts before "a", and "B" before "\xc3\xa9" (é), which a signed char
// comparison would put first. Sizes: numel × bits / 8.
inline std::vector<owned_tensor> canonical_tensors() {
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
inline const std::vector<std::string> canonical_order = {"u", "z", "d", "c", "Z", "a", "b", "m", "B", "\xc3\xa9", "f4", "q\"\\\x01"};
inline const std::string canonical_json =
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

inline std::vector<std::byte> concat_in_order(const std::vector<owned_tensor>& ts, const std::vector<std::string>& order) {
    std::vector<std::byte> data;
    for (const auto& n : order) {
        const auto& t = by_name(ts, n);
        data.insert(data.end(), t.data.begin(), t.data.end());
    }
    return data;
}

// Writes `ts` through a basic_file_writer in pieces of random sizes (zero included), taking
// the tensors in the order `next()` gives, and returns the bytes.
inline std::vector<std::byte> stream_in_pieces(const std::vector<owned_tensor>& ts, std::mt19937_64& rng,
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

}  // namespace safeshard::test

#endif
