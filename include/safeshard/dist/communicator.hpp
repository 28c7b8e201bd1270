// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DIST_COMMUNICATOR_HPP
#define SAFESHARD_DIST_COMMUNICATOR_HPP

// The communicator policy: what a checkpoint save or load needs from the processes of a job.
// Byte buffers only (the checkpoint layer's messages are encoded by dist/messages.hpp), so a
// model is a thin wrapper: `local_communicator` (one process alone), `thread_communicator` (ranks
// as threads of one process, dist/thread_communicator.hpp) and `mpi_communicator` over a
// caller-owned MPI_Comm (dist/mpi.hpp). The writers and readers of dist/ are templates over it.

#include <safeshard/core/error.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace safeshard::dist {

/// A message: bytes.
using buffer = std::vector<std::byte>;

/// **`communicator<C>`** — the ranks of a job and the collective steps between them.
///
/// Syntax, on a `const C& c`:
/// * `c.rank() noexcept -> std::uint32_t`, `c.size() noexcept -> std::uint32_t`
/// * `c.broadcast(buffer& data, std::uint32_t root) -> status`: root's `data` to every rank
/// * `c.gather(std::span<const std::byte> mine, std::vector<buffer>& all, std::uint32_t root)
///   -> status`: on root, `all[r]` is rank r's `mine`; elsewhere `all` is left empty
/// * `c.all_gather(std::span<const std::byte> mine, std::vector<buffer>& all) -> status`
/// * `c.scatter(std::span<const buffer> parts, buffer& mine, std::uint32_t root) -> status`:
///   root's `parts[r]` to rank r (only root's `parts` are read; it holds `size()` of them)
/// * `c.barrier() -> status`
/// * `c.all_ok(bool mine) -> result<bool>`: the agreement on success: true on every rank when
///   every rank passed true, false on every rank otherwise
///
/// Semantics: every call is collective: every rank makes the same calls in the same order,
/// and a call returns on a rank only once the ranks it waits for have made it. A rank that
/// fails must still make the next collective call (the library's steps make `all_ok` that
/// call, so that no rank waits forever for one that gave up). Errors are the transport's
/// (`errc::io_error` naming the call); buffers of any size, including empty ones, travel.
/// Cost: what the transport costs; `all_ok` is the cheapest collective (one bit per rank).
template <class C>
concept communicator = requires(const C& c, buffer& data, std::span<const std::byte> mine, std::vector<buffer>& all,
                                std::span<const buffer> parts, std::uint32_t root, bool ok) {
    { c.rank() } noexcept -> std::same_as<std::uint32_t>;
    { c.size() } noexcept -> std::same_as<std::uint32_t>;
    { c.broadcast(data, root) } -> std::same_as<status>;
    { c.gather(mine, all, root) } -> std::same_as<status>;
    { c.all_gather(mine, all) } -> std::same_as<status>;
    { c.scatter(parts, data, root) } -> std::same_as<status>;
    { c.barrier() } -> std::same_as<status>;
    { c.all_ok(ok) } -> std::same_as<result<bool>>;
};

/// One process alone: rank 0 of 1. Every collective is a copy.
struct local_communicator {
    std::uint32_t rank() const noexcept { return 0; }
    std::uint32_t size() const noexcept { return 1; }
    status broadcast(buffer&, std::uint32_t) const { return {}; }
    status gather(std::span<const std::byte> mine, std::vector<buffer>& all, std::uint32_t) const {
        all.assign(1, buffer(mine.begin(), mine.end()));
        return {};
    }
    status all_gather(std::span<const std::byte> mine, std::vector<buffer>& all) const { return gather(mine, all, 0); }
    status scatter(std::span<const buffer> parts, buffer& mine, std::uint32_t) const {
        if (parts.empty()) return error_info(errc::invalid_argument).with_detail("scatter: no part for rank 0");
        mine = parts[0];
        return {};
    }
    status barrier() const { return {}; }
    result<bool> all_ok(bool mine) const { return mine; }
};
static_assert(communicator<local_communicator>);

}  // namespace safeshard::dist

#endif
