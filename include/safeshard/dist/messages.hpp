// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_DIST_MESSAGES_HPP
#define SAFESHARD_DIST_MESSAGES_HPP

// What ranks tell each other during a save or a load, encoded (dist/wire.hpp) and decoded.
// Only metadata crosses ranks: chunk names, shapes and places; plans; results; the headers of
// a checkpoint. A decoder checks what it reads and refuses a malformed message with an error
// naming the rank it came from. Decoded strings view the message: keep it while they are used.

#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/consolidate/consolidate.hpp>
#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/dist/communicator.hpp>
#include <safeshard/dist/wire.hpp>
#include <safeshard/format/checkpoint_json_parse.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace safeshard::dist {

namespace detail {
inline void put_dtype(wire_writer& w, dtype d) { w.u8(static_cast<std::uint8_t>(d)); }
inline dtype get_dtype(wire_reader& r) {
    const std::uint8_t v = r.u8();
    if (v >= dtype_count) r.fail("dtype " + std::to_string(v) + " is not one of the " + std::to_string(dtype_count));
    return r.ok() ? static_cast<dtype>(v) : dtype::BOOL;
}
}  // namespace detail

// ---- a rank's outcome -------------------------------------------------------------------

/// A status, whole (code, file, tensor, offset, detail).
inline buffer encode_status(const status& st) {
    wire_writer w(message_kind::status);
    const error_info& e = st.error();
    w.u16(static_cast<std::uint16_t>(e.code()));
    w.u64(e.offset());
    w.str(e.file());
    w.str(e.tensor());
    w.str(e.detail());
    return std::move(w).take();
}

/// The status a rank sent; a malformed message decodes as the error saying so.
inline error_info decode_status(std::span<const std::byte> in, std::uint32_t from) {
    wire_reader r(in, message_kind::status, from);
    const auto code = static_cast<errc>(r.u16());
    const std::uint64_t offset = r.u64();
    const std::string_view file = r.str(), tensor = r.str(), detail = r.str();
    if (auto e = r.finish(); e.code() != errc::ok) return e;
    error_info e(code);
    if (!file.empty()) e.in_file(file);
    if (!tensor.empty()) e.at_tensor(tensor);
    if (offset != error_info::no_offset) e.at_offset(offset);
    if (!detail.empty()) e.with_detail(detail);
    return e;
}

// ---- a save: the coordinator gathers the ranks' chunks, plans, scatters the plan ---------

/// A rank's chunks without their bytes: what the coordinator plans from.
inline buffer encode_rank_state(const checkpoint::rank_state& state) {
    wire_writer w(message_kind::rank_state);
    w.u64(state.size());
    for (const auto& c : state) {
        w.str(c.fqn);
        detail::put_dtype(w, c.dtype);
        w.dims(c.global_shape);
        w.dims(c.offsets);
        w.dims(c.sizes);
    }
    return std::move(w).take();
}

/// The chunks rank `from` sent (names view `in`; no bytes).
inline result<checkpoint::rank_state> decode_rank_state(std::span<const std::byte> in, std::uint32_t from) {
    wire_reader r(in, message_kind::rank_state, from);
    checkpoint::rank_state state;
    const std::uint64_t n = r.count(8 + 1 + 3 * 4);
    state.reserve(static_cast<std::size_t>(n));
    for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
        checkpoint::save_chunk c;
        c.fqn = r.str();
        c.dtype = detail::get_dtype(r);
        c.global_shape = r.dims();
        c.offsets = r.dims();
        c.sizes = r.dims();
        state.push_back(std::move(c));
    }
    if (auto e = r.finish(); e.code() != errc::ok) return e;
    return state;
}

/// Rank `rank`'s part of `plan`: its items and what names its files.
inline buffer encode_plan_part(const checkpoint::save_plan& plan, std::uint32_t rank) {
    wire_writer w(message_kind::plan_part);
    w.u32(plan.largest);
    w.u8(plan.per_rank_files ? 1 : 0);
    w.u32(static_cast<std::uint32_t>(plan.ranks.size()));
    const auto& items = plan.ranks[rank];
    w.u64(items.size());
    for (const auto& it : items) {
        w.u32(it.item);
        w.u32(it.file_index);
    }
    return std::move(w).take();
}

/// The plan as rank `rank` needs it: every rank's slot, its own filled.
inline result<checkpoint::save_plan> decode_plan_part(std::span<const std::byte> in, std::uint32_t rank, std::uint32_t from) {
    wire_reader r(in, message_kind::plan_part, from);
    checkpoint::save_plan plan;
    plan.largest = r.u32();
    plan.per_rank_files = r.u8() != 0;
    const std::uint32_t world = r.u32();
    if (r.ok() && rank >= world) r.fail("a plan for " + std::to_string(world) + " ranks sent to rank " + std::to_string(rank));
    const std::uint64_t n = r.count(8);
    if (r.ok()) plan.ranks.resize(world);
    for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
        checkpoint::planned_item it;
        it.item = r.u32();
        it.file_index = r.u32();
        plan.ranks[rank].push_back(it);
    }
    if (auto e = r.finish(); e.code() != errc::ok) return e;
    return plan;
}

/// What a rank wrote.
inline buffer encode_write_results(std::span<const checkpoint::write_result> results) {
    wire_writer w(message_kind::write_results);
    w.u64(results.size());
    for (const auto& x : results) {
        w.str(x.fqn);
        w.dims(x.offsets);
        w.str(x.file);
        w.u64(x.length);
    }
    return std::move(w).take();
}

inline result<std::vector<checkpoint::write_result>> decode_write_results(std::span<const std::byte> in, std::uint32_t from) {
    wire_reader r(in, message_kind::write_results, from);
    std::vector<checkpoint::write_result> out;
    const std::uint64_t n = r.count(8 + 4 + 8 + 8);
    out.reserve(static_cast<std::size_t>(n));
    for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
        checkpoint::write_result x;
        x.fqn = std::string(r.str());
        x.offsets = r.dims();
        x.file = std::string(r.str());
        x.length = r.u64();
        out.push_back(std::move(x));
    }
    if (auto e = r.finish(); e.code() != errc::ok) return e;
    return out;
}

/// A rank's part of a consolidation (its files and their tensors).
inline buffer encode_consolidation(const checkpoint::consolidation& c) {
    wire_writer w(message_kind::consolidation);
    w.u32(c.largest);
    w.u64(c.total_size);
    w.u64(c.files.size());
    for (const auto& f : c.files) {
        w.u32(f.index);
        w.str(f.name);
        w.u64(f.tensor_bytes);
        w.u64(f.tensors.size());
        for (const auto& t : f.tensors) w.str(t);
    }
    return std::move(w).take();
}

inline result<checkpoint::consolidation> decode_consolidation(std::span<const std::byte> in, std::uint32_t from) {
    wire_reader r(in, message_kind::consolidation, from);
    checkpoint::consolidation c;
    c.largest = r.u32();
    c.total_size = r.u64();
    const std::uint64_t n = r.count(4 + 8 + 8 + 8);
    for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
        checkpoint::consolidated_file f;
        f.index = r.u32();
        f.name = std::string(r.str());
        f.tensor_bytes = r.u64();
        const std::uint64_t k = r.count(8);
        for (std::uint64_t j = 0; j < k && r.ok(); ++j) f.tensors.emplace_back(r.str());
        c.files.push_back(std::move(f));
    }
    if (auto e = r.finish(); e.code() != errc::ok) return e;
    return c;
}

// ---- a load: the coordinator reads the headers and sends them -----------------------------

/// One tensor of a file's header, as sent.
struct tensor_description {
    std::string_view name;
    dtype type = dtype::F32;
    std::vector<std::uint64_t> shape;
    std::uint64_t begin = 0, end = 0;
};

/// One file of a checkpoint, as sent: enough to rebuild its header and sharding info without
/// reading it.
struct file_description {
    std::string_view name;
    std::uint64_t file_size = 0;
    std::uint64_t header_size = 0;     ///< N: the data section starts at 8 + N
    std::uint64_t trailing_bytes = 0;  ///< after the data, in a file accepted leniently
    std::vector<tensor_description> tensors;
    bool has_sharding_info = false;
    std::vector<std::vector<std::uint64_t>> saved_offsets;  ///< per tensor, with sharding info
    std::vector<std::uint8_t> has_global_shape;             ///< per tensor, with sharding info
    std::vector<std::vector<std::uint64_t>> global_shapes;  ///< per tensor, where recorded
};

/// A checkpoint's files, as sent (each rank finds them in its own view of the directory).
struct checkpoint_description {
    std::vector<file_description> files;
};

/// The headers and sharding info of an open checkpoint, compactly (no JSON).
template <io::byte_source Source>
buffer encode_checkpoint(const checkpoint::basic_checkpoint<Source>& cp) {
    wire_writer w(message_kind::checkpoint);
    w.u64(cp.files().size());
    for (const auto& f : cp.files()) {
        const header& h = f.reader.header();
        w.str(f.name);
        w.u64(f.reader.source().size());
        w.u64(h.header_size());
        w.u64(h.trailing_bytes());
        w.u8(f.has_sharding_info ? 1 : 0);
        w.u64(h.tensors().size());
        for (const auto& t : h.tensors()) {
            w.str(t.name);
            detail::put_dtype(w, t.dtype);
            w.dims(t.shape);
            w.u64(t.begin);
            w.u64(t.end);
            if (f.has_sharding_info) {
                const sharding_entry* e = f.sharding.find(t.name);  // every tensor has one (checked at open)
                w.dims(e ? e->saved_offsets : std::span<const std::uint64_t>());
                w.u8(e && e->has_global_shape ? 1 : 0);
                if (e && e->has_global_shape) w.dims(e->global_shape);
            }
        }
    }
    return std::move(w).take();
}

/// The checkpoint rank `from` described (names view `in`).
inline result<checkpoint_description> decode_checkpoint(std::span<const std::byte> in, std::uint32_t from) {
    wire_reader r(in, message_kind::checkpoint, from);
    checkpoint_description cp;
    const std::uint64_t nfiles = r.count(8 + 8 * 4 + 1 + 8);
    cp.files.reserve(static_cast<std::size_t>(nfiles));
    for (std::uint64_t i = 0; i < nfiles && r.ok(); ++i) {
        file_description f;
        f.name = r.str();
        f.file_size = r.u64();
        f.header_size = r.u64();
        f.trailing_bytes = r.u64();
        f.has_sharding_info = r.u8() != 0;
        const std::uint64_t nt = r.count(8 + 1 + 4 + 16);
        f.tensors.reserve(static_cast<std::size_t>(nt));
        for (std::uint64_t t = 0; t < nt && r.ok(); ++t) {
            tensor_description d;
            d.name = r.str();
            d.type = detail::get_dtype(r);
            d.shape = r.dims();
            d.begin = r.u64();
            d.end = r.u64();
            f.tensors.push_back(std::move(d));
            if (f.has_sharding_info) {
                f.saved_offsets.push_back(r.dims());
                f.has_global_shape.push_back(r.u8() != 0 ? 1 : 0);
                f.global_shapes.push_back(f.has_global_shape.back() ? r.dims() : std::vector<std::uint64_t>{});
            }
        }
        cp.files.push_back(std::move(f));
    }
    if (auto e = r.finish(); e.code() != errc::ok) return e;
    return cp;
}

}  // namespace safeshard::dist

#endif
