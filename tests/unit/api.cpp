// SPDX-License-Identifier: MIT
// The API's names and signatures agree: one name for thread counts, the dtype mapping first in
// every read and load call, braced lists for regions, a `file_writer` beside `file_reader`,
// and the traits the library relies on named by concepts.

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/consolidate.hpp>
#include <safeshard/core/element_types.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/io/atomic_file.hpp>
#include <safeshard/io/mmap_source.hpp>
#include <safeshard/io/pread_source.hpp>

#include <doctest/doctest.h>

#include <array>
#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "../support/files.hpp"

namespace {

using namespace safeshard;

// Every option struct that sets a number of threads calls it `thread_count`.
template <class Options>
concept has_thread_count = requires(Options o) { o.thread_count = 2u; };
static_assert(has_thread_count<checkpoint::storage_reader_options>);
static_assert(has_thread_count<checkpoint::storage_writer_options>);
static_assert(has_thread_count<checkpoint::consolidate_options>);

// The source traits the readers use are concepts, and the sinks the checkpoint writers use
// model the staged commit they call.
static_assert(io::copies_through_read<io::mmap_source>);
static_assert(!io::copies_through_read<io::pread_source> && !io::copies_through_read<io::memory_source>);
static_assert(io::scatter_source<io::pread_source> && io::scatter_source<io::mmap_source>);
static_assert(io::staged_sink<io::atomic_file_sink>);
static_assert(!io::staged_sink<io::memory_sink>);

// A file of one BF16 matrix whose element (i, j) holds the code i * 16 + j.
std::vector<std::byte> bf16_matrix(std::vector<std::uint16_t>& codes) {
    codes.resize(8 * 16);
    for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::uint16_t>(0x3f80 + i);
    const std::vector<std::uint64_t> shape{8, 16};
    tensor_entry e{"m", dtype::BF16, shape, std::as_bytes(std::span(codes))};
    auto bytes = save_to_memory(std::span(&e, 1));
    REQUIRE(bytes.has_value());
    return std::move(*bytes);
}

float bf16_value(std::uint16_t code) { return std::bit_cast<float>(static_cast<std::uint32_t>(code) << 16); }

}  // namespace

TEST_SUITE("api") {

TEST_CASE("the dtype mapping is the first template argument of every read and load call") {
    std::vector<std::uint16_t> codes;
    const auto file = bf16_matrix(codes);
    auto r = open_memory(file);
    REQUIRE(r.has_value());
    // load<Mapping, T, R>, as read<Mapping>(...): the mapping first.
    auto whole = r->load<dtype_map::convert, float, 2>("m");
    REQUIRE(whole.has_value());
    CHECK(whole->view()(3, 5) == bf16_value(codes[3 * 16 + 5]));
    // Without one, exact: a BF16 tensor does not load as float.
    CHECK(r->load<float, 2>("m").code() == errc::dtype_mismatch);
    CHECK(r->load<bf16, 2>("m").has_value());
    std::vector<float> out(8 * 16);
    REQUIRE(r->read<dtype_map::convert>("m", make_view(out.data(), 8, 16)).ok());
    CHECK(out[17] == bf16_value(codes[17]));

    // The checkpoint reader: an exact reader converts in the call that names convert.
    test::temp_dir dir("api");
    test::write_file(dir / "model.safetensors", file);
    auto ck = checkpoint::storage_reader::open(dir.path);
    REQUIRE(ck.has_value());
    std::vector<float> again(8 * 16, -1.0f);
    CHECK(ck->read("m", make_view(again.data(), 8, 16)).code() == errc::dtype_mismatch);
    REQUIRE(ck->read<dtype_map::convert>("m", make_view(again.data(), 8, 16)).ok());
    CHECK(again == out);
}

TEST_CASE("regions as braced lists") {
    std::vector<std::uint16_t> codes;
    const auto file = bf16_matrix(codes);
    auto r = open_memory(file);
    REQUIRE(r.has_value());
    std::vector<bf16> block(2 * 3);
    REQUIRE(r->read_slice("m", {4, 10}, {2, 3}, make_view(block.data(), 2, 3)).ok());
    CHECK(block[0].bits == codes[4 * 16 + 10]);
    CHECK(block[5].bits == codes[5 * 16 + 12]);

    test::temp_dir dir("braced");
    test::write_file(dir / "model.safetensors", file);
    auto ck = checkpoint::storage_reader::open(dir.path);
    REQUIRE(ck.has_value());
    std::vector<bf16> same(2 * 3);
    REQUIRE(ck->read_region("m", {4, 10}, make_view(same.data(), 2, 3)).ok());
    for (std::size_t k = 0; k < 6; ++k) CHECK(same[k].bits == block[k].bits);
    std::vector<float> widened(2 * 3);
    REQUIRE(ck->read_region<dtype_map::convert>("m", {4, 10}, make_view(widened.data(), 2, 3)).ok());
    CHECK(widened[4] == bf16_value(codes[5 * 16 + 11]));
}

TEST_CASE("file_writer streams to a path and commits on finish") {
    test::temp_dir dir("writer");
    const std::string path = dir / "streamed.safetensors";
    const std::uint64_t shape[] = {4, 2};
    const tensor_spec specs[] = {{"x", dtype::I32, shape}};
    auto w = file_writer::create(path, specs);
    REQUIRE(w.has_value());
    const std::int32_t first[4] = {1, 2, 3, 4}, second[4] = {5, 6, 7, 8};
    REQUIRE(w->write("x", std::as_bytes(std::span(first))).ok());
    CHECK(!test::exists(path));  // nothing under the final name before finish
    REQUIRE(w->write("x", std::as_bytes(std::span(second))).ok());
    REQUIRE(w->finish().ok());
    auto r = pread_file_reader::open(path);
    REQUIRE(r.has_value());
    std::int32_t back[8] = {};
    REQUIRE(r->read("x", make_view(back, 4, 2)).ok());
    CHECK(back[0] == 1);
    CHECK(back[7] == 8);
    // A path that cannot be written: the error names it.
    auto bad = file_writer::create(dir / "no/such/dir/x.safetensors", specs);
    REQUIRE(!bad.has_value());
    CHECK(bad.error().file().ends_with("no/such/dir/x.safetensors"));
}

}  // TEST_SUITE
