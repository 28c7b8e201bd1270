// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TOOLS_CLI_DIFF_HPP
#define SAFESHARD_TOOLS_CLI_DIFF_HPP

// `safeshard diff`: compares two checkpoints or files of any layout, tensor by tensor: names,
// dtypes, global shapes, then bytes in bounded slabs, reporting the first differing element of
// each tensor; exit 0 when the same, 1 with up to ten differences, 2 on errors.

#include "common.hpp"

#include <safeshard/safeshard.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace safeshard::cli {

/// The row-major multi-index of flat element `flat` in `shape`, as "[i, j, k]".
inline std::string multi_index(std::uint64_t flat, std::span<const std::uint64_t> shape) {
    std::vector<std::uint64_t> idx(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        idx[d] = shape[d] ? flat % shape[d] : 0;
        flat = shape[d] ? flat / shape[d] : 0;
    }
    return dims_text(idx);
}

/// Compares the bytes of tensor `ta` of `a` with `tb` of `b` (same dtype and shape). Sets
/// `first` to the first differing element's flat index when they differ.
inline error_info compare_tensor(const ck::storage_reader& a, const ck::tensor_metadata& ta, const ck::storage_reader& b,
                          const ck::tensor_metadata& tb, std::optional<std::uint64_t>& first) {
    const std::uint64_t cap = std::max<std::uint64_t>(slab_limit() / 2, 1);
    std::vector<std::byte> ba, bb;
    const unsigned nbits = bits(ta.dtype);
    // Where the slabs' bytes differ: the first differing bit, as an element of the tensor.
    auto mismatch = [&](std::uint64_t base_bit, std::span<const std::byte> x, std::span<const std::byte> y) {
        if (std::memcmp(x.data(), y.data(), x.size()) == 0) return false;
        std::size_t i = 0;
        while (x[i] == y[i]) ++i;
        auto diff = static_cast<unsigned>(std::to_integer<unsigned>(x[i]) ^ std::to_integer<unsigned>(y[i]));
        first = (base_bit + 8 * std::uint64_t{i} + static_cast<unsigned>(std::countr_zero(diff))) / nbits;
        return true;
    };
    if (nbits % 8 != 0) {
        const std::uint64_t total = ta.byte_size();
        ba.resize(static_cast<std::size_t>(std::min(total, cap)));
        bb.resize(ba.size());
        for (std::uint64_t at = 0; at < total; at += ba.size()) {
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(ba.size(), total - at));
            auto x = std::span(ba).first(n), y = std::span(bb).first(n);
            if (auto e = read_packed(a, ta, at, x); e.code() != errc::ok) return e;
            if (auto e = read_packed(b, tb, at, y); e.code() != errc::ok) return e;
            if (mismatch(8 * at, x, y)) return {};
        }
        return {};
    }
    std::vector<std::uint64_t> zeros(ta.rank(), 0);
    std::uint64_t done_bits = 0;
    error_info e = for_each_slab(zeros, ta.shape, nbits / 8, cap,
                                 [&](std::span<const std::uint64_t> so, std::span<const std::uint64_t> sl, std::uint64_t bytes) -> error_info {
                                     if (ba.size() < bytes) {
                                         ba.resize(static_cast<std::size_t>(bytes));
                                         bb.resize(static_cast<std::size_t>(bytes));
                                     }
                                     auto x = std::span(ba).first(static_cast<std::size_t>(bytes));
                                     auto y = std::span(bb).first(static_cast<std::size_t>(bytes));
                                     if (auto st = a.read_raw(ta.name, so, sl, x); !st) return st.error();
                                     if (auto st = b.read_raw(tb.name, so, sl, y); !st) return st.error();
                                     if (mismatch(done_bits, x, y)) return error_info(errc::invalid_argument);  // stops the walk
                                     done_bits += 8 * bytes;
                                     return {};
                                 });
    if (first) return {};  // the stop above was the mismatch, not an error
    return e;
}

inline int diff(int argc, char** argv) {
    if (argc != 2) return usage_error("diff: two paths needed, A and B");
    for (int i = 0; i < argc; ++i)
        if (std::string_view(argv[i]).starts_with("--")) return usage_error("diff: unknown option");
    auto a = ck::storage_reader::open(argv[0]);
    if (!a) {
        print_error(error_info(a.error()).default_file(argv[0]));
        return 2;
    }
    auto b = ck::storage_reader::open(argv[1]);
    if (!b) {
        print_error(error_info(b.error()).default_file(argv[1]));
        return 2;
    }
    constexpr std::size_t max_lines = 10;
    std::size_t found = 0;
    std::string out;
    auto report = [&](const std::string& line) {
        if (found++ < max_lines) out += line + "\n";
    };
    auto ta = a->tensors(), tb = b->tensors();
    std::size_t i = 0, j = 0;
    while ((i < ta.size() || j < tb.size()) && found <= max_lines) {
        if (j == tb.size() || (i < ta.size() && ta[i].name < tb[j].name)) {
            report("only in A: " + std::string(ta[i++].name));
        } else if (i == ta.size() || tb[j].name < ta[i].name) {
            report("only in B: " + std::string(tb[j++].name));
        } else {
            const auto& x = ta[i++];
            const auto& y = tb[j++];
            const std::string n(x.name);
            if (x.dtype != y.dtype) {
                report(n + ": dtype " + std::string(name(x.dtype)) + " in A, " + std::string(name(y.dtype)) + " in B");
            } else if (x.shape != y.shape) {
                report(n + ": shape " + dims_text(x.shape) + " in A, " + dims_text(y.shape) + " in B");
            } else {
                std::optional<std::uint64_t> first;
                if (auto e = compare_tensor(*a, x, *b, y, first); e.code() != errc::ok) {
                    std::fwrite(out.data(), 1, out.size(), stdout);
                    std::fflush(stdout);
                    print_error(e);
                    return 2;
                }
                if (first) report(n + ": bytes differ, first at element " + multi_index(*first, x.shape));
            }
        }
    }
    if (found > max_lines) out += "(more differences not shown)\n";
    if (found == 0) {
        std::uint64_t bytes = 0;
        for (const auto& t : ta) bytes += t.byte_size();
        out += "same: " + std::to_string(ta.size()) + " tensors, " + std::to_string(bytes) + " bytes\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (std::fflush(stdout) != 0) return 2;
    return found ? 1 : 0;
}

}  // namespace safeshard::cli

#endif  // SAFESHARD_TOOLS_CLI_DIFF_HPP
