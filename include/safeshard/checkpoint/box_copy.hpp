// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_BOX_COPY_HPP
#define SAFESHARD_CHECKPOINT_BOX_COPY_HPP

// A checkpoint tensor's box as raw row-major bytes of its stored dtype, assembled from the
// saved chunks the planner names: for the tools and consolidation, which move tensors whose
// element type they only know at run time. Each piece goes through the file layer's region
// engine, so raw reads, typed reads and consolidation share one way of reading.

#include <safeshard/checkpoint/chunks.hpp>
#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/file/region_copy.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace safeshard::checkpoint {

/// Copies read item `it` of `plan` (a piece of saved chunk `it.chunk` of tensor `t`) into
/// `out`: the row-major bytes of the requested box, of sizes `box_lengths`, of which the item
/// fills its part. Whole-byte dtypes only. Errors name the chunk's file and the tensor.
template <io::byte_source Source>
error_info copy_item_bytes(const basic_checkpoint<Source>& cp, const tensor_metadata& t, const read_plan& plan,
                           const read_item& it, std::span<const std::uint64_t> box_lengths, std::byte* out) {
    const std::size_t rank = t.rank();
    if (rank > safeshard::detail::max_copy_rank)
        return error_info(errc::limit_exceeded).in_file(cp.directory()).at_tensor(t.name).with_detail("rank above 64");
    const saved_chunk& c = t.chunks[it.chunk];
    const auto& file = cp.files()[c.file];
    std::int64_t strides[safeshard::detail::max_copy_rank];
    std::int64_t step = 1, origin = 0;
    const auto dest_offsets = plan.dest_offsets(it, rank);
    for (std::size_t d = rank; d-- > 0;) {
        strides[d] = step;
        origin += static_cast<std::int64_t>(dest_offsets[d]) * step;
        step *= static_cast<std::int64_t>(box_lengths[d]);
    }
    const std::uint64_t elem = bits(t.dtype) / 8;
    const safeshard::detail::stored_box box{file.reader.header().data_offset() + c.info->begin, c.info->shape,
                                            plan.storage_offsets(it, rank), plan.lengths(it, rank), elem};
    safeshard::detail::byte_target target{out, elem};
    if (auto e = safeshard::detail::copy_box(file.reader.source(), box,
                                             safeshard::detail::box_destination{{strides, rank}, origin}, target);
        e.code() != errc::ok)
        return e.default_file(cp.file_path(c.file)).at_tensor(t.name);
    return {};
}

}  // namespace safeshard::checkpoint

#endif
