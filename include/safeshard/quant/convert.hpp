// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_QUANT_CONVERT_HPP
#define SAFESHARD_QUANT_CONVERT_HPP

// Conversion of any checkpoint (one file, a Hugging Face directory with or without an index,
// a DCP-sharded directory) into a plain Hugging Face checkpoint of one float dtype, and FP8
// block quantization of selected weights (DeepSeek-V3 style). Per tensor:
// * an FP8 pair becomes its weight, dequantized, under the weight's name;
// * an MXFP4 pair becomes one tensor named without "_blocks", as Hugging Face names the
//   dequantized parameter; scale tensors are dropped;
// * every other float tensor is cast, rounding to nearest even; integers, bool and complex are
//   copied unchanged;
// * a weight selected for quantization becomes F8_E4M3 plus an F32 `_scale_inv` grid, one scale
//   per block: the block's largest magnitude / 448 (1 for an all-zero block), the values
//   divided by it and rounded to nearest even, saturating at ±448.
// Output as consolidation's: streamed in blocks of bounded size (assembled on worker threads,
// written in order), every file under a temp name and synced, then all renamed, then the index;
// any error before that leaves the output directory as it was.

#include <safeshard/checkpoint/layout.hpp>
#include <safeshard/checkpoint/naming.hpp>
#include <safeshard/consolidate/blocks.hpp>
#include <safeshard/consolidate/consolidate.hpp>
#include <safeshard/core/element_types.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/detail/huge_pages.hpp>
#include <safeshard/detail/parallel.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/io/atomic_file.hpp>
#include <safeshard/quant/reader.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace safeshard::quant {

/// The default choice of weights to quantize: 2-D, named "*.weight", and neither an embedding
/// nor a norm (names containing "embed" or "norm", and GPT-2's "wte" / "wpe").
struct default_fp8_selection {
    bool operator()(std::string_view name, std::span<const std::uint64_t> shape) const noexcept {
        if (shape.size() != 2 || !detail::ends_with(name, ".weight")) return false;
        for (std::string_view word : {"embed", "norm", "wte.", "wpe."})
            if (name.find(word) != std::string_view::npos) return false;
        return true;
    }
};

/// Quantizes the weights `select(name, shape)` picks (among 2-D float tensors named "*.weight",
/// so that readers pair them with their `_scale_inv`) to FP8 E4M3 blocks of `block_size`.
template <class Select = default_fp8_selection>
struct fp8_block_quantization {
    std::uint64_t block_size = 128;
    Select select{};
};

/// No quantization.
struct no_quantization {};

/// Options of `convert`.
struct convert_options {
    /// The dtype every float tensor becomes: F32, BF16 or F16. Unset: plain float tensors keep
    /// their dtype and dequantized pairs become F32.
    std::optional<dtype> to{};
    /// 0: one file, `model.safetensors`, and no index; else files of at most this many bytes (a
    /// larger tensor alone), as Hugging Face's `max_shard_size` splits them, plus the index
    /// (one file that holds everything is named `model.safetensors`, without an index).
    std::uint64_t max_shard_size = 0;
    /// Threads in all: n - 1 assemble blocks while the calling thread writes.
    unsigned thread_count = 1;
    /// Bytes per assembled block.
    std::size_t block_bytes = std::size_t{16} << 20;
    checkpoint::checkpoint_options input{};
};

/// What a conversion wrote.
struct conversion {
    std::vector<checkpoint::consolidated_file> files;
    std::uint64_t total_size = 0;
    bool indexed = false;        ///< whether `model.safetensors.index.json` was written
    std::size_t dequantized = 0;  ///< pairs dequantized
    std::size_t quantized = 0;    ///< weights quantized
};

namespace detail {

/// The largest finite E4M3 value, which quantized blocks scale to.
inline constexpr float e4m3_max = 448.0f;

/// `v` as E4M3, to nearest even, saturating at ±448 (NaN stays NaN).
constexpr f8_e4m3 e4m3_saturating(float v) noexcept {
    if (v > e4m3_max) v = e4m3_max;
    if (v < -e4m3_max) v = -e4m3_max;
    return f8_e4m3(v);
}

enum class producer : std::uint8_t { copy, cast, unpack, quantize_weight, quantize_scales };

// One output tensor and how its bytes are made from the input.
struct output_tensor {
    std::string name;
    dtype type = dtype::F32;
    std::vector<std::uint64_t> shape;
    producer how = producer::copy;
    const checkpoint::tensor_metadata* source = nullptr;  // logical input tensor
    std::uint64_t block = 0;                             // quantization block
    std::vector<float> scales;                           // quantize_scales: the grid, row-major
    const output_tensor* scales_of = nullptr;            // quantize_weight: its scale tensor
    std::uint64_t byte_size() const noexcept {
        std::uint64_t n = bits(type);
        for (auto d : shape) n *= d;
        return (n + 7) / 8;
    }
};

inline bool valid_target(dtype d) noexcept { return d == dtype::F32 || d == dtype::BF16 || d == dtype::F16; }

// The element type of a target dtype, for a generic lambda.
template <class Fn>
void visit_target(dtype d, Fn&& fn) {
    if (d == dtype::F32) fn(std::type_identity<float>{});
    else if (d == dtype::BF16) fn(std::type_identity<bf16>{});
    else fn(std::type_identity<f16>{});
}

// Bytes [at, at + out.size()) of a sub-byte tensor's data, as stored (one chunk).
template <class Reader>
error_info raw_bytes(const Reader& reader, const checkpoint::tensor_metadata& t, std::uint64_t at, std::span<std::byte> out) {
    const auto& cp = reader.metadata();
    const checkpoint::tensor_metadata* stored = cp.find(t.name);
    if (stored == nullptr || stored->chunks.size() != 1)
        return error_info(errc::unsupported_conversion).in_file(cp.directory()).at_tensor(t.name).with_detail(
            "a sub-byte dtype split over several chunks: its pieces are not byte-addressable");
    const checkpoint::saved_chunk& c = stored->chunks.front();
    const auto& file = cp.files()[c.file];
    if (auto st = file.reader.source().read(file.reader.header().data_offset() + c.info->begin + at, out); !st)
        return error_info(st.error()).default_file(cp.file_path(c.file)).at_tensor(t.name);
    return {};
}

// Elements [flat, flat + n) of a packed FP4 / FP6 tensor, as `to` values into `dst`.
template <class Reader>
error_info unpack(const Reader& reader, const checkpoint::tensor_metadata& t, dtype to, std::uint64_t flat, std::uint64_t n, std::byte* dst) {
    const bool f4 = t.dtype == dtype::F4;
    // Start on a whole byte (F4) or a whole group of 4 codes in 3 bytes (F6).
    const std::uint64_t first_byte = f4 ? flat / 2 : flat / 4 * 3, skip = f4 ? flat % 2 : flat % 4;
    const std::uint64_t bytes = ((skip + n) * bits(t.dtype) + 7) / 8;
    safeshard::detail::memory_block packed(static_cast<std::size_t>(bytes));
    if (packed.data() == nullptr) return error_info(errc::limit_exceeded).with_detail("out of memory for a conversion block");
    if (auto e = raw_bytes(reader, t, first_byte, std::span<std::byte>(packed.data(), static_cast<std::size_t>(bytes))); e.code() != errc::ok) return e;
    visit_target(to, [&]<class T>(std::type_identity<T>) {
        T* out = reinterpret_cast<T*>(dst);
        for (std::uint64_t k = 0; k < n; ++k) {
            const std::size_t i = static_cast<std::size_t>(skip + k);
            const float v = f4 ? f4_e2m1_to_float(unpack_f4(packed.data(), i))
                          : t.dtype == dtype::F6_E2M3 ? f6_e2m3_to_float(unpack_f6(packed.data(), i))
                                                      : f6_e3m2_to_float(unpack_f6(packed.data(), i));
            out[k] = from_float<T>(v);
        }
    });
    return {};
}

}  // namespace detail

/// Converts the checkpoint at `input` into a Hugging Face checkpoint in `output` (see the top
/// of this header). `policy` says which pairs are dequantized; `quantize` which weights are
/// quantized (`no_quantization` or `fp8_block_quantization`). Everything is checked before
/// anything is written; the output changes only when all of it is written.
template <dequantization Policy = fp8_block_or_mxfp4, class Quantize = no_quantization, checkpoint::progress_callback Progress = checkpoint::no_progress>
result<conversion> convert(std::string_view input, std::string_view output, const convert_options& opt = {}, const Quantize& quantize = {},
                           const Policy& policy = {}, Progress&& progress = {}) {
    using detail::output_tensor;
    using detail::producer;
    constexpr bool quantizing = !std::is_same_v<Quantize, no_quantization>;
    if (opt.to && !detail::valid_target(*opt.to))
        return error_info(errc::invalid_argument).with_detail("convert: the target dtype must be F32, BF16 or F16, not " +
                                                               std::string(name(*opt.to)));
    if (opt.block_bytes < 4096) return error_info(errc::invalid_argument).with_detail("convert: block_bytes under 4096");
    if constexpr (quantizing)
        if (quantize.block_size == 0) return error_info(errc::invalid_argument).with_detail("convert: block size must be positive");
    checkpoint::storage_reader_options ropt;
    ropt.checkpoint = opt.input;
    ropt.thread_count = 1;
    auto opened = basic_quantized_reader<Policy>::open(input, policy, ropt);
    if (!opened) return opened.error();
    const basic_quantized_reader<Policy>& reader = *opened;
    conversion result_info;

    // 1. What to write: one output per input tensor (none for scales, two for a quantized weight).
    std::set<std::string_view> scale_names;
    for (const auto& q : reader.quantized_tensors()) scale_names.insert(q.scales->name);
    std::vector<output_tensor> outputs;
    outputs.reserve(2 * reader.tensors().size());
    for (const auto& t : reader.tensors()) {
        if (scale_names.count(t.name)) continue;
        const quantized_tensor* q = reader.quantized(t.name);
        output_tensor o;
        o.name = std::string(q && q->kind == scheme::mxfp4 ? t.name.substr(0, t.name.size() - 7) : t.name);
        o.shape = t.shape;
        o.source = &t;
        const bool is_float = kind(t.dtype) == dtype_kind::floating;
        if (q) {
            o.type = opt.to.value_or(dtype::F32);
            o.how = producer::cast;
            ++result_info.dequantized;
        } else if (is_float && opt.to && *opt.to != t.dtype) {
            o.type = *opt.to;
            o.how = byte_size(t.dtype) == 0 ? producer::unpack : producer::cast;
        } else {
            o.type = t.dtype;
            o.how = producer::copy;
        }
        if constexpr (quantizing) {
            if (is_float && t.rank() == 2 && detail::ends_with(o.name, ".weight") && quantize.select(o.name, o.shape)) {
                const std::uint64_t bs = quantize.block_size;
                output_tensor s;
                s.name = o.name + "_scale_inv";
                s.type = dtype::F32;
                s.shape = {(t.shape[0] + bs - 1) / bs, (t.shape[1] + bs - 1) / bs};
                s.how = producer::quantize_scales;
                s.source = &t;
                s.block = bs;
                o.type = dtype::F8_E4M3;
                o.how = producer::quantize_weight;
                o.block = bs;
                outputs.push_back(std::move(o));
                outputs.push_back(std::move(s));
                ++result_info.quantized;
                continue;
            }
        }
        outputs.push_back(std::move(o));
    }
    std::sort(outputs.begin(), outputs.end(), [](const output_tensor& a, const output_tensor& b) { return checkpoint::natural_less(a.name, b.name); });
    for (std::size_t i = 1; i < outputs.size(); ++i)
        if (outputs[i].name == outputs[i - 1].name)
            return error_info(errc::duplicate_tensor).in_file(reader.metadata().directory()).at_tensor(outputs[i].name).with_detail(
                "two input tensors convert to this name (" + std::string(outputs[i - 1].source->name) + " and " +
                std::string(outputs[i].source->name) + ")");
    std::map<std::string_view, output_tensor*> by_name;
    for (auto& o : outputs) by_name[o.name] = &o;
    for (auto& o : outputs)
        if (o.how == producer::quantize_weight) o.scales_of = by_name[o.name + "_scale_inv"];

    // 2. Quantization scales, from a first pass over each selected weight in bands of block rows.
    for (auto& o : outputs) {
        if (o.how != producer::quantize_scales) continue;
        const std::uint64_t bs = o.block, rows = o.source->shape[0], cols = o.source->shape[1];
        o.scales.assign(static_cast<std::size_t>(o.shape[0] * o.shape[1]), 0.0f);
        std::vector<float> band;
        for (std::uint64_t r = 0; r < rows; r += bs) {
            const std::uint64_t n = std::min(bs, rows - r);
            band.resize(static_cast<std::size_t>(n * cols));
            const std::uint64_t off[2] = {r, 0}, len[2] = {n, cols};
            if (auto st = reader.template read_flat<dtype_map::convert>(o.source->name, off, len, std::span<float>(band)); !st) return st.error();
            float* grid = o.scales.data() + (r / bs) * o.shape[1];
            for (std::uint64_t i = 0; i < n; ++i)
                for (std::uint64_t j = 0; j < cols; ++j) {
                    const float a = std::fabs(band[i * cols + j]);
                    if (!std::isfinite(a))
                        return error_info(errc::invalid_argument).in_file(reader.metadata().directory()).at_tensor(o.source->name).with_detail(
                            "a value that is not finite at [" + std::to_string(r + i) + ", " + std::to_string(j) + "]: FP8 blocks cannot scale it");
                    grid[j / bs] = std::max(grid[j / bs], a);
                }
        }
        for (float& s : o.scales) s = s == 0.0f ? 1.0f : s / detail::e4m3_max;
    }

    // 3. Files: the layout places the tensors in natural name order.
    std::vector<checkpoint::planned_tensor> planned;
    for (const auto& o : outputs) planned.push_back(checkpoint::planned_tensor{o.name, o.type, o.shape, o.byte_size()});
    result<checkpoint::file_assignment> placed = opt.max_shard_size ? checkpoint::size_capped{opt.max_shard_size}.assign(planned)
                                                                    : checkpoint::single_file{}.assign(planned);
    if (!placed) return error_info(placed.error()).default_file(output);
    const bool one_file = placed->largest == 1;
    std::map<std::uint32_t, std::vector<std::uint32_t>> by_file;
    std::uint64_t total = 0, done = 0;
    for (std::uint32_t i = 0; i < outputs.size(); ++i) {
        by_file[placed->index[i]].push_back(i);
        total += outputs[i].byte_size();
    }
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(std::string(output)), ec);
    if (ec) return safeshard::detail::os_error("create directory", ec.value(), output);
    const unsigned threads = std::max(1u, opt.thread_count);
    std::vector<safeshard::detail::memory_block> buffers;
    for (unsigned s = 0; s < threads; ++s) {
        buffers.emplace_back(opt.block_bytes);
        if (!buffers.back().data()) return error_info(errc::limit_exceeded).with_detail("out of memory for conversion buffers");
    }
    std::vector<io::atomic_file_sink> prepared;

    // 4. Each file: blocks filled on worker threads, written in order by this one.
    for (const auto& file_members : by_file) {
        const std::uint32_t idx = file_members.first;
        const std::vector<std::uint32_t>& members = file_members.second;  // not a binding: lambdas below use it
        checkpoint::consolidated_file f;
        f.index = idx;
        f.name = one_file ? std::string("model.safetensors") : checkpoint::file_name(idx, placed->largest);
        const std::string path = checkpoint::detail::join_path(output, f.name);
        std::vector<tensor_spec> specs;
        for (auto i : members) specs.push_back(tensor_spec{outputs[i].name, outputs[i].type, outputs[i].shape});
        auto sink = io::atomic_file_sink::create(path);
        if (!sink) return sink.error();
        const metadata_entry format_only[] = {{format_key, format_value}};
        auto w = basic_file_writer<io::atomic_file_sink>::start(std::move(*sink), specs, format_only);
        if (!w) return error_info(w.error()).default_file(path);
        std::vector<checkpoint::detail::block> blocks;
        std::vector<std::uint64_t> coords;
        for (std::uint32_t s : w->layout().order) {
            const output_tensor& o = outputs[members[s]];
            if (bits(o.type) % 8 != 0) {  // a sub-byte tensor copied as it is: blocks of its bytes
                for (std::uint64_t at = 0; at < o.byte_size(); at += opt.block_bytes) {
                    blocks.push_back({s, coords.size(), std::min<std::uint64_t>(opt.block_bytes, o.byte_size() - at)});
                    coords.push_back(at);
                }
                continue;
            }
            checkpoint::detail::cut_blocks(s, o.shape, bits(o.type) / 8, opt.block_bytes, blocks, coords);
        }
        auto fill = [&](std::size_t b, std::size_t slot) -> error_info {
            const auto& blk = blocks[b];
            const output_tensor& o = outputs[members[blk.tensor]];
            std::byte* dst = buffers[slot].data();
            const std::size_t R = o.shape.size();
            std::span<const std::uint64_t> off(coords.data() + blk.at, R), len(coords.data() + blk.at + R, R);
            std::uint64_t n = 1, flat = 0;
            for (std::size_t d = 0; d < R; ++d) {
                n *= len[d];
                flat = flat * o.shape[d] + off[d];
            }
            const std::string_view in = o.source->name;
            auto fail = [&](const status& st) { return st ? error_info{} : st.error(); };
            switch (o.how) {
                case producer::copy:
                    if (bits(o.type) % 8 != 0) return detail::raw_bytes(reader, *o.source, coords[blk.at], std::span<std::byte>(dst, static_cast<std::size_t>(blk.bytes)));
                    return fail(reader.plain().read_raw(in, off, len, std::span<std::byte>(dst, static_cast<std::size_t>(blk.bytes))));
                case producer::cast: {
                    error_info e;
                    detail::visit_target(o.type, [&]<class T>(std::type_identity<T>) {
                        e = fail(reader.template read_flat<dtype_map::convert>(in, off, len, std::span<T>(reinterpret_cast<T*>(dst), static_cast<std::size_t>(n))));
                    });
                    return e;
                }
                case producer::unpack: return detail::unpack(reader, *o.source, o.type, flat, n, dst);
                case producer::quantize_scales:
                    std::memcpy(dst, o.scales.data() + flat, static_cast<std::size_t>(n) * sizeof(float));
                    return {};
                case producer::quantize_weight: {
                    // The values as floats at the back of the slot (4 bytes each, the codes 1).
                    safeshard::detail::memory_block values(static_cast<std::size_t>(n) * sizeof(float));
                    if (values.data() == nullptr) return error_info(errc::limit_exceeded).with_detail("out of memory for a conversion block");
                    auto* v = reinterpret_cast<float*>(values.data());
                    if (auto e = fail(reader.template read_flat<dtype_map::convert>(in, off, len, std::span<float>(v, static_cast<std::size_t>(n)))); e.code() != errc::ok)
                        return e;
                    const std::uint64_t cols = o.shape[1], bs = o.block, gw = o.scales_of->shape[1];
                    auto* codes = reinterpret_cast<f8_e4m3*>(dst);
                    for (std::uint64_t k = 0; k < n; ++k) {
                        const std::uint64_t g = flat + k, r = g / cols, c = g % cols;
                        codes[k] = detail::e4m3_saturating(v[k] / o.scales_of->scales[(r / bs) * gw + c / bs]);
                    }
                    return {};
                }
            }
            return {};
        };
        auto write = [&](std::size_t b, std::size_t slot) -> error_info {
            const auto& blk = blocks[b];
            const output_tensor& o = outputs[members[blk.tensor]];
            auto st = w->write(o.name, std::span<const std::byte>(buffers[slot].data(), static_cast<std::size_t>(blk.bytes)));
            if (!st) return error_info(st.error()).default_file(path);
            done += blk.bytes;
            progress(done, total);
            return {};
        };
        if (auto e = safeshard::detail::run_pipeline(blocks.size(), threads, threads, fill, write); e.code() != errc::ok) return e;
        if (const tensor_spec* left = w->next())
            return error_info(errc::size_mismatch).in_file(path).at_tensor(left->name).with_detail("tensor data not fully written");
        if (auto st = w->sink().prepare(); !st) return st.error();
        for (auto i : members) {
            f.tensors.push_back(outputs[i].name);
            f.tensor_bytes += outputs[i].byte_size();
        }
        result_info.total_size += f.tensor_bytes;
        result_info.files.push_back(std::move(f));
        prepared.push_back(std::move(w->sink()));
    }

    // 5. Publish together, then the index (or, for one file, remove an index and files of an
    // earlier conversion that would contradict it).
    for (auto& s : prepared)
        if (auto st = s.publish(); !st) return st.error();
    namespace fs = std::filesystem;
    const fs::path out_dir{std::string(output)};
    if (one_file) {
        std::error_code e2;
        fs::remove(out_dir / std::string(checkpoint::index_file_name), e2);
        for (fs::directory_iterator it(out_dir, e2), end; !e2 && it != end; it.increment(e2)) {
            std::error_code e3;
            if (checkpoint::is_model_file_name(it->path().filename().string()) && it->is_regular_file(e3)) fs::remove(it->path(), e3);
        }
        (void)io::remove_stale_temp_files(output);
    } else {
        checkpoint::consolidation parts;
        parts.files = result_info.files;
        parts.total_size = result_info.total_size;
        parts.largest = placed->largest;
        if (auto st = checkpoint::write_consolidated_index(output, std::span(&parts, 1), true); !st) return st.error();
        std::error_code e2;
        fs::remove(out_dir / "model.safetensors", e2);
        result_info.indexed = true;
    }
    return result_info;
}

}  // namespace safeshard::quant

#endif
