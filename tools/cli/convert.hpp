// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TOOLS_CLI_CONVERT_HPP
#define SAFESHARD_TOOLS_CLI_CONVERT_HPP

// `safeshard convert`: any checkpoint into a plain Hugging Face one of one float dtype, FP8 and
// MXFP4 pairs dequantized; or selected weights quantized to FP8 blocks (--quantize).

#include "common.hpp"
#include "consolidate.hpp"  // parse_size, parse_count, progress_bar

#include <safeshard/quant/convert.hpp>
#include <safeshard/safeshard.hpp>

#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace safeshard::cli {

/// `--only REGEX` on top of the default choice of weights to quantize.
struct regex_selection {
    std::optional<std::regex> only;
    bool operator()(std::string_view name, std::span<const std::uint64_t> shape) const {
        if (only) return shape.size() == 2 && std::regex_search(name.begin(), name.end(), *only);
        return quant::default_fp8_selection{}(name, shape);
    }
};

inline int convert(int argc, char** argv) {
    const char* in = nullptr;
    const char* out = nullptr;
    std::optional<dtype> to;
    std::optional<std::uint64_t> max_size, block;
    std::optional<unsigned> threads;
    const char* only = nullptr;
    for (int i = 0; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--dtype" || a == "--max-shard-size" || a == "--threads" || a == "--quantize" || a == "--only") {
            if (i + 1 == argc) {
                std::string m = "convert: " + std::string(a) + " needs a value";
                return usage_error(m.c_str());
            }
            std::string_view v = argv[++i];
            std::string bad;
            if (a == "--dtype") {
                auto d = parse_dtype(v);
                if (to || !d || !quant::detail::valid_target(*d)) bad = "--dtype takes F32, BF16 or F16, once";
                else to = *d;
            } else if (a == "--max-shard-size") {
                max_size = parse_size(v);
                if (!max_size) bad = "--max-shard-size \"" + std::string(v) + "\" is not a positive size (bytes, or with KB, MB, GB, TB, KiB, MiB, GiB, TiB)";
            } else if (a == "--threads") {
                auto n = parse_count(v, 1024);
                if (!n || *n == 0) bad = "--threads \"" + std::string(v) + "\" is not a number from 1 to 1024";
                else threads = static_cast<unsigned>(*n);
            } else if (a == "--quantize") {
                std::optional<std::uint64_t> bs = 128;
                if (v.starts_with("fp8-block:")) bs = parse_count(v.substr(10), 1u << 20);
                else if (v != "fp8-block") bs.reset();
                if (!bs || *bs == 0 || block) bad = "--quantize takes fp8-block or fp8-block:BS (a positive block size), once";
                else block = *bs;
            } else {
                only = argv[i];
            }
            if (!bad.empty()) {
                bad = "convert: " + bad;
                return usage_error(bad.c_str());
            }
        } else if (a.starts_with("--")) {
            return usage_error("convert: unknown option");
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return usage_error("convert: one IN and one OUT");
        }
    }
    if (!in || !out) return usage_error("convert: IN and OUT needed");
    if (!to && !block) return usage_error("convert: give --dtype F32|BF16|F16, --quantize fp8-block[:BS], or both");
    if (only && !block) return usage_error("convert: --only selects what --quantize quantizes");

    quant::convert_options opt;
    opt.to = to;
    opt.max_shard_size = max_size.value_or(0);
    opt.thread_count = threads.value_or(2);
    progress_bar bar(isatty(2) == 1);
    const auto start = std::chrono::steady_clock::now();
    auto report = [&](const auto& r) -> int {
        bar.finish();
        if (!r) {
            print_error(error_info(r.error()).default_file(in));
            return 1;
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::size_t tensors = 0;
        for (const auto& f : r->files) tensors += f.tensors.size();
        std::printf("converted %s into %s: %zu file%s%s, %zu tensors (%zu dequantized, %zu quantized), %" PRIu64
                    " bytes in %.2f s (%.1f MB/s)\n",
                    in, out, r->files.size(), r->files.size() == 1 ? "" : "s", r->indexed ? " and model.safetensors.index.json" : "",
                    tensors, r->dequantized, r->quantized, r->total_size, secs,
                    secs > 0 ? static_cast<double>(r->total_size) / secs / 1e6 : 0.0);
        return std::fflush(stdout) == 0 ? 0 : 1;
    };
    if (!block) return report(quant::convert(in, out, opt, quant::no_quantization{}, quant::fp8_block_or_mxfp4{}, bar));
    quant::fp8_block_quantization<regex_selection> q;
    q.block_size = *block;
    if (only) {
        try {  // the command is built with exceptions; the library does not need them
            q.select.only.emplace(only);
        } catch (const std::regex_error& e) {
            std::string m = "convert: --only \"" + std::string(only) + "\" is not a regular expression (" + e.what() + ")";
            return usage_error(m.c_str());
        }
    }
    return report(quant::convert(in, out, opt, q, quant::fp8_block_or_mxfp4{}, bar));
}

}  // namespace safeshard::cli

#endif  // SAFESHARD_TOOLS_CLI_CONVERT_HPP
