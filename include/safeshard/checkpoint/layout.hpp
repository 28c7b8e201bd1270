// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_LAYOUT_HPP
#define SAFESHARD_CHECKPOINT_LAYOUT_HPP

// File layout policies: which output file (a 1-based index, as in `model-{i}-of-{N}`) holds
// each tensor. DCP takes an fqn→index mapping or puts everything in file 1; Hugging Face's
// `save_pretrained(max_shard_size=…)` fills files in state-dict order up to a size.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace safeshard::checkpoint {

/// A tensor as the layout sees it: the whole (global) tensor, in first-seen order.
struct planned_tensor {
    std::string_view name;
    safeshard::dtype dtype = safeshard::dtype::F32;
    std::span<const std::uint64_t> shape;  ///< global shape
    std::uint64_t byte_size = 0;           ///< bytes of the whole tensor
};

/// A layout's answer: `index[i]` is tensor i's file index (>= 1); `largest` is the N of
/// `-of-{N}` (DCP: the largest index of the mapping, used or not).
struct file_assignment {
    std::vector<std::uint32_t> index;
    std::uint32_t largest = 1;
};

/// A file layout policy `L`.
///
/// Requires: `l.assign(tensors) -> result<file_assignment>` (const), with one index per
/// tensor, every index in [1, largest].
/// Guarantees: the same tensors give the same answer (every rank computes it alike); an
/// error names the tensors it cannot place. Cost: O(tensors).
template <class L>
concept file_layout = requires(const L& l, std::span<const planned_tensor> tensors) {
    { l.assign(tensors) } -> std::same_as<result<file_assignment>>;
};

/// Everything in `model-00001-of-00001.safetensors` (DCP without a mapping).
struct single_file {
    result<file_assignment> assign(std::span<const planned_tensor> tensors) const {
        return file_assignment{std::vector<std::uint32_t>(tensors.size(), 1), 1};
    }
};
static_assert(file_layout<single_file>);

/// DCP's `fqn_to_index_mapping`. A tensor the mapping lacks is an error listing the names
/// (DCP raises a bare KeyError, torchtitan PR #1489), unless `unmapped_index` is set: then
/// such tensors go to that file.
class mapped_files {
public:
    mapped_files() = default;
    explicit mapped_files(std::vector<std::pair<std::string, std::uint32_t>> mapping, std::uint32_t unmapped_index = 0)
        : mapping_(std::move(mapping)), unmapped_(unmapped_index) {
        for (const auto& [name, idx] : mapping_) by_name_.emplace(name, idx);
    }

    result<file_assignment> assign(std::span<const planned_tensor> tensors) const {
        file_assignment a;
        a.largest = unmapped_;
        for (const auto& [name, idx] : mapping_) {
            if (idx == 0)
                return error_info(errc::invalid_argument).at_tensor(name).with_detail("file indices are 1-based; the mapping gives 0");
            a.largest = std::max(a.largest, idx);
        }
        if (a.largest == 0) a.largest = 1;
        a.index.reserve(tensors.size());
        std::string missing;
        std::size_t n_missing = 0;
        for (const auto& t : tensors) {
            auto it = by_name_.find(std::string(t.name));
            if (it != by_name_.end()) a.index.push_back(it->second);
            else if (unmapped_ != 0) a.index.push_back(unmapped_);
            else {
                if (n_missing < 5) missing += (n_missing ? ", " : "") + std::string(t.name);
                ++n_missing;
                a.index.push_back(0);
            }
        }
        if (n_missing)
            return error_info(errc::invalid_argument).with_detail(
                std::to_string(n_missing) + " tensor(s) missing from fqn_to_index_mapping: " + missing + (n_missing > 5 ? ", …" : ""));
        return a;
    }

    std::span<const std::pair<std::string, std::uint32_t>> mapping() const noexcept { return mapping_; }

private:
    std::vector<std::pair<std::string, std::uint32_t>> mapping_;
    std::unordered_map<std::string, std::uint32_t> by_name_;
    std::uint32_t unmapped_ = 0;
};
static_assert(file_layout<mapped_files>);

/// Hugging Face's split (`save_pretrained(max_shard_size=…)`, huggingface_hub's
/// `split_state_dict_into_shards`): tensors in order fill the current file until the next one
/// would pass `max_shard_size` bytes; a tensor larger than that gets a file of its own at once,
/// while the current file stays open. So [6, 6, 2, 6, 2, 2] GB with a 10 GB cap gives
/// [6], [6+2], [6+2+2].
struct size_capped {
    std::uint64_t max_shard_size = 5'000'000'000;

    result<file_assignment> assign(std::span<const planned_tensor> tensors) const {
        if (max_shard_size == 0) return error_info(errc::invalid_argument).with_detail("max_shard_size must be positive");
        file_assignment a;
        a.index.assign(tensors.size(), 0);
        std::vector<std::vector<std::uint32_t>> files;  // in the order huggingface_hub lists them
        std::vector<std::uint32_t> open;
        std::uint64_t used = 0;
        for (std::uint32_t i = 0; i < tensors.size(); ++i) {
            const std::uint64_t sz = tensors[i].byte_size;
            if (sz > max_shard_size) {
                files.push_back({i});
                continue;
            }
            if (!open.empty() && used + sz > max_shard_size) {
                files.push_back(std::move(open));
                open.clear();
                used = 0;
            }
            open.push_back(i);
            used += sz;
        }
        if (!open.empty()) files.push_back(std::move(open));
        for (std::uint32_t k = 0; k < files.size(); ++k)
            for (auto i : files[k]) a.index[i] = k + 1;
        a.largest = files.empty() ? 1 : static_cast<std::uint32_t>(files.size());
        return a;
    }
};
static_assert(file_layout<size_capped>);

}  // namespace safeshard::checkpoint

#endif
