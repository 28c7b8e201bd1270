// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_FILES_HPP
#define SAFESHARD_TESTS_SUPPORT_FILES_HPP

// File-system helpers shared by the tests: a scratch directory removed with its contents, and
// plain read/write/list calls that fail the test (REQUIRE) rather than return errors.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

namespace safeshard::test {

/// A fresh directory under /tmp (named after `tag`), removed with everything in it at scope
/// exit, so that a listing shows exactly what the code under test left behind.
struct temp_dir {
    std::string path;

    explicit temp_dir(std::string_view tag = "test") {
        std::string tmpl = "/tmp/safeshard-" + std::string(tag) + "-XXXXXX";
        char* p = ::mkdtemp(tmpl.data());
        REQUIRE(p != nullptr);
        path = p;
    }
    ~temp_dir() {
        ::nftw(
            path.c_str(), [](const char* f, const struct stat*, int, FTW*) { return ::remove(f); }, 16,
            FTW_DEPTH | FTW_PHYS);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    std::string operator/(std::string_view name) const { return path + "/" + std::string(name); }
};

inline void write_file(const std::string& path, std::span<const std::byte> bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!bytes.empty()) REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
    REQUIRE(std::fclose(f) == 0);
}

inline std::vector<std::byte> read_file(const std::string& path) {
    std::vector<std::byte> out;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE(f != nullptr);
    std::byte chunk[65536];
    std::size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) out.insert(out.end(), chunk, chunk + n);
    std::fclose(f);
    return out;
}

inline bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

/// The names in a directory, sorted, without "." and "..".
inline std::vector<std::string> list_dir(const std::string& path) {
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    REQUIRE(d != nullptr);
    while (dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

// Bytes that depend on their position and a seed, so a shifted or swapped tensor never
// compares equal by accident.
inline std::vector<std::byte> pattern(std::size_t n, std::uint64_t seed = 0) {
    std::vector<std::byte> v(n);
    std::uint64_t x = seed * 0x9e3779b97f4a7c15u + 0x1234567u;
    for (std::size_t i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = static_cast<std::byte>((x >> 29) ^ i);
    }
    return v;
}

inline bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace safeshard::test

#endif
