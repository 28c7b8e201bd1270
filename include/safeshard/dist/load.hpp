// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DIST_LOAD_HPP
#define SAFESHARD_DIST_LOAD_HPP

// A checkpoint opened by the ranks of a job: rank 0 reads every header and checks the whole
// (tiling, stale shards, paths), then sends a compact form of what it read (dist/messages.hpp);
// the other ranks rebuild the same metadata from it without reading or parsing a header, and
// open the files only to read their own regions. A job of 1,024 ranks reads each header once,
// not 1,024 times. Each rank then reads what it needs with the storage reader and the planner.

#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/dist/agree.hpp>
#include <safeshard/dist/communicator.hpp>
#include <safeshard/dist/messages.hpp>
#include <safeshard/format/header.hpp>
#include <safeshard/io/pread_source.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <string_view>
#include <utility>
#include <vector>

namespace safeshard::dist {

namespace detail {

// The header of one described file, built as the parser would build it, with the same checks
// (sizes, limits, duplicate names, tiling of the data section against the file's size).
inline result<header> rebuild_header(const file_description& f, const header_limits& limits) {
    std::uint64_t name_bytes = 0, dims = 0;
    for (const auto& t : f.tensors) {
        name_bytes += t.name.size();
        dims += t.shape.size();
    }
    // The names came out of the file's N header bytes, so they fit in N; a message that says
    // otherwise is malformed.
    if (name_bytes > f.header_size || f.header_size > limits.max_header_size || f.file_size < 8 + f.header_size)
        return error_info(errc::bad_checkpoint_metadata).at_tensor(f.name).with_detail(
            "the described header (N = " + std::to_string(f.header_size) + ", file of " + std::to_string(f.file_size) +
            " bytes) cannot hold its tensors");
    header_builder b(f.header_size, f.tensors.size(), dims, limits);
    if (auto e = b.status(); e.code() != errc::ok) return e;
    for (const auto& t : f.tensors) {
        const std::string_view name = b.intern(t.name);
        b.start_shape();
        for (auto d : t.shape)
            if (auto e = b.push_dim(d); e.code() != errc::ok) return e.at_tensor(t.name);
        if (auto e = b.add(name, t.type, t.begin, t.end); e.code() != errc::ok) return e;
    }
    return std::move(b).finish(f.header_size, f.file_size, f.trailing_bytes ? validation::allow_trailing_bytes : validation::strict);
}

// The directory `path` names on this rank, as checkpoint_metadata::open takes it: the path
// itself, or the directory of a single file.
inline result<std::string> local_directory(std::string_view path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto st = fs::status(fs::path(std::string(path)), ec);
    if (ec || !fs::exists(st)) return error_info(errc::file_not_found).in_file(path).with_detail("no such file or directory");
    if (fs::is_directory(st)) return std::string(path);
    const auto slash = path.rfind('/');
    if (slash == std::string_view::npos) return std::string(".");
    return std::string(slash == 0 ? std::string_view("/") : path.substr(0, slash));
}

// The checkpoint rank `from` described, with this rank's own files open: those the message
// names, in `directory` as this rank sees it.
inline result<checkpoint::checkpoint_metadata> rebuild_checkpoint(const checkpoint_description& d, std::string_view directory,
                                                                 std::uint32_t from, const checkpoint::checkpoint_options& opt) {
    std::vector<checkpoint::checkpoint_file<io::pread_source>> files;
    files.reserve(d.files.size());
    for (const auto& f : d.files) {
        if (!checkpoint::detail::safe_relative_name(f.name))
            return error_info(errc::path_outside_checkpoint).in_file(directory).with_detail(
                "rank " + std::to_string(from) + " named the file \"" + std::string(f.name) + "\"");
        const std::string path = checkpoint::detail::join_path(directory, f.name);
        auto h = rebuild_header(f, opt.parse.limits);
        if (!h) return error_info(h.error()).in_file(path).with_detail(
                   "header as rank " + std::to_string(from) + " described it: " + std::string(h.error().detail()));
        auto src = io::pread_source::open(path);
        if (!src) return src.error();
        if (src->size() != f.file_size)
            return error_info(errc::bad_checkpoint_metadata).in_file(path).with_detail(
                "rank " + std::to_string(from) + " read a file of " + std::to_string(f.file_size) + " bytes, here it has " +
                std::to_string(src->size()) + " (changed since, or another file system)");
        auto reader = basic_file_reader<io::pread_source>::from_header(std::move(*src), std::move(*h));
        if (!reader) return reader.error();
        checkpoint::checkpoint_file<io::pread_source> cf{std::string(f.name), std::move(*reader), f.has_sharding_info, {}};
        if (f.has_sharding_info) {
            std::vector<sharding_entry> entries;
            entries.reserve(f.tensors.size());
            for (std::size_t i = 0; i < f.tensors.size(); ++i)
                entries.push_back(sharding_entry{f.tensors[i].name, f.saved_offsets[i], f.has_global_shape[i] != 0, f.global_shapes[i]});
            auto info = sharding_info::from_entries(entries);
            if (!info) return error_info(info.error()).in_file(path);
            cf.sharding = std::move(*info);
        }
        files.push_back(std::move(cf));
    }
    return checkpoint::checkpoint_metadata::from_headers(directory, std::move(files));
}

}  // namespace detail

/// Opens the checkpoint at `path` (as `checkpoint_metadata::open`) on every rank: rank 0 reads
/// and checks it and sends what it read; the other ranks rebuild it from that, checking it
/// again (a malformed message is refused like a malformed file) but reading no header. Each
/// rank finds the files under its own `path` (the same checkpoint, seen through its own file
/// system). Every rank gets the same error when any fails.
template <communicator Comm>
result<checkpoint::checkpoint_metadata> open_checkpoint(const Comm& comm, std::string_view path,
                                                        const checkpoint::checkpoint_options& opt = {}) {
    constexpr std::uint32_t root = 0;
    checkpoint::checkpoint_metadata cp;
    buffer message;
    status opened;
    if (comm.rank() == root) {
        if (auto r = checkpoint::checkpoint_metadata::open(path, opt); !r) {
            opened = r.error();
        } else {
            cp = std::move(*r);
            message = encode_checkpoint(cp);
        }
    }
    if (auto st = agree(comm, opened); !st) return st.error();
    if (auto st = comm.broadcast(message, root); !st) return st.error();
    status rebuilt;
    if (comm.rank() != root) {
        if (auto dir = detail::local_directory(path); !dir) {
            rebuilt = dir.error();
        } else if (auto d = decode_checkpoint(message, root); !d) {
            rebuilt = d.error();
        } else if (auto r = detail::rebuild_checkpoint(*d, *dir, root, opt); !r) {
            rebuilt = r.error();
        } else {
            cp = std::move(*r);
        }
    }
    if (auto st = agree(comm, rebuilt); !st) return st.error();
    return cp;
}

/// A storage reader over `open_checkpoint`: every rank then reads its own regions.
template <class Mapping = dtype_map::exact, communicator Comm>
result<checkpoint::basic_storage_reader<io::pread_source, Mapping>> open_reader(
    const Comm& comm, std::string_view path, const checkpoint::storage_reader_options& opt = {}) {
    auto cp = open_checkpoint(comm, path, opt.opening());
    if (!cp) return cp.error();
    return checkpoint::basic_storage_reader<io::pread_source, Mapping>(std::move(*cp), opt);
}

}  // namespace safeshard::dist

#endif
