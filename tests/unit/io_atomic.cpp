// SPDX-License-Identifier: MIT
// The io layer, part 3 of 3: the atomic file sink: the file appears only on commit, abort and
// failures leave nothing behind, writes of every size are byte-exact, bad paths and temp
// file names.

#include <safeshard/io/atomic_file.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
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
        CHECK(std::string_view(r.error().file()) == p);
        CHECK(std::string_view(r.error().detail()) == "open directory: No such file or directory");
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
        CHECK(starts_with(st.error().detail(), "rename: "));
        CHECK(std::string_view(st.error().file()) == target);
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
    CHECK(std::string_view(st.error().detail()) == "write: File too large");
    CHECK(std::string_view(st.error().file()) == final_path);
    CHECK(st.error().offset() == mib);  // the first byte that could not be written
    CHECK(after == std::vector<std::string>{"model.safetensors"});  // temp file gone at once
    CHECK(std::string_view(again.error().detail()) == "write: File too large");
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
    CHECK(std::string_view(missing.error().file()) == dir / "missing");
}

}  // TEST_SUITE("io")
