// SPDX-License-Identifier: MIT
// The io layer, part 2 of 3: what is particular to each model: pread_source (threads, files
// that shrink), scattered reads, mmap_source (zero copy, padding, advice), the memory source
// and sink, and file_handle's errors and gathered writes.

#include <safeshard/io/file_handle.hpp>
#include <safeshard/io/memory.hpp>
#include <safeshard/io/mmap_source.hpp>
#include <safeshard/io/pread_source.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../support/files.hpp"
#include "../support/io.hpp"

namespace {

namespace io = safeshard::io;
using namespace safeshard::test;
using safeshard::errc;
using safeshard::error_info;
using safeshard::result;
using safeshard::status;

}  // namespace

TEST_SUITE("io") {

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
    CHECK(st.error().offset() == 600);  // where the file now ends
    CHECK(std::string_view(st.error().file()) == file);
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
    CHECK(std::string_view(st.error().file()) == file);
    // Truncated after open: the short read is reported where the file ends.
    REQUIRE(::truncate(file.c_str(), 1000) == 0);
    std::vector<std::byte> buf(400);
    iovec two[] = {{buf.data(), 200}, {buf.data() + 200, 200}};
    st = s.read_scatter(700, two);
    CHECK(st.code() == errc::unexpected_eof);
    CHECK(st.error().offset() == 1000);
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
                         io::advice::populate, io::advice::normal})
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
    CHECK(std::string_view(st.error().detail()) == "pread: Illegal seek");
    CHECK(std::string_view(st.error().file()) == "pipe-read-end");
    CHECK(st.error().offset() == 5);
    CHECK(st.error().to_string() == "pipe-read-end: byte 5: I/O error (pread: Illegal seek)");

    st = w.pwrite_all(7, buf);
    CHECK(std::string_view(st.error().detail()) == "pwrite: Illegal seek");
    CHECK(st.error().offset() == 7);

    st = r.write_all(buf, 42);  // the read end of a pipe cannot be written
    CHECK(st.code() == errc::io_error);
    CHECK(std::string_view(st.error().detail()) == "write: Bad file descriptor");
    CHECK(st.error().offset() == 42);

    CHECK(starts_with(r.sync().error().detail(), "fsync: "));
    result<std::uint64_t> size = r.size();
    CHECK(size.code() == errc::invalid_argument);
    CHECK(std::string_view(size.error().detail()) == "not a regular file");

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
    CHECK(eof.error().offset() == back.size());
    CHECK(h->sync().ok());
}

}  // TEST_SUITE("io")
