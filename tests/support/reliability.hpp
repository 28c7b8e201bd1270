// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_RELIABILITY_HPP
#define SAFESHARD_TESTS_SUPPORT_RELIABILITY_HPP

// Shared by the reliability suite's files: two versions of one small model, the state of a
// directory byte for byte, and what a crash or a failure may leave in one.

#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/io/atomic_file.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.hpp"
#include "sharding.hpp"

namespace safeshard::test {

// Two versions of one model: same names and shapes, different bytes.
inline std::vector<global_tensor> model(std::uint64_t version) {
    return {make_global("embed", dtype::BF16, {256, 512}, 10 * version + 1), make_global("layers.0.w", dtype::F32, {512, 256}, 10 * version + 2),
            make_global("norm", dtype::F32, {512}, 10 * version + 3)};
}

inline rank_state whole(const std::vector<global_tensor>& m) {
    rank_state s;
    for (const auto& g : m) s.push_back(save_chunk{g.name, g.type, g.shape, dims(g.shape.size(), 0), g.shape, g.bytes});
    return s;
}

// Every file of `dir` by name, with its bytes.
inline std::map<std::string, std::vector<std::byte>> snapshot(const std::string& dir) {
    std::map<std::string, std::vector<std::byte>> out;
    for (const auto& n : list_dir(dir)) out[n] = read_file(dir + "/" + n);
    return out;
}

inline bool only_final_names_or_temp(const std::string& dir, const std::map<std::string, std::vector<std::vector<std::byte>>>& allowed) {
    for (const auto& n : list_dir(dir)) {
        if (io::is_temp_file_name(n)) continue;
        auto it = allowed.find(n);
        if (it == allowed.end()) {
            MESSAGE("unexpected file ", n, " in ", dir);
            return false;
        }
        auto bytes = read_file(dir + "/" + n);
        bool match = false;
        for (const auto& v : it->second) match = match || same_bytes(bytes, v);
        if (!match) {
            MESSAGE(n, " in ", dir, " is neither the old nor the new complete file (", bytes.size(), " bytes)");
            return false;
        }
    }
    return true;
}

inline std::size_t temp_files(const std::string& dir) {
    std::size_t n = 0;
    for (const auto& f : list_dir(dir)) n += io::is_temp_file_name(f) ? 1 : 0;
    return n;
}

// Runs `body` in a child process; returns its exit status (or 128 + signal).
template <class Body>
int in_child(Body&& body) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) ::_exit(body());
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace safeshard::test

#endif
