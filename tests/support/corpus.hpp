// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_CORPUS_HPP
#define SAFESHARD_TESTS_SUPPORT_CORPUS_HPP

// Where the shared conformance corpus is: $SAFESHARD_CORPUS, else the path Meson baked in.
// The corpus is not part of the project: a suite that needs it has its own main, which reports
// the suite skipped (exit 77 to Meson) when it is absent, instead of passing without it.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace safeshard::test {

/// The corpus directory (one holding golden/), or nothing.
inline std::optional<std::filesystem::path> corpus_root() {
    std::string dir;
    if (const char* env = std::getenv("SAFESHARD_CORPUS"); env && *env) dir = env;
#ifdef SAFESHARD_TEST_CORPUS
    else dir = SAFESHARD_TEST_CORPUS;
#endif
    std::error_code ec;
    if (!dir.empty() && std::filesystem::is_directory(std::filesystem::path(dir) / "golden", ec)) return dir;
    return std::nullopt;
}

/// Meson's exit code for a skipped test.
inline constexpr int exit_skipped = 77;

}  // namespace safeshard::test

#endif
