// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TOOLS_CLI_EXTRACT_HPP
#define SAFESHARD_TOOLS_CLI_EXTRACT_HPP

// `safeshard extract`: writes one tensor of a checkpoint or file, or the box of it at
// --offsets of size --lengths, to a file as raw little-endian row-major bytes, streamed in
// bounded slabs and committed atomically so a failed run leaves no partial output.

#include "common.hpp"

#include <safeshard/safeshard.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace safeshard::cli {

/// Parses "a,b,c" (non-negative decimal integers that fit in 64 bits); an empty text is an
/// empty list (a scalar's offsets).
inline bool parse_dims(std::string_view text, std::vector<std::uint64_t>& out) {
    out.clear();
    if (text.empty()) return true;
    std::size_t start = 0;
    while (true) {
        std::size_t comma = text.find(',', start);
        std::string_view part = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (part.empty()) return false;
        std::uint64_t v = 0;
        for (char ch : part) {
            if (ch < '0' || ch > '9') return false;
            auto digit = static_cast<std::uint64_t>(ch - '0');
            if (v > (~std::uint64_t{0} - digit) / 10) return false;
            v = v * 10 + digit;
        }
        out.push_back(v);
        if (comma == std::string_view::npos) return true;
        start = comma + 1;
    }
}

inline int extract(int argc, char** argv) {
    const char* path = nullptr;
    const char* tensor = nullptr;
    const char* out_path = nullptr;
    std::optional<std::vector<std::uint64_t>> offsets, lengths;
    for (int i = 0; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--offsets" || a == "--lengths" || a == "--out") {
            if (i + 1 == argc) return usage_error(a == "--out" ? "extract: --out needs a FILE" : "extract: --offsets and --lengths need a list");
            const char* v = argv[++i];
            if (a == "--out") {
                if (out_path) return usage_error("extract: --out given twice");
                out_path = v;
                continue;
            }
            auto& dst = a == "--offsets" ? offsets : lengths;
            if (dst) return usage_error("extract: --offsets or --lengths given twice");
            dst.emplace();
            if (!parse_dims(v, *dst)) {
                std::string m = "extract: " + std::string(a) + " \"" + v + "\" is not a comma-separated list of non-negative integers";
                return usage_error(m.c_str());
            }
        } else if (a.starts_with("--")) {
            return usage_error("extract: unknown option");
        } else if (!path) {
            path = argv[i];
        } else if (!tensor) {
            tensor = argv[i];
        } else {
            return usage_error("extract: one PATH and one NAME");
        }
    }
    if (!path || !tensor) return usage_error("extract: PATH and NAME needed");
    if (!out_path) return usage_error("extract: --out FILE missing");
    auto opened = ck::storage_reader::open(path);
    if (!opened) {
        print_error(error_info(opened.error()).default_file(path));
        return 1;
    }
    const ck::storage_reader& r = *opened;
    auto found = r.metadata().info(tensor);
    if (!found) {
        print_error(error_info(found.error()).in_file(path));
        return 1;
    }
    const ck::tensor_metadata& t = **found;
    const std::size_t rank = t.rank();
    auto fail = [&](errc code, const std::string& detail) {
        print_error(error_info(code).in_file(path).at_tensor(t.name).with_detail(detail));
        return 1;
    };
    for (const auto* given : {&offsets, &lengths})
        if (*given && (*given)->size() != rank)
            return fail(errc::invalid_argument, std::string(given == &offsets ? "--offsets" : "--lengths") + " has " +
                                                    std::to_string((*given)->size()) + " value(s); the tensor has rank " +
                                                    std::to_string(rank) + ", shape " + dims_text(t.shape));
    std::vector<std::uint64_t> off = offsets ? *offsets : std::vector<std::uint64_t>(rank, 0);
    std::vector<std::uint64_t> len(rank);  // without --lengths: to the end of each dimension
    for (std::size_t d = 0; d < rank; ++d)
        len[d] = lengths ? (*lengths)[d] : off[d] <= t.shape[d] ? t.shape[d] - off[d] : 0;
    for (std::size_t d = 0; d < rank; ++d)
        if (off[d] > t.shape[d] || len[d] > t.shape[d] - off[d])
            return fail(errc::out_of_bounds, "region at " + dims_text(off) + " of size " + dims_text(len) +
                                                 " is outside the global shape " + dims_text(t.shape));
    auto sink = io::atomic_file_sink::create(out_path);
    if (!sink) {
        print_error(error_info(sink.error()).default_file(out_path));
        return 1;
    }
    const std::uint64_t cap = slab_limit();
    std::vector<std::byte> buf;
    error_info e;
    if (bits(t.dtype) % 8 != 0) {
        // Sub-byte dtypes: the whole tensor only, as its stored bytes.
        if (len != t.shape)
            return fail(errc::unsupported_conversion, "sub-byte dtype: regions are not byte-addressable; extract the whole tensor");
        const std::uint64_t total = t.byte_size();
        buf.resize(static_cast<std::size_t>(std::min(total, cap)));
        for (std::uint64_t at = 0; at < total && e.code() == errc::ok; at += buf.size()) {
            auto piece = std::span(buf).first(static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - at)));
            e = read_packed(r, t, at, piece);
            if (e.code() == errc::ok) e = sink->write(piece).error();
        }
    } else {
        e = for_each_slab(off, len, bits(t.dtype) / 8, cap,
                          [&](std::span<const std::uint64_t> so, std::span<const std::uint64_t> sl, std::uint64_t bytes) -> error_info {
                              if (buf.size() < bytes) buf.resize(static_cast<std::size_t>(bytes));
                              auto piece = std::span(buf).first(static_cast<std::size_t>(bytes));
                              if (auto st = r.read_raw(t.name, so, sl, piece); !st) return st.error();
                              return sink->write(piece).error();
                          });
    }
    if (e.code() == errc::ok) e = sink->commit().error();
    if (e.code() != errc::ok) {
        print_error(e.default_file(out_path));
        return 1;
    }
    return 0;
}

}  // namespace safeshard::cli

#endif  // SAFESHARD_TOOLS_CLI_EXTRACT_HPP
