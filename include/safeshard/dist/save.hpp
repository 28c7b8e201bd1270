// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DIST_SAVE_HPP
#define SAFESHARD_DIST_SAVE_HPP

// A checkpoint saved by the ranks of a job, as DCP saves it (spec/dcp-hf.md §2): every rank
// brings its own state; the coordinator (rank 0) gathers the chunks' metadata, plans, and
// scatters each rank its part; every rank writes its files; rank 0 gathers what was written
// and writes the index. With consolidation, the ranks then consolidate in parallel, each its
// share of the output files, and rank 0 writes the consolidated index.
//
// All or nothing across ranks: every rank first writes and syncs its files under temp names;
// only when every rank has succeeded do any of them appear. A failure on any rank (an unusable
// directory, a state that disagrees with the plan, a full disk) fails the save on every rank
// with one message naming the rank, leaves the previous checkpoint as it was, and hangs no
// rank: every collective step is preceded by the agreement on success (dist/agree.hpp).

#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/consolidate.hpp>
#include <safeshard/consolidate/consolidating_writer.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/dist/agree.hpp>
#include <safeshard/dist/communicator.hpp>
#include <safeshard/dist/load.hpp>
#include <safeshard/dist/messages.hpp>

#include <cstdint>
#include <utility>
#include <vector>

namespace safeshard::dist {

/// Saves this rank's `state` as rank `comm.rank()` of `comm.size()`, with `writer`'s layout,
/// sharding and options (its path must be the same directory on every rank). Returns what
/// this rank wrote. Every rank gets the same error when any fails.
template <communicator Comm, checkpoint::file_layout Layout, checkpoint::sharding_policy Sharding>
result<std::vector<checkpoint::write_result>> save(const Comm& comm, const checkpoint::basic_storage_writer<Layout, Sharding>& writer,
                                                   const checkpoint::rank_state& state) {
    const std::uint32_t rank = comm.rank(), world = comm.size();
    constexpr std::uint32_t root = 0;
    // 1. The coordinator gathers every rank's chunks (metadata only) and plans.
    std::vector<buffer> states;
    if (auto st = comm.gather(encode_rank_state(state), states, root); !st) return st.error();
    checkpoint::save_plan plan;
    std::vector<buffer> parts;
    status planned;
    if (rank == root) {
        std::vector<checkpoint::rank_state> all;
        all.reserve(world);
        for (std::uint32_t r = 0; r < world && planned.ok(); ++r) {
            auto s = decode_rank_state(states[r], r);
            if (!s) planned = s.error();
            else all.push_back(std::move(*s));
        }
        if (planned.ok()) {
            auto p = writer.plan(all);
            if (!p) planned = p.error();
            else plan = std::move(*p);
        }
        if (planned.ok())
            for (std::uint32_t r = 0; r < world; ++r) parts.push_back(encode_plan_part(plan, r));
    }
    if (auto st = agree(comm, planned); !st) return st.error();
    // 2. Each rank gets its part and writes its files under temp names.
    buffer part;
    if (auto st = comm.scatter(parts, part, root); !st) return st.error();
    std::vector<io::atomic_file_sink> prepared;
    std::vector<checkpoint::write_result> written;
    status wrote;
    if (auto mine = decode_plan_part(part, rank, root); !mine) {
        wrote = mine.error();
    } else {
        auto w = writer.prepare_rank(*mine, rank, state, prepared);
        if (!w) wrote = w.error();
        else written = std::move(*w);
    }
    // 3. Only once every rank's files are complete and synced does any appear.
    if (auto st = agree(comm, wrote); !st) return st.error();
    if (auto st = agree(comm, checkpoint::basic_storage_writer<Layout, Sharding>::publish(prepared)); !st) return st.error();
    // 4. The coordinator gathers what was written and finishes (the index, when there is one).
    std::vector<buffer> results;
    if (auto st = comm.gather(encode_write_results(written), results, root); !st) return st.error();
    status finished;
    if (rank == root) {
        std::vector<std::vector<checkpoint::write_result>> all;
        for (std::uint32_t r = 0; r < world && finished.ok(); ++r) {
            auto x = decode_write_results(results[r], r);
            if (!x) finished = x.error();
            else all.push_back(std::move(*x));
        }
        if (finished.ok()) finished = writer.finish(plan, all);
    }
    if (auto st = agree(comm, finished); !st) return st.error();
    return written;
}

/// DCP's `enable_consolidation` across ranks: the ranks save their shards into
/// `writer.sharded_path()` (as `save`), rank 0 reads their headers and sends them, every rank
/// consolidates its share of the output files (those with index i % size == rank) into
/// `writer.path()`, and once every rank's files are written and synced, they all appear and
/// rank 0 writes the index. Returns this rank's part.
template <communicator Comm, checkpoint::file_layout Layout>
result<checkpoint::consolidation> save(const Comm& comm, const checkpoint::consolidating_storage_writer<Layout>& writer,
                                       const checkpoint::rank_state& state) {
    if (auto shards = save(comm, writer.shards(), state); !shards) return shards.error();
    auto input = open_checkpoint(comm, writer.sharded_path());
    if (!input) return input.error();
    checkpoint::consolidate_options opt;
    opt.thread_count = writer.consolidation_thread_count();
    status prepared;
    checkpoint::prepared_consolidation part;
    if (auto p = checkpoint::prepare_consolidation_part(*input, writer.path(), writer.layout(), comm.rank(), comm.size(), opt); !p)
        prepared = p.error();
    else
        part = std::move(*p);
    if (auto st = agree(comm, prepared); !st) return st.error();
    if (auto st = agree(comm, part.publish()); !st) return st.error();
    std::vector<buffer> parts;
    if (auto st = comm.gather(encode_consolidation(part.part()), parts, 0); !st) return st.error();
    status indexed;
    if (comm.rank() == 0) {
        std::vector<checkpoint::consolidation> all;
        for (std::uint32_t r = 0; r < parts.size() && indexed.ok(); ++r) {
            auto c = decode_consolidation(parts[r], r);
            if (!c) indexed = c.error();
            else all.push_back(std::move(*c));
        }
        if (indexed.ok()) indexed = checkpoint::write_consolidated_index(writer.path(), all, opt.remove_stale_outputs);
    }
    if (auto st = agree(comm, indexed); !st) return st.error();
    return std::move(part).take();
}

}  // namespace safeshard::dist

#endif
