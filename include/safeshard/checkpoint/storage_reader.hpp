// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_STORAGE_READER_HPP
#define SAFESHARD_CHECKPOINT_STORAGE_READER_HPP

// Loading from a checkpoint, as DCP's HuggingFaceStorageReader does, resharding included: a
// request is a box of a tensor's global index space with a destination view; the planner
// splits it over the saved chunks that hold it, and each piece is read straight from its file
// into the destination (strided, converted by the dtype mapping policy). Pieces are read file
// by file in file order, spread over `thread_count` threads by bytes (read_schedule.hpp); any
// worker's error is returned, never lost.

#include <safeshard/checkpoint/box_copy.hpp>
#include <safeshard/checkpoint/chunks.hpp>
#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/read_schedule.hpp>
#include <safeshard/core/dtype_mapping.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/subview.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/detail/parallel.hpp>
#include <safeshard/io/pread_source.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safeshard::checkpoint {

/// Options of `basic_storage_reader::open`.
struct storage_reader_options {
    /// Threads reading at once; 1 reads on the calling thread.
    unsigned thread_count = 1;
    /// On several threads, the smallest share of a batch's bytes one task reads (a batch is
    /// cut into about 8 tasks per thread, never smaller than this).
    std::uint64_t min_task_bytes = default_min_task_bytes;
    checkpoint_options checkpoint{};

    /// The options a reader opens its checkpoint with: `checkpoint`, its headers read on the
    /// reader's `thread_count` threads unless `checkpoint.thread_count` says otherwise.
    checkpoint_options opening() const noexcept {
        checkpoint_options o = checkpoint;
        if (o.thread_count <= 1) o.thread_count = thread_count;
        return o;
    }
};

/// One read of a batch: the box of tensor `name` starting at `offsets` (empty: all zeros) with
/// the destination's extents, into `dst` (any `tensor_view`).
template <class View>
struct region_request {
    std::string_view name;
    std::span<const std::uint64_t> offsets;
    View dst;
};

/// Reads a checkpoint of any layout on any number of destination "ranks".
///
/// `Source`: how files are read (`io::pread_source`: into the caller's memory, the fast path).
/// `Mapping`: which stored dtypes fill which element types (`dtype_map::exact` or
/// `dtype_map::convert`), decided once per request; a read call may name another as its first
/// template argument, as every read and load call in the library does: `read<dtype_map::convert>`.
template <io::byte_source Source = io::pread_source, class Mapping = dtype_map::exact>
class basic_storage_reader {
public:
    basic_storage_reader() = default;
    basic_storage_reader(basic_storage_reader&&) noexcept = default;
    basic_storage_reader& operator=(basic_storage_reader&&) noexcept = default;

    /// Opens and validates the checkpoint at `path` (see `basic_checkpoint::open`).
    static result<basic_storage_reader> open(std::string_view path, const storage_reader_options& opt = {}) {
        auto cp = basic_checkpoint<Source>::open(path, opt.opening());
        if (!cp) return cp.error();
        return basic_storage_reader(std::move(*cp), opt);
    }

    basic_storage_reader(basic_checkpoint<Source> cp, const storage_reader_options& opt)
        : cp_(std::move(cp)), threads_(opt.thread_count), min_task_bytes_(opt.min_task_bytes) {}

    const basic_checkpoint<Source>& metadata() const noexcept { return cp_; }
    std::span<const tensor_metadata> tensors() const noexcept { return cp_.tensors(); }
    const tensor_metadata* find(std::string_view name) const noexcept { return cp_.find(name); }
    unsigned thread_count() const noexcept { return threads_; }

    /// Reads the whole of tensor `name` into `dst`, whose extents must equal its global shape.
    /// `M`, the dtype mapping of this call, defaults to the reader's: `read<dtype_map::convert>`.
    template <class M = Mapping, class T, class Extents, class Layout>
    status read(std::string_view name, tensor_view<T, Extents, Layout> dst) const {
        auto t = cp_.info(name);
        if (!t) return t.error();
        if (Extents::rank() == (*t)->rank()) {
            for (std::size_t d = 0; d < Extents::rank(); ++d)
                if (static_cast<std::uint64_t>(dst.extent(d)) != (*t)->shape[d]) return size_error(**t, dst);
        }
        region_request<tensor_view<T, Extents, Layout>> r{name, {}, dst};
        return read_all<M>(std::span<const decltype(r)>(&r, 1));
    }

    /// Reads the box of tensor `name` at `offsets` with `dst`'s extents into `dst`.
    template <class M = Mapping, class T, class Extents, class Layout>
    status read_region(std::string_view name, std::span<const std::uint64_t> offsets,
                       tensor_view<T, Extents, Layout> dst) const {
        region_request<tensor_view<T, Extents, Layout>> r{name, offsets, dst};
        return read_all<M>(std::span<const decltype(r)>(&r, 1));
    }

    /// The same with the offsets as a braced list: `read_region("w", {0, 342}, view)`.
    template <class M = Mapping, class T, class Extents, class Layout>
    status read_region(std::string_view name, const std::array<std::uint64_t, Extents::rank()>& offsets,
                       tensor_view<T, Extents, Layout> dst) const {
        return read_region<M>(name, std::span<const std::uint64_t>(offsets), dst);
    }

    /// Reads a batch of requests (all with one view type), parallel over the files involved.
    template <class M = Mapping, class View>
    status read_all(std::span<const region_request<View>> requests) const {
        using T = typename View::element_type;
        constexpr std::size_t R = View::rank();
        static_assert(!std::is_const_v<T>, "read into views of mutable elements: the destination is written.");
        static_assert(dtype_mapping<M, T>, "the dtype mapping must model safeshard::dtype_mapping for this element type "
                                           "(dtype_map::exact or dtype_map::convert).");
        read_plan plan;
        std::vector<const tensor_metadata*> tensor_of(requests.size());
        std::vector<std::uint64_t> coords(2 * R * requests.size());  // per request: offsets, lengths
        for (std::uint32_t i = 0; i < requests.size(); ++i) {
            const auto& rq = requests[i];
            auto t = cp_.info(rq.name);
            if (!t) return t.error();
            const tensor_metadata& m = **t;
            tensor_of[i] = &m;
            if (!M::template accepts<T>(m.dtype))
                return error_info(errc::dtype_mismatch).in_file(cp_.directory()).at_tensor(m.name).with_detail(
                    "checkpoint has " + std::string(safeshard::name(m.dtype)) + ", destination holds " +
                    std::string(safeshard::name(dtype_of<T>)));
            if (R != m.rank() || !(rq.offsets.empty() || rq.offsets.size() == R)) return size_error(m, rq.dst);
            std::uint64_t* off = coords.data() + 2 * R * i;
            std::uint64_t* len = off + R;
            for (std::size_t d = 0; d < R; ++d) {
                off[d] = rq.offsets.empty() ? 0 : rq.offsets[d];
                len[d] = static_cast<std::uint64_t>(rq.dst.extent(d));
                if (off[d] > m.shape[d] || len[d] > m.shape[d] - off[d]) {
                    std::string s = "region at " + detail::shape_text({off, R}) + " of size " + detail::shape_text({len, R}) +
                                    " is outside the global shape " + detail::shape_text(m.shape);
                    return error_info(errc::out_of_bounds).in_file(cp_.directory()).at_tensor(m.name).with_detail(s);
                }
            }
            plan.add(i, chunk_box{{off, R}, {len, R}}, m.boxes);
        }
        // Each file front to back; on several threads, tasks cut by bytes (read_schedule.hpp).
        auto items = plan.items();
        std::vector<read_extent> extents(items.size());
        for (std::size_t k = 0; k < items.size(); ++k) {
            const read_item& it = items[k];
            const saved_chunk& c = tensor_of[it.request]->chunks[it.chunk];
            const auto so = plan.storage_offsets(it, R), len = plan.lengths(it, R);
            std::uint64_t first = 0, n = 1;
            for (std::size_t d = 0; d < R; ++d) {
                first = first * c.info->shape[d] + so[d];
                n *= len[d];
            }
            const std::uint64_t bits = safeshard::bits(c.info->dtype);
            extents[k] = read_extent{c.file, c.info->begin + first * bits / 8, n * bits / 8, cut_length(len)};
        }
        const read_schedule schedule = schedule_reads(extents, threads_, min_task_bytes_);
        auto task = [&](std::size_t g) -> error_info {
            for (std::size_t k = schedule.task_starts[g]; k < schedule.task_starts[g + 1]; ++k) {
                const read_piece& p = schedule.pieces[k];
                const read_item& it = items[p.item];
                const tensor_metadata& m = *tensor_of[it.request];
                const saved_chunk& c = m.chunks[it.chunk];
                std::array<std::uint64_t, R> so{}, dof{}, len{};
                std::copy_n(plan.storage_offsets(it, R).begin(), R, so.begin());
                std::copy_n(plan.dest_offsets(it, R).begin(), R, dof.begin());
                std::copy_n(plan.lengths(it, R).begin(), R, len.begin());
                if (const std::size_t d = cut_dimension(len); d < R) {
                    so[d] += p.begin;
                    dof[d] += p.begin;
                    len[d] = p.count;
                }
                auto sub = subview(requests[it.request].dst, std::span<const std::uint64_t>(dof), std::span<const std::uint64_t>(len));
                auto st = cp_.files()[c.file].reader.template read_region<M>(*c.info, std::span<const std::uint64_t>(so),
                                                                                   std::span<const std::uint64_t>(len), sub);
                if (!st) return st.error();
            }
            return {};
        };
        if (auto e = safeshard::detail::run_tasks(schedule.task_count(), threads_, task); e.code() != errc::ok) return e;
        return {};
    }

    /// Reads the box [offsets, offsets + lengths) of tensor `name` as raw little-endian
    /// row-major bytes of its stored dtype into `out` (exactly the box's bytes), whatever the
    /// element type: for tools. Whole-byte dtypes only.
    status read_raw(std::string_view name, std::span<const std::uint64_t> offsets, std::span<const std::uint64_t> lengths,
                    std::span<std::byte> out) const {
        auto t = cp_.info(name);
        if (!t) return t.error();
        const tensor_metadata& m = **t;
        const std::size_t R = m.rank();
        if (bits(m.dtype) % 8 != 0)
            return error_info(errc::unsupported_conversion).in_file(cp_.directory()).at_tensor(name).with_detail(
                "sub-byte dtype: regions are not byte-addressable");
        std::vector<std::uint64_t> off(R, 0), len(m.shape);
        if (!offsets.empty()) off.assign(offsets.begin(), offsets.end());
        if (!lengths.empty()) len.assign(lengths.begin(), lengths.end());
        if (off.size() != R || len.size() != R)
            return error_info(errc::invalid_argument).in_file(cp_.directory()).at_tensor(name).with_detail(
                "offsets and lengths need " + std::to_string(R) + " values each, for shape " + detail::shape_text(m.shape));
        const std::uint64_t elem = bits(m.dtype) / 8;
        std::uint64_t n = elem;
        for (std::size_t d = 0; d < R; ++d) {
            if (off[d] > m.shape[d] || len[d] > m.shape[d] - off[d])
                return error_info(errc::out_of_bounds).in_file(cp_.directory()).at_tensor(name).with_detail(
                    "region at " + detail::shape_text(off) + " of size " + detail::shape_text(len) +
                    " is outside the global shape " + detail::shape_text(m.shape));
            n *= len[d];
        }
        if (n != out.size())
            return error_info(errc::shape_mismatch).in_file(cp_.directory()).at_tensor(name).with_detail(
                "buffer of " + std::to_string(out.size()) + " bytes for a region of " + std::to_string(n));
        read_plan plan;
        plan.add(0, chunk_box{off, len}, m.boxes);
        for (const read_item& it : plan.items())
            if (auto e = copy_item_bytes(cp_, m, plan, it, len, out.data()); e.code() != errc::ok) return e;
        return {};
    }

private:
    // The dimension a read is cut along when it is shared between tasks: its first longer
    // than 1 (cutting there keeps every piece one box). The rank when there is none.
    template <class Lengths>
    static std::size_t cut_dimension(const Lengths& len) noexcept {
        std::size_t d = 0;
        while (d < len.size() && len[d] <= 1) ++d;
        return d;
    }
    template <class Lengths>
    static std::uint64_t cut_length(const Lengths& len) noexcept {
        const std::size_t d = cut_dimension(len);
        return d < len.size() ? len[d] : 1;
    }

    template <class V>
    error_info size_error(const tensor_metadata& m, const V& dst) const {
        std::string s = "saved global shape " + detail::shape_text(m.shape) + ", destination extents [";
        for (std::size_t d = 0; d < V::rank(); ++d) s += (d ? ", " : "") + std::to_string(dst.extent(d));
        s += "]";
        return error_info(errc::shape_mismatch).in_file(cp_.directory()).at_tensor(m.name).with_detail(s);
    }

    basic_checkpoint<Source> cp_;
    unsigned threads_ = 1;
    std::uint64_t min_task_bytes_ = default_min_task_bytes;
};

/// Loads into caller memory with `pread`, exact dtypes.
using storage_reader = basic_storage_reader<io::pread_source, dtype_map::exact>;
/// The same, converting dtypes where `dtype_map::convert` allows (BF16 files into float, …).
using converting_storage_reader = basic_storage_reader<io::pread_source, dtype_map::convert>;

}  // namespace safeshard::checkpoint

#endif
