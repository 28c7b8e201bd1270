// SPDX-License-Identifier: MIT
// The io layer, part 1 of 3: the concepts (an archetype of each, the near misses they reject,
// the models' properties) and the conformance suite every byte_source runs, plus how the
// file-backed sources fail to open.

#include <safeshard/io/atomic_file.hpp>
#include <safeshard/io/concepts.hpp>
#include <safeshard/io/memory.hpp>
#include <safeshard/io/mmap_source.hpp>
#include <safeshard/io/pread_source.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../support/files.hpp"
#include "../support/io.hpp"

namespace {

namespace io = safeshard::io;
using namespace safeshard::test;
using safeshard::errc;
using safeshard::error_info;
using safeshard::result;
using safeshard::status;

// ---- the archetype: the least a byte_source must provide -------------------------------

// Minimal on purpose (no view, no padding, no extra members): generic code that compiles
// against it relies on nothing beyond the concept.
struct archetype_source {
    std::vector<std::byte> bytes;
    std::string name;

    std::uint64_t size() const noexcept { return bytes.size(); }
    status read(std::uint64_t offset, std::span<std::byte> dst) const {
        if (offset > bytes.size() || dst.size() > bytes.size() - offset)
            return error_info(errc::unexpected_eof).in_file(name).at_offset(offset);
        if (!dst.empty()) std::memcpy(dst.data(), bytes.data() + offset, dst.size());
        return {};
    }
    std::string_view path() const { return name; }
};
static_assert(io::byte_source<archetype_source>);
static_assert(!io::mappable_source<archetype_source>);

struct archetype_sink {
    std::uint64_t written = 0;
    status write(std::span<const std::byte> src) {
        written += src.size();
        return {};
    }
    std::uint64_t position() const noexcept { return written; }
};
static_assert(io::byte_sink<archetype_sink>);
static_assert(!io::committing_sink<archetype_sink>);

struct archetype_committing_sink : archetype_sink {
    status commit() { return {}; }
    void abort() noexcept {}
};
static_assert(io::committing_sink<archetype_committing_sink>);

// Near misses the concepts must reject.
struct size_may_throw {
    std::uint64_t size() const { return 0; }
    status read(std::uint64_t, std::span<std::byte>) const { return {}; }
    std::string_view path() const { return {}; }
};
static_assert(!io::byte_source<size_may_throw>);
struct read_returns_bool {
    std::uint64_t size() const noexcept { return 0; }
    bool read(std::uint64_t, std::span<std::byte>) const { return true; }
    std::string_view path() const { return {}; }
};
static_assert(!io::byte_source<read_returns_bool>);
struct read_not_const {
    std::uint64_t size() const noexcept { return 0; }
    status read(std::uint64_t, std::span<std::byte>) { return {}; }
    std::string_view path() const { return {}; }
};
static_assert(!io::byte_source<read_not_const>);

static_assert(!io::byte_source<io::memory_sink>);
static_assert(!io::byte_sink<io::memory_source>);
static_assert(!io::committing_sink<io::memory_sink>);
static_assert(!std::is_copy_constructible_v<io::atomic_file_sink>);
static_assert(std::is_nothrow_move_constructible_v<io::atomic_file_sink>);
static_assert(std::is_nothrow_move_constructible_v<io::pread_source>);
static_assert(std::is_nothrow_move_constructible_v<io::mmap_source>);
static_assert(std::is_trivially_copyable_v<io::memory_source>);

// ---- how each model is made from given bytes ------------------------------------------

int file_counter = 0;

// File-backed sources: the bytes are written to a file in `dir`, then opened.
template <class S>
struct source_fixture {
    std::string file;
    S source;

    source_fixture(std::span<const std::byte> content, const temp_dir& dir)
        : file(dir / ("source-" + std::to_string(++file_counter) + ".bin")), source(open(file, content)) {}

    static S open(const std::string& path, std::span<const std::byte> content) {
        write_file(path, content);
        result<S> r = S::open(path);
        REQUIRE(r.has_value());
        return std::move(*r);
    }
};

template <>
struct source_fixture<io::memory_source> {
    std::vector<std::byte> bytes;
    std::string file = "memory:test-bytes";
    io::memory_source source;

    source_fixture(std::span<const std::byte> content, const temp_dir&)
        : bytes(content.begin(), content.end()), source(bytes, file) {}
};

template <>
struct source_fixture<archetype_source> {
    std::string file = "archetype";
    archetype_source source;

    source_fixture(std::span<const std::byte> content, const temp_dir&)
        : source{std::vector<std::byte>(content.begin(), content.end()), file} {}
};

}  // namespace

TEST_SUITE("io") {

// ---- conformance: every byte_source --------------------------------------------------

TEST_CASE_TEMPLATE_DEFINE("byte_source contract", S, byte_source_contract) {
    static_assert(io::byte_source<S>);
    temp_dir dir;
    constexpr std::uint64_t none = std::numeric_limits<std::uint64_t>::max();

    for (std::uint64_t n : {0, 1, 2, 7, 8, 63, 64, 65, 4095, 4096, 4097, 70001}) {
        CAPTURE(n);
        std::vector<std::byte> content = pattern(n, n);
        source_fixture<S> f(content, dir);
        const S& s = f.source;

        CHECK(s.size() == n);
        CHECK(std::string_view(s.path()) == f.file);

        // Every boundary: offsets and ends at 0, 1, 2, the middle, the last byte, the end,
        // and past it. Small sizes are tried exhaustively.
        std::vector<std::uint64_t> points = {0, 1, 2, n / 2, n, n + 1, n + 4096};
        if (n > 0) points.push_back(n - 1);
        if (n <= 8)
            for (std::uint64_t i = 0; i <= n + 2; ++i) points.push_back(i);
        for (std::uint64_t off : points) {
            for (std::uint64_t end : points) {
                if (end < off) continue;
                std::vector<std::byte> buf(end - off, std::byte{0xEE});
                status st = s.read(off, buf);
                if (end <= n) {
                    CHECK(st.ok());
                    CHECK(same_bytes(buf, std::span<const std::byte>(content).subspan(off, end - off)));
                } else {
                    CHECK(st.code() == errc::unexpected_eof);
                    CHECK(st.error().offset() == off);
                    CHECK(std::string_view(st.error().file()) == f.file);
                    CHECK(st.error().to_string().find(f.file) != std::string::npos);
                }

                if constexpr (io::mappable_source<S>) {
                    result<std::span<const std::byte>> v = s.view(off, end - off);
                    if (end <= n) {
                        REQUIRE(v.has_value());
                        CHECK(same_bytes(*v, std::span<const std::byte>(content).subspan(off, end - off)));
                    } else {
                        CHECK(v.code() == errc::unexpected_eof);
                        CHECK(std::string_view(v.error().file()) == f.file);
                    }
                }
            }
        }

        // Offsets and lengths near 2^64 must not wrap around into a "valid" range.
        std::byte one[1];
        CHECK(s.read(none, one).code() == errc::unexpected_eof);
        CHECK(s.read(none, {}).code() == errc::unexpected_eof);
        CHECK(s.read(none - 1, one).code() == errc::unexpected_eof);
        if (n > 0) {
            std::vector<std::byte> all(n);
            CHECK(s.read(1, all).code() == errc::unexpected_eof);  // one byte too many
        }

        if constexpr (io::mappable_source<S>) {
            CHECK(s.view(1, none).code() == errc::unexpected_eof);
            CHECK(s.view(none, 1).code() == errc::unexpected_eof);
            CHECK(s.padding_after(0) >= n);
            CHECK(s.padding_after(n) == s.padding_after(0) - n);
            CHECK(s.padding_after(none) == 0);
            // Views are stable: the same bytes, at the same address, every time.
            if (n > 0) CHECK(s.view(0, n)->data() == s.view(0, n)->data());
        }
    }
}
TEST_CASE_TEMPLATE_INVOKE(byte_source_contract, io::memory_source, io::pread_source, io::mmap_source,
                          archetype_source);

// ---- opening files -------------------------------------------------------------------

TEST_CASE_TEMPLATE_DEFINE("file sources: open errors name the file", S, file_source_open_errors) {
    temp_dir dir;
    SUBCASE("missing file") {
        std::string missing = dir / "missing.safetensors";
        result<S> r = S::open(missing);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.code() == errc::io_error);
        CHECK(std::string_view(r.error().file()) == missing);
        CHECK(starts_with(r.error().detail(), "open: No such file or directory"));
        CHECK(r.error().to_string() ==
              missing + ": I/O error (open: No such file or directory)");
    }
    SUBCASE("a directory is not a regular file") {
        result<S> r = S::open(dir.path);
        CHECK(r.code() == errc::invalid_argument);
        CHECK(std::string_view(r.error().file()) == dir.path);
        CHECK(std::string_view(r.error().detail()) == "not a regular file");
    }
    SUBCASE("empty path") { CHECK(S::open("").code() == errc::invalid_argument); }
    SUBCASE("path with NUL") {
        std::string p = dir / "a";
        p.push_back('\0');
        CHECK(S::open(p).code() == errc::invalid_argument);
    }
    SUBCASE("default-constructed and moved") {
        S empty;
        CHECK(empty.size() == 0);
        std::string file = dir / "f";
        write_file(file, pattern(10));
        S a;
        REQUIRE(S::open(file).get(a) == errc::ok);
        S b = std::move(a);
        CHECK(b.size() == 10);
        std::byte buf[10];
        CHECK(b.read(0, buf).ok());
        a = std::move(b);  // move-assign back over a moved-from source
        CHECK(a.size() == 10);
    }
}
TEST_CASE_TEMPLATE_INVOKE(file_source_open_errors, io::pread_source, io::mmap_source);

}  // TEST_SUITE("io")
