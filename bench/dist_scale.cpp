// SPDX-License-Identifier: MIT
// How a distributed save and load grow with the number of ranks, by simulation: the messages
// are the real ones (dist/messages.hpp) and the coordinator's work is the real plan, for a
// tensor-parallel model of 192 tensors saved by 8 to 4,096 ranks, metadata only.
//
//   dist_scale [max_ranks]      (default 4096; each step doubles the ranks from 8)
//
// Per step: the chunks; what each rank sends the coordinator (its chunks' metadata) and gets
// back (its part of the plan) in a save, and what the coordinator sends every rank in a load
// (the checkpoint's headers, compactly); the coordinator's plan time and a rank's time to
// rebuild the checkpoint from that message (the checks run again there). The growth columns
// are each figure over the previous step's: 2.0 is linear in ranks.

#include "common.hpp"

#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/dist/load.hpp>
#include <safeshard/dist/messages.hpp>

#include <string>
#include <vector>

namespace {

using namespace safeshard;
namespace ck = safeshard::checkpoint;

// A byte source that has a size and nothing else: the simulated shard files hold no data.
struct sized_source {
    std::uint64_t bytes = 0;
    std::uint64_t size() const noexcept { return bytes; }
    status read(std::uint64_t, std::span<std::byte>) const { return error_info(errc::io_error).with_detail("simulated"); }
    std::string_view path() const noexcept { return "simulated"; }
};
static_assert(io::byte_source<sized_source>);

ck::rank_state state_of(const std::vector<bench::tp_tensor>& m, std::uint32_t r, std::uint32_t n) {
    ck::rank_state s;
    std::vector<std::uint64_t> off, len;
    for (const auto& t : m) {
        bench::tp_chunk(t, r, n, off, len);
        s.push_back(ck::save_chunk{t.name, dtype::BF16, t.shape, off, len, {}});
    }
    return s;
}

// The checkpoint the plan makes: per rank one shard file holding its planned chunks, with the
// headers and sharding info a real save would write (no data).
result<ck::basic_checkpoint<sized_source>> checkpoint_of(const ck::save_plan& plan, const std::vector<ck::rank_state>& states) {
    std::vector<ck::checkpoint_file<sized_source>> files;
    for (std::uint32_t r = 0; r < plan.ranks.size(); ++r) {
        if (plan.ranks[r].empty()) continue;
        std::uint64_t names = 0, dims = 0, at = 0;
        for (const auto& it : plan.ranks[r]) {
            names += states[r][it.item].fqn.size();
            dims += states[r][it.item].sizes.size();
        }
        const std::uint64_t n = names + 120 * plan.ranks[r].size() + 200;  // about the JSON a writer makes
        header_builder b(n, plan.ranks[r].size(), dims);
        std::vector<sharding_entry> entries;
        for (const auto& it : plan.ranks[r]) {
            const auto& c = states[r][it.item];
            const std::string_view name = b.intern(c.fqn);
            b.start_shape();
            std::uint64_t bytes = 2;
            for (auto d : c.sizes) {
                (void)b.push_dim(d);
                bytes *= d;
            }
            (void)b.add(name, dtype::BF16, at, at + bytes);
            at += bytes;
            entries.push_back(sharding_entry{name, c.offsets, false, {}});
        }
        auto h = std::move(b).finish(n, 8 + n + at);
        if (!h) return h.error();
        auto reader = basic_file_reader<sized_source>::from_header(sized_source{8 + n + at}, std::move(*h));
        if (!reader) return reader.error();
        auto info = sharding_info::from_entries(entries);
        if (!info) return info.error();
        files.push_back(ck::checkpoint_file<sized_source>{plan.file_name(r, 1), std::move(*reader), true, std::move(*info)});
    }
    return ck::basic_checkpoint<sized_source>::from_headers("simulated", std::move(files));
}

}  // namespace

int main(int argc, char** argv) {
    bench::options opt(argc, argv, {"max_ranks"},
                       "usage: dist_scale [max_ranks]\n  max_ranks  the last step of 8, 16, ... (default 4096)\n");
    const int max_ranks = opt.integer("max_ranks", 4096);
    const auto m = bench::tp_model(8192, 8192);
    std::printf("dist_scale: a tensor-parallel model of %zu tensors (q, k, v by rows, o by columns, norms replicated), "
                "saved by N ranks then opened by N ranks, metadata only\n", m.size());
    std::printf("  save: each rank sends its chunks' metadata to rank 0 and gets its part of the plan back;\n"
                "  load: rank 0 sends every rank the checkpoint's headers (compact form); a rank rebuilds and checks them\n\n");
    std::printf("  %6s %9s | %12s %12s %12s | %10s %6s | %13s %11s %6s\n", "ranks", "chunks", "sent/rank", "plan/rank",
                "results/rank", "plan ms", "growth", "load msg/rank", "rebuild ms", "growth");
    double last_plan = 0, last_rebuild = 0;
    for (std::uint32_t n = 8; n <= static_cast<std::uint32_t>(max_ranks); n *= 2) {
        std::vector<ck::rank_state> states;
        std::vector<dist::buffer> sent;
        std::uint64_t chunks = 0, sent_bytes = 0;
        for (std::uint32_t r = 0; r < n; ++r) {
            states.push_back(state_of(m, r, n));
            sent.push_back(dist::encode_rank_state(states.back()));
            sent_bytes += sent.back().size();
            chunks += states.back().size();
        }
        ck::dcp_storage_writer<> writer("simulated");
        bench::stopwatch plan_clock;
        auto plan = writer.plan(states);
        const double plan_ms = plan_clock.stop().seconds * 1e3;
        bench::check(plan, "plan");
        std::uint64_t part_bytes = 0, result_bytes = 0;
        for (std::uint32_t r = 0; r < n; ++r) {
            part_bytes += dist::encode_plan_part(*plan, r).size();
            std::vector<ck::write_result> results;
            for (const auto& it : plan->ranks[r])
                results.push_back(ck::write_result{std::string(states[r][it.item].fqn), states[r][it.item].offsets, plan->file_name(r, 1), 0});
            result_bytes += dist::encode_write_results(results).size();
        }
        auto cp = checkpoint_of(*plan, states);
        bench::check(cp, "simulated checkpoint");
        const auto message = dist::encode_checkpoint(*cp);
        // A rank's rebuild: decode, then the checks of from_headers (sizes, tiling).
        bench::stopwatch rebuild_clock;
        auto d = dist::decode_checkpoint(message, 0);
        bench::check(d, "decode");
        std::vector<ck::checkpoint_file<sized_source>> files;
        for (const auto& f : d->files) {
            auto h = dist::detail::rebuild_header(f, {});
            bench::check(h, "rebuild header");
            auto reader = basic_file_reader<sized_source>::from_header(sized_source{f.file_size}, std::move(*h));
            bench::check(reader, "reader");
            std::vector<sharding_entry> entries;
            for (std::size_t i = 0; i < f.tensors.size(); ++i) entries.push_back(sharding_entry{f.tensors[i].name, f.saved_offsets[i], false, {}});
            auto info = sharding_info::from_entries(entries);
            bench::check(info, "sharding info");
            files.push_back(ck::checkpoint_file<sized_source>{std::string(f.name), std::move(*reader), true, std::move(*info)});
        }
        auto rebuilt = ck::basic_checkpoint<sized_source>::from_headers("simulated", std::move(files));
        const double rebuild_ms = rebuild_clock.stop().seconds * 1e3;
        bench::check(rebuilt, "rebuild");
        char plan_growth[16] = "-", rebuild_growth[16] = "-";
        if (last_plan > 0) std::snprintf(plan_growth, sizeof plan_growth, "%.2f", plan_ms / last_plan);
        if (last_rebuild > 0) std::snprintf(rebuild_growth, sizeof rebuild_growth, "%.2f", rebuild_ms / last_rebuild);
        std::printf("  %6u %9llu | %10.1f KB %10.1f KB %10.1f KB | %10.1f %6s | %10.1f MB %11.1f %6s\n", n,
                    static_cast<unsigned long long>(chunks), static_cast<double>(sent_bytes) / n / 1e3,
                    static_cast<double>(part_bytes) / n / 1e3, static_cast<double>(result_bytes) / n / 1e3, plan_ms, plan_growth,
                    static_cast<double>(message.size()) / 1e6, rebuild_ms, rebuild_growth);
        std::fflush(stdout);
        last_plan = plan_ms;
        last_rebuild = rebuild_ms;
    }
    std::printf("\n  growth: each time over the previous step's, for twice the ranks (2.00 is linear in the ranks)\n");
    return 0;
}
