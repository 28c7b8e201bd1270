// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TOOLS_CLI_CONSOLIDATE_HPP
#define SAFESHARD_TOOLS_CLI_CONSOLIDATE_HPP

// `safeshard consolidate`: merges a DCP-sharded checkpoint into full tensors in
// model-I-of-N.safetensors files plus an index, in one file, in files of at most a given size,
// or in the files a --mapping names; with a progress bar on stderr when it is a terminal.

#include "common.hpp"

#include <safeshard/safeshard.hpp>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safeshard::cli {

/// Parses a decimal integer of at most `max`; nullopt when it is not one.
inline std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t max = ~std::uint64_t{0}) {
    if (text.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') return std::nullopt;
        auto digit = static_cast<std::uint64_t>(ch - '0');
        if (v > (max - digit) / 10) return std::nullopt;
        v = v * 10 + digit;
    }
    return v;
}

/// A size as Hugging Face's `max_shard_size` takes it: digits, then optionally a unit, any
/// case: B; KB, MB, GB, TB (powers of 10); KiB, MiB, GiB, TiB (powers of 2). Positive.
inline std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    auto v = parse_count(text.substr(0, digits));
    if (!v || *v == 0) return std::nullopt;
    std::string unit;
    for (char ch : text.substr(digits)) unit.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch);
    static constexpr struct {
        std::string_view name;
        std::uint64_t factor;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"kb", 1'000},
                 {"mb", 1'000'000},
                 {"gb", 1'000'000'000},
                 {"tb", 1'000'000'000'000},
                 {"kib", std::uint64_t{1} << 10},
                 {"mib", std::uint64_t{1} << 20},
                 {"gib", std::uint64_t{1} << 30},
                 {"tib", std::uint64_t{1} << 40}};
    for (const auto& u : units)
        if (unit == u.name) {
            if (*v > ~std::uint64_t{0} / u.factor) return std::nullopt;
            return *v * u.factor;
        }
    return std::nullopt;
}

/// Reads the whole of a (small) file.
inline error_info read_text(const char* path, std::string& out) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return error_info(errc::io_error).in_file(path).with_detail(std::string("open: ") + std::strerror(errno));
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    const bool failed = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    if (failed) return error_info(errc::io_error).in_file(path).with_detail(std::string("read: ") + std::strerror(err));
    return {};
}

/// Reads `--mapping FILE`: a JSON object {name: index >= 1}, or an index whose weight_map's
/// file names give the indices (`parse_fqn_to_index_mapping`).
inline error_info load_mapping(const char* path, std::vector<std::pair<std::string, std::uint32_t>>& mapping) {
    std::string text;
    if (auto e = read_text(path, text); e.code() != errc::ok) return e;
    auto parsed = parse_fqn_to_index_mapping(text);
    if (!parsed) return error_info(parsed.error()).default_file(path);
    mapping = std::move(*parsed);
    return {};
}

/// "12.3 MB": decimal units, as the rates are.
inline std::string bytes_text(std::uint64_t n) {
    static constexpr const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    auto v = static_cast<double>(n);
    std::size_t u = 0;
    while (v >= 1000 && u + 1 < std::size(units)) v /= 1000, ++u;
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%" PRIu64 " B", n);
    else std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
    return buf;
}

/// The progress bar on stderr: bytes, percent, rate and time left, redrawn at most ten times a
/// second (and at the end); nothing when off.
class progress_bar {
public:
    using clock = std::chrono::steady_clock;
    explicit progress_bar(bool on) : on_(on), start_(clock::now()) {}

    void operator()(std::uint64_t done, std::uint64_t total) {
        if (!on_) return;
        const auto now = clock::now();
        if (shown_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        shown_ = true;
        const double secs = std::chrono::duration<double>(now - start_).count();
        const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
        const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1;
        constexpr int width = 30;
        char bar[width + 1];
        const int full = static_cast<int>(frac * width);
        for (int i = 0; i < width; ++i) bar[i] = i < full ? '#' : '.';
        bar[width] = '\0';
        char left[32] = "--:--";
        if (rate > 0) {
            auto s = static_cast<std::uint64_t>(static_cast<double>(total - done) / rate + 0.5);
            if (s >= 3600) std::snprintf(left, sizeof left, "%" PRIu64 ":%02u:%02u", s / 3600, static_cast<unsigned>(s / 60 % 60), static_cast<unsigned>(s % 60));
            else std::snprintf(left, sizeof left, "%u:%02u", static_cast<unsigned>(s / 60), static_cast<unsigned>(s % 60));
        }
        std::fprintf(stderr, "\r[%s] %3d%%  %s / %s  %.1f MB/s  %s left\033[K", bar, static_cast<int>(frac * 100),
                     bytes_text(done).c_str(), bytes_text(total).c_str(), rate / 1e6, left);
        std::fflush(stderr);
    }

    /// Ends the bar's line, if one was drawn.
    void finish() {
        if (shown_) std::fputc('\n', stderr);
        shown_ = false;
    }

private:
    bool on_;
    bool shown_ = false;
    clock::time_point start_, last_;
};

inline int consolidate(int argc, char** argv) {
    const char* in = nullptr;
    const char* out = nullptr;
    const char* mapping_path = nullptr;
    std::optional<std::uint64_t> max_size;
    std::optional<unsigned> threads;
    for (int i = 0; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--mapping" || a == "--max-shard-size" || a == "--threads") {
            if (i + 1 == argc) {
                std::string m = "consolidate: " + std::string(a) + " needs a value";
                return usage_error(m.c_str());
            }
            const char* v = argv[++i];
            if (a == "--mapping") {
                if (mapping_path) return usage_error("consolidate: --mapping given twice");
                mapping_path = v;
            } else if (a == "--max-shard-size") {
                if (max_size) return usage_error("consolidate: --max-shard-size given twice");
                max_size = parse_size(v);
                if (!max_size) {
                    std::string m = "consolidate: --max-shard-size \"" + std::string(v) +
                                    "\" is not a positive size (bytes, or with KB, MB, GB, TB, KiB, MiB, GiB, TiB)";
                    return usage_error(m.c_str());
                }
            } else {
                if (threads) return usage_error("consolidate: --threads given twice");
                auto n = parse_count(v, 1024);
                if (!n || *n == 0) {
                    std::string m = "consolidate: --threads \"" + std::string(v) + "\" is not a number from 1 to 1024";
                    return usage_error(m.c_str());
                }
                threads = static_cast<unsigned>(*n);
            }
        } else if (a.starts_with("--")) {
            return usage_error("consolidate: unknown option");
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return usage_error("consolidate: one IN_DIR and one OUT_DIR");
        }
    }
    if (!in || !out) return usage_error("consolidate: IN_DIR and OUT_DIR needed");
    if (mapping_path && max_size) return usage_error("consolidate: --mapping and --max-shard-size exclude each other");

    ck::consolidate_options opt;
    opt.thread_count = threads.value_or(2);
    progress_bar bar(isatty(2) == 1);
    const auto start = std::chrono::steady_clock::now();
    auto run = [&](const auto& layout) -> int {
        auto r = ck::consolidate(in, out, layout, opt, bar);
        bar.finish();
        if (!r) {
            print_error(error_info(r.error()).default_file(in));
            return 1;
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::size_t tensors = 0;
        for (const auto& f : r->files) tensors += f.tensors.size();
        std::printf("consolidated %s into %s: %zu file%s and %s, %zu tensors, %" PRIu64 " bytes in %.2f s (%.1f MB/s)\n", in,
                    out, r->files.size(), r->files.size() == 1 ? "" : "s", std::string(ck::index_file_name).c_str(), tensors,
                    r->total_size, secs, secs > 0 ? static_cast<double>(r->total_size) / secs / 1e6 : 0.0);
        return std::fflush(stdout) == 0 ? 0 : 1;
    };
    if (mapping_path) {
        std::vector<std::pair<std::string, std::uint32_t>> mapping;
        if (auto e = load_mapping(mapping_path, mapping); e.code() != errc::ok) {
            print_error(e);
            return 1;
        }
        return run(ck::mapped_files(std::move(mapping)));
    }
    if (max_size) return run(ck::size_capped{*max_size});
    return run(ck::single_file{});
}

}  // namespace safeshard::cli

#endif  // SAFESHARD_TOOLS_CLI_CONSOLIDATE_HPP
