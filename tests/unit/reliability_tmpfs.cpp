// SPDX-License-Identifier: MIT
// Reliability, a real full disk: a 1.2 MB tmpfs, which one model fits and a second beside it
// does not. Saves and consolidations fail with ENOSPC ("No space left on device") and change
// nothing; with the space back the same save succeeds.
//
// Mounting needs privileges a test machine may not grant, so this suite has its own main: it
// first tries a scratch mount and, where that fails, reports the suite skipped (exit 77 to
// Meson) with the reason, instead of passing without having run. The RLIMIT_FSIZE full-disk
// case of reliability_failures.cpp runs everywhere.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/consolidate.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/corpus.hpp"  // exit_skipped
#include "../support/files.hpp"
#include "../support/reliability.hpp"
#include "../support/sharding.hpp"

using namespace safeshard;
using namespace safeshard::checkpoint;
using namespace safeshard::test;

namespace {

constexpr const char* tmpfs_options = "size=1200k";

// Why a tmpfs cannot be mounted here, or nothing when it can: mounts one on a scratch
// directory and takes it down again.
std::optional<std::string> cannot_mount_tmpfs() {
    std::string scratch = "/tmp/safeshard-tmpfs-probe-XXXXXX";
    if (!::mkdtemp(scratch.data())) return "cannot make a scratch directory (" + std::string(std::strerror(errno)) + ")";
    std::optional<std::string> why;
    if (::mount("tmpfs", scratch.c_str(), "tmpfs", 0, tmpfs_options) != 0)
        why = "cannot mount a tmpfs here (" + std::string(std::strerror(errno)) + ")";
    else if (::umount2(scratch.c_str(), MNT_DETACH) != 0)
        why = "cannot unmount a tmpfs here (" + std::string(std::strerror(errno)) + ")";
    ::rmdir(scratch.c_str());
    return why;
}

}  // namespace

TEST_SUITE("reliability") {

TEST_CASE("full disk: a real one (a small tmpfs)") {
    temp_dir dir("tmpfs");
    const std::string mnt = dir / "disk";
    REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
    // main() made sure a tmpfs can be mounted here: failing now is a failure, not a skip.
    const int mounted = ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, tmpfs_options);
    const std::string mount_error = mounted == 0 ? std::string() : std::strerror(errno);
    REQUIRE_MESSAGE(mounted == 0, "mount: ", mount_error);
    struct unmount {
        std::string at;
        ~unmount() { ::umount2(at.c_str(), MNT_DETACH); }
    } guard{mnt};
    const auto v1 = model(1), v2 = model(2);
    // One model fits; a second beside it (the new files before the old ones are replaced) does not.
    REQUIRE(hf_storage_writer<>(mnt + "/ckpt").save(whole(v1)).has_value());
    const auto before = snapshot(mnt + "/ckpt");
    auto r = hf_storage_writer<>(mnt + "/ckpt").save(whole(v2));
    REQUIRE(!r.has_value());
    CHECK(r.code() == errc::io_error);
    CHECK(r.error().to_string().find("No space left") != std::string::npos);
    CHECK(snapshot(mnt + "/ckpt") == before);
    save_placed(dir / "sh", v2, {2}, {{S(0)}, {S(1)}, {R()}});
    auto c = consolidate(dir / "sh", mnt + "/ckpt");
    REQUIRE(!c.has_value());
    CHECK(c.error().to_string().find("No space left") != std::string::npos);
    CHECK(snapshot(mnt + "/ckpt") == before);
    // With the space back, the same save succeeds.
    std::filesystem::remove_all(mnt + "/ckpt");
    CHECK(hf_storage_writer<>(mnt + "/ckpt").save(whole(v2)).has_value());
}

}  // TEST_SUITE

int main(int argc, char** argv) {
    if (auto why = cannot_mount_tmpfs()) {
        std::printf("SKIPPED: %s; the RLIMIT_FSIZE full-disk case of the reliability suite runs instead\n", why->c_str());
        return exit_skipped;
    }
    doctest::Context context(argc, argv);
    return context.run();
}
