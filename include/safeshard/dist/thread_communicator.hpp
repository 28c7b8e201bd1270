// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DIST_THREAD_COMMUNICATOR_HPP
#define SAFESHARD_DIST_THREAD_COMMUNICATOR_HPP

// Ranks as threads of one process: a `thread_group` of N ranks hands each thread a
// `thread_communicator`. The same distributed save and load run on it as on MPI, which is how
// they are tested without MPI, and how a single program can use several ranks' worth of
// threads with the distributed code paths.

#include <safeshard/core/error.hpp>
#include <safeshard/dist/communicator.hpp>

#include <barrier>
#include <cstddef>
#include <cstdint>
#include <span>
#include <thread>
#include <vector>

namespace safeshard::dist {

class thread_communicator;

/// The shared state of N ranks running as threads. `run(fn)` calls `fn(comm)` on N threads,
/// each with its own communicator, and returns once all have returned.
class thread_group {
public:
    explicit thread_group(std::uint32_t ranks) : size_(ranks ? ranks : 1), slots_(size_), flags_(size_), sync_(size_) {}
    thread_group(const thread_group&) = delete;
    thread_group& operator=(const thread_group&) = delete;

    std::uint32_t size() const noexcept { return size_; }

    template <class Fn>
    void run(Fn&& fn);

private:
    friend class thread_communicator;
    std::uint32_t size_;
    std::vector<buffer> slots_;               // one per rank; written before a phase, read after it
    std::vector<unsigned char> flags_;        // one per rank, for all_ok
    std::barrier<> sync_;
};

/// Rank `rank` of a `thread_group`. Each collective is two barrier phases: every rank puts its
/// part in its slot, then every rank takes what it needs; the second phase keeps the slots from
/// being overwritten by the next call before all have read them.
class thread_communicator {
public:
    thread_communicator(thread_group& group, std::uint32_t rank) noexcept : g_(&group), rank_(rank) {}

    std::uint32_t rank() const noexcept { return rank_; }
    std::uint32_t size() const noexcept { return g_->size_; }

    status broadcast(buffer& data, std::uint32_t root) const {
        if (rank_ == root) g_->slots_[root] = data;
        g_->sync_.arrive_and_wait();
        if (rank_ != root) data = g_->slots_[root];
        g_->sync_.arrive_and_wait();
        return {};
    }
    status gather(std::span<const std::byte> mine, std::vector<buffer>& all, std::uint32_t root) const {
        g_->slots_[rank_].assign(mine.begin(), mine.end());
        g_->sync_.arrive_and_wait();
        if (rank_ == root) all = g_->slots_;
        else all.clear();
        g_->sync_.arrive_and_wait();
        return {};
    }
    status all_gather(std::span<const std::byte> mine, std::vector<buffer>& all) const {
        g_->slots_[rank_].assign(mine.begin(), mine.end());
        g_->sync_.arrive_and_wait();
        all = g_->slots_;
        g_->sync_.arrive_and_wait();
        return {};
    }
    status scatter(std::span<const buffer> parts, buffer& mine, std::uint32_t root) const {
        if (rank_ == root)
            for (std::uint32_t r = 0; r < g_->size_; ++r) g_->slots_[r] = r < parts.size() ? parts[r] : buffer{};
        g_->sync_.arrive_and_wait();
        mine = g_->slots_[rank_];
        g_->sync_.arrive_and_wait();
        return {};
    }
    status barrier() const {
        g_->sync_.arrive_and_wait();
        return {};
    }
    result<bool> all_ok(bool mine) const {
        g_->flags_[rank_] = mine ? 1 : 0;
        g_->sync_.arrive_and_wait();
        bool all = true;
        for (unsigned char f : g_->flags_) all = all && f;
        g_->sync_.arrive_and_wait();
        return all;
    }

private:
    thread_group* g_;
    std::uint32_t rank_;
};
static_assert(communicator<thread_communicator>);

template <class Fn>
void thread_group::run(Fn&& fn) {
    std::vector<std::thread> threads;
    threads.reserve(size_);
    for (std::uint32_t r = 1; r < size_; ++r) threads.emplace_back([this, r, &fn] { fn(thread_communicator(*this, r)); });
    fn(thread_communicator(*this, 0));
    for (auto& t : threads) t.join();
}

}  // namespace safeshard::dist

#endif
