// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CONSOLIDATE_CONSOLIDATING_WRITER_HPP
#define SAFESHARD_CONSOLIDATE_CONSOLIDATING_WRITER_HPP

// DCP's `HuggingFaceStorageWriter(save_distributed=True, enable_consolidation=True,
// thread_count_consolidation=n)`: each rank writes its shards into `path/sharded`, and the
// coordinator's finish step consolidates them into a Hugging Face checkpoint in `path` with
// the same file layout. The sharded directory is kept (as DCP keeps it).

#include <safeshard/checkpoint/layout.hpp>
#include <safeshard/checkpoint/naming.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/consolidate.hpp>

#include <span>
#include <string>
#include <utility>
#include <vector>

namespace safeshard::checkpoint {

template <file_layout Layout = single_file>
class consolidating_storage_writer {
public:
    explicit consolidating_storage_writer(std::string path, Layout layout = {}, storage_writer_options opt = {},
                                          unsigned thread_count_consolidation = 1)
        : path_(std::move(path)),
          shards_(path_ + "/" + std::string(sharded_dir_name), layout, opt),
          layout_(std::move(layout)),
          consolidation_threads_(thread_count_consolidation) {}

    std::string_view path() const noexcept { return path_; }
    std::string_view sharded_path() const noexcept { return shards_.path(); }
    /// The writer of the shards (a `dcp_storage_writer` into `sharded_path()`).
    const dcp_storage_writer<Layout>& shards() const noexcept { return shards_; }
    const Layout& layout() const noexcept { return layout_; }
    unsigned consolidation_thread_count() const noexcept { return consolidation_threads_; }

    result<save_plan> plan(std::span<const rank_state> ranks) const { return shards_.plan(ranks); }
    result<std::vector<write_result>> write_rank(const save_plan& p, std::uint32_t rank, const rank_state& state) const {
        return shards_.write_rank(p, rank, state);
    }
    /// The coordinator's finish: consolidates `path/sharded` into `path`.
    result<consolidation> finish(const save_plan& p, std::span<const std::vector<write_result>> results) const {
        if (auto st = shards_.finish(p, results); !st) return st.error();
        consolidate_options opt;
        opt.thread_count = consolidation_threads_;
        return consolidate(shards_.path(), path_, layout_, opt);
    }
    /// All steps for in-process ranks.
    result<consolidation> save(std::span<const rank_state> ranks) const {
        auto p = plan(ranks);
        if (!p) return p.error();
        std::vector<std::vector<write_result>> results;
        for (std::uint32_t r = 0; r < ranks.size(); ++r) {
            auto w = write_rank(*p, r, ranks[r]);
            if (!w) return w.error();
            results.push_back(std::move(*w));
        }
        return finish(*p, results);
    }

private:
    std::string path_;
    dcp_storage_writer<Layout> shards_;
    [[no_unique_address]] Layout layout_;
    unsigned consolidation_threads_ = 1;
};

}  // namespace safeshard::checkpoint

#endif
