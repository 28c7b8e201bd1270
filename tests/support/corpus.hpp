// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_CORPUS_HPP
#define SAFESHARD_TESTS_SUPPORT_CORPUS_HPP

// Where the shared conformance corpus is: $SAFESHARD_CORPUS, else the path Meson baked in.
// The corpus is not part of the project, so its absence skips those tests, loudly.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace safeshard::test {

inline std::optional<std::filesystem::path> corpus_root() {
    std::string dir;
    if (const char* env = std::getenv("SAFESHARD_CORPUS"); env && *env) dir = env;
#ifdef SAFESHARD_TEST_CORPUS
    else dir = SAFESHARD_TEST_CORPUS;
#endif
    std::error_code ec;
    if (!dir.empty() && std::filesystem::is_directory(std::filesystem::path(dir) / "golden", ec)) return dir;
    std::fprintf(stderr, "SKIPPED: conformance corpus not found (looked at '%s'; set SAFESHARD_CORPUS)\n", dir.c_str());
    return std::nullopt;
}

}  // namespace safeshard::test

#endif
