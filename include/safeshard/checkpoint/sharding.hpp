// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_SHARDING_HPP
#define SAFESHARD_CHECKPOINT_SHARDING_HPP

// Sharding policies: what a save holds and how its files are named. `full_tensors` is DCP's
// rank-0 Hugging Face save (whole tensors, `model-i-of-N` files, an index); `dcp_chunks` is
// `save_distributed=True` (each rank its own chunks in `shard-r-model-i-of-N` files, no index).
// Both write DCP's `__metadata__` (DCP_SHARDING_INFO, DCP_VERSION "1.0", format "pt").

#include <concepts>

namespace safeshard::checkpoint {

/// A sharding policy `S`: three compile-time facts.
///
/// Requires: `S::per_rank_files` (each rank writes its own files, named with its shard index
/// rank + 1), `S::writes_index` (the coordinator writes `model.safetensors.index.json`),
/// `S::whole_tensors_only` (every saved chunk must be a whole tensor), all `constexpr bool`.
/// Guarantees: nothing at run time; the writer's plan enforces them.
template <class S>
concept sharding_policy = requires {
    { S::per_rank_files } -> std::convertible_to<bool>;
    { S::writes_index } -> std::convertible_to<bool>;
    { S::whole_tensors_only } -> std::convertible_to<bool>;
    typename std::bool_constant<S::per_rank_files && S::writes_index && S::whole_tensors_only>;
};

/// Whole tensors, Hugging Face file names, an index. Each file is written by one rank.
struct full_tensors {
    static constexpr bool per_rank_files = false;
    static constexpr bool writes_index = true;
    static constexpr bool whole_tensors_only = true;
};
static_assert(sharding_policy<full_tensors>);

/// DCP chunks per rank, `shard-` file names, no index (an fqn spread over files has no single
/// entry to give; consolidation makes the Hugging Face checkpoint).
struct dcp_chunks {
    static constexpr bool per_rank_files = true;
    static constexpr bool writes_index = false;
    static constexpr bool whole_tensors_only = false;
};
static_assert(sharding_policy<dcp_chunks>);

}  // namespace safeshard::checkpoint

#endif
