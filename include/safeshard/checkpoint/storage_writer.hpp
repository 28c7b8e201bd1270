// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_STORAGE_WRITER_HPP
#define SAFESHARD_CHECKPOINT_STORAGE_WRITER_HPP

// Saving a checkpoint as DCP's HuggingFaceStorageWriter does, in three steps that map onto
// DCP's: `plan` (the coordinator's prepare_global_plan: deduplicate replicated chunks, check
// that the chunks tile every tensor, place tensors in files), `write_rank` (each rank's
// write_data: its files, in parallel over files) and `finish` (the coordinator writes the index
// when the sharding policy has one). `save` runs all three for in-process ranks. Only the
// plan's inputs cross ranks, and they are metadata, so the same steps serve MPI.
//
// Unlike DCP, a save that would produce a checkpoint no reader can load is refused before a
// byte is written: chunks that overlap or leave a hole, two ranks writing the same full-tensor
// file, two chunks of one tensor in one file, names missing from the mapping.

#include <safeshard/checkpoint/chunks.hpp>
#include <safeshard/checkpoint/layout.hpp>
#include <safeshard/checkpoint/naming.hpp>
#include <safeshard/checkpoint/sharding.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/layout_right.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/detail/parallel.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/format/checkpoint_json_emit.hpp>
#include <safeshard/io/atomic_file.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace safeshard::checkpoint {

/// One chunk a rank saves: where it sits in the global tensor, and its row-major bytes
/// (borrowed; they must outlive `write_rank`). For planning alone `data` may be empty.
struct save_chunk {
    std::string_view fqn;
    safeshard::dtype dtype = safeshard::dtype::F32;
    std::vector<std::uint64_t> global_shape;
    std::vector<std::uint64_t> offsets;
    std::vector<std::uint64_t> sizes;
    std::span<const std::byte> data;
};

/// A rank's state dict: the chunks it holds, in state-dict order.
using rank_state = std::vector<save_chunk>;

/// The chunk `view` of tensor `fqn` (global shape `global_shape`) at `offsets`.
template <class T, class Extents>
    requires has_dtype<T>
save_chunk chunk_of(std::string_view fqn, std::span<const std::uint64_t> global_shape, std::span<const std::uint64_t> offsets,
                    tensor_view<T, Extents, layout_right> view) {
    save_chunk c{fqn, dtype_of<std::remove_const_t<T>>, {global_shape.begin(), global_shape.end()},
                 {offsets.begin(), offsets.end()}, {}, {}};
    for (std::size_t r = 0; r < Extents::rank(); ++r) c.sizes.push_back(static_cast<std::uint64_t>(view.extent(r)));
    c.data = std::as_bytes(std::span<const std::remove_const_t<T>>(view.data_handle(), view.size()));
    return c;
}

/// A whole tensor as one chunk (offsets zero, global shape its own).
template <class T, class Extents>
    requires has_dtype<T>
save_chunk whole_tensor(std::string_view fqn, tensor_view<T, Extents, layout_right> view) {
    save_chunk c{fqn, dtype_of<std::remove_const_t<T>>, {}, {}, {}, {}};
    for (std::size_t r = 0; r < Extents::rank(); ++r) c.sizes.push_back(static_cast<std::uint64_t>(view.extent(r)));
    c.global_shape = c.sizes;
    c.offsets.assign(c.sizes.size(), 0);
    c.data = std::as_bytes(std::span<const std::remove_const_t<T>>(view.data_handle(), view.size()));
    return c;
}

/// What one rank writes: item `item` of its state goes to file `file_index`.
struct planned_item {
    std::uint32_t item = 0;
    std::uint32_t file_index = 0;
};

/// The global plan: per rank, its items (deduplicated) and file names.
struct save_plan {
    std::vector<std::vector<planned_item>> ranks;
    std::uint32_t largest = 1;
    bool per_rank_files = false;

    /// The file name (relative to the checkpoint directory) of file `index` written by `rank`.
    std::string file_name(std::uint32_t rank, std::uint32_t index) const {
        return checkpoint::file_name(index, largest, per_rank_files ? std::optional<std::uint64_t>(rank + 1) : std::nullopt);
    }
};

/// What a rank wrote, per chunk (DCP's WriteResult with its _StorageInfo).
struct write_result {
    std::string fqn;
    std::vector<std::uint64_t> offsets;
    std::string file;          ///< relative file name
    std::uint64_t length = 0;  ///< bytes of the chunk
};

/// Options of a storage writer (DCP's constructor arguments that are not policies).
struct storage_writer_options {
    /// Threads per rank; each writes whole files (DCP's thread_count).
    unsigned thread_count = 1;
    /// Also write each tensor's global shape into DCP_SHARDING_INFO (`"global_shape"`, as
    /// PyTorch PR #189945 proposes), so a reader can tell a hole at a tensor's tail from a
    /// smaller tensor. Off by default: the files are then byte-compatible with PyTorch's.
    bool record_global_shape = false;
};

/// A checkpoint writer composed from a file layout and a sharding policy.
template <file_layout Layout = single_file, sharding_policy Sharding = full_tensors>
class basic_storage_writer {
public:
    explicit basic_storage_writer(std::string path, Layout layout = {}, storage_writer_options opt = {})
        : path_(std::move(path)), layout_(std::move(layout)), opt_(opt) {}

    std::string_view path() const noexcept { return path_; }
    const storage_writer_options& options() const noexcept { return opt_; }

    /// The coordinator's step, on every rank's state (metadata only).
    result<save_plan> plan(std::span<const rank_state> ranks) const {
        struct seen {
            std::uint32_t rank, item;
        };
        std::vector<planned_tensor> tensors;
        std::vector<std::vector<seen>> chunks_of;  // per tensor, every (rank, item) holding a chunk
        std::unordered_map<std::string_view, std::uint32_t> by_name;
        for (std::uint32_t r = 0; r < ranks.size(); ++r) {
            for (std::uint32_t i = 0; i < ranks[r].size(); ++i) {
                const save_chunk& c = ranks[r][i];
                if (auto e = check_chunk(c, r); e.code() != errc::ok) return e;
                auto [it, fresh] = by_name.emplace(c.fqn, static_cast<std::uint32_t>(tensors.size()));
                if (fresh) {
                    std::uint64_t n = 0, b = 0;
                    safeshard::detail::checked_numel(c.global_shape, n);
                    safeshard::detail::mul_overflow(n, bits(c.dtype), b);
                    tensors.push_back(planned_tensor{c.fqn, c.dtype, c.global_shape, (b + 7) / 8});
                    chunks_of.emplace_back();
                } else {
                    const planned_tensor& t = tensors[it->second];
                    const save_chunk& first = ranks[chunks_of[it->second][0].rank][chunks_of[it->second][0].item];
                    if (t.dtype != c.dtype || !std::equal(t.shape.begin(), t.shape.end(), c.global_shape.begin(), c.global_shape.end()))
                        return error_info(errc::chunk_mismatch).in_file(path_).at_tensor(c.fqn).with_detail(
                            "rank " + std::to_string(r) + " has " + std::string(name(c.dtype)) + " " +
                            detail::shape_text(c.global_shape) + ", rank " + std::to_string(chunks_of[it->second][0].rank) +
                            " has " + std::string(name(first.dtype)) + " " + detail::shape_text(first.global_shape));
                }
                chunks_of[it->second].push_back(seen{r, i});
            }
        }
        // Deduplicate replicated chunks (same offsets and sizes on several ranks): one rank
        // writes each. Whole tensors go to the lowest rank holding them (so one rank owns a
        // file); chunks to the rank with the fewest bytes so far, as DCP balances.
        std::vector<std::uint64_t> load(ranks.size(), 0);
        save_plan plan;
        plan.per_rank_files = Sharding::per_rank_files;
        plan.ranks.resize(ranks.size());
        std::vector<std::vector<seen>> kept(tensors.size());
        for (std::uint32_t t = 0; t < tensors.size(); ++t) {
            const auto& list = chunks_of[t];
            auto chunk = [&](std::uint32_t k) -> const save_chunk& { return ranks[list[k].rank][list[k].item]; };
            // Equal boxes are neighbours once sorted by (offsets, sizes, position): O(k log k),
            // where comparing every pair made a norm replicated on 4,096 ranks cost 8 million
            // comparisons. Groups are then settled in order of their first holder, each
            // holder in rank order, as DCP's planner visits them.
            std::vector<std::uint32_t> order(list.size());
            for (std::uint32_t k = 0; k < order.size(); ++k) order[k] = k;
            std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
                const save_chunk& ca = chunk(a);
                const save_chunk& cb = chunk(b);
                if (ca.offsets != cb.offsets) return ca.offsets < cb.offsets;
                if (ca.sizes != cb.sizes) return ca.sizes < cb.sizes;
                return a < b;
            });
            std::vector<std::pair<std::uint32_t, std::uint32_t>> groups;  // [begin, end) in `order`, by first holder
            for (std::uint32_t g = 0; g < order.size();) {
                std::uint32_t e = g + 1;
                while (e < order.size() && chunk(order[e]).offsets == chunk(order[g]).offsets && chunk(order[e]).sizes == chunk(order[g]).sizes) ++e;
                groups.emplace_back(g, e);
                g = e;
            }
            std::sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) { return order[a.first] < order[b.first]; });
            for (const auto& [g, e] : groups) {
                seen best = list[order[g]];
                for (std::uint32_t k = g + 1; k < e; ++k) {
                    const seen& holder = list[order[k]];
                    if (holder.rank == list[order[k - 1]].rank)
                        return error_info(errc::invalid_argument).in_file(path_).at_tensor(chunk(order[g]).fqn).with_detail(
                            "rank " + std::to_string(holder.rank) + " holds the chunk at " + detail::shape_text(chunk(order[g]).offsets) + " twice");
                    if (!Sharding::whole_tensors_only && load[holder.rank] < load[best.rank]) best = holder;
                }
                load[best.rank] += detail::chunk_bytes(ranks[best.rank][best.item].sizes, ranks[best.rank][best.item].dtype);
                kept[t].push_back(best);
            }
            // The kept chunks must tile the tensor: a save never makes an unloadable checkpoint.
            std::vector<chunk_box> boxes;
            for (const auto& s : kept[t]) {
                const save_chunk& c = ranks[s.rank][s.item];
                boxes.push_back(chunk_box{c.offsets, c.sizes});
            }
            auto e = check_tiling(tensors[t].name, tensors[t].shape, boxes,
                                  [&](std::uint32_t k) { return "rank " + std::to_string(kept[t][k].rank); });
            if (e.code() != errc::ok) return e.in_file(path_);
        }
        auto assigned = layout_.assign(tensors);
        if (!assigned) return error_info(assigned.error()).default_file(path_);
        plan.largest = assigned->largest;
        for (std::uint32_t t = 0; t < tensors.size(); ++t)
            for (const auto& s : kept[t]) plan.ranks[s.rank].push_back(planned_item{s.item, assigned->index[t]});
        for (auto& items : plan.ranks)  // state-dict order within a rank, as DCP's plan keeps
            std::sort(items.begin(), items.end(), [](const planned_item& a, const planned_item& b) { return a.item < b.item; });
        // One chunk per tensor per file (the header is keyed by name), and in full-tensor
        // saves one writer per file (DCP would let two ranks overwrite each other's file).
        std::map<std::uint32_t, std::uint32_t> writer_of;
        for (std::uint32_t r = 0; r < plan.ranks.size(); ++r) {
            std::map<std::pair<std::uint32_t, std::string_view>, std::uint32_t> in_file;
            for (const auto& p : plan.ranks[r]) {
                const save_chunk& c = ranks[r][p.item];
                if (!in_file.emplace(std::pair(p.file_index, c.fqn), p.item).second)
                    return error_info(errc::invalid_argument).in_file(path_).at_tensor(c.fqn).with_detail(
                        "rank " + std::to_string(r) + " has two chunks of this tensor for " + plan.file_name(r, p.file_index) +
                        "; a safetensors file holds one entry per name");
                if constexpr (!Sharding::per_rank_files) {
                    auto [w, fresh] = writer_of.emplace(p.file_index, r);
                    if (!fresh && w->second != r)
                        return error_info(errc::invalid_argument).in_file(path_).at_tensor(c.fqn).with_detail(
                            "ranks " + std::to_string(w->second) + " and " + std::to_string(r) + " would both write " +
                            plan.file_name(r, p.file_index) + "; save full tensors from one rank or use dcp_chunks");
                }
            }
        }
        return plan;
    }

    /// Rank `rank`'s step: writes its files, `thread_count` at a time, each under a temp name
    /// and synced; only when all of them are complete are they renamed to their final names,
    /// one after another. A failure leaves every final name as it was.
    result<std::vector<write_result>> write_rank(const save_plan& plan, std::uint32_t rank, const rank_state& state) const {
        std::vector<io::atomic_file_sink> prepared;
        auto out = prepare_rank(plan, rank, state, prepared);
        if (!out) return out;
        if (auto st = publish(prepared); !st) return st.error();
        return out;
    }

    /// The first half of `write_rank`, for saves whose ranks must all succeed before any file
    /// appears (a distributed save: see dist/save.hpp): writes and syncs the rank's files under
    /// temp names and appends their sinks to `prepared`; `publish(prepared)` then renames them.
    /// Dropping `prepared` instead removes them, leaving every final name as it was.
    result<std::vector<write_result>> prepare_rank(const save_plan& plan, std::uint32_t rank, const rank_state& state,
                                                   std::vector<io::atomic_file_sink>& prepared) const {
        if (rank >= plan.ranks.size())
            return error_info(errc::invalid_argument).in_file(path_).with_detail("rank outside the plan");
        const auto& items = plan.ranks[rank];
        for (const auto& p : items) {
            if (p.item >= state.size())
                return error_info(errc::invalid_argument).in_file(path_).with_detail("state differs from the planned one");
            const save_chunk& c = state[p.item];
            std::uint64_t n = 0, b = 0;
            safeshard::detail::checked_numel(c.sizes, n);
            safeshard::detail::mul_overflow(n, bits(c.dtype), b);
            if (c.data.size() != (b + 7) / 8)
                return error_info(errc::size_mismatch).in_file(path_).at_tensor(c.fqn).with_detail(
                    std::to_string(c.data.size()) + " bytes given, the chunk's dtype and sizes need " + std::to_string((b + 7) / 8));
        }
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(path_), ec);
        if (ec) return safeshard::detail::os_error("create directory", ec.value(), path_);
        // Bucket by file index, in order of first appearance (DCP's _split_by_storage_plan).
        std::vector<std::uint32_t> bucket_ids;
        std::vector<std::vector<std::uint32_t>> buckets;
        for (std::uint32_t k = 0; k < items.size(); ++k) {
            auto it = std::find(bucket_ids.begin(), bucket_ids.end(), items[k].file_index);
            if (it == bucket_ids.end()) {
                bucket_ids.push_back(items[k].file_index);
                buckets.emplace_back();
                it = bucket_ids.end() - 1;
            }
            buckets[static_cast<std::size_t>(it - bucket_ids.begin())].push_back(items[k].item);
        }
        std::vector<io::atomic_file_sink> sinks(buckets.size());
        auto task = [&](std::size_t b) -> error_info {
            auto sink = write_file(plan.file_name(rank, bucket_ids[b]), state, buckets[b]);
            if (!sink) return sink.error();
            sinks[b] = std::move(*sink);
            return {};
        };
        if (auto e = safeshard::detail::run_tasks(buckets.size(), opt_.thread_count, task); e.code() != errc::ok) return e;
        for (auto& sink : sinks) prepared.push_back(std::move(sink));
        std::vector<write_result> out;
        out.reserve(items.size());
        for (std::size_t b = 0; b < buckets.size(); ++b)
            for (auto i : buckets[b])
                out.push_back(write_result{std::string(state[i].fqn), state[i].offsets, plan.file_name(rank, bucket_ids[b]),
                                           state[i].data.size()});
        return out;
    }

    /// The second half: renames every prepared file to its final name.
    static status publish(std::vector<io::atomic_file_sink>& prepared) {
        for (auto& sink : prepared) SAFESHARD_TRY(sink.publish());
        return {};
    }

    /// The coordinator's last step: the index, when the sharding policy writes one, with
    /// `total_size` the sum of the chunks' bytes and `weight_map` in rank order, then result
    /// order (a name seen again keeps its place and takes the later file, as a Python dict).
    /// Then it removes temp files that killed saves left in the directory: every rank's files
    /// are complete by now, so none of them belongs to a save in progress (a save by another
    /// process into the same directory at the same time is not supported).
    status finish(const save_plan&, std::span<const std::vector<write_result>> results) const {
        if constexpr (!Sharding::writes_index) {
            (void)results;
            return remove_leftovers();
        } else {
            std::uint64_t total = 0;
            std::vector<std::pair<std::string_view, std::string_view>> map;
            std::unordered_map<std::string_view, std::size_t> at;
            for (const auto& rank : results)
                for (const auto& w : rank) {
                    total += w.length;
                    auto [it, fresh] = at.emplace(w.fqn, map.size());
                    if (fresh) map.emplace_back(w.fqn, w.file);
                    else map[it->second].second = w.file;
                }
            std::string text = index_json(total, map);
            std::string p = path_ + "/" + std::string(index_file_name);
            auto sink = io::atomic_file_sink::create(p);
            if (!sink) return sink.error();
            if (auto st = sink->write(std::as_bytes(std::span(text.data(), text.size()))); !st) return st;
            if (auto st = sink->commit(); !st) return st;
            return remove_leftovers();
        }
    }

    /// All three steps for in-process ranks (ranks written one after another, each with
    /// `thread_count` threads; no file replaces an old one until every file is complete).
    /// Returns every rank's results.
    result<std::vector<std::vector<write_result>>> save(std::span<const rank_state> ranks) const {
        auto p = plan(ranks);
        if (!p) return p.error();
        std::vector<std::vector<write_result>> results;
        results.reserve(ranks.size());
        // Every rank's files complete first; then all appear together (in-process ranks can).
        std::vector<io::atomic_file_sink> prepared;
        for (std::uint32_t r = 0; r < ranks.size(); ++r) {
            auto w = prepare_rank(*p, r, ranks[r], prepared);
            if (!w) return w.error();
            results.push_back(std::move(*w));
        }
        if (auto st = publish(prepared); !st) return st.error();
        if (auto st = finish(*p, results); !st) return st.error();
        return results;
    }

    /// A single process's state dict of whole tensors (rank 0 alone).
    result<std::vector<std::vector<write_result>>> save(const rank_state& state) const { return save(std::span(&state, 1)); }

private:
    status remove_leftovers() const {
        // The save itself succeeded: a leftover that cannot be removed is not its failure.
        (void)io::remove_stale_temp_files(path_);
        return {};
    }

    error_info check_chunk(const save_chunk& c, std::uint32_t rank) const {
        auto where = [&](errc code, const std::string& what) {
            return error_info(code).in_file(path_).at_tensor(c.fqn).with_detail("rank " + std::to_string(rank) + ": " + what);
        };
        if (c.fqn.empty()) return where(errc::invalid_argument, "empty tensor name");
        if (c.offsets.size() != c.global_shape.size() || c.sizes.size() != c.global_shape.size())
            return where(errc::invalid_argument, "offsets " + detail::shape_text(c.offsets) + " and sizes " +
                                                     detail::shape_text(c.sizes) + " for global shape " + detail::shape_text(c.global_shape));
        std::uint64_t n = 0, b = 0;
        if (!safeshard::detail::checked_numel(c.global_shape, n) || safeshard::detail::mul_overflow(n, bits(c.dtype), b))
            return where(errc::size_overflow, "global shape overflows 64 bits");
        for (std::size_t d = 0; d < c.sizes.size(); ++d)
            if (c.offsets[d] > c.global_shape[d] || c.sizes[d] > c.global_shape[d] - c.offsets[d])
                return where(errc::out_of_bounds, "chunk at " + detail::shape_text(c.offsets) + " of size " +
                                                      detail::shape_text(c.sizes) + " outside global shape " +
                                                      detail::shape_text(c.global_shape));
        if constexpr (Sharding::whole_tensors_only) {
            if (c.sizes != c.global_shape)
                return where(errc::invalid_argument, "a full-tensor save needs whole tensors, this is a chunk of size " +
                                                         detail::shape_text(c.sizes) + "; use dcp_chunks");
        }
        return {};
    }

    // Writes one file under its temp name and syncs it; the caller publishes it.
    result<io::atomic_file_sink> write_file(const std::string& name, const rank_state& state,
                                            const std::vector<std::uint32_t>& members) const {
        std::vector<tensor_spec> specs;
        std::vector<sharding_info_entry> info;
        specs.reserve(members.size());
        info.reserve(members.size());
        std::unordered_map<std::string_view, std::uint32_t> item_of;
        for (auto i : members) {
            const save_chunk& c = state[i];
            specs.push_back(tensor_spec{c.fqn, c.dtype, c.sizes});
            info.push_back(sharding_info_entry{c.fqn, c.offsets, c.global_shape});
            item_of.emplace(c.fqn, i);
        }
        std::string sharding = sharding_info_json(info, opt_.record_global_shape);
        const metadata_entry meta[] = {{sharding_info_key, sharding}, {dcp_version_key, dcp_version_value}, {format_key, format_value}};
        std::string full = path_ + "/" + name;
        auto sink = io::atomic_file_sink::create(full);
        if (!sink) return sink.error();
        auto w = basic_file_writer<io::atomic_file_sink>::start(std::move(*sink), specs, meta);
        if (!w) return error_info(w.error()).default_file(full);
        while (const tensor_spec* next = w->next()) {
            const save_chunk& c = state[item_of[next->name]];
            if (auto st = w->write(c.fqn, c.data); !st) return error_info(st.error()).default_file(full);
        }
        if (const tensor_spec* left = w->next())
            return error_info(errc::size_mismatch).in_file(full).at_tensor(left->name).with_detail("tensor data not fully written");
        if (auto st = w->sink().prepare(); !st) return error_info(st.error()).default_file(full);
        return std::move(w->sink());
    }

    std::string path_;
    [[no_unique_address]] Layout layout_;
    storage_writer_options opt_;
};

/// DCP's rank-0 Hugging Face save: whole tensors, `model-i-of-N` files, an index.
template <file_layout Layout = single_file>
using hf_storage_writer = basic_storage_writer<Layout, full_tensors>;
/// DCP's `save_distributed=True`: each rank's chunks in its own `shard-` files.
template <file_layout Layout = single_file>
using dcp_storage_writer = basic_storage_writer<Layout, dcp_chunks>;

}  // namespace safeshard::checkpoint

#endif
