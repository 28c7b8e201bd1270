// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_CHECKPOINT_METADATA_HPP
#define SAFESHARD_CHECKPOINT_METADATA_HPP

// A checkpoint's metadata, built from file headers alone (spec/dcp-hf.md §3.2): per tensor
// its dtype, global shape and saved chunks; per chunk its file and byte range. It reads DCP
// per-rank directories, plain Hugging Face single- and multi-file checkpoints (through the
// index when there is one, else every `*.safetensors` in the directory, as DCP does) and
// mixes of both, and refuses what DCP would load wrongly: chunks disagreeing on dtype, chunks
// outside the shape, overlaps (stale shards of an earlier save included), holes, index entries
// naming missing files or files outside the directory.

#include <safeshard/checkpoint/chunks.hpp>
#include <safeshard/checkpoint/naming.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/detail/parallel.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/format/checkpoint_json_parse.hpp>
#include <safeshard/io/pread_source.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace safeshard::checkpoint {

/// One file of a checkpoint, open.
template <io::byte_source Source>
struct checkpoint_file {
    std::string name;  ///< relative to the checkpoint directory
    basic_file_reader<Source> reader;
    bool has_sharding_info = false;
    sharding_info sharding;
};

/// A saved chunk of a tensor: where it sits in the global tensor and where its bytes are.
struct saved_chunk {
    std::uint32_t file = 0;           ///< index into `files()`
    const tensor_info* info = nullptr;  ///< the entry in that file's header
};

/// One tensor of a checkpoint.
struct tensor_metadata {
    std::string_view name;
    safeshard::dtype dtype = safeshard::dtype::F32;
    std::vector<std::uint64_t> shape;  ///< the global shape
    std::vector<saved_chunk> chunks;   ///< in file order
    std::vector<chunk_box> boxes;      ///< boxes[i] is chunks[i]'s place in the global tensor

    std::size_t rank() const noexcept { return shape.size(); }
    std::uint64_t numel() const noexcept {
        std::uint64_t n = 1;
        for (auto d : shape) n *= d;  // checked when the checkpoint was opened
        return n;
    }
    /// Bytes of the whole tensor (checked to fit when opened).
    std::uint64_t byte_size() const noexcept { return numel() * bits(dtype) / 8; }
};

/// Options of `basic_checkpoint::open`.
struct checkpoint_options {
    parse_options parse{};
    /// Read `model.safetensors.index.json` when the directory has one (and check it against the
    /// files); without it every `*.safetensors` file in the directory is part of the checkpoint.
    bool use_index = true;
    /// Threads reading and parsing the files' headers at once (a storage reader's open uses its
    /// own `thread_count` when this is 1). Errors are the same whatever the count: that of the
    /// first file, in name order, that has one.
    unsigned thread_count = 1;
};

namespace detail {

inline bool safe_relative_name(std::string_view name) noexcept {
    if (name.empty() || name.front() == '/' || name.find('\0') != std::string_view::npos) return false;
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t slash = name.find('/', start);
        std::string_view part = name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (part == ".." || part.empty() || part == ".") return false;
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return true;
}

inline std::string join_path(std::string_view dir, std::string_view name) {
    std::string p(dir);
    if (!p.empty() && p.back() != '/') p += '/';
    p += name;
    return p;
}

}  // namespace detail

/// The files and tensors of a checkpoint. Move-only; `tensor_metadata` views point into the
/// open files' headers.
template <io::byte_source Source = io::pread_source>
class basic_checkpoint {
public:
    basic_checkpoint() = default;
    basic_checkpoint(basic_checkpoint&&) noexcept = default;
    basic_checkpoint& operator=(basic_checkpoint&&) noexcept = default;

    /// Opens the checkpoint at `path`: a directory, or a single `.safetensors` file (then a
    /// checkpoint of that one file). Reads every header, checks everything listed above.
    static result<basic_checkpoint> open(std::string_view path, const checkpoint_options& opt = {})
        requires requires { { Source::open(path) } -> std::same_as<result<Source>>; }
    {
        namespace fs = std::filesystem;
        std::error_code ec;
        basic_checkpoint cp;
        const fs::path p{std::string(path)};
        auto st = fs::status(p, ec);
        if (ec || !fs::exists(st)) {
            return error_info(errc::file_not_found).in_file(path).with_detail("no such file or directory");
        }
        std::vector<std::string> names;
        const bool single_file = !fs::is_directory(st);
        if (!single_file) {
            cp.directory_.assign(path);
            std::string index_path = detail::join_path(path, index_file_name);
            if (opt.use_index && fs::exists(fs::path(index_path), ec)) {
                auto idx = read_index(index_path, opt.parse.limits.max_header_size);
                if (!idx) return idx.error();
                cp.index_ = std::move(*idx);
                cp.has_index_ = true;
                for (std::string_view f : cp.index_.files()) {
                    if (!detail::safe_relative_name(f))
                        return error_info(errc::path_outside_checkpoint)
                            .in_file(index_path)
                            .with_detail("weight_map names \"" + std::string(f) + "\", not a plain path inside the directory");
                    names.emplace_back(f);
                }
            } else {
                for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
                    std::string n = it->path().filename().string();
                    if (!is_safetensors_name(n) || n.front() == '.') continue;  // hidden: our temp files
                    std::error_code e2;
                    if (!fs::is_regular_file(it->status(e2))) continue;
                    names.push_back(std::move(n));
                }
                if (ec) return safeshard::detail::os_error("list directory", ec.value(), path);
                std::sort(names.begin(), names.end());
            }
        } else {
            std::string_view dir = ".";
            std::string_view name = path;
            if (auto slash = path.rfind('/'); slash != std::string_view::npos) {
                dir = slash == 0 ? std::string_view("/") : path.substr(0, slash);
                name = path.substr(slash + 1);
            }
            cp.directory_.assign(dir);
            names.emplace_back(name);
        }
        std::string root = fs::weakly_canonical(fs::path(cp.directory_), ec).string();
        if (ec) return safeshard::detail::os_error("resolve directory", ec.value(), cp.directory_);
        // Each file is resolved, opened, parsed and its sharding info read on its own, so on
        // `thread_count` threads; every file's error is kept and the first in name order wins.
        std::vector<checkpoint_file<Source>> opened(names.size());
        std::vector<error_info> failed(names.size());
        auto open_one = [&](std::size_t i) -> error_info {
            std::error_code e1;
            std::string full = detail::join_path(cp.directory_, names[i]);
            if (!fs::exists(fs::path(full), e1)) {
                failed[i] = error_info(errc::file_not_found)
                                .in_file(full)
                                .with_detail(cp.has_index_ ? "named by model.safetensors.index.json" : "listed but gone");
                return {};
            }
            std::string real = fs::weakly_canonical(fs::path(full), e1).string();
            if (e1) {
                failed[i] = safeshard::detail::os_error("resolve path", e1.value(), full);
                return {};
            }
            if (!single_file && (real.size() <= root.size() || real.compare(0, root.size(), root) != 0 ||
                                 (root.back() != '/' && real[root.size()] != '/'))) {
                failed[i] = error_info(errc::path_outside_checkpoint).in_file(full).with_detail("resolves to " + real);
                return {};
            }
            auto r = basic_file_reader<Source>::open(full, opt.parse);
            if (!r) {
                failed[i] = r.error();
                return {};
            }
            opened[i] = checkpoint_file<Source>{std::move(names[i]), std::move(*r), false, {}};
            failed[i] = read_sharding(opened[i], full);
            return {};
        };
        (void)safeshard::detail::run_tasks(names.size(), std::max(1u, opt.thread_count), open_one);
        for (const auto& e : failed)
            if (e.code() != errc::ok) return e;
        cp.files_ = std::move(opened);
        if (auto e = cp.finish(); e.code() != errc::ok) return e;
        return cp;
    }

    /// A checkpoint of already-open sources (any `byte_source`: memory, files), named as if in
    /// `directory`; `index_json`, when not empty, is read as the directory's index and checked
    /// against them. Every check of `open` but the file-system ones. For tools and fuzzers.
    static result<basic_checkpoint> from_files(std::string_view directory, std::vector<std::pair<std::string, Source>> sources,
                                               std::string_view index_json = {}, const checkpoint_options& opt = {}) {
        basic_checkpoint cp;
        cp.directory_.assign(directory);
        if (!index_json.empty()) {
            auto idx = parse_index(index_json);
            if (!idx) return error_info(idx.error()).in_file(detail::join_path(directory, index_file_name));
            cp.index_ = std::move(*idx);
            cp.has_index_ = true;
            for (std::string_view f : cp.index_.files()) {
                bool found = false;
                for (const auto& s : sources) found = found || s.first == f;
                if (!found)
                    return error_info(errc::file_not_found)
                        .in_file(detail::join_path(directory, f))
                        .with_detail("named by model.safetensors.index.json");
            }
        }
        cp.files_.reserve(sources.size());
        for (auto& [name, src] : sources) {
            std::string full = detail::join_path(directory, name);
            auto r = basic_file_reader<Source>::from_source(std::move(src), opt.parse);
            if (!r) return error_info(r.error()).default_file(full);
            if (auto e = cp.add_file(std::move(name), std::move(*r), full); e.code() != errc::ok) return e;
        }
        if (auto e = cp.finish(); e.code() != errc::ok) return e;
        return cp;
    }

    /// A checkpoint of files whose headers and sharding info were read elsewhere (a coordinator
    /// opened the checkpoint and sent them; see dist/). Each file comes with its open reader,
    /// and with its sharding info when it has one. Every check of `from_files` runs again on
    /// what arrived (the sharding info against the headers, dtype and rank agreement, tiling),
    /// but no header is read or parsed; there is no index to check against.
    static result<basic_checkpoint> from_headers(std::string_view directory, std::vector<checkpoint_file<Source>> files) {
        basic_checkpoint cp;
        cp.directory_.assign(directory);
        cp.files_.reserve(files.size());
        for (auto& f : files) {
            std::string full = detail::join_path(directory, f.name);
            if (f.has_sharding_info)
                if (auto e = check_sharding(f, full); e.code() != errc::ok) return e;
            cp.files_.push_back(std::move(f));
        }
        if (auto e = cp.finish(); e.code() != errc::ok) return e;
        return cp;
    }

    /// The directory the file names are relative to.
    std::string_view directory() const noexcept { return directory_; }
    std::span<const checkpoint_file<Source>> files() const noexcept { return files_; }
    /// Tensors sorted by name.
    std::span<const tensor_metadata> tensors() const noexcept { return tensors_; }
    /// Whether `model.safetensors.index.json` was read.
    bool has_index() const noexcept { return has_index_; }
    const checkpoint_index& index() const noexcept { return index_; }
    /// The full path of file `i`.
    std::string file_path(std::uint32_t i) const { return detail::join_path(directory_, files_[i].name); }

    /// The tensor `name`, or nullptr. O(log n).
    const tensor_metadata* find(std::string_view name) const noexcept {
        auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const tensor_metadata& t, std::string_view n) { return t.name < n; });
        return it != tensors_.end() && it->name == name ? &*it : nullptr;
    }
    /// The tensor `name`, or `errc::tensor_not_found` naming the checkpoint.
    result<const tensor_metadata*> info(std::string_view name) const {
        if (const auto* t = find(name)) return t;
        return error_info(errc::tensor_not_found).in_file(directory_).at_tensor(name);
    }

    /// Sum of every tensor's bytes (what an index's total_size counts).
    std::uint64_t total_size() const noexcept {
        std::uint64_t n = 0;
        for (const auto& t : tensors_) n += t.byte_size();
        return n;
    }

private:
    error_info add_file(std::string name, basic_file_reader<Source> reader, const std::string& full) {
        checkpoint_file<Source> f{std::move(name), std::move(reader), false, {}};
        if (auto e = read_sharding(f, full); e.code() != errc::ok) return e;
        files_.push_back(std::move(f));
        return {};
    }

    error_info finish() {
        if (has_index_)
            if (auto e = check_index(); e.code() != errc::ok) return e;
        return build();
    }

    static result<checkpoint_index> read_index(const std::string& path, std::uint64_t limit) {
        auto src = io::pread_source::open(path);
        if (!src) return src.error();
        if (src->size() > limit)
            return error_info(errc::limit_exceeded).in_file(path).with_detail("index larger than the header size limit");
        std::string text(static_cast<std::size_t>(src->size()), '\0');
        if (auto st = src->read(0, std::as_writable_bytes(std::span(text.data(), text.size()))); !st) return st.error();
        auto idx = parse_index(text);
        if (!idx) return error_info(idx.error()).in_file(path);
        return idx;
    }

    static error_info read_sharding(checkpoint_file<Source>& f, const std::string& full) {
        const auto& h = f.reader.header();
        auto v = h.metadata_value(sharding_info_key);
        if (!v || v->empty()) return {};  // a plain file: every tensor whole, at offset 0
        auto info = parse_sharding_info(*v);
        if (!info) return error_info(info.error()).in_file(full);
        f.sharding = std::move(*info);
        f.has_sharding_info = true;
        return check_sharding(f, full);
    }

    // The sharding info must describe exactly the file's tensors, each at its rank.
    static error_info check_sharding(const checkpoint_file<Source>& f, const std::string& full) {
        const auto& h = f.reader.header();
        for (const auto& e : f.sharding.entries()) {
            const tensor_info* t = h.find(e.name);
            if (!t)
                return error_info(errc::bad_checkpoint_metadata).in_file(full).at_tensor(e.name).with_detail(
                    "DCP_SHARDING_INFO names a tensor the file does not hold");
            if (e.saved_offsets.size() != t->rank())
                return error_info(errc::bad_checkpoint_metadata)
                    .in_file(full)
                    .at_tensor(e.name)
                    .with_detail("saved_offsets " + detail::shape_text(e.saved_offsets) + " for a tensor of shape " +
                                 detail::shape_text(t->shape));
            if (e.has_global_shape && e.global_shape.size() != t->rank())
                return error_info(errc::bad_checkpoint_metadata)
                    .in_file(full)
                    .at_tensor(e.name)
                    .with_detail("global_shape " + detail::shape_text(e.global_shape) + " for a tensor of shape " +
                                 detail::shape_text(t->shape));
        }
        for (const auto& t : h.tensors())
            if (!f.sharding.find(t.name))
                return error_info(errc::bad_checkpoint_metadata).in_file(full).at_tensor(t.name).with_detail(
                    "the file has DCP_SHARDING_INFO but no entry for this tensor");
        return {};
    }

    error_info check_index() const {
        std::string index_path = detail::join_path(directory_, index_file_name);
        std::unordered_map<std::string_view, std::string_view> where;
        where.reserve(index_.weight_map().size());
        for (const auto& e : index_.weight_map()) where.emplace(e.tensor, e.file);
        for (std::uint32_t i = 0; i < files_.size(); ++i) {
            const auto& f = files_[i];
            for (const auto& t : f.reader.tensors()) {
                auto it = where.find(t.name);
                if (it == where.end())
                    return error_info(errc::bad_checkpoint_metadata).in_file(file_path(i)).at_tensor(t.name).with_detail(
                        "the file holds a tensor that model.safetensors.index.json does not list");
                if (it->second != f.name)
                    return error_info(errc::bad_checkpoint_metadata)
                        .in_file(file_path(i))
                        .at_tensor(t.name)
                        .with_detail("the file holds a tensor that the index maps to " + std::string(it->second));
            }
        }
        std::unordered_map<std::string_view, std::uint32_t> file_of;
        for (std::uint32_t i = 0; i < files_.size(); ++i) file_of.emplace(files_[i].name, i);
        for (const auto& e : index_.weight_map()) {
            auto it = file_of.find(e.file);
            if (it != file_of.end() && !files_[it->second].reader.find(e.tensor))
                return error_info(errc::bad_checkpoint_metadata).in_file(index_path).at_tensor(e.tensor).with_detail(
                    "the index maps the tensor to " + std::string(e.file) + ", which does not hold it");
        }
        return {};
    }

    error_info build() {
        std::size_t max_rank = 0;
        for (const auto& f : files_)
            for (const auto& t : f.reader.tensors()) max_rank = std::max(max_rank, t.rank());
        zeros_.assign(max_rank, 0);
        std::unordered_map<std::string_view, std::uint32_t> by_name;
        std::vector<std::vector<std::uint64_t>> declared;  // global_shape from the sharding info, when given
        for (std::uint32_t fi = 0; fi < files_.size(); ++fi) {
            const auto& f = files_[fi];
            for (const tensor_info& t : f.reader.tensors()) {
                const sharding_entry* se = f.has_sharding_info ? f.sharding.find(t.name) : nullptr;
                std::span<const std::uint64_t> off = se ? se->saved_offsets : std::span<const std::uint64_t>(zeros_.data(), t.rank());
                auto [it, fresh] = by_name.emplace(t.name, static_cast<std::uint32_t>(tensors_.size()));
                if (fresh) {
                    tensors_.push_back(tensor_metadata{t.name, t.dtype, {}, {}, {}});
                    tensors_.back().shape.assign(t.rank(), 0);
                    declared.emplace_back();
                }
                tensor_metadata& m = tensors_[it->second];
                if (m.dtype != t.dtype || m.rank() != t.rank()) {
                    std::string d = "chunk in " + f.name + " is " + std::string(safeshard::name(t.dtype)) + " of rank " +
                                    std::to_string(t.rank()) + ", chunk in " + files_[m.chunks.front().file].name + " is " +
                                    std::string(safeshard::name(m.dtype)) + " of rank " + std::to_string(m.rank());
                    return error_info(errc::chunk_mismatch).in_file(directory_).at_tensor(t.name).with_detail(d);
                }
                for (std::size_t d = 0; d < t.rank(); ++d) {
                    if (off[d] > ~std::uint64_t{0} - t.shape[d])
                        return error_info(errc::size_overflow).in_file(file_path(fi)).at_tensor(t.name).with_detail(
                            "saved_offsets + shape overflows 64 bits");
                    m.shape[d] = std::max(m.shape[d], off[d] + t.shape[d]);
                }
                if (se && se->has_global_shape) {
                    auto& g = declared[it->second];
                    std::vector<std::uint64_t> mine(se->global_shape.begin(), se->global_shape.end());
                    if (!g.empty() && g != mine)
                        return error_info(errc::bad_checkpoint_metadata).in_file(file_path(fi)).at_tensor(t.name).with_detail(
                            "global_shape " + detail::shape_text(mine) + " differs from " + detail::shape_text(g) +
                            " in another file");
                    g = std::move(mine);
                }
                m.chunks.push_back(saved_chunk{fi, &t});
                m.boxes.push_back(chunk_box{off, t.shape});
            }
        }
        for (std::size_t i = 0; i < tensors_.size(); ++i) {
            auto& m = tensors_[i];
            if (!declared[i].empty()) {
                // The writer said how large the tensor is: chunks that stop short are a hole.
                for (std::size_t d = 0; d < m.rank(); ++d)
                    if (m.shape[d] > declared[i][d])
                        return error_info(errc::out_of_bounds).in_file(directory_).at_tensor(m.name).with_detail(
                            "chunks reach past the global_shape " + detail::shape_text(declared[i]));
                m.shape = declared[i];
            }
        }
        std::sort(tensors_.begin(), tensors_.end(), [](const tensor_metadata& a, const tensor_metadata& b) { return a.name < b.name; });
        for (const auto& m : tensors_) {
            std::uint64_t n = 0, nbits = 0;
            if (!safeshard::detail::checked_numel(m.shape, n) || safeshard::detail::mul_overflow(n, bits(m.dtype), nbits))
                return error_info(errc::size_overflow).in_file(directory_).at_tensor(m.name).with_detail(
                    "global shape " + detail::shape_text(m.shape) + " overflows 64 bits");
            auto e = check_tiling(m.name, m.shape, m.boxes, [&](std::uint32_t c) -> const std::string& { return files_[m.chunks[c].file].name; });
            if (e.code() != errc::ok) return e.default_file(directory_);
        }
        return {};
    }

    std::string directory_;
    std::vector<checkpoint_file<Source>> files_;
    std::vector<tensor_metadata> tensors_;
    std::vector<std::uint64_t> zeros_;
    checkpoint_index index_;
    bool has_index_ = false;
};

/// The usual checkpoint: files read with `pread` (straight into the caller's memory).
using checkpoint_metadata = basic_checkpoint<io::pread_source>;

}  // namespace safeshard::checkpoint

#endif
