// SPDX-License-Identifier: MIT
// The memory the library keeps per thread between calls: what fills it (header parses, strided
// reads, recycled blocks), that release_thread_caches() frees it (and the process's resident
// memory drops by it), and that set_thread_cache_limit() bounds what a thread keeps.

#include <safeshard/core/thread_caches.hpp>
#include <safeshard/detail/huge_pages.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/files.hpp"

namespace {

using namespace safeshard;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool sanitized = true;
#  else
constexpr bool sanitized = false;
#  endif
#else
constexpr bool sanitized = false;
#endif

// Resident memory of the process (VmRSS), in bytes.
std::uint64_t resident_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

// A file with a header of 20,000 tensors (about 1.5 MB of JSON) and one 2048 x 1024 F32
// tensor, for a parse that fills the parser and a column read that fills the bounce buffer.
std::vector<std::byte> big_header_file() {
    std::vector<std::string> names;
    for (int i = 0; i < 20000; ++i) names.push_back("model.layers." + std::to_string(i) + ".input_layernorm.weight");
    std::vector<std::byte> one(4), wide(2048 * 1024 * 4);
    std::vector<tensor_entry> entries;
    const std::vector<std::uint64_t> one_shape{1}, wide_shape{2048, 1024};
    for (const auto& n : names) entries.push_back(tensor_entry{n, dtype::F32, one_shape, one});
    entries.push_back(tensor_entry{"wide", dtype::F32, wide_shape, wide});
    auto bytes = save_to_memory(entries);
    REQUIRE(bytes.has_value());
    return std::move(*bytes);
}

// Fills every cache of the calling thread: a header parse, strided reads through the bounce
// buffer, and large heap blocks freed back to the block cache.
void fill_caches(const std::string& path) {
    auto r = pread_file_reader::open(path);
    REQUIRE(r.has_value());
    std::vector<float> column(2048 * 3);
    REQUIRE(r->read_slice("wide", std::array<std::uint64_t, 2>{0, 7}, std::array<std::uint64_t, 2>{2048, 3},
                          make_view(column.data(), 2048, 3))
                .ok());
    std::vector<double> widened(2048 * 3);
    REQUIRE(r->read_slice<dtype_map::convert>("wide", std::array<std::uint64_t, 2>{0, 7}, std::array<std::uint64_t, 2>{2048, 3},
                                              make_view(widened.data(), 2048, 3))
                .ok());
    for (int i = 0; i < 6; ++i) {
        detail::memory_block b(std::size_t{1} << 20, detail::memory_kind::heap);
        REQUIRE(b.data() != nullptr);
        std::memset(b.data(), 1, b.size());  // resident
    }
}

// Runs `body` on a thread of its own, so that it starts with empty caches.
template <class Body>
void on_fresh_thread(Body&& body) {
    std::thread t(body);
    t.join();
}

}  // namespace

TEST_SUITE("thread_caches") {

TEST_CASE("release_thread_caches frees what the thread kept, and resident memory drops by it") {
    test::temp_dir dir("caches");
    const std::string path = dir / "big.safetensors";
    test::write_file(path, big_header_file());
    on_fresh_thread([&] {
        CHECK(thread_cache_bytes() == 0);
        fill_caches(path);
        const std::size_t kept = thread_cache_bytes();
        INFO("kept ", kept, " bytes");
        CHECK(kept >= (std::size_t{8} << 20));  // at least the 8 MiB bounce buffer, plus the parser's
        const std::uint64_t before = resident_bytes();
        release_thread_caches();
        const std::uint64_t after = resident_bytes();
        CHECK(thread_cache_bytes() == 0);
        if constexpr (!sanitized) {  // sanitizer allocators keep freed memory in quarantine
            INFO("resident before ", before, ", after ", after);
            CHECK(before > after);
            CHECK(before - after >= kept / 2);
        }
        // The library works on, filling the caches again as needed.
        fill_caches(path);
        CHECK(thread_cache_bytes() > 0);
        release_thread_caches();
    });
}

TEST_CASE("set_thread_cache_limit: 0 keeps nothing between calls; a limit bounds what is kept") {
    test::temp_dir dir("limit");
    const std::string path = dir / "big.safetensors";
    test::write_file(path, big_header_file());
    CHECK(thread_cache_limit() == SIZE_MAX);
    SUBCASE("0") {
        set_thread_cache_limit(0);
        on_fresh_thread([&] {
            fill_caches(path);
            CHECK(thread_cache_bytes() == 0);
        });
    }
    SUBCASE("4 MiB") {
        set_thread_cache_limit(std::size_t{4} << 20);
        on_fresh_thread([&] {
            fill_caches(path);
            CHECK(thread_cache_bytes() <= (std::size_t{4} << 20));
        });
    }
    set_thread_cache_limit(SIZE_MAX);
    CHECK(thread_cache_limit() == SIZE_MAX);
    on_fresh_thread([&] {
        fill_caches(path);
        CHECK(thread_cache_bytes() >= (std::size_t{8} << 20));  // no limit: the caches are kept
        release_thread_caches();
    });
}

}  // TEST_SUITE
