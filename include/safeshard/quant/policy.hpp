// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_QUANT_POLICY_HPP
#define SAFESHARD_QUANT_POLICY_HPP

// Which tensors of a checkpoint are quantized, and how they pair with their scales: the
// dequantization policy a quantized reader is built on (spec/dcp-hf.md §6). Two schemes:
// * FP8 block (DeepSeek-V3, Qwen-FP8): a 2-D weight `W` (F8_E4M3 or F8_E5M2, or any float
//   dtype) with `W_scale_inv` (".weight" -> ".weight_scale_inv"), one scale per block of
//   block × block elements, F32, BF16 or F16. Value: float(w) * scale, in F32.
// * MXFP4 (gpt-oss): `X_blocks` U8 [..., G, B] (two FP4 E2M1 codes a byte, the low nibble
//   first) with `X_scales` U8 [..., G] (E8M0 exponents). Logical tensor [..., G*B*2]; value:
//   ldexp(e2m1(nibble), scale - 127).
// A pair is checked when found, so a reader refuses a malformed quantized checkpoint when it
// opens it, not halfway through a load; every error names the tensor and its file.

#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace safeshard::quant {

/// How a quantized tensor is stored.
enum class scheme : std::uint8_t { fp8_block, mxfp4 };

/// A quantized tensor as a reader presents it: one logical tensor made of a stored data tensor
/// and its scales.
struct quantized_tensor {
    scheme kind = scheme::fp8_block;
    const checkpoint::tensor_metadata* data = nullptr;    ///< the weight (FP8) or the blocks (MXFP4)
    const checkpoint::tensor_metadata* scales = nullptr;  ///< the scale tensor
    std::vector<std::uint64_t> shape;                     ///< the logical (dequantized) shape
    /// FP8: rows and columns a scale covers; MXFP4: values a scale covers (2·B).
    std::uint64_t block = 0;
};

namespace detail {

inline bool ends_with(std::string_view s, std::string_view suffix) noexcept {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

inline std::string shape_text(const std::vector<std::uint64_t>& s) { return checkpoint::detail::shape_text(s); }

// Where a tensor's (first) chunk lives, for error messages.
inline std::string file_of(const checkpoint::checkpoint_metadata& cp, const checkpoint::tensor_metadata& t) {
    return t.chunks.empty() ? std::string(cp.directory()) : cp.file_path(t.chunks.front().file);
}

inline error_info pair_error(const checkpoint::checkpoint_metadata& cp, const checkpoint::tensor_metadata& t, std::string detail) {
    return error_info(errc::bad_checkpoint_metadata).in_file(file_of(cp, t)).at_tensor(t.name).with_detail(std::move(detail));
}

// Quantized tensors must each be one whole chunk (block maths is in global coordinates).
inline error_info check_one_chunk(const checkpoint::checkpoint_metadata& cp, const checkpoint::tensor_metadata& t) {
    if (t.chunks.size() == 1) return {};
    return pair_error(cp, t, "a quantized tensor saved in " + std::to_string(t.chunks.size()) +
                                 " chunks: it must be one whole tensor in one file to be dequantized");
}

}  // namespace detail

/// **`dequantization<P>`** — which tensors of a checkpoint a quantized reader dequantizes.
///
/// Syntax, on a `const P& p`:
/// * `p.recognise(const checkpoint::tensor_metadata& t, const checkpoint::checkpoint_metadata& cp)
///   -> result<std::optional<quantized_tensor>>`: if `t` is the data tensor of a pair this
///   policy handles, the pair (with its logical shape); `std::nullopt` if `t` is a plain tensor
///   for this policy (scale tensors are plain: they stay readable as stored); an error if `t`
///   is this policy's data tensor but the pair is malformed (its scales missing, of the wrong
///   dtype or shape, the data of the wrong rank, either saved in several chunks).
///
/// Semantics: recognising depends only on names, dtypes and shapes (no data is read), so a
/// reader runs it once per tensor when it opens a checkpoint. Cost: O(log n) per tensor.
template <class P>
concept dequantization = requires(const P& p, const checkpoint::tensor_metadata& t, const checkpoint::checkpoint_metadata& cp) {
    { p.recognise(t, cp) } -> std::same_as<result<std::optional<quantized_tensor>>>;
};

/// FP8 block quantization: `W` pairs with `W_scale_inv` where `W` ends in ".weight".
struct fp8_block {
    /// Rows and columns one scale covers (DeepSeek-V3: 128).
    std::uint64_t block_size = 128;

    result<std::optional<quantized_tensor>> recognise(const checkpoint::tensor_metadata& t,
                                                      const checkpoint::checkpoint_metadata& cp) const {
        if (!detail::ends_with(t.name, ".weight")) return std::optional<quantized_tensor>{};
        const std::string scale_name = std::string(t.name) + "_scale_inv";
        const checkpoint::tensor_metadata* s = cp.find(scale_name);
        const bool fp8 = t.dtype == dtype::F8_E4M3 || t.dtype == dtype::F8_E5M2;
        if (s == nullptr) {
            if (fp8) return detail::pair_error(cp, t, "an FP8 weight without its scale tensor " + scale_name);
            return std::optional<quantized_tensor>{};
        }
        if (block_size == 0) return error_info(errc::invalid_argument).with_detail("fp8_block: block_size must be positive");
        if (kind(t.dtype) != dtype_kind::floating || byte_size(t.dtype) == 0)
            return detail::pair_error(cp, t, "a weight with scale tensor " + scale_name + " must hold whole-byte floats, not " +
                                                 std::string(name(t.dtype)));
        if (t.rank() != 2)
            return detail::pair_error(cp, t, "an FP8 block weight must be 2-D, not of shape " + detail::shape_text(t.shape));
        if (s->dtype != dtype::F32 && s->dtype != dtype::BF16 && s->dtype != dtype::F16)
            return detail::pair_error(cp, *s, "a scale tensor must be F32, BF16 or F16, not " + std::string(name(s->dtype)));
        const std::vector<std::uint64_t> grid = {(t.shape[0] + block_size - 1) / block_size, (t.shape[1] + block_size - 1) / block_size};
        if (s->shape != grid)
            return detail::pair_error(cp, *s, "scale grid of shape " + detail::shape_text(s->shape) + " for weight " +
                                                  std::string(t.name) + " of shape " + detail::shape_text(t.shape) +
                                                  " in blocks of " + std::to_string(block_size) + ": expected " +
                                                  detail::shape_text(grid));
        if (auto e = detail::check_one_chunk(cp, t); e.code() != errc::ok) return e;
        if (auto e = detail::check_one_chunk(cp, *s); e.code() != errc::ok) return e;
        return std::optional<quantized_tensor>(quantized_tensor{scheme::fp8_block, &t, s, t.shape, block_size});
    }
};
static_assert(dequantization<fp8_block>);

/// MXFP4: `X_blocks` pairs with `X_scales`.
struct mxfp4 {
    result<std::optional<quantized_tensor>> recognise(const checkpoint::tensor_metadata& t,
                                                      const checkpoint::checkpoint_metadata& cp) const {
        if (!detail::ends_with(t.name, "_blocks")) return std::optional<quantized_tensor>{};
        const std::string scale_name = std::string(t.name.substr(0, t.name.size() - 7)) + "_scales";
        const checkpoint::tensor_metadata* s = cp.find(scale_name);
        if (s == nullptr) {
            if (t.dtype == dtype::U8 && t.rank() >= 2)
                return detail::pair_error(cp, t, "MXFP4 blocks without their scale tensor " + scale_name);
            return std::optional<quantized_tensor>{};
        }
        if (t.dtype != dtype::U8)
            return detail::pair_error(cp, t, "MXFP4 blocks must be U8 (two FP4 codes a byte), not " + std::string(name(t.dtype)));
        if (t.rank() < 2)
            return detail::pair_error(cp, t, "MXFP4 blocks must be [..., groups, bytes], not of shape " + detail::shape_text(t.shape));
        if (s->dtype != dtype::U8)
            return detail::pair_error(cp, *s, "MXFP4 scales must be U8 (E8M0 exponents), not " + std::string(name(s->dtype)));
        const std::vector<std::uint64_t> expected(t.shape.begin(), t.shape.end() - 1);
        if (s->shape != expected)
            return detail::pair_error(cp, *s, "MXFP4 scales of shape " + detail::shape_text(s->shape) + " for blocks " +
                                                  std::string(t.name) + " of shape " + detail::shape_text(t.shape) +
                                                  ": expected " + detail::shape_text(expected));
        if (auto e = detail::check_one_chunk(cp, t); e.code() != errc::ok) return e;
        if (auto e = detail::check_one_chunk(cp, *s); e.code() != errc::ok) return e;
        std::vector<std::uint64_t> logical(t.shape.begin(), t.shape.end() - 1);
        logical.back() *= 2 * t.shape.back();  // checked: the file's size bounds it
        return std::optional<quantized_tensor>(quantized_tensor{scheme::mxfp4, &t, s, std::move(logical), 2 * t.shape.back()});
    }
};
static_assert(dequantization<mxfp4>);

/// Several schemes: the first that recognises a tensor (or fails on it) decides.
template <dequantization... Schemes>
struct formats {
    std::tuple<Schemes...> schemes{};

    result<std::optional<quantized_tensor>> recognise(const checkpoint::tensor_metadata& t,
                                                      const checkpoint::checkpoint_metadata& cp) const {
        return recognise_from<0>(t, cp);
    }

private:
    template <std::size_t I>
    result<std::optional<quantized_tensor>> recognise_from(const checkpoint::tensor_metadata& t,
                                                           const checkpoint::checkpoint_metadata& cp) const {
        if constexpr (I == sizeof...(Schemes)) {
            return std::optional<quantized_tensor>{};
        } else {
            auto found = std::get<I>(schemes).recognise(t, cp);
            if (!found || found->has_value()) return found;
            return recognise_from<I + 1>(t, cp);
        }
    }
};

/// Both schemes, FP8 blocks of 128: what DCP's QuantizedHuggingFaceStorageReader reads.
using fp8_block_or_mxfp4 = formats<fp8_block, mxfp4>;
static_assert(dequantization<fp8_block_or_mxfp4>);

/// No quantization: every tensor is plain.
struct none {
    result<std::optional<quantized_tensor>> recognise(const checkpoint::tensor_metadata&, const checkpoint::checkpoint_metadata&) const {
        return std::optional<quantized_tensor>{};
    }
};
static_assert(dequantization<none>);

}  // namespace safeshard::quant

#endif
