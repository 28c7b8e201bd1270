// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TOOLS_CLI_VERIFY_HPP
#define SAFESHARD_TOOLS_CLI_VERIFY_HPP

// `safeshard verify`: checks each FILE against the safetensors format and each DIR as a whole
// checkpoint (opening it, then each of its files), printing one line per bad argument on
// stderr and exiting 1 when any is invalid.

#include "common.hpp"

#include <safeshard/safeshard.hpp>

#include <cstdint>
#include <string>

namespace safeshard::cli {

/// A directory as a whole checkpoint (every check of opening it), then each of its files as
/// `verify FILE` checks them. Prints one line for the first problem; false when there is one.
inline bool verify_checkpoint(const char* path) {
    auto cp = ck::checkpoint_metadata::open(path);
    if (!cp) {
        print_error(error_info(cp.error()).default_file(path));
        return false;
    }
    for (std::uint32_t i = 0; i < cp->files().size(); ++i) {
        std::string full = cp->file_path(i);
        auto r = file_reader::open(full);
        if (!r) {
            print_error(error_info(r.error()).default_file(full));
            return false;
        }
    }
    return true;
}

inline int verify(int argc, char** argv) {
    if (argc == 0) return usage_error("verify: FILE missing");
    int bad = 0;
    for (int i = 0; i < argc; ++i) {
        if (is_directory(argv[i])) {
            if (!verify_checkpoint(argv[i])) ++bad;
            continue;
        }
        auto r = file_reader::open(argv[i]);
        if (!r) {
            print_error(error_info(r.error()).default_file(argv[i]));
            ++bad;
        }
    }
    return bad ? 1 : 0;
}

}  // namespace safeshard::cli

#endif  // SAFESHARD_TOOLS_CLI_VERIFY_HPP
