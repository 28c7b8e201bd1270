// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CONSOLIDATE_CONSOLIDATE_HPP
#define SAFESHARD_CONSOLIDATE_CONSOLIDATE_HPP

// Consolidation: a per-rank sharded DCP checkpoint into a plain Hugging Face one (full tensors
// in `model-i-of-N` files plus the index), as PyTorch's consolidate_safetensors_files and
// consolidate_safetensors_files_on_every_rank do (spec/dcp-hf.md §4), but:
// * correct for every dtype, scalars, zero-size tensors and any rank (the chunks are checked
//   to tile each tensor exactly before anything is written; no zero-filled guesses);
// * streaming: each output tensor is assembled in blocks of at most `block_bytes` (a box of the
//   global tensor: whole trailing dimensions, a range of one), each piece read from its input
//   in large reads, and written in order; memory stays bounded whatever the sizes;
// * parallel: blocks are assembled on worker threads while the calling thread writes;
// * all or nothing: every output file is written under a temp name and synced first, then all
//   are renamed, then the index is written; a failure before that leaves the output as it was.

#include <safeshard/checkpoint/box_copy.hpp>
#include <safeshard/checkpoint/chunks.hpp>
#include <safeshard/checkpoint/layout.hpp>
#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/naming.hpp>
#include <safeshard/consolidate/blocks.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/detail/huge_pages.hpp>
#include <safeshard/detail/parallel.hpp>
#include <safeshard/detail/thread_caches.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/format/checkpoint_json_emit.hpp>
#include <safeshard/io/atomic_file.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

namespace safeshard::checkpoint {

/// A progress policy `P`: `p(done_bytes, total_bytes)`, called on the writing thread after
/// each block is written (so it may print; it must not throw).
template <class P>
concept progress_callback = std::invocable<P&, std::uint64_t, std::uint64_t>;

/// Reports nothing.
struct no_progress {
    void operator()(std::uint64_t, std::uint64_t) const noexcept {}
};
static_assert(progress_callback<no_progress>);

/// Options of `consolidate`.
struct consolidate_options {
    /// Threads in all: with 1 everything runs on the calling thread; with n > 1, n - 1 threads
    /// assemble blocks while the calling thread writes.
    unsigned thread_count = 1;
    /// Bytes per assembled block (the memory each block slot holds).
    std::size_t block_bytes = std::size_t{16} << 20;
    /// Every input file must carry DCP_SHARDING_INFO, as DCP requires; off: plain files count
    /// as whole tensors at offset 0.
    bool require_dcp_metadata = true;
    /// After the index is written, delete `model-NNNNN-of-NNNNN.safetensors` files in the output
    /// directory that the new index does not name (left by an earlier consolidation).
    bool remove_stale_outputs = true;
    checkpoint_options input{};
};

/// One output file.
struct consolidated_file {
    std::uint32_t index = 0;
    std::string name;
    std::vector<std::string> tensors;  ///< in the order the index lists them
    std::uint64_t tensor_bytes = 0;
};

/// What a consolidation (or one rank's part of it) wrote.
struct consolidation {
    std::vector<consolidated_file> files;  ///< by index
    std::uint64_t total_size = 0;          ///< tensor bytes, as the index's total_size
    std::uint32_t largest = 1;             ///< the N of `-of-N`
};

/// One rank's part of a consolidation, written and synced under temp names but not yet
/// visible: `publish()` renames its files into place; destroying it unpublished removes them.
/// For distributed consolidations, where every rank's part must succeed before any appears.
class prepared_consolidation {
public:
    prepared_consolidation() = default;
    prepared_consolidation(consolidation out, std::vector<io::atomic_file_sink> sinks)
        : out_(std::move(out)), sinks_(std::move(sinks)) {}

    /// What the part holds (for the index).
    const consolidation& part() const noexcept { return out_; }
    /// Renames every file to its final name.
    status publish() {
        for (auto& s : sinks_) SAFESHARD_TRY(s.publish());
        return {};
    }
    consolidation take() && { return std::move(out_); }

private:
    consolidation out_;
    std::vector<io::atomic_file_sink> sinks_;
};

namespace detail {

template <class Layout>
error_info check_mapping_names(const Layout& layout, const checkpoint_metadata& cp) {
    if constexpr (requires { layout.mapping(); }) {
        std::string missing;
        std::size_t n = 0;
        for (const auto& [name, idx] : layout.mapping()) {
            (void)idx;
            if (cp.find(name)) continue;
            if (n < 5) missing += (n ? ", " : "") + name;
            ++n;
        }
        if (n)
            return error_info(errc::invalid_argument)
                .in_file(cp.directory())
                .with_detail(std::to_string(n) + " name(s) in the mapping have no saved data: " + missing + (n > 5 ? ", …" : ""));
    }
    return {};
}

// Step 1, open and check the input: a valid checkpoint, DCP metadata in every file (unless the
// caller waives it), saved data for every name the layout's mapping lists.
template <class Layout>
error_info check_input(const checkpoint_metadata& cp, const Layout& layout, const consolidate_options& opt) {
    if (opt.require_dcp_metadata)
        for (std::uint32_t i = 0; i < cp.files().size(); ++i)
            if (!cp.files()[i].has_sharding_info)
                return error_info(errc::bad_checkpoint_metadata)
                    .in_file(cp.file_path(i))
                    .with_detail("no DCP_SHARDING_INFO in __metadata__: the file was not saved by DCP's sharded writer");
    return check_mapping_names(layout, cp);
}


// The rest of one consolidation (or one rank's part of it), step by step, over the state the
// steps share.
template <progress_callback Progress>
struct consolidation_job {
    consolidation_job(const checkpoint_metadata& input, const consolidate_options& options, Progress& progress_callback,
                      std::string_view output, std::uint32_t this_rank, std::uint32_t ranks)
        : cp(input), opt(options), progress(progress_callback), output_dir(output), rank(this_rank), world(ranks) {}

    const checkpoint_metadata& cp;
    const consolidate_options& opt;
    Progress& progress;
    std::string_view output_dir;
    std::uint32_t rank, world;
    std::vector<const tensor_metadata*> order;                    // the tensors in natural name order
    std::map<std::uint32_t, std::vector<std::uint32_t>> by_file;  // file index -> positions in `order`
    consolidation out;
    std::uint64_t total = 0;  // bytes of this rank's files
    std::uint64_t done = 0;   // of which written
    unsigned threads = 1;
    std::size_t slots = 1;
    std::vector<safeshard::detail::memory_block> buffers;  // one block each
    std::vector<io::atomic_file_sink> prepared;            // written and synced, not yet published

    bool mine(std::uint32_t file_index) const noexcept { return file_index % world == rank; }

    // Step 2, place tensors into files: the layout assigns them in natural name order. Sub-byte
    // tensors must come whole from one chunk, as their pieces are not byte-addressable.
    template <file_layout Layout>
    error_info place_tensors(const Layout& layout, std::string_view input_dir) {
        for (const auto& t : cp.tensors()) order.push_back(&t);
        std::stable_sort(order.begin(), order.end(), [](const tensor_metadata* a, const tensor_metadata* b) { return natural_less(a->name, b->name); });
        std::vector<planned_tensor> planned;
        for (const auto* t : order) planned.push_back(planned_tensor{t->name, t->dtype, t->shape, t->byte_size()});
        auto placed = layout.assign(planned);
        if (!placed) return error_info(placed.error()).default_file(input_dir);
        for (const auto* t : order) {
            std::size_t live = 0;
            for (const auto& b : t->boxes) live += b.empty() ? 0 : 1;
            if (bits(t->dtype) % 8 != 0 && live > 1)
                return error_info(errc::unsupported_conversion).in_file(cp.directory()).at_tensor(t->name).with_detail(
                    "a sub-byte dtype split over several chunks: its pieces are not byte-addressable");
        }
        out.largest = placed->largest;
        for (std::uint32_t i = 0; i < order.size(); ++i) by_file[placed->index[i]].push_back(i);
        for (const auto& [idx, members] : by_file)
            if (mine(idx))
                for (auto i : members) total += order[i]->byte_size();
        return {};
    }

    // The output directory, and the block buffers: one per filler, plus the one being written.
    error_info prepare_output() {
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(std::string(output_dir)), ec);
        if (ec) return safeshard::detail::os_error("create directory", ec.value(), output_dir);
        threads = std::max(1u, opt.thread_count);
        slots = threads;
        for (std::size_t s = 0; s < slots; ++s) {
            buffers.emplace_back(opt.block_bytes);
            if (!buffers.back().data())
                return error_info(errc::limit_exceeded).with_detail("out of memory for consolidation buffers");
        }
        return {};
    }

    // Step 3, cut blocks: the blocks of a file's tensors (`members`), in the data order the
    // file's header gives (`data_order`, positions in `members`).
    void cut_file_blocks(std::span<const std::uint32_t> data_order, const std::vector<std::uint32_t>& members,
                         std::vector<block>& blocks, std::vector<std::uint64_t>& coords) const {
        for (std::uint32_t s : data_order) {
            const tensor_metadata& t = *order[members[s]];
            if (bits(t.dtype) % 8 != 0) {
                // Sub-byte: one chunk holds it all (checked in place_tensors); blocks of its bytes.
                for (std::uint64_t at = 0; at < t.byte_size(); at += opt.block_bytes) {
                    blocks.push_back(block{s, coords.size(), std::min<std::uint64_t>(opt.block_bytes, t.byte_size() - at)});
                    coords.push_back(at);
                }
                continue;
            }
            cut_blocks(s, t.shape, bits(t.dtype) / 8, opt.block_bytes, blocks, coords);
        }
    }

    // Step 4, write one file through the pipeline: its blocks are assembled on worker threads
    // and written in order under a temp name, then synced; publish() renames it.
    error_info write_file(std::uint32_t idx, const std::vector<std::uint32_t>& members) {
        consolidated_file f;
        f.index = idx;
        f.name = file_name(idx, out.largest);
        const std::string path = safeshard::checkpoint::detail::join_path(output_dir, f.name);
        std::vector<tensor_spec> specs;
        for (auto i : members) specs.push_back(tensor_spec{order[i]->name, order[i]->dtype, order[i]->shape});
        auto sink = io::atomic_file_sink::create(path);
        if (!sink) return sink.error();
        const metadata_entry format_only[] = {{format_key, format_value}};
        auto w = basic_file_writer<io::atomic_file_sink>::start(std::move(*sink), specs, format_only);
        if (!w) return error_info(w.error()).default_file(path);
        std::vector<block> blocks;
        std::vector<std::uint64_t> coords;
        cut_file_blocks(w->layout().order, members, blocks, coords);
        auto fill = [&](std::size_t b, std::size_t slot) -> error_info {
            thread_local safeshard::detail::per_thread<read_plan> plan;
            safeshard::detail::trim_on_exit trim(plan);
            const block& blk = blocks[b];
            const tensor_metadata& t = *order[members[blk.tensor]];
            std::byte* dst = buffers[slot].data();
            if (bits(t.dtype) % 8 != 0) {
                for (std::size_t c = 0; c < t.chunks.size(); ++c) {
                    if (t.boxes[c].empty()) continue;
                    const auto& file = cp.files()[t.chunks[c].file];
                    const std::uint64_t off = file.reader.header().data_offset() + t.chunks[c].info->begin + coords[blk.at];
                    if (auto st = file.reader.source().read(off, std::span<std::byte>(dst, static_cast<std::size_t>(blk.bytes))); !st)
                        return error_info(st.error()).default_file(cp.file_path(t.chunks[c].file)).at_tensor(t.name);
                }
                return {};
            }
            const std::size_t R = t.rank();
            std::span<const std::uint64_t> off(coords.data() + blk.at, R), len(coords.data() + blk.at + R, R);
            plan.clear();
            plan.add(0, chunk_box{off, len}, t.boxes);
            for (const read_item& it : plan.items())
                if (auto e = copy_item_bytes(cp, t, plan, it, len, dst); e.code() != errc::ok) return e;
            return {};
        };
        auto write = [&](std::size_t b, std::size_t slot) -> error_info {
            const block& blk = blocks[b];
            const tensor_metadata& t = *order[members[blk.tensor]];
            auto st = w->write(t.name, std::span<const std::byte>(buffers[slot].data(), static_cast<std::size_t>(blk.bytes)));
            if (!st) return error_info(st.error()).default_file(path);
            done += blk.bytes;
            progress(done, total);
            return {};
        };
        if (auto e = safeshard::detail::run_pipeline(blocks.size(), threads, slots, fill, write); e.code() != errc::ok) return e;
        if (const tensor_spec* left = w->next())
            return error_info(errc::size_mismatch).in_file(path).at_tensor(left->name).with_detail("tensor data not fully written");
        if (auto st = w->sink().prepare(); !st) return st.error();
        for (auto i : members) {
            f.tensors.emplace_back(order[i]->name);
            f.tensor_bytes += order[i]->byte_size();
        }
        out.total_size += f.tensor_bytes;
        out.files.push_back(std::move(f));
        prepared.push_back(std::move(w->sink()));
        return {};
    }

    // Step 5, publish: every file is complete and synced; now they replace the old ones, together.
    status publish() {
        for (auto& s : prepared) SAFESHARD_TRY(s.publish());
        return {};
    }
};

// Writes the files whose index i has i % world == rank from the open checkpoint `cp`, each
// under its temp name and synced; publishes nothing.
template <file_layout Layout, progress_callback Progress>
result<prepared_consolidation> prepare_files(const checkpoint_metadata& cp, std::string_view output_dir, const Layout& layout,
                                             const consolidate_options& opt, Progress& progress, std::uint32_t rank,
                                             std::uint32_t world) {
    if (world == 0 || rank >= world)
        return error_info(errc::invalid_argument).with_detail("rank " + std::to_string(rank) + " of " + std::to_string(world));
    if (opt.block_bytes < 4096) return error_info(errc::invalid_argument).with_detail("block_bytes under 4096");
    if (auto e = check_input(cp, layout, opt); e.code() != errc::ok) return e;
    consolidation_job<Progress> job(cp, opt, progress, output_dir, rank, world);
    if (auto e = job.place_tensors(layout, cp.directory()); e.code() != errc::ok) return e;
    if (auto e = job.prepare_output(); e.code() != errc::ok) return e;
    for (const auto& [idx, members] : job.by_file)
        if (job.mine(idx))
            if (auto e = job.write_file(idx, members); e.code() != errc::ok) return e;
    return prepared_consolidation(std::move(job.out), std::move(job.prepared));
}

// Consolidates the files whose index i has i % world == rank; publishes them but writes no index.
template <file_layout Layout, progress_callback Progress>
result<consolidation> consolidate_files(std::string_view input_dir, std::string_view output_dir, const Layout& layout,
                                        const consolidate_options& opt, Progress& progress, std::uint32_t rank,
                                        std::uint32_t world) {
    if (world == 0 || rank >= world)
        return error_info(errc::invalid_argument).with_detail("rank " + std::to_string(rank) + " of " + std::to_string(world));
    if (opt.block_bytes < 4096) return error_info(errc::invalid_argument).with_detail("block_bytes under 4096");
    auto cp = checkpoint_metadata::open(input_dir, opt.input);
    if (!cp) return cp.error();
    auto part = prepare_files(*cp, output_dir, layout, opt, progress, rank, world);
    if (!part) return part.error();
    if (auto st = part->publish(); !st) return st.error();
    return std::move(*part).take();
}

}  // namespace detail

/// Writes `output_dir/model.safetensors.index.json` for the merged `parts` (one per rank of
/// an every-rank consolidation, or one), then, if asked, deletes stale `model-*-of-*` files.
inline status write_consolidated_index(std::string_view output_dir, std::span<const consolidation> parts,
                                       bool remove_stale_outputs = true) {
    std::vector<const consolidated_file*> files;
    std::uint64_t total = 0;
    for (const auto& p : parts) {
        total += p.total_size;
        for (const auto& f : p.files) files.push_back(&f);
    }
    std::sort(files.begin(), files.end(), [](const consolidated_file* a, const consolidated_file* b) { return a->index < b->index; });
    std::vector<std::pair<std::string_view, std::string_view>> map;
    std::unordered_set<std::string_view> names;
    for (const auto* f : files) {
        names.insert(f->name);
        for (const auto& t : f->tensors) map.emplace_back(t, f->name);
    }
    std::string text = index_json(total, map);
    const std::string path = safeshard::checkpoint::detail::join_path(output_dir, index_file_name);
    auto sink = io::atomic_file_sink::create(path);
    if (!sink) return sink.error();
    SAFESHARD_TRY(sink->write(std::as_bytes(std::span(text.data(), text.size()))));
    SAFESHARD_TRY(sink->commit());
    (void)io::remove_stale_temp_files(output_dir);  // left by killed runs; ours are all renamed
    if (remove_stale_outputs) {
        namespace fs = std::filesystem;
        std::error_code ec;
        for (fs::directory_iterator it(fs::path(std::string(output_dir)), ec), end; !ec && it != end; it.increment(ec)) {
            std::string n = it->path().filename().string();
            if (!is_model_file_name(n) || names.count(n)) continue;
            std::error_code e2;
            if (it->is_regular_file(e2)) fs::remove(it->path(), e2);
        }
    }
    return {};
}

/// Consolidates the sharded checkpoint in `input_dir` into `output_dir`: full tensors in the
/// files `layout` gives (one file by default), each in the canonical layout with `__metadata__`
/// {"format": "pt"}, then the index. Everything is checked before anything is written.
template <file_layout Layout = single_file, progress_callback Progress = no_progress>
result<consolidation> consolidate(std::string_view input_dir, std::string_view output_dir, const Layout& layout = {},
                                  const consolidate_options& opt = {}, Progress&& progress = {}) {
    auto r = detail::consolidate_files(input_dir, output_dir, layout, opt, progress, 0, 1);
    if (!r) return r;
    if (auto st = write_consolidated_index(output_dir, std::span(&*r, 1), opt.remove_stale_outputs); !st) return st.error();
    return r;
}

/// Rank `rank` of `world`'s part of a consolidation of the open checkpoint `input` (files i
/// with i % world == rank), written and synced but not published: every rank of a distributed
/// consolidation prepares, all agree, then each publishes and one writes the index.
template <file_layout Layout = single_file, progress_callback Progress = no_progress>
result<prepared_consolidation> prepare_consolidation_part(const checkpoint_metadata& input, std::string_view output_dir,
                                                          const Layout& layout, std::uint32_t rank, std::uint32_t world,
                                                          const consolidate_options& opt = {}, Progress&& progress = {}) {
    return detail::prepare_files(input, output_dir, layout, opt, progress, rank, world);
}

/// Rank `rank` of `world`'s part of an every-rank consolidation (DCP's
/// consolidate_safetensors_files_on_every_rank): the output files whose index i satisfies
/// i % world == rank. File names count every index. No index is written: gather the parts and
/// call `write_consolidated_index` once (rank 0).
template <file_layout Layout = single_file, progress_callback Progress = no_progress>
result<consolidation> consolidate_part(std::string_view input_dir, std::string_view output_dir, const Layout& layout,
                                       std::uint32_t rank, std::uint32_t world, const consolidate_options& opt = {},
                                       Progress&& progress = {}) {
    return detail::consolidate_files(input_dir, output_dir, layout, opt, progress, rank, world);
}

}  // namespace safeshard::checkpoint

#endif
