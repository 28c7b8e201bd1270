// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TOOLS_CLI_COMMON_HPP
#define SAFESHARD_TOOLS_CLI_COMMON_HPP

// What more than one verb of the `safeshard` command needs: usage and error printing, shape
// text, telling a checkpoint directory from a file, and the slab walk and packed reads that let
// `extract` and `diff` stream tensors of any size through a bounded buffer.

#include <safeshard/safeshard.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace safeshard::cli {

namespace ck = safeshard::checkpoint;

/// Defined with main, so that the text and the dispatch it describes stay side by side.
extern const char usage_text[];

/// Largest buffer one slab of `extract` or `diff` uses (diff holds two of half this size).
/// `SAFESHARD_CLI_SLAB_BYTES` lowers it, so the tests can run the slab loop on small tensors.
inline std::uint64_t slab_limit() {
    std::uint64_t cap = std::uint64_t{64} << 20;
    if (const char* env = std::getenv("SAFESHARD_CLI_SLAB_BYTES")) {
        char* end = nullptr;
        unsigned long long v = std::strtoull(env, &end, 10);
        if (end != env && *end == '\0' && v > 0 && v < cap) cap = v;
    }
    return cap;
}

inline int usage_error(const char* what) {
    std::fprintf(stderr, "safeshard: %s\n\n%s", what, usage_text);
    return 2;
}

inline void print_error(const error_info& e) {
    char buf[640];
    e.format(buf, sizeof buf);
    std::fprintf(stderr, "%s\n", buf);
}

inline std::string shape_text(std::span<const std::uint64_t> shape, const char* sep) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += sep;
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

inline std::string dims_text(std::span<const std::uint64_t> v) { return shape_text(v, ", "); }

inline bool is_directory(const char* path) {
    std::error_code ec;
    return std::filesystem::is_directory(std::filesystem::path(path), ec);
}

/// Calls `fn(offsets, lengths, bytes)` for slabs of the box [off, off + len) of a tensor with
/// `elem`-byte elements, in row-major order: each slab is contiguous in the box's row-major
/// bytes and at most `cap` bytes (one element at least). Slabs run along dimension 0 when a
/// row fits in `cap`, along a later dimension otherwise. Returns the first error of `fn`.
template <class Fn>
inline error_info for_each_slab(std::span<const std::uint64_t> off, std::span<const std::uint64_t> len, std::uint64_t elem,
                         std::uint64_t cap, Fn&& fn) {
    const std::size_t rank = len.size();
    if (rank == 0) return fn(off, len, elem);
    for (auto l : len)
        if (l == 0) return {};
    std::vector<std::uint64_t> step(rank);  // bytes of one index step along each dimension
    for (std::size_t d = rank; d-- > 0;) step[d] = d + 1 < rank ? step[d + 1] * len[d + 1] : elem;
    std::size_t s = 0;
    while (step[s] > cap && s + 1 < rank) ++s;
    const std::uint64_t rows = std::min(len[s], std::max<std::uint64_t>(1, cap / step[s]));
    std::vector<std::uint64_t> so(off.begin(), off.end()), sl(len.begin(), len.end()), idx(s, 0);
    for (std::size_t d = 0; d < s; ++d) sl[d] = 1;
    for (std::uint64_t pos = 0;;) {
        for (std::size_t d = 0; d < s; ++d) so[d] = off[d] + idx[d];
        so[s] = off[s] + pos;
        sl[s] = std::min(rows, len[s] - pos);
        if (auto e = fn(std::span<const std::uint64_t>(so), std::span<const std::uint64_t>(sl), sl[s] * step[s]);
            e.code() != errc::ok)
            return e;
        pos += sl[s];
        if (pos < len[s]) continue;
        pos = 0;
        std::size_t d = s;
        while (d > 0 && ++idx[d - 1] == len[d - 1]) idx[--d] = 0;
        if (d == 0) return {};
    }
}

/// Reads bytes [at, at + out.size()) of a tensor saved whole in one chunk, as stored (the
/// only way to read sub-byte dtypes, whose regions are not byte-addressable).
inline error_info read_packed(const ck::storage_reader& r, const ck::tensor_metadata& t, std::uint64_t at, std::span<std::byte> out) {
    if (t.chunks.size() != 1)
        return error_info(errc::unsupported_conversion).in_file(r.metadata().directory()).at_tensor(t.name).with_detail(
            "sub-byte dtype saved in " + std::to_string(t.chunks.size()) + " chunks: not byte-addressable");
    const auto& c = t.chunks[0];
    const auto& f = r.metadata().files()[c.file];
    if (auto st = f.reader.source().read(f.reader.header().data_offset() + c.info->begin + at, out); !st)
        return error_info(st.error()).default_file(r.metadata().file_path(c.file)).at_tensor(t.name);
    return {};
}

}  // namespace safeshard::cli

#endif  // SAFESHARD_TOOLS_CLI_COMMON_HPP
