// SPDX-License-Identifier: MIT
// The distributed scenarios under MPI, one per run, for tests/dist/mpi_tests.sh to start with
// mpirun: a save, a load, and a failure injected on one rank. The program checks its own
// outcome and exits 0 only when it is the expected one (for a failure: every rank got the same
// error naming the failing rank, and the checkpoint in DIR is byte for byte what it was).
//
//   mpi_scenarios save DIR | load PATH | fail-dir DIR | fail-state DIR | fail-disk DIR |
//                 fail-consolidate DIR | fail-load DIR

#include <safeshard/dist/mpi.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <sys/resource.h>

#include "../support/dist_scenarios.hpp"

namespace {

using namespace safeshard;
using namespace safeshard::test;

// Every file under `dir` with its bytes (this program runs outside doctest, so it has its own).
std::map<std::string, std::string> snapshot(const std::string& dir) {
    std::map<std::string, std::string> out;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        std::ifstream f(it->path(), std::ios::binary);
        out[it->path().string()] = std::string(std::istreambuf_iterator<char>(f), {});
    }
    return out;
}

// Files written past `bytes` fail with EFBIG (the signal is ignored), as on a full disk.
void limit_file_size(std::uint64_t bytes) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{bytes, bytes};
    setrlimit(RLIMIT_FSIZE, &lim);
}

// Every rank's outcome must be a failure naming `failing`, the same text everywhere (checked
// through an all-gather of the texts), and DIR as it was (checked on rank 0): all of it, or,
// for a failure while consolidating, the consolidated checkpoint (its new shards are in place).
int expect_failure(const dist::mpi_communicator& comm, const status& st, std::uint32_t failing, const std::string& dir,
                   std::map<std::string, std::string> before, bool shards_may_change = false) {
    const std::string text = st.ok() ? std::string("(no error)") : st.error().to_string();
    std::vector<dist::buffer> all;
    if (!comm.all_gather(std::as_bytes(std::span(text.data(), text.size())), all)) return 3;
    bool same = true;
    for (const auto& b : all) same = same && std::string_view(reinterpret_cast<const char*>(b.data()), b.size()) == text;
    const std::string where = "rank " + std::to_string(failing) + " of " + std::to_string(comm.size());
    int rc = 0;
    if (st.ok() || !same || text.find(where) == std::string::npos) rc = 1;
    if (comm.rank() == 0) {
        std::printf("every rank: %s\n", text.c_str());
        if (!same) std::printf("FAIL: the ranks report different errors\n");
        if (text.find(where) == std::string::npos) std::printf("FAIL: the error does not name %s\n", where.c_str());
        auto after = snapshot(dir);
        if (shards_may_change)
            for (auto* m : {&before, &after}) std::erase_if(*m, [](const auto& kv) { return kv.first.find("/sharded/") != std::string::npos; });
        if (after != before) {
            std::printf("FAIL: %s changed\n", dir.c_str());
            rc = 1;
        }
    }
    return rc;
}

template <class Writer>
status save_with(const dist::mpi_communicator& comm, const Writer& writer, const checkpoint::rank_state& state) {
    auto r = dist::save(comm, writer, state);
    return r ? status{} : status(r.error());
}

int run(const dist::mpi_communicator& comm, std::string_view mode, const std::string& dir) {
    const std::uint32_t rank = comm.rank();
    if (mode == "save") {
        status st = save_model(comm, dir);
        if (!st) std::printf("rank %u: %s\n", rank, st.error().to_string().c_str());
        else if (rank == 0) std::printf("saved %s on %u ranks\n", dir.c_str(), comm.size());
        return st ? 0 : 1;
    }
    if (mode == "load") {
        status st = load_and_check(comm, dir);
        if (!st) std::printf("rank %u: %s\n", rank, st.error().to_string().c_str());
        else if (rank == 0) std::printf("loaded %s on %u ranks: every element equal\n", dir.c_str(), comm.size());
        return st ? 0 : 1;
    }
    // The failures: DIR holds a checkpoint of model version 1 (saved before this run); this run
    // saves version 2 over it, which must change none of it.
    const auto before = rank == 0 ? snapshot(dir) : std::map<std::string, std::string>{};
    auto mine = model_state(rank, comm.size(), 2);
    if (mode == "fail-dir") {  // rank 1's copy of the directory is a file
        const std::string blocked = dir + "-blocked-" + std::to_string(rank);
        if (rank == 1) std::ofstream(blocked) << "not a directory";
        checkpoint::consolidating_storage_writer<> writer(rank == 1 ? blocked : dir);
        status st = save_with(comm, writer, mine.state);
        if (rank == 1) std::filesystem::remove(blocked);
        return expect_failure(comm, st, 1, dir, before);
    }
    if (mode == "fail-state") {  // rank 1 hands over a chunk whose bytes do not match its size
        if (rank == 1) mine.state[0].data = mine.state[0].data.first(mine.state[0].data.size() - 2);
        return expect_failure(comm, save_with(comm, checkpoint::consolidating_storage_writer<>(dir), mine.state), 1, dir, before);
    }
    if (mode == "fail-disk") {  // rank 1's disk fills up while it writes its shards
        if (rank == 1) limit_file_size(1024);
        return expect_failure(comm, save_with(comm, checkpoint::consolidating_storage_writer<>(dir), mine.state), 1, dir, before);
    }
    if (mode == "fail-consolidate") {
        // Rank 1 consolidates the one output file (index 1 % size): its shards fit under the
        // limit, the whole model does not, so the save fails in the consolidation step.
        if (rank == 1) limit_file_size(9000);
        return expect_failure(comm, save_with(comm, checkpoint::consolidating_storage_writer<>(dir), mine.state), 1, dir, before, true);
    }
    if (mode == "fail-load") {  // rank 2 cannot see the checkpoint
        return expect_failure(comm, load_and_check(comm, rank == 2 ? dir + "-missing" : dir), 2, dir, before);
    }
    if (rank == 0) std::fprintf(stderr, "unknown mode %.*s\n", static_cast<int>(mode.size()), mode.data());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    MPI_Init(&argc, &argv);
    int rc = 2;
    {
        auto comm = dist::mpi_communicator::create(MPI_COMM_WORLD);
        if (!comm) {
            std::fprintf(stderr, "%s\n", comm.error().to_string().c_str());
        } else if (argc != 3) {
            if (comm->rank() == 0) std::fprintf(stderr, "usage: mpi_scenarios MODE DIR\n");
        } else {
            rc = run(*comm, argv[1], argv[2]);
        }
    }
    MPI_Finalize();
    return rc;
}
