// SPDX-License-Identifier: MIT
// The io layer: one conformance suite run on every byte_source, then what is particular to
// each model, then the atomic file sink (visibility, cleanup, byte-exactness, failures).

#include <safeshard/io/atomic_file.hpp>
#include <safeshard/io/concepts.hpp>
#include <safeshard/io/file_handle.hpp>
#include <safeshard/io/memory.hpp>
#include <safeshard/io/mmap_source.hpp>
#include <safeshard/io/pread_source.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/files.hpp"

namespace {

namespace io = safeshard::io;
using namespace safeshard::test;
using safeshard::errc;
using safeshard::error_info;
using safeshard::result;
using safeshard::status;

constexpr std::uint64_t mib = std::uint64_t{1} << 20;

bool starts_with(const char* s, std::string_view prefix) { return std::string_view(s).substr(0, prefix.size()) == prefix; }







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
                    CHECK(st.error().offset == off);
                    CHECK(std::string_view(st.error().file) == f.file);
                    CHECK(st.error().to_string().find(f.file) != std::string::npos);
                }

                if constexpr (io::mappable_source<S>) {
                    result<std::span<const std::byte>> v = s.view(off, end - off);
                    if (end <= n) {
                        REQUIRE(v.has_value());
                        CHECK(same_bytes(*v, std::span<const std::byte>(content).subspan(off, end - off)));
                    } else {
                        CHECK(v.code() == errc::unexpected_eof);
                        CHECK(std::string_view(v.error().file) == f.file);
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
        CHECK(std::string_view(r.error().file) == missing);
        CHECK(starts_with(r.error().detail, "open: No such file or directory"));
        CHECK(r.error().to_string() ==
              missing + ": I/O error (open: No such file or directory)");
    }
    SUBCASE("a directory is not a regular file") {
        result<S> r = S::open(dir.path);
        CHECK(r.code() == errc::invalid_argument);
        CHECK(std::string_view(r.error().file) == dir.path);
        CHECK(std::string_view(r.error().detail) == "not a regular file");
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

// ---- pread_source --------------------------------------------------------------------

TEST_CASE("pread_source: reads from many threads at once") {
    temp_dir dir;
    std::vector<std::byte> content = pattern(3 * mib + 17, 5);
    std::string file = dir / "shared.bin";
    write_file(file, content);
    io::pread_source s;
    REQUIRE(io::pread_source::open(file).get(s) == errc::ok);

    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            std::vector<std::byte> buf(70000);
            for (int i = 0; i < 200; ++i) {
                std::uint64_t off = (static_cast<std::uint64_t>(t) * 7919 + static_cast<std::uint64_t>(i) * 15401) %
                                    (content.size() - buf.size());
                if (!s.read(off, buf).ok() ||
                    std::memcmp(buf.data(), content.data() + off, buf.size()) != 0)
                    mismatches.fetch_add(1);
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(mismatches.load() == 0);
}

TEST_CASE("pread_source: a file truncated after open reads as unexpected_eof") {
    temp_dir dir;
    std::string file = dir / "shrinks.bin";
    write_file(file, pattern(1000));
    io::pread_source s;
    REQUIRE(io::pread_source::open(file).get(s) == errc::ok);
    REQUIRE(::truncate(file.c_str(), 600) == 0);
    std::vector<std::byte> buf(200);
    CHECK(s.read(300, buf).ok());
    status st = s.read(500, buf);
    CHECK(st.code() == errc::unexpected_eof);
    CHECK(st.error().offset == 600);  // where the file now ends
    CHECK(std::string_view(st.error().file) == file);
}

TEST_CASE_TEMPLATE("scatter sources: one range into many buffers, in order; short files refused", S, io::pread_source,
                   io::mmap_source) {
    static_assert(io::scatter_source<S>);
    temp_dir dir;
    std::string file = dir / "scatter.bin";
    const std::vector<std::byte> data = pattern(300000, 9);
    write_file(file, data);
    S s;
    REQUIRE(S::open(file).get(s) == errc::ok);
    // 3000 buffers of varied sizes (more than one preadv's 1024), some empty.
    std::vector<std::byte> out(200000, std::byte{0xEE});
    std::vector<iovec> iov;
    std::size_t at = 0, k = 0;
    while (at < 150000) {
        std::size_t n = (k * 37) % 97;
        iov.push_back(iovec{out.data() + at + k % 3, n});  // gaps of 0-2 bytes stay untouched
        at += n + k % 3;
        ++k;
    }
    std::size_t total = 0;
    for (const auto& v : iov) total += v.iov_len;
    std::vector<iovec> copy = iov;
    REQUIRE(s.read_scatter(1234, copy).ok());
    std::size_t from = 1234;
    for (const auto& v : iov) {
        CHECK(std::memcmp(v.iov_base, data.data() + from, v.iov_len) == 0);
        from += v.iov_len;
    }
    CHECK(from == 1234 + total);
    // Past the end: refused before reading, naming the file.
    std::vector<std::byte> tail(100);
    iovec past[] = {{tail.data(), 50}, {tail.data() + 50, 50}};
    status st = s.read_scatter(data.size() - 60, past);
    CHECK(st.code() == errc::unexpected_eof);
    CHECK(std::string_view(st.error().file) == file);
    // Truncated after open: the short read is reported where the file ends.
    REQUIRE(::truncate(file.c_str(), 1000) == 0);
    std::vector<std::byte> buf(400);
    iovec two[] = {{buf.data(), 200}, {buf.data() + 200, 200}};
    st = s.read_scatter(700, two);
    CHECK(st.code() == errc::unexpected_eof);
    CHECK(st.error().offset == 1000);
}

// ---- mmap_source ---------------------------------------------------------------------

TEST_CASE("mmap_source: zero copy, page-end padding, advice") {
    temp_dir dir;
    const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    std::vector<std::byte> content = pattern(page + 100, 9);
    std::string file = dir / "mapped.bin";
    write_file(file, content);
    io::mmap_source s;
    REQUIRE(io::mmap_source::open(file).get(s) == errc::ok);

    result<std::span<const std::byte>> v = s.view(page, 100);
    REQUIRE(v.has_value());
    CHECK(v->data() == s.data() + page);  // a view into the mapping, not a copy

    CHECK(s.padding_after(0) == 2 * page);
    CHECK(s.padding_after(page + 100) == page - 100);
    CHECK(s.padding_after(2 * page) == 0);
    CHECK(s.padding_after(2 * page + 1) == 0);
    // The promise padding_after makes: the rest of the last page is readable and zero.
    bool zeros = true;
    for (std::uint64_t i = content.size(); i < 2 * page; ++i) zeros = zeros && s.data()[i] == std::byte{0};
    CHECK(zeros);

    for (io::advice a : {io::advice::sequential, io::advice::willneed, io::advice::random, io::advice::dontneed,
                         io::advice::normal})
        CHECK(s.advise(0, s.size(), a).ok());
    CHECK(s.advise(page + 50, 10, io::advice::willneed).ok());  // unaligned: widened to the page
    CHECK(s.advise(10 * page, 5, io::advice::dontneed).ok());   // outside the mapping: no effect
    // After MADV_DONTNEED the pages come back from the file, unchanged.
    CHECK(same_bytes(*s.view(0, s.size()), content));

    // Views survive moving the source.
    const std::byte* before = s.data();
    io::mmap_source moved = std::move(s);
    CHECK(moved.data() == before);
    CHECK(same_bytes(*moved.view(0, moved.size()), content));
}

TEST_CASE("mmap_source: an empty file is served without a mapping") {
    temp_dir dir;
    std::string file = dir / "empty.bin";
    write_file(file, {});
    io::mmap_source s;
    REQUIRE(io::mmap_source::open(file).get(s) == errc::ok);
    CHECK(s.size() == 0);
    CHECK(s.data() == nullptr);
    CHECK(s.padding_after(0) == 0);
    result<std::span<const std::byte>> v = s.view(0, 0);
    REQUIRE(v.has_value());
    CHECK(v->empty());
    CHECK(s.advise(0, 0, io::advice::willneed).ok());
}

// ---- memory_source and memory_sink -----------------------------------------------------

TEST_CASE("memory_source: names and caller-promised padding") {
    std::vector<std::byte> bytes = pattern(100);
    io::memory_source plain(std::span<const std::byte>(bytes).first(90));
    CHECK(plain.path().empty());
    CHECK(plain.padding_after(0) == 90);
    CHECK(plain.padding_after(90) == 0);
    status st = plain.read(85, std::span<std::byte>(bytes).first(6));
    CHECK(st.code() == errc::unexpected_eof);
    CHECK(st.error().to_string() == "byte 85: unexpected end of file (wanted 6 bytes, source has 90)");

    io::memory_source padded(std::span<const std::byte>(bytes).first(90), "embedded", 10);
    CHECK(padded.padding_after(0) == 100);
    CHECK(padded.padding_after(90) == 10);
    CHECK(padded.padding_after(101) == 0);
    CHECK(padded.view(85, 6).code() == errc::unexpected_eof);  // padding is not content
    CHECK(padded.view(85, 6).error().to_string() ==
          "embedded: byte 85: unexpected end of file (wanted 6 bytes, source has 90)");
    CHECK(io::memory_source().size() == 0);
}

TEST_CASE("memory_sink: owned and lent vectors") {
    std::vector<std::byte> a = pattern(10, 1), b = pattern(7, 2);

    io::memory_sink own;
    CHECK(own.write(a).ok());
    CHECK(own.write({}).ok());
    CHECK(own.write(b).ok());
    CHECK(own.position() == 17);
    io::memory_sink moved = std::move(own);
    CHECK(moved.position() == 17);
    std::vector<std::byte> got = moved.take();
    CHECK(got.size() == 17);
    CHECK(same_bytes(std::span<const std::byte>(got).first(10), a));
    CHECK(same_bytes(std::span<const std::byte>(got).subspan(10), b));
    CHECK(moved.position() == 0);
    CHECK(moved.bytes().empty());

    std::vector<std::byte> target = pattern(5, 3);
    {
        io::memory_sink lent(target);
        CHECK(lent.write(b).ok());
        CHECK(lent.position() == 7);  // only what this sink wrote
        CHECK(&lent.bytes() == &target);
    }
    CHECK(target.size() == 12);
    CHECK(same_bytes(std::span<const std::byte>(target).subspan(5), b));
}

// ---- file_handle ---------------------------------------------------------------------

TEST_CASE("file_handle: every failure names the call, errno text, file and offset") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    io::file_handle r(fds[0], "pipe-read-end"), w(fds[1], "pipe-write-end");
    std::byte buf[4] = {};

    status st = r.pread_exact(5, buf);
    CHECK(st.code() == errc::io_error);
    CHECK(std::string_view(st.error().detail) == "pread: Illegal seek");
    CHECK(std::string_view(st.error().file) == "pipe-read-end");
    CHECK(st.error().offset == 5);
    CHECK(st.error().to_string() == "pipe-read-end: byte 5: I/O error (pread: Illegal seek)");

    st = w.pwrite_all(7, buf);
    CHECK(std::string_view(st.error().detail) == "pwrite: Illegal seek");
    CHECK(st.error().offset == 7);

    st = r.write_all(buf, 42);  // the read end of a pipe cannot be written
    CHECK(st.code() == errc::io_error);
    CHECK(std::string_view(st.error().detail) == "write: Bad file descriptor");
    CHECK(st.error().offset == 42);

    CHECK(starts_with(r.sync().error().detail, "fsync: "));
    result<std::uint64_t> size = r.size();
    CHECK(size.code() == errc::invalid_argument);
    CHECK(std::string_view(size.error().detail) == "not a regular file");

    CHECK(r.close().ok());
    CHECK_FALSE(r.is_open());
    CHECK(r.close().ok());  // closing twice is harmless
}

TEST_CASE("file_handle: gathered writes and exact reads round trip") {
    temp_dir dir;
    std::string file = dir / "rt.bin";
    result<io::file_handle> h = io::file_handle::open(file, O_RDWR | O_CREAT | O_EXCL, 0644);
    REQUIRE(h.has_value());
    std::vector<std::byte> head = pattern(1000, 1), tail = pattern(3 * mib + 1, 2);
    CHECK(h->write_all(head, tail, 0).ok());
    CHECK(h->write_all({}, {}, 0).ok());
    CHECK(h->pwrite_all(10, std::span<const std::byte>(tail).first(5)).ok());
    CHECK(*h->size() == head.size() + tail.size());
    std::vector<std::byte> back(head.size() + tail.size());
    CHECK(h->pread_exact(0, back).ok());
    std::copy(tail.begin(), tail.begin() + 5, head.begin() + 10);
    CHECK(same_bytes(std::span<const std::byte>(back).first(1000), head));
    CHECK(same_bytes(std::span<const std::byte>(back).subspan(1000), tail));
    status eof = h->pread_exact(back.size() - 3, std::span<std::byte>(back).first(8));
    CHECK(eof.code() == errc::unexpected_eof);
    CHECK(eof.error().offset == back.size());
    CHECK(h->sync().ok());
}

// ---- atomic_file_sink ----------------------------------------------------------------

TEST_CASE("atomic_file_sink: the file appears only on commit") {
    temp_dir dir;
    std::string final_path = dir / "model.safetensors";
    std::vector<std::byte> data = pattern(5000, 4);

    io::atomic_file_sink sink;
    REQUIRE(io::atomic_file_sink::create(final_path).get(sink) == errc::ok);
    CHECK(sink.final_path() == final_path);
    CHECK(sink.write(data).ok());
    CHECK(sink.position() == data.size());

    std::vector<std::string> before = list_dir(dir.path);
    REQUIRE(before.size() == 1);  // only the temp file, never the final name
    CHECK(before[0] == sink.temp_name());
    CHECK(starts_with(before[0].c_str(), ".model.safetensors.safeshard-tmp." + std::to_string(::getpid()) + "."));
    CHECK(io::is_temp_file_name(before[0]));
    CHECK_FALSE(exists(final_path));

    REQUIRE(sink.commit().ok());
    CHECK(list_dir(dir.path) == std::vector<std::string>{"model.safetensors"});
    CHECK(same_bytes(read_file(final_path), data));
    struct stat st;
    REQUIRE(::stat(final_path.c_str(), &st) == 0);
    mode_t mask = ::umask(0);
    ::umask(mask);
    CHECK((st.st_mode & 0777) == (0644 & ~mask));

    // A committed sink is closed for good.
    CHECK(sink.write(data).code() == errc::invalid_argument);
    CHECK(sink.commit().code() == errc::invalid_argument);
    sink.abort();  // must not touch the committed file
    CHECK(same_bytes(read_file(final_path), data));
}

TEST_CASE("atomic_file_sink: abort and destruction leave nothing behind") {
    temp_dir dir;
    std::string final_path = dir / "out.safetensors";
    std::vector<std::byte> data = pattern(9 * mib + 3, 6);

    SUBCASE("abort") {
        io::atomic_file_sink sink;
        REQUIRE(io::atomic_file_sink::create(final_path).get(sink) == errc::ok);
        CHECK(sink.write(data).ok());
        sink.abort();
        CHECK(list_dir(dir.path).empty());
        sink.abort();  // idempotent
        CHECK(sink.write(data).code() == errc::invalid_argument);
        CHECK(sink.commit().code() == errc::invalid_argument);
        CHECK(list_dir(dir.path).empty());
    }
    SUBCASE("destructor") {
        {
            io::atomic_file_sink sink;
            REQUIRE(io::atomic_file_sink::create(final_path).get(sink) == errc::ok);
            CHECK(sink.write(data).ok());
            CHECK(list_dir(dir.path).size() == 1);
        }
        CHECK(list_dir(dir.path).empty());
    }
    SUBCASE("moved-from sinks own nothing") {
        io::atomic_file_sink a;
        REQUIRE(io::atomic_file_sink::create(final_path).get(a) == errc::ok);
        CHECK(a.write(std::span<const std::byte>(data).first(100)).ok());
        io::atomic_file_sink b = std::move(a);
        CHECK(a.write(data).code() == errc::invalid_argument);
        a.abort();  // must not remove b's temp file
        CHECK(list_dir(dir.path).size() == 1);
        CHECK(b.write(std::span<const std::byte>(data).subspan(100)).ok());
        io::atomic_file_sink c;
        c = std::move(b);
        CHECK(c.position() == data.size());
        REQUIRE(c.commit().ok());
        CHECK(same_bytes(read_file(final_path), data));
    }
    SUBCASE("a default-constructed sink refuses writes") {
        io::atomic_file_sink none;
        CHECK(none.write(data).code() == errc::invalid_argument);
        CHECK(none.commit().code() == errc::invalid_argument);
        CHECK(none.position() == 0);
    }
}

TEST_CASE("atomic_file_sink: an existing file is untouched until commit") {
    temp_dir dir;
    std::string final_path = dir / "model.safetensors";
    std::vector<std::byte> old_bytes = pattern(1234, 7), new_bytes = pattern(10 * mib + 5, 8);
    write_file(final_path, old_bytes);

    SUBCASE("aborted") {
        io::atomic_file_sink sink;
        REQUIRE(io::atomic_file_sink::create(final_path).get(sink) == errc::ok);
        CHECK(sink.write(new_bytes).ok());
        CHECK(same_bytes(read_file(final_path), old_bytes));  // before commit: still the old file
        sink.abort();
    }
    SUBCASE("destroyed") {
        io::atomic_file_sink sink;
        REQUIRE(io::atomic_file_sink::create(final_path).get(sink) == errc::ok);
        CHECK(sink.write(new_bytes).ok());
    }
    SUBCASE("replaced on commit") {
        io::atomic_file_sink sink;
        REQUIRE(io::atomic_file_sink::create(final_path).get(sink) == errc::ok);
        CHECK(sink.write(new_bytes).ok());
        REQUIRE(sink.commit().ok());
        old_bytes = new_bytes;
    }
    CHECK(list_dir(dir.path) == std::vector<std::string>{"model.safetensors"});
    CHECK(same_bytes(read_file(final_path), old_bytes));
}

TEST_CASE("atomic_file_sink: large and odd-sized writes are byte-exact") {
    temp_dir dir;
    const std::uint64_t buf = io::atomic_file_sink::buffer_size;
    // Sizes that straddle the buffer in every way: tiny writes, exactly the room left, one
    // byte short of or past the buffer, several buffers at once, nothing at all.
    std::vector<std::uint64_t> sizes = {1,       3,   buf - 4, buf,      buf + 5, 12345, 3 * mib + 7, 0,
                                        17 * mib + 3, 5, buf - 1, 2 * buf, 1,       buf - 12351};
    std::uint64_t total = 0;
    for (std::uint64_t n : sizes) total += n;
    std::vector<std::byte> data = pattern(total, 11);

    std::string final_path = dir / "big.safetensors";
    io::atomic_file_sink sink;
    REQUIRE(io::atomic_file_sink::create(final_path).get(sink) == errc::ok);
    std::uint64_t at = 0;
    for (std::uint64_t n : sizes) {
        CAPTURE(n);
        REQUIRE(sink.write(std::span<const std::byte>(data).subspan(at, n)).ok());
        at += n;
        CHECK(sink.position() == at);
    }
    REQUIRE(sink.commit().ok());
    std::vector<std::byte> back = read_file(final_path);
    CHECK(back.size() == total);
    CHECK(same_bytes(back, data));

    SUBCASE("byte at a time across a buffer boundary") {
        std::string small = dir / "small.bin";
        io::atomic_file_sink s;
        REQUIRE(io::atomic_file_sink::create(small).get(s) == errc::ok);
        std::span<const std::byte> part = std::span<const std::byte>(data).first(buf + 3);
        bool ok = true;
        for (std::size_t i = 0; i < part.size(); i += 4099)
            ok = ok && s.write(part.subspan(i, std::min<std::size_t>(4099, part.size() - i))).ok();
        CHECK(ok);
        REQUIRE(s.commit().ok());
        CHECK(same_bytes(read_file(small), part));
    }
}

TEST_CASE("atomic_file_sink: bad paths") {
    temp_dir dir;
    SUBCASE("missing directory") {
        std::string p = dir / "no/such/dir/model.safetensors";
        result<io::atomic_file_sink> r = io::atomic_file_sink::create(p);
        CHECK(r.code() == errc::io_error);
        CHECK(std::string_view(r.error().file) == p);
        CHECK(std::string_view(r.error().detail) == "open directory: No such file or directory");
        CHECK(r.error().to_string() == p + ": I/O error (open directory: No such file or directory)");
    }
    SUBCASE("not a file name") {
        for (std::string p : {std::string(), dir.path + "/", dir / ".", dir / "..", std::string("..")}) {
            CAPTURE(p);
            CHECK(io::atomic_file_sink::create(p).code() == errc::invalid_argument);
        }
        CHECK(list_dir(dir.path).empty());
    }
    SUBCASE("the final path is a non-empty directory: commit fails, nothing changes") {
        std::string target = dir / "target";
        REQUIRE(::mkdir(target.c_str(), 0755) == 0);
        write_file(target + "/inside", pattern(3));
        io::atomic_file_sink sink;
        REQUIRE(io::atomic_file_sink::create(target).get(sink) == errc::ok);
        CHECK(sink.write(pattern(100)).ok());
        status st = sink.commit();
        CHECK(st.code() == errc::io_error);
        CHECK(starts_with(st.error().detail, "rename: "));
        CHECK(std::string_view(st.error().file) == target);
        CHECK(list_dir(dir.path) == std::vector<std::string>{"target"});  // temp file removed
        CHECK(list_dir(target) == std::vector<std::string>{"inside"});
        CHECK(sink.commit().code() == errc::io_error);  // the failure sticks
    }
}

TEST_CASE("atomic_file_sink: a failed write removes the temp file and sticks") {
    temp_dir dir;
    std::string final_path = dir / "model.safetensors";
    std::vector<std::byte> old_bytes = pattern(100, 12);
    write_file(final_path, old_bytes);

    // A file size limit makes writes past 1 MiB fail with EFBIG, as a full disk would.
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    void (*saved_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
    rlimit low = saved;
    low.rlim_cur = mib;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &low) == 0);

    io::atomic_file_sink sink;
    status created = io::atomic_file_sink::create(final_path).get(sink);
    status st = created.ok() ? sink.write(pattern(3 * io::atomic_file_sink::buffer_size / 2, 13)) : created;
    std::vector<std::string> after = list_dir(dir.path);
    status again = sink.write(pattern(10));
    status commit = sink.commit();

    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, saved_handler);

    REQUIRE(created.ok());
    CHECK(st.code() == errc::io_error);
    CHECK(std::string_view(st.error().detail) == "write: File too large");
    CHECK(std::string_view(st.error().file) == final_path);
    CHECK(st.error().offset == mib);  // the first byte that could not be written
    CHECK(after == std::vector<std::string>{"model.safetensors"});  // temp file gone at once
    CHECK(std::string_view(again.error().detail) == "write: File too large");
    CHECK(commit.code() == errc::io_error);
    CHECK(same_bytes(read_file(final_path), old_bytes));
}

TEST_CASE("atomic_file_sink: long names and relative paths") {
    temp_dir dir;
    SUBCASE("a 250-byte name still gets a temp name within NAME_MAX") {
        std::string name(250, 'n');
        io::atomic_file_sink sink;
        REQUIRE(io::atomic_file_sink::create(dir / name).get(sink) == errc::ok);
        CHECK(sink.temp_name().size() <= 255);
        CHECK(io::is_temp_file_name(sink.temp_name()));
        CHECK(sink.write(pattern(10)).ok());
        REQUIRE(sink.commit().ok());
        CHECK(list_dir(dir.path) == std::vector<std::string>{name});
    }
    SUBCASE("a relative path keeps its directory when the process changes directory") {
        char cwd[4096];
        REQUIRE(::getcwd(cwd, sizeof cwd) != nullptr);
        REQUIRE(::chdir(dir.path.c_str()) == 0);
        io::atomic_file_sink sink;
        status created = io::atomic_file_sink::create("rel.bin").get(sink);
        REQUIRE(::chdir(cwd) == 0);
        REQUIRE(created.ok());
        CHECK(sink.write(pattern(10)).ok());
        REQUIRE(sink.commit().ok());
        CHECK(list_dir(dir.path) == std::vector<std::string>{"rel.bin"});
    }
}

TEST_CASE("is_temp_file_name and remove_stale_temp_files") {
    CHECK(io::is_temp_file_name(".model.safetensors.safeshard-tmp.123.0123456789abcdef"));
    CHECK(io::is_temp_file_name(".a.safeshard-tmp.1.f"));
    CHECK_FALSE(io::is_temp_file_name("model.safetensors"));
    CHECK_FALSE(io::is_temp_file_name("a.safeshard-tmp.1.f"));        // no leading dot
    CHECK_FALSE(io::is_temp_file_name("..safeshard-tmp.1.f"));        // no final name
    CHECK_FALSE(io::is_temp_file_name(".a.safeshard-tmp.notes"));     // not pid.random
    CHECK_FALSE(io::is_temp_file_name(".a.safeshard-tmp.12.ABC"));    // upper-case hex
    CHECK_FALSE(io::is_temp_file_name(".a.safeshard-tmp.12."));
    CHECK_FALSE(io::is_temp_file_name(".a.safeshard-tmp..ab"));
    CHECK_FALSE(io::is_temp_file_name(".a.safeshard-tmp.1.ab.c"));
    CHECK_FALSE(io::is_temp_file_name(""));

    temp_dir dir;
    for (const char* keep : {"model.safetensors", "a.safeshard-tmp.1.f", ".a.safeshard-tmp.notes", ".hidden"})
        write_file(dir / keep, pattern(4));
    for (const char* stale : {".model.safetensors.safeshard-tmp.99.deadbeef", ".x.safeshard-tmp.1.0"})
        write_file(dir / stale, pattern(4));
    REQUIRE(::mkdir((dir / ".d.safeshard-tmp.1.a").c_str(), 0755) == 0);  // not a regular file

    result<std::size_t> removed = io::remove_stale_temp_files(dir.path);
    REQUIRE(removed.has_value());
    CHECK(*removed == 2);
    CHECK(list_dir(dir.path) == std::vector<std::string>{".a.safeshard-tmp.notes", ".d.safeshard-tmp.1.a", ".hidden",
                                                         "a.safeshard-tmp.1.f", "model.safetensors"});
    CHECK(*io::remove_stale_temp_files(dir.path) == 0);

    result<std::size_t> missing = io::remove_stale_temp_files(dir / "missing");
    CHECK(missing.code() == errc::io_error);
    CHECK(std::string_view(missing.error().file) == dir / "missing");
}

}  // TEST_SUITE("io")
