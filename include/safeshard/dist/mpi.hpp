// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DIST_MPI_HPP
#define SAFESHARD_DIST_MPI_HPP

// The communicator over MPI, for jobs that span processes and machines. The library never calls
// MPI_Init or MPI_Finalize: the program owns MPI and hands over a communicator, which this wraps
// through a duplicate (so the library's messages never mix with the program's), set to return
// errors instead of aborting, so that a transport failure becomes an error like any other.
// Include it only where <mpi.h> is (Meson's `mpi` feature builds what uses it).

#include <safeshard/core/error.hpp>
#include <safeshard/dist/communicator.hpp>

// The C API only: the C++ bindings some MPIs still ship are deprecated and not warning-clean.
#ifndef OMPI_SKIP_MPICXX
#  define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#  define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace safeshard::dist {

/// A `communicator` over a duplicate of a caller's MPI communicator. Move-only. Create it after
/// MPI_Init and destroy it before MPI_Finalize (its duplicate is freed then). Each rank of the
/// given communicator creates one, collectively. Messages larger than 2 GiB are refused
/// (`errc::limit_exceeded`): MPI counts are ints.
class mpi_communicator {
public:
    /// Duplicates `comm`. Errors: `errc::io_error` naming the MPI call that failed.
    static result<mpi_communicator> create(MPI_Comm comm) {
        MPI_Comm dup = MPI_COMM_NULL;
        if (int rc = MPI_Comm_dup(comm, &dup); rc != MPI_SUCCESS) return mpi_error("MPI_Comm_dup", rc);
        MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
        int rank = 0, size = 0;
        MPI_Comm_rank(dup, &rank);
        MPI_Comm_size(dup, &size);
        return mpi_communicator(dup, static_cast<std::uint32_t>(rank), static_cast<std::uint32_t>(size));
    }

    mpi_communicator(mpi_communicator&& o) noexcept
        : comm_(std::exchange(o.comm_, MPI_COMM_NULL)), rank_(o.rank_), size_(o.size_) {}
    mpi_communicator& operator=(mpi_communicator&& o) noexcept {
        if (this != &o) {
            free();
            comm_ = std::exchange(o.comm_, MPI_COMM_NULL);
            rank_ = o.rank_;
            size_ = o.size_;
        }
        return *this;
    }
    mpi_communicator(const mpi_communicator&) = delete;
    mpi_communicator& operator=(const mpi_communicator&) = delete;
    ~mpi_communicator() { free(); }

    std::uint32_t rank() const noexcept { return rank_; }
    std::uint32_t size() const noexcept { return size_; }
    MPI_Comm handle() const noexcept { return comm_; }

    status broadcast(buffer& data, std::uint32_t root) const {
        std::uint64_t n = data.size();
        if (int rc = MPI_Bcast(&n, 1, MPI_UINT64_T, static_cast<int>(root), comm_); rc != MPI_SUCCESS)
            return mpi_error("MPI_Bcast", rc);
        if (n > INT_MAX) return too_large("MPI_Bcast", n);
        if (rank_ != root) data.resize(static_cast<std::size_t>(n));
        if (int rc = MPI_Bcast(data.data(), static_cast<int>(n), MPI_BYTE, static_cast<int>(root), comm_); rc != MPI_SUCCESS)
            return mpi_error("MPI_Bcast", rc);
        return {};
    }

    status gather(std::span<const std::byte> mine, std::vector<buffer>& all, std::uint32_t root) const {
        return collect(mine, all, static_cast<int>(root));
    }
    status all_gather(std::span<const std::byte> mine, std::vector<buffer>& all) const { return collect(mine, all, -1); }

    status scatter(std::span<const buffer> parts, buffer& mine, std::uint32_t root) const {
        // The root says first whether it can send (one part per rank, within MPI's counts), so
        // that every rank refuses together rather than some waiting for parts never sent.
        constexpr std::uint64_t refused = ~std::uint64_t{0};
        std::vector<int> counts, displs;
        std::uint64_t total = 0;
        if (rank_ == root) {
            if (parts.size() != size_) total = refused;
            for (std::uint32_t r = 0; r < parts.size() && total != refused; ++r) {
                counts.push_back(static_cast<int>(parts[r].size()));
                displs.push_back(static_cast<int>(total));
                total += parts[r].size();
                if (parts[r].size() > INT_MAX || total > INT_MAX) total = refused;
            }
        }
        if (int rc = MPI_Bcast(&total, 1, MPI_UINT64_T, static_cast<int>(root), comm_); rc != MPI_SUCCESS)
            return mpi_error("MPI_Bcast", rc);
        if (total == refused)
            return error_info(errc::limit_exceeded).with_detail("MPI_Scatterv: the root's parts are not one per rank within 2 GiB");
        buffer packed;
        if (rank_ == root) {
            packed.reserve(static_cast<std::size_t>(total));
            for (const auto& p : parts) packed.insert(packed.end(), p.begin(), p.end());
        }
        int n = 0;
        if (int rc = MPI_Scatter(counts.data(), 1, MPI_INT, &n, 1, MPI_INT, static_cast<int>(root), comm_); rc != MPI_SUCCESS)
            return mpi_error("MPI_Scatter", rc);
        mine.resize(static_cast<std::size_t>(n));
        if (int rc = MPI_Scatterv(packed.data(), counts.data(), displs.data(), MPI_BYTE, mine.data(), n, MPI_BYTE,
                                  static_cast<int>(root), comm_);
            rc != MPI_SUCCESS)
            return mpi_error("MPI_Scatterv", rc);
        return {};
    }

    status barrier() const {
        if (int rc = MPI_Barrier(comm_); rc != MPI_SUCCESS) return mpi_error("MPI_Barrier", rc);
        return {};
    }

    result<bool> all_ok(bool mine) const {
        int in = mine ? 1 : 0, out = 0;
        if (int rc = MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MIN, comm_); rc != MPI_SUCCESS) return mpi_error("MPI_Allreduce", rc);
        return out == 1;
    }

private:
    mpi_communicator(MPI_Comm comm, std::uint32_t rank, std::uint32_t size) noexcept : comm_(comm), rank_(rank), size_(size) {}

    void free() noexcept {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
        comm_ = MPI_COMM_NULL;
    }

    // Gathers on `root`, or on every rank when root < 0: the sizes first, then the bytes. The
    // total is agreed first, so that every rank refuses an oversized gather together instead
    // of some waiting for a transfer the others gave up.
    status collect(std::span<const std::byte> mine, std::vector<buffer>& all, int root) const {
        const char* call = root < 0 ? "MPI_Allgatherv" : "MPI_Gatherv";
        std::uint64_t size = mine.size(), sum = 0;
        if (int rc = MPI_Allreduce(&size, &sum, 1, MPI_UINT64_T, MPI_SUM, comm_); rc != MPI_SUCCESS)
            return mpi_error("MPI_Allreduce", rc);
        if (sum > INT_MAX) return too_large(call, sum);
        const int n = static_cast<int>(mine.size());
        const bool receives = root < 0 || rank_ == static_cast<std::uint32_t>(root);
        std::vector<int> counts(receives ? size_ : 0), displs(receives ? size_ : 0);
        int rc = root < 0 ? MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_)
                          : MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, root, comm_);
        if (rc != MPI_SUCCESS) return mpi_error(root < 0 ? "MPI_Allgather" : "MPI_Gather", rc);
        std::uint64_t total = 0;
        for (std::uint32_t r = 0; r < counts.size(); ++r) {
            displs[r] = static_cast<int>(total);
            total += static_cast<std::uint64_t>(counts[r]);
        }
        buffer packed(static_cast<std::size_t>(total));
        rc = root < 0 ? MPI_Allgatherv(mine.data(), n, MPI_BYTE, packed.data(), counts.data(), displs.data(), MPI_BYTE, comm_)
                      : MPI_Gatherv(mine.data(), n, MPI_BYTE, packed.data(), counts.data(), displs.data(), MPI_BYTE, root, comm_);
        if (rc != MPI_SUCCESS) return mpi_error(call, rc);
        all.clear();
        if (receives)
            for (std::uint32_t r = 0; r < size_; ++r)
                all.emplace_back(packed.begin() + displs[r], packed.begin() + displs[r] + counts[r]);
        return {};
    }

    static error_info mpi_error(const char* call, int rc) {
        char text[MPI_MAX_ERROR_STRING] = {};
        int len = 0;
        MPI_Error_string(rc, text, &len);
        return error_info(errc::io_error).with_detail(std::string(call) + ": " + std::string(text, static_cast<std::size_t>(len)));
    }
    static error_info too_large(const char* call, std::uint64_t n) {
        return error_info(errc::limit_exceeded).with_detail(std::string(call) + ": a message of " + std::to_string(n) +
                                                            " bytes, over MPI's 2 GiB count");
    }

    MPI_Comm comm_ = MPI_COMM_NULL;
    std::uint32_t rank_ = 0, size_ = 1;
};
static_assert(communicator<mpi_communicator>);

}  // namespace safeshard::dist

#endif
