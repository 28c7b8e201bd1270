// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FILE_WRITER_HPP
#define SAFESHARD_FILE_WRITER_HPP

// Writing one safetensors file in the canonical layout. The header needs every tensor's
// name, dtype and shape first; the data then streams in canonical order, in pieces of any size,
// so the whole file never has to be in memory. `save_file` commits atomically.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/layout_right.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/format/emit.hpp>
#include <safeshard/io/atomic_file.hpp>
#include <safeshard/io/concepts.hpp>
#include <safeshard/io/memory.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace safeshard {

/// A tensor to save with its bytes (little-endian, row-major, packed for sub-byte dtypes).
/// The name and data are borrowed: they must outlive the call that writes them.
struct tensor_entry {
    std::string_view name;
    safeshard::dtype dtype = safeshard::dtype::F32;
    std::vector<std::uint64_t> shape;
    std::span<const std::byte> data;
};

/// The entry of a contiguous row-major view: its dtype from the element type, its shape from
/// the extents, its bytes borrowed.
template <class T, class Extents>
    requires has_dtype<T>
tensor_entry entry_of(std::string_view name, tensor_view<T, Extents, layout_right> v) {
    tensor_entry e{name, dtype_of<T>, {}, {}};
    e.shape.reserve(Extents::rank());
    for (std::size_t r = 0; r < Extents::rank(); ++r) e.shape.push_back(static_cast<std::uint64_t>(v.extent(r)));
    e.data = std::as_bytes(std::span<const std::remove_const_t<T>>(v.data_handle(), v.size()));
    return e;
}

/// Streams one file into a `byte_sink`: `start` writes the header, then `write` takes each
/// tensor's bytes in data order (`next()` says which), in as many pieces as the caller likes;
/// `finish` checks that every byte came and, for a committing sink, commits.
template <io::byte_sink Sink>
class basic_file_writer {
public:
    /// Creates the file at `path` (for sinks made from a path, as `io::atomic_file_sink` is),
    /// lays out `specs` and writes the header: `file_writer::create("out.safetensors", specs)`.
    static result<basic_file_writer> create(std::string_view path, std::span<const tensor_spec> specs,
                                            std::span<const metadata_entry> metadata = {})
        requires requires { { Sink::create(path) } -> std::same_as<result<Sink>>; }
    {
        auto sink = Sink::create(path);
        if (!sink) return sink.error();
        auto w = start(std::move(*sink), specs, metadata);
        if (!w) return error_info(w.error()).default_file(path);
        return w;
    }

    /// Lays out `specs` and writes the header into `sink`. Names and shapes are copied.
    static result<basic_file_writer> start(Sink sink, std::span<const tensor_spec> specs,
                                           std::span<const metadata_entry> metadata = {}) {
        basic_file_writer w(std::move(sink));
        std::size_t name_bytes = 0, dims = 0;
        for (const auto& s : specs) {
            name_bytes += s.name.size();
            dims += s.shape.size();
        }
        w.names_.reserve(name_bytes);  // views point into it: it must never reallocate
        w.dims_.reserve(dims);
        w.specs_.reserve(specs.size());
        for (const auto& s : specs) {
            w.names_.insert(w.names_.end(), s.name.begin(), s.name.end());
            w.dims_.insert(w.dims_.end(), s.shape.begin(), s.shape.end());
            w.specs_.push_back(tensor_spec{std::string_view(w.names_.data() + w.names_.size() - s.name.size(), s.name.size()), s.dtype,
                                           std::span<const std::uint64_t>(w.dims_.data() + w.dims_.size() - s.shape.size(),
                                                                          s.shape.size())});
        }
        auto layout = emit_header(w.specs_, metadata);
        if (!layout) return layout.error();
        w.layout_ = std::move(*layout);
        if (auto st = w.sink_.write(std::as_bytes(std::span(w.layout_.bytes))); !st) return st.error();
        w.skip_empty();
        return w;
    }

    /// The tensor whose bytes come next, or nullptr when all have been written.
    const tensor_spec* next() const noexcept {
        return cursor_ < layout_.order.size() ? &specs_[layout_.order[cursor_]] : nullptr;
    }

    /// Appends `bytes` to tensor `name`, which must be `next()`; a piece may not run past the
    /// tensor's end. Moves on to the next tensor once this one is complete.
    status write(std::string_view name, std::span<const std::byte> bytes) {
        const tensor_spec* cur = next();
        if (!cur) return error_info(errc::invalid_argument).at_tensor(name).with_detail("every tensor is already written");
        if (cur->name != name)
            return error_info(errc::invalid_argument).at_tensor(name).with_detail("not the next tensor in data order");
        std::uint64_t total = layout_.size[layout_.order[cursor_]];
        if (bytes.size() > total - done_)
            return error_info(errc::size_mismatch).at_tensor(name).with_detail("more bytes than the tensor holds");
        if (auto st = sink_.write(bytes); !st) return error_info(st.error()).at_tensor(name);
        done_ += bytes.size();
        if (done_ == total) {
            ++cursor_;
            done_ = 0;
            skip_empty();
        }
        return {};
    }

    /// Checks that every tensor is complete, then commits when the sink commits.
    status finish() {
        if (const tensor_spec* cur = next())
            return error_info(errc::size_mismatch).at_tensor(cur->name).with_detail("tensor data not fully written");
        if constexpr (io::committing_sink<Sink>) return sink_.commit();
        return {};
    }

    const header_layout& layout() const noexcept { return layout_; }
    std::span<const tensor_spec> specs() const noexcept { return specs_; }
    Sink& sink() noexcept { return sink_; }

    basic_file_writer(basic_file_writer&&) noexcept = default;
    basic_file_writer& operator=(basic_file_writer&&) noexcept = default;

private:
    explicit basic_file_writer(Sink sink) : sink_(std::move(sink)) {}
    void skip_empty() noexcept {
        while (cursor_ < layout_.order.size() && layout_.size[layout_.order[cursor_]] == 0) ++cursor_;
    }

    Sink sink_;
    std::vector<char> names_;  // not std::string: a short string's buffer moves with it
    std::vector<std::uint64_t> dims_;
    std::vector<tensor_spec> specs_;
    header_layout layout_;
    std::size_t cursor_ = 0;
    std::uint64_t done_ = 0;
};

/// Streams a file to a path, committed atomically by `finish()`: the writing twin of
/// `file_reader`. `file_writer::create(path, specs)`, then `write` each tensor's bytes.
using file_writer = basic_file_writer<io::atomic_file_sink>;

namespace detail {
template <io::byte_sink Sink>
status write_entries(Sink sink, std::span<const tensor_entry> entries, std::span<const metadata_entry> metadata) {
    std::vector<tensor_spec> specs;
    specs.reserve(entries.size());
    for (const auto& e : entries) specs.push_back(tensor_spec{e.name, e.dtype, e.shape});
    auto w = basic_file_writer<Sink>::start(std::move(sink), specs, metadata);
    if (!w) return w.error();
    for (std::uint32_t i : w->layout().order) {
        const auto& e = entries[i];
        if (e.data.size() != w->layout().size[i]) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "%zu bytes given, dtype and shape need %llu", e.data.size(),
                          static_cast<unsigned long long>(w->layout().size[i]));
            return error_info(errc::size_mismatch).at_tensor(e.name).with_detail(buf);
        }
        if (e.data.empty()) continue;
        if (auto st = w->write(e.name, e.data); !st) return st;
    }
    return w->finish();
}
}  // namespace detail

/// Writes `entries` to `path` in the canonical layout, atomically: the file appears complete
/// under its name or not at all, and an existing file there is replaced only on success.
inline status save_file(std::string_view path, std::span<const tensor_entry> entries,
                        std::span<const metadata_entry> metadata = {}) {
    auto sink = io::atomic_file_sink::create(path);
    if (!sink) return sink.error();
    status st = detail::write_entries(std::move(*sink), entries, metadata);
    if (!st) return error_info(st.error()).default_file(path);
    return st;
}

/// The bytes of a canonical file holding `entries`.
inline result<std::vector<std::byte>> save_to_memory(std::span<const tensor_entry> entries,
                                                     std::span<const metadata_entry> metadata = {}) {
    std::vector<std::byte> out;
    if (auto st = detail::write_entries(io::memory_sink(out), entries, metadata); !st) return st.error();
    return out;
}

}  // namespace safeshard

#endif
