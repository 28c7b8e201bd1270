// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_QUANT_READER_HPP
#define SAFESHARD_QUANT_READER_HPP

// The quantized reader: a storage reader composed with a dequantization policy, as DCP's
// QuantizedHuggingFaceStorageReader (spec/dcp-hf.md §6), but
// * any region of a quantized tensor, not only whole tensors: slices across block boundaries,
//   partial last blocks, MXFP4 columns that start inside a group; only the blocks and scales
//   the region needs are read (DCP reloads the whole scale tensor for every request);
// * the metadata and the chunk list both show the logical shape of an MXFP4 tensor;
// * pairs are found by name across the checkpoint's files, with or without an index, and
//   checked when the checkpoint is opened (see quant/policy.hpp);
// * plain tensors go through the storage reader untouched, at no extra cost.

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/core/dtype_mapping.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/detail/huge_pages.hpp>
#include <safeshard/detail/parallel.hpp>
#include <safeshard/quant/kernels.hpp>
#include <safeshard/quant/policy.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safeshard::quant {

/// Reads a checkpoint whose quantized tensors (as `Policy` recognises them) come out
/// dequantized. `Mapping` is the dtype mapping of plain tensors (`dtype_map::convert` by
/// default, so a BF16 checkpoint fills float views); quantized tensors fill float, double,
/// bf16 or f16 views, whatever the mapping.
template <dequantization Policy = fp8_block_or_mxfp4, class Mapping = dtype_map::convert>
class basic_quantized_reader {
public:
    using plain_reader = checkpoint::basic_storage_reader<io::pread_source, Mapping>;

    basic_quantized_reader() = default;
    basic_quantized_reader(basic_quantized_reader&&) noexcept = default;
    basic_quantized_reader& operator=(basic_quantized_reader&&) noexcept = default;

    /// Opens the checkpoint at `path` (see `basic_checkpoint::open`) and pairs its quantized
    /// tensors; a malformed pair fails the open, naming the tensor and its file.
    static result<basic_quantized_reader> open(std::string_view path, const Policy& policy = {},
                                               const checkpoint::storage_reader_options& opt = {}) {
        auto cp = checkpoint::checkpoint_metadata::open(path, opt.opening());
        if (!cp) return cp.error();
        return from(std::move(*cp), policy, opt);
    }

    /// The same over a checkpoint already open.
    static result<basic_quantized_reader> from(checkpoint::checkpoint_metadata cp, const Policy& policy = {},
                                               const checkpoint::storage_reader_options& opt = {}) {
        basic_quantized_reader r;
        r.plain_ = plain_reader(std::move(cp), opt);
        const auto& stored = r.plain_.metadata();
        r.tensors_.assign(stored.tensors().begin(), stored.tensors().end());
        r.quantized_of_.assign(r.tensors_.size(), -1);
        std::size_t max_rank_seen = 0;
        for (std::size_t i = 0; i < r.tensors_.size(); ++i) {
            auto q = policy.recognise(stored.tensors()[i], stored);
            if (!q) return q.error();
            if (!q->has_value()) continue;
            r.quantized_of_[i] = static_cast<std::int32_t>(r.quantized_.size());
            checkpoint::tensor_metadata& logical = r.tensors_[i];
            logical.shape = (*q)->shape;
            if ((*q)->kind == scheme::mxfp4) logical.dtype = dtype::F4;
            max_rank_seen = std::max(max_rank_seen, logical.shape.size());
            r.quantized_.push_back(std::move(**q));
        }
        // One chunk of the logical shape each; the boxes point at storage that never moves
        // (vector buffers keep their address when the reader is moved).
        r.zeros_.assign(max_rank_seen, 0);
        for (std::size_t i = 0; i < r.tensors_.size(); ++i) {
            if (r.quantized_of_[i] < 0) continue;
            checkpoint::tensor_metadata& logical = r.tensors_[i];
            logical.boxes.assign(1, checkpoint::chunk_box{std::span<const std::uint64_t>(r.zeros_).first(logical.shape.size()), logical.shape});
        }
        return r;
    }

    /// The storage reader underneath: the tensors as stored.
    const plain_reader& plain() const noexcept { return plain_; }
    const checkpoint::checkpoint_metadata& metadata() const noexcept { return plain_.metadata(); }
    /// Every tensor sorted by name, quantized ones with their logical shape (an MXFP4 tensor as
    /// F4 [..., G*B*2], one chunk of that shape); scale tensors as stored.
    std::span<const checkpoint::tensor_metadata> tensors() const noexcept { return tensors_; }
    const checkpoint::tensor_metadata* find(std::string_view name) const noexcept {
        const std::size_t i = position(name);
        return i < tensors_.size() ? &tensors_[i] : nullptr;
    }
    /// The pair behind `name`, or nullptr when `name` is plain.
    const quantized_tensor* quantized(std::string_view name) const noexcept {
        const std::size_t i = position(name);
        return i < tensors_.size() && quantized_of_[i] >= 0 ? &quantized_[static_cast<std::size_t>(quantized_of_[i])] : nullptr;
    }
    std::span<const quantized_tensor> quantized_tensors() const noexcept { return quantized_; }
    unsigned thread_count() const noexcept { return plain_.thread_count(); }

    /// Reads the whole of tensor `name` (dequantized when quantized) into `dst`.
    template <class M = Mapping, class T, class Extents, class Layout>
    status read(std::string_view name, tensor_view<T, Extents, Layout> dst) const {
        const auto* t = find(name);
        if (t == nullptr) return error_info(errc::tensor_not_found).in_file(metadata().directory()).at_tensor(name);
        if (Extents::rank() != t->rank()) return size_error(*t, dst);
        for (std::size_t d = 0; d < Extents::rank(); ++d)
            if (static_cast<std::uint64_t>(dst.extent(d)) != t->shape[d]) return size_error(*t, dst);
        return read_region<M>(name, std::span<const std::uint64_t>(), dst);
    }

    /// Reads the box of tensor `name` at `offsets` with `dst`'s extents into `dst`.
    template <class M = Mapping, class T, class Extents, class Layout>
    status read_region(std::string_view name, std::span<const std::uint64_t> offsets, tensor_view<T, Extents, Layout> dst) const {
        checkpoint::region_request<tensor_view<T, Extents, Layout>> r{name, offsets, dst};
        return read_all<M>(std::span<const decltype(r)>(&r, 1));
    }
    /// The same with the offsets as a braced list.
    template <class M = Mapping, class T, class Extents, class Layout>
    status read_region(std::string_view name, const std::array<std::uint64_t, Extents::rank()>& offsets,
                       tensor_view<T, Extents, Layout> dst) const {
        return read_region<M>(name, std::span<const std::uint64_t>(offsets), dst);
    }

    /// Reads a batch: plain requests through the storage reader, quantized ones dequantized
    /// in bands of bounded memory, spread over `thread_count` threads.
    template <class M = Mapping, class View>
    status read_all(std::span<const checkpoint::region_request<View>> requests) const {
        using T = typename View::element_type;
        constexpr std::size_t R = View::rank();
        std::vector<checkpoint::region_request<View>> plain;
        std::vector<band> bands;
        for (const auto& rq : requests) {
            const quantized_tensor* q = quantized(rq.name);
            if (q == nullptr) {
                plain.push_back(rq);
                continue;
            }
            if constexpr (!float_destination<std::remove_cv_t<T>>) {
                return error_info(errc::dtype_mismatch).in_file(detail::file_of(metadata(), *q->data)).at_tensor(rq.name).with_detail(
                    "a quantized tensor dequantizes to floats: read it into float, double, bf16 or f16 elements");
            } else {
                if (R != q->shape.size() || !(rq.offsets.empty() || rq.offsets.size() == R)) return size_error(*find(rq.name), rq.dst);
                std::array<std::uint64_t, R ? R : 1> lengths{};
                for (std::size_t d = 0; d < R; ++d) lengths[d] = static_cast<std::uint64_t>(rq.dst.extent(d));
                band b;
                if (auto e = whole_band(*q, rq.name, rq.offsets, std::span<const std::uint64_t>(lengths.data(), R), b); e.code() != errc::ok)
                    return e;
                b.request = static_cast<std::uint32_t>(&rq - requests.data());
                cut_bands(b, R, bands);
            }
        }
        if (!plain.empty())
            if (auto st = plain_.template read_all<M>(std::span<const checkpoint::region_request<View>>(plain)); !st) return st;
        if constexpr (float_destination<std::remove_cv_t<T>>) {
            auto task = [&](std::size_t i) -> error_info { return read_band(bands[i], requests[bands[i].request].dst); };
            if (auto e = safeshard::detail::run_tasks(bands.size(), thread_count(), task); e.code() != errc::ok) return e;
        }
        return {};
    }

    /// Reads the box [offsets, offsets + lengths) of tensor `name` (any rank, known at run time)
    /// into `out`, row-major and contiguous, as `T` (dequantized when quantized; converted by
    /// `M` when plain, through one bounded bounce when the dtypes differ). For tools.
    template <class M = Mapping, class T>
    status read_flat(std::string_view name, std::span<const std::uint64_t> offsets, std::span<const std::uint64_t> lengths,
                     std::span<T> out) const {
        static_assert(dtype_mapping<M, T>, "the dtype mapping must model safeshard::dtype_mapping for this element type");
        const std::size_t i = position(name);
        if (i == tensors_.size()) return error_info(errc::tensor_not_found).in_file(metadata().directory()).at_tensor(name);
        const checkpoint::tensor_metadata& t = tensors_[i];
        const std::size_t R = t.rank();
        std::uint64_t n = 1;
        for (auto l : lengths) n *= l;
        if (offsets.size() != R || lengths.size() != R || n != out.size())
            return error_info(errc::invalid_argument).in_file(metadata().directory()).at_tensor(name).with_detail(
                "a box of " + std::to_string(lengths.size()) + " dimensions holding " + std::to_string(n) + " elements, for shape " +
                detail::shape_text(t.shape) + " and a buffer of " + std::to_string(out.size()));
        if (quantized_of_[i] < 0) {
            if (!M::template accepts<T>(t.dtype))
                return error_info(errc::dtype_mismatch).in_file(metadata().directory()).at_tensor(name).with_detail(
                    "checkpoint has " + std::string(safeshard::name(t.dtype)) + ", destination holds " +
                    std::string(safeshard::name(dtype_of<T>)));
            if (t.dtype == dtype_of<T>) return plain_.read_raw(name, offsets, lengths, std::as_writable_bytes(out));
            const std::size_t es = byte_size(t.dtype);
            safeshard::detail::memory_block bounce(static_cast<std::size_t>(n) * es);
            if (bounce.data() == nullptr && n != 0)
                return error_info(errc::limit_exceeded).at_tensor(name).with_detail("out of memory for a conversion buffer");
            if (auto st = plain_.read_raw(name, offsets, lengths, std::span<std::byte>(bounce.data(), static_cast<std::size_t>(n) * es)); !st)
                return st;
            M::template copy<T>(t.dtype, bounce.data(), static_cast<std::size_t>(n), out.data(), 1);
            return {};
        }
        if constexpr (!float_destination<T>) {
            return error_info(errc::dtype_mismatch).in_file(metadata().directory()).at_tensor(name).with_detail(
                "a quantized tensor dequantizes to floats: read it into float, double, bf16 or f16 elements");
        } else {
            const quantized_tensor& q = quantized_[static_cast<std::size_t>(quantized_of_[i])];
            band b;
            if (auto e = whole_band(q, name, offsets, lengths, b); e.code() != errc::ok) return e;
            // Row-major strides of `out`.
            std::array<std::ptrdiff_t, max_rank> ds{};
            std::ptrdiff_t stride = 1;
            for (std::size_t d = R; d-- > 0;) {
                ds[d] = stride;
                stride *= static_cast<std::ptrdiff_t>(lengths[d]);
            }
            std::vector<band> bands;
            cut_bands(b, R, bands);
            for (const band& piece : bands)
                if (auto e = read_piece(piece, out.data(), std::span<const std::ptrdiff_t>(ds.data(), R)); e.code() != errc::ok) return e;
            return {};
        }
    }

private:
    static constexpr std::size_t max_rank = 8;  // of a quantized tensor: FP8 is 2-D, MXFP4 rarely past 4
    static constexpr std::uint64_t band_bytes = std::uint64_t{512} << 10;  // stored bytes a band reads: stays in L2 until dequantized

    // A piece of one request: the box [offsets, offsets + lengths) of the logical tensor, and
    // where it lands in the request's destination (`dst0` along dimension 0).
    struct band {
        std::uint32_t request = 0;
        const quantized_tensor* q = nullptr;
        std::array<std::uint64_t, max_rank> offsets{}, lengths{};
        std::uint64_t dst0 = 0;
    };

    std::size_t position(std::string_view name) const noexcept {
        auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const checkpoint::tensor_metadata& t, std::string_view n) { return t.name < n; });
        return it != tensors_.end() && it->name == name ? static_cast<std::size_t>(it - tensors_.begin()) : tensors_.size();
    }

    // The band of a whole request: the box [offsets, offsets + lengths) of `q`'s logical tensor
    // (`offsets` empty: all zeros), checked against its rank limit and shape.
    error_info whole_band(const quantized_tensor& q, std::string_view name, std::span<const std::uint64_t> offsets,
                          std::span<const std::uint64_t> lengths, band& b) const {
        const std::size_t R = q.shape.size();
        if (R > max_rank)
            return detail::pair_error(metadata(), *q.data, "a quantized tensor of rank " + std::to_string(R) + ": at most " +
                                                               std::to_string(max_rank) + " are read");
        b.q = &q;
        for (std::size_t d = 0; d < R; ++d) {
            b.offsets[d] = offsets.empty() ? 0 : offsets[d];
            b.lengths[d] = lengths[d];
            if (b.offsets[d] > q.shape[d] || b.lengths[d] > q.shape[d] - b.offsets[d])
                return error_info(errc::out_of_bounds).in_file(detail::file_of(metadata(), *q.data)).at_tensor(name).with_detail(
                    "region at " + checkpoint::detail::shape_text({b.offsets.data(), R}) + " of size " +
                    checkpoint::detail::shape_text({b.lengths.data(), R}) + " is outside the logical shape " + detail::shape_text(q.shape));
        }
        return {};
    }

    // Splits a request along dimension 0 into bands that read at most about `band_bytes` of
    // stored data each (FP8 bands start on block rows where they can, so each scale row is
    // read by one band).
    static void cut_bands(const band& whole, std::size_t R, std::vector<band>& out) {
        std::uint64_t row_bytes = whole.q->kind == scheme::fp8_block ? byte_size(whole.q->data->dtype) : 1;
        for (std::size_t d = 1; d < R; ++d) row_bytes *= whole.lengths[d];
        if (whole.q->kind == scheme::mxfp4 && R >= 1) row_bytes = row_bytes / 2 + whole.q->block;
        std::uint64_t rows = std::max<std::uint64_t>(1, band_bytes / std::max<std::uint64_t>(1, row_bytes));
        if (whole.q->kind == scheme::fp8_block && rows >= whole.q->block) rows -= rows % whole.q->block;
        if (R < 2 || whole.lengths[0] == 0) {  // MXFP4 of one logical dimension: one band
            out.push_back(whole);
            return;
        }
        for (std::uint64_t r = 0; r < whole.lengths[0];) {
            std::uint64_t n = std::min(rows, whole.lengths[0] - r);
            if (whole.q->kind == scheme::fp8_block && n == rows) {  // end on a block row
                const std::uint64_t end = whole.offsets[0] + r + n;
                if (end % whole.q->block != 0 && end - end % whole.q->block > whole.offsets[0] + r)
                    n = end - end % whole.q->block - whole.offsets[0] - r;
            }
            band b = whole;
            b.offsets[0] = whole.offsets[0] + r;
            b.lengths[0] = n;
            b.dst0 = r;
            out.push_back(b);
            r += n;
        }
    }

    template <class View>
    error_info read_band(const band& b, const View& dst) const {
        const std::size_t R = b.q->shape.size();  // at most max_rank: whole_band checked
        std::array<std::ptrdiff_t, max_rank> ds{};
        for (std::size_t d = 0; d < R; ++d) ds[d] = static_cast<std::ptrdiff_t>(dst.stride(d));
        return read_piece(b, dst.data_handle(), std::span<const std::ptrdiff_t>(ds.data(), R));
    }

    // Band `b` into the destination at `dst` with strides `ds`: element (i0, i1, ...) of the
    // band lands at dst + (dst0 + i0) * ds[0] + i1 * ds[1] + ...
    template <class T>
    error_info read_piece(const band& b, T* dst, std::span<const std::ptrdiff_t> ds) const {
        for (std::size_t d = 0; d < ds.size(); ++d)
            if (b.lengths[d] == 0) return {};
        T* base = dst + static_cast<std::ptrdiff_t>(b.dst0) * (ds.empty() ? 0 : ds[0]);
        if (b.q->kind == scheme::fp8_block) return read_fp8_band(*b.q, b, base, ds[0], ds[1]);
        return read_mxfp4_band(*b.q, b, base, ds);
    }

    template <class T>
    error_info read_fp8_band(const quantized_tensor& q, const band& b, T* dst, std::ptrdiff_t ds0, std::ptrdiff_t ds1) const {
        const auto& stored = metadata();
        const std::uint64_t bs = q.block;
        const std::uint64_t r0 = b.offsets[0], c0 = b.offsets[1], n = b.lengths[0], m = b.lengths[1];
        const std::uint64_t sr0 = r0 / bs, sr1 = (r0 + n - 1) / bs + 1, sc0 = c0 / bs, sc1 = (c0 + m - 1) / bs + 1;
        const std::size_t sw = static_cast<std::size_t>(sc1 - sc0);
        const std::size_t es = byte_size(q.data->dtype);
        safeshard::detail::memory_block buffer(static_cast<std::size_t>(n * m) * es + (sr1 - sr0) * sw * sizeof(float) + 64);
        if (buffer.data() == nullptr)
            return error_info(errc::limit_exceeded).at_tensor(q.data->name).with_detail("out of memory for a dequantization band");
        std::byte* wbytes = buffer.data();
        auto* scales = reinterpret_cast<float*>(buffer.data() + ((static_cast<std::size_t>(n * m) * es + 63) / 64) * 64);
        {
            const std::uint64_t soff[2] = {sr0, sc0}, slen[2] = {sr1 - sr0, sc1 - sc0};
            const checkpoint::saved_chunk& c = q.scales->chunks.front();
            auto view = make_view(scales, static_cast<std::size_t>(slen[0]), static_cast<std::size_t>(slen[1]));
            if (auto st = stored.files()[c.file].reader.template read_region<dtype_map::convert>(*c.info, soff, slen, view); !st)
                return st.error();
        }
        error_info failed;
        safeshard::detail::visit_stored(q.data->dtype, [&]<class S>(std::type_identity<S>) {
            if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double> || std::is_same_v<S, bf16> || std::is_same_v<S, f16> ||
                          std::is_same_v<S, f8_e4m3> || std::is_same_v<S, f8_e5m2> || std::is_same_v<S, f8_e4m3fnuz> ||
                          std::is_same_v<S, f8_e5m2fnuz>) {
                S* w = reinterpret_cast<S*>(wbytes);
                const std::uint64_t off[2] = {r0, c0}, len[2] = {n, m};
                const checkpoint::saved_chunk& c = q.data->chunks.front();
                auto view = make_view(w, static_cast<std::size_t>(n), static_cast<std::size_t>(m));
                if (auto st = stored.files()[c.file].reader.template read_region<dtype_map::exact>(*c.info, off, len, view); !st) {
                    failed = st.error();
                    return;
                }
                detail::dequantize_fp8_rows(w, static_cast<std::size_t>(n), static_cast<std::size_t>(m), r0, c0, bs, scales, sw, sr0, sc0,
                                            dst, ds0, ds1);
            } else {
                failed = detail::pair_error(stored, *q.data, "not a float weight");  // recognise() refuses these
            }
        });
        return failed;
    }

    template <class T>
    error_info read_mxfp4_band(const quantized_tensor& q, const band& b, T* dst, std::span<const std::ptrdiff_t> ds) const {
        const std::size_t R = ds.size();
        const std::size_t L = R - 1;  // leading dimensions
        const std::uint64_t B = q.data->shape.back(), vpg = q.block;
        const std::uint64_t s0 = b.offsets[L], len = b.lengths[L];
        const std::uint64_t g0 = s0 / vpg, g1 = (s0 + len + vpg - 1) / vpg, ng = g1 - g0;
        std::uint64_t rows = 1;
        for (std::size_t d = 0; d < L; ++d) rows *= b.lengths[d];
        safeshard::detail::memory_block buffer(static_cast<std::size_t>(rows * ng * (B + 1)));
        if (buffer.data() == nullptr)
            return error_info(errc::limit_exceeded).at_tensor(q.data->name).with_detail("out of memory for a dequantization band");
        auto* blocks = reinterpret_cast<std::uint8_t*>(buffer.data());
        std::uint8_t* scales = blocks + rows * ng * B;
        std::array<std::uint64_t, max_rank + 1> off{}, lengths{};
        for (std::size_t d = 0; d < L; ++d) {
            off[d] = b.offsets[d];
            lengths[d] = b.lengths[d];
        }
        off[L] = g0;
        lengths[L] = ng;
        off[L + 1] = 0;
        lengths[L + 1] = B;
        if (auto e = read_bytes(*q.data, {off.data(), R + 1}, {lengths.data(), R + 1}, blocks, rows * ng * B); e.code() != errc::ok) return e;
        if (auto e = read_bytes(*q.scales, {off.data(), R}, {lengths.data(), R}, scales, rows * ng); e.code() != errc::ok) return e;
        // Row by row over the leading dimensions, in row-major order.
        std::array<std::uint64_t, max_rank> idx{};
        const std::uint64_t first = s0 - g0 * vpg;
        for (std::uint64_t r = 0; r < rows; ++r) {
            std::ptrdiff_t at = 0;
            for (std::size_t d = 0; d < L; ++d) at += static_cast<std::ptrdiff_t>(idx[d]) * ds[d];
            detail::dequantize_mxfp4_row(blocks + r * ng * B, scales + r * ng, static_cast<std::size_t>(B), first, len, dst + at, ds[L]);
            for (std::size_t d = L; d-- > 0;) {
                if (++idx[d] < b.lengths[d]) break;
                idx[d] = 0;
            }
        }
        return {};
    }

    // The box [off, off + len) of a stored U8 tensor as row-major bytes into `out` (`n` bytes).
    error_info read_bytes(const checkpoint::tensor_metadata& t, std::span<const std::uint64_t> off, std::span<const std::uint64_t> len,
                          std::uint8_t* out, std::uint64_t n) const {
        auto st = plain_.read_raw(t.name, off, len, std::span<std::byte>(reinterpret_cast<std::byte*>(out), static_cast<std::size_t>(n)));
        if (!st) return st.error();
        return {};
    }

    template <class V>
    error_info size_error(const checkpoint::tensor_metadata& m, const V& dst) const {
        std::string s = "logical shape " + detail::shape_text(m.shape) + ", destination extents [";
        for (std::size_t d = 0; d < V::rank(); ++d) s += (d ? ", " : "") + std::to_string(dst.extent(d));
        s += "]";
        return error_info(errc::shape_mismatch).in_file(metadata().directory()).at_tensor(m.name).with_detail(s);
    }

    plain_reader plain_;
    std::vector<checkpoint::tensor_metadata> tensors_;  // logical, sorted by name
    std::vector<std::int32_t> quantized_of_;            // per tensor: index into quantized_, or -1
    std::vector<quantized_tensor> quantized_;
    std::vector<std::uint64_t> zeros_;  // the logical boxes' offsets
};

/// Dequantizes FP8 blocks of 128 and MXFP4; plain tensors converted where `dtype_map::convert` allows.
using quantized_reader = basic_quantized_reader<>;

}  // namespace safeshard::quant

#endif
