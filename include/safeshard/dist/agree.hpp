// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DIST_AGREE_HPP
#define SAFESHARD_DIST_AGREE_HPP

// The agreement on success that precedes every collective step of a distributed save or load:
// each rank brings its own outcome, and every rank leaves with the same answer. When all
// succeeded that costs one bit per rank; when one failed, its error (the lowest failing rank's)
// reaches every rank, naming the rank, so no rank waits for one that gave up and every rank
// reports the same cause.

#include <safeshard/core/error.hpp>
#include <safeshard/dist/communicator.hpp>
#include <safeshard/dist/messages.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace safeshard::dist {

/// Every rank's `mine` combined: ok on every rank when every rank's is ok; otherwise, on every
/// rank, the lowest failing rank's error with "rank R: " before its detail (and how many ranks
/// failed, when more than one). A failure of the transport itself is returned as it is.
template <communicator Comm>
status agree(const Comm& comm, const status& mine) {
    auto all = comm.all_ok(mine.ok());
    if (!all) return all.error();
    if (*all) return {};
    std::vector<buffer> outcomes;
    if (auto st = comm.all_gather(encode_status(mine), outcomes); !st) return st;
    std::uint32_t failed = 0, first = 0;
    error_info cause;
    for (std::uint32_t r = 0; r < outcomes.size(); ++r) {
        error_info e = decode_status(outcomes[r], r);
        if (e.code() == errc::ok) continue;
        if (failed++ == 0) first = r, cause = std::move(e);
    }
    if (failed == 0) return error_info(errc::invalid_argument).with_detail("the ranks disagree on whether one failed");
    std::string where = "rank " + std::to_string(first) + " of " + std::to_string(comm.size());
    if (failed > 1) where += " (and " + std::to_string(failed - 1) + " more)";
    std::string detail(cause.detail());
    cause.with_detail(detail.empty() ? where : where + ": " + detail);
    return cause;
}

}  // namespace safeshard::dist

#endif
