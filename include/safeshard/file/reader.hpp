// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_FILE_READER_HPP
#define SAFESHARD_FILE_READER_HPP

// Reading one safetensors file: open and validate (framing + header), O(1) lookup by name,
// raw bytes, zero-copy typed views where the source is mapped and the data aligned, and
// copies of any region into any `tensor_view`, converting per a dtype mapping policy.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/dtype_mapping.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/extents.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/detail/huge_pages.hpp>
#include <safeshard/detail/checked.hpp>
#include <safeshard/detail/thread_caches.hpp>
#include <safeshard/file/region_copy.hpp>
#include <safeshard/format/header.hpp>
#include <safeshard/format/parse.hpp>
#include <safeshard/io/concepts.hpp>
#include <safeshard/io/memory.hpp>
#include <safeshard/io/mmap_source.hpp>
#include <safeshard/io/pread_source.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace safeshard {

/// A tensor loaded for reading: a view that either points into the mapped file (zero copy)
/// or into memory this object owns (a copy: misaligned data, another dtype, an unmapped source).
template <class T, std::size_t R>
class loaded_tensor {
public:
    using view_type = tensor_view<const T, dextents<std::uint64_t, R>>;

    loaded_tensor() = default;
    const view_type& view() const noexcept { return view_; }
    /// Whether the view points into the file's mapping rather than into a copy.
    bool zero_copy() const noexcept { return !owned_.data() && view_.size() != 0; }

private:
    template <io::byte_source>
    friend class basic_file_reader;
    view_type view_;
    detail::memory_block owned_;
};

namespace detail {
/// From this header size on, a mapped header is mapped in with one call before it is parsed.
inline constexpr std::uint64_t populate_header_bytes = std::uint64_t{256} << 10;
}  // namespace detail

/// One safetensors file read through a `byte_source` policy (`io::mmap_source`,
/// `io::pread_source`, `io::memory_source`, or your own model of the concept).
template <io::byte_source Source>
class basic_file_reader {
public:
    using source_type = Source;

    /// An empty reader (no tensors), for assigning to later as in `open(path).get(reader)`.
    basic_file_reader() = default;

    /// Opens the file at `path` and validates it (Source must have `static open(path)`).
    static result<basic_file_reader> open(std::string_view path, const parse_options& opt = {})
        requires requires { { Source::open(path) } -> std::same_as<result<Source>>; }
    {
        auto src = Source::open(path);
        if (!src) return src.error();
        auto r = from_source(std::move(*src), opt);
        if (!r) return error_info(r.error()).default_file(path);
        return r;
    }

    /// Validates the file that `src` holds and keeps the source.
    static result<basic_file_reader> from_source(Source src, const parse_options& opt = {}) {
        const std::uint64_t size = src.size();
        std::array<std::byte, 8> prefix{};
        std::size_t have = size < 8 ? static_cast<std::size_t>(size) : 8;
        if (auto st = src.read(0, std::span(prefix).first(have)); !st) return st.error();
        auto frame = check_frame(std::span<const std::byte>(prefix).first(have), size, opt.limits);
        if (!frame) return error_info(frame.error()).default_file(src.path());
        const std::uint64_t n = *frame;
        thread_local detail::per_thread<header_parser> parser;
        auto parse = [&]() -> result<safeshard::header> {
            if constexpr (io::mappable_source<Source>) {
                // A large header is read through the mapping once, front to back: map it in
                // with one call rather than a fault per few pages (a hint; failure is harmless).
                if constexpr (requires { src.advise(0, n, io::advice::populate); })
                    if (n >= detail::populate_header_bytes) (void)src.advise(0, 8 + n, io::advice::populate);
                auto bytes = src.view(8, n);
                if (!bytes) return bytes.error();
                std::span<const char> json(reinterpret_cast<const char*>(bytes->data()), bytes->size());
                std::uint64_t slack = src.padding_after(8 + n);
                return parser.parse(json, size, opt, static_cast<std::size_t>(slack > 4096 ? 4096 : slack));
            } else {
                std::string json(static_cast<std::size_t>(n), '\0');
                if (auto st = src.read(8, std::as_writable_bytes(std::span(json.data(), json.size()))); !st)
                    return st.error();
                return parser.parse(json, size, opt, 0);
            }
        };
        auto h = parse();
        detail::trim_cache(parser);
        if (!h) return error_info(h.error()).default_file(src.path());
        return basic_file_reader(std::move(src), std::move(*h));
    }

    /// A reader of `src` whose header was parsed elsewhere (a coordinator read the file and sent
    /// its header): no bytes are read. The header must describe a file of `src`'s size.
    /// Errors: `errc::size_mismatch` naming the file when the sizes differ (the file changed).
    static result<basic_file_reader> from_header(Source src, safeshard::header h) {
        const std::uint64_t described = h.data_offset() + h.data_size() + h.trailing_bytes();
        if (described != src.size()) {
            char buf[112];
            std::snprintf(buf, sizeof buf, "the header describes %llu bytes, the file has %llu",
                          static_cast<unsigned long long>(described), static_cast<unsigned long long>(src.size()));
            return error_info(errc::size_mismatch).in_file(src.path()).with_detail(buf);
        }
        return basic_file_reader(std::move(src), std::move(h));
    }

    const safeshard::header& header() const noexcept { return header_; }
    std::span<const tensor_info> tensors() const noexcept { return header_.tensors(); }
    /// The tensor named `name`, or nullptr. O(1).
    const tensor_info* find(std::string_view name) const noexcept { return header_.find(name); }
    std::string_view path() const noexcept { return source_.path(); }
    const Source& source() const noexcept { return source_; }

    /// The tensor named `name`, or `errc::tensor_not_found` naming the file and tensor.
    result<const tensor_info*> info(std::string_view name) const {
        if (const tensor_info* t = find(name)) return t;
        return error_info(errc::tensor_not_found).in_file(path()).at_tensor(name);
    }

    /// Copies tensor `t`'s bytes (exactly `t.byte_size()` of them) into `dst`.
    status read_bytes(const tensor_info& t, std::span<std::byte> dst) const {
        if (dst.size() != t.byte_size()) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "buffer of %zu bytes for %llu", dst.size(),
                          static_cast<unsigned long long>(t.byte_size()));
            return error_info(errc::shape_mismatch).in_file(path()).at_tensor(t.name).with_detail(buf);
        }
        if (auto st = source_.read(header_.data_offset() + t.begin, dst); !st)
            return error_info(st.error()).default_file(path()).at_tensor(t.name);
        return {};
    }

    /// The tensor's bytes in place, without copying (mapped sources only).
    result<std::span<const std::byte>> bytes(const tensor_info& t) const
        requires io::mappable_source<Source>
    {
        auto v = source_.view(header_.data_offset() + t.begin, t.byte_size());
        if (!v) return error_info(v.error()).default_file(path()).at_tensor(t.name);
        return v;
    }

    /// Copies the whole tensor `name` into `dst`, whose extents must equal its shape. The
    /// dtype mapping decides, once, whether the file's dtype may fill `T` (and converts).
    template <class Mapping = dtype_map::exact, class T, class Extents, class Layout>
    status read(std::string_view name, tensor_view<T, Extents, Layout> dst) const {
        auto t = info(name);
        if (!t) return t.error();
        std::array<std::uint64_t, Extents::rank() ? Extents::rank() : 1> zeros{};
        return read_region<Mapping>(**t, std::span(zeros).first((*t)->rank() < zeros.size() ? (*t)->rank() : zeros.size()),
                                    (*t)->shape, dst);
    }

    /// Copies region [offsets, offsets + lengths) of tensor `name` into `dst`, whose extents
    /// must equal `lengths`. Any destination layout; runs contiguous on both sides are read
    /// in large blocks, straight into `dst` when no conversion is needed.
    template <class Mapping = dtype_map::exact, class T, class Extents, class Layout>
    status read_slice(std::string_view name, std::span<const std::uint64_t> offsets, std::span<const std::uint64_t> lengths,
                      tensor_view<T, Extents, Layout> dst) const {
        auto t = info(name);
        if (!t) return t.error();
        return read_region<Mapping>(**t, offsets, lengths, dst);
    }

    /// The same with the region as braced lists: `read_slice("w", {10, 0}, {4, 64}, view)`.
    template <class Mapping = dtype_map::exact, class T, class Extents, class Layout>
    status read_slice(std::string_view name, const std::array<std::uint64_t, Extents::rank()>& offsets,
                      const std::array<std::uint64_t, Extents::rank()>& lengths, tensor_view<T, Extents, Layout> dst) const {
        return read_slice<Mapping>(name, std::span<const std::uint64_t>(offsets), std::span<const std::uint64_t>(lengths), dst);
    }

    /// The same, for a tensor already looked up.
    template <class Mapping = dtype_map::exact, class T, class Extents, class Layout>
    status read_region(const tensor_info& t, std::span<const std::uint64_t> offsets, std::span<const std::uint64_t> lengths,
                       tensor_view<T, Extents, Layout> dst) const {
        static_assert(!std::is_const_v<T>, "read into a view of mutable elements: the destination is written.");
        static_assert(has_dtype<T>, "the destination's element type has no safetensors dtype: specialise "
                                    "safeshard::dtype_traits for it, or read raw bytes with read_bytes().");
        static_assert(dtype_mapping<Mapping, T>, "Mapping must model safeshard::dtype_mapping for this element type "
                                                 "(use dtype_map::exact or dtype_map::convert).");
        if (!Mapping::template accepts<T>(t.dtype)) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "file has %.*s, destination holds %.*s", static_cast<int>(name(t.dtype).size()),
                          name(t.dtype).data(), static_cast<int>(name(dtype_of<T>).size()), name(dtype_of<T>).data());
            return error_info(errc::dtype_mismatch).in_file(path()).at_tensor(t.name).with_detail(buf);
        }
        if (auto e = check_region(t, offsets, lengths, dst); e.code() != errc::ok) return e;
        constexpr std::size_t R = Extents::rank();
        std::array<std::int64_t, R ? R : 1> strides{};
        if constexpr (R > 0)
            for (std::size_t d = 0; d < R; ++d) strides[d] = static_cast<std::int64_t>(dst.stride(static_cast<typename Extents::rank_type>(d)));
        const detail::stored_box box{header_.data_offset() + t.begin, t.shape, offsets, lengths, byte_size(t.dtype)};
        detail::typed_target<Mapping, T> target{dst.data_handle(), t.dtype};
        if (auto e = detail::copy_box(source_, box, detail::box_destination{std::span(strides).first(R), 0}, target);
            e.code() != errc::ok)
            return e.default_file(path()).at_tensor(t.name);
        return {};
    }

    /// A zero-copy view of tensor `name` as `T` with rank `R`: mapped sources only, the dtype
    /// must be `T`'s and the data aligned for `T`; otherwise an error says why (use `load`).
    template <class T, std::size_t R>
    result<tensor_view<const T, dextents<std::uint64_t, R>>> view(std::string_view name) const
        requires io::mappable_source<Source>
    {
        auto t = info(name);
        if (!t) return t.error();
        if (auto e = check_load<dtype_map::exact, T, R>(**t); e.code() != errc::ok) return e;
        auto b = bytes(**t);
        if (!b) return b.error();
        if (reinterpret_cast<std::uintptr_t>(b->data()) % alignof(T) != 0)
            return error_info(errc::invalid_argument).in_file(path()).at_tensor(name).at_offset(header_.data_offset() + (*t)->begin)
                .with_detail("data not aligned for the element type; use load()");
        if (!bool_bytes_valid<T>(*b))
            return error_info(errc::invalid_argument).in_file(path()).at_tensor(name).at_offset(header_.data_offset() + (*t)->begin)
                .with_detail("BOOL bytes other than 0 and 1 cannot be viewed as bool; use load()");
        return make_view_of<T, R>(reinterpret_cast<const T*>(b->data()), **t);
    }

    /// Tensor `name` as a `T` view of rank `R`: zero copy when the source is mapped, the
    /// dtypes agree and the data is aligned; otherwise one copy into memory the result owns,
    /// allocated in huge pages. Exact dtypes; `load<Mapping, T, R>` converts.
    template <class T, std::size_t R>
    result<loaded_tensor<T, R>> load(std::string_view name) const {
        return load<dtype_map::exact, T, R>(name);
    }

    /// The same with a dtype mapping, first as in every read call: `load<dtype_map::convert,
    /// float, 2>(name)` loads a BF16 tensor as float (always a copy when the dtypes differ).
    template <class Mapping, class T, std::size_t R>
    result<loaded_tensor<T, R>> load(std::string_view name) const {
        auto t = info(name);
        if (!t) return t.error();
        if (auto e = check_load<Mapping, T, R>(**t); e.code() != errc::ok) return e;
        loaded_tensor<T, R> out;
        if constexpr (io::mappable_source<Source>) {
            if ((*t)->dtype == dtype_of<T>) {
                auto b = bytes(**t);
                if (!b) return b.error();
                if (reinterpret_cast<std::uintptr_t>(b->data()) % alignof(T) == 0 && bool_bytes_valid<T>(*b)) {
                    out.view_ = make_view_of<T, R>(reinterpret_cast<const T*>(b->data()), **t);
                    return out;
                }
            }
        }
        const std::uint64_t numel = (*t)->numel();
        if (numel > SIZE_MAX / sizeof(T)) return error_info(errc::size_overflow).in_file(path()).at_tensor(name);
        out.owned_ = detail::memory_block(static_cast<std::size_t>(numel * sizeof(T)));
        if (numel && !out.owned_.data())
            return error_info(errc::limit_exceeded).in_file(path()).at_tensor(name).with_detail("out of memory");
        T* data = reinterpret_cast<T*>(out.owned_.data());
        auto full = make_view_of<T, R>(data, **t);
        tensor_view<T, dextents<std::uint64_t, R>> dst(data, full.mapping());
        if (auto st = read<Mapping>(name, dst); !st) return st.error();
        out.view_ = full;
        return out;
    }

private:
    // A bool object may only hold 0 or 1; files may hold any byte in a BOOL tensor.
    template <class T>
    static bool bool_bytes_valid(std::span<const std::byte> bytes) noexcept {
        if constexpr (std::is_same_v<std::remove_cv_t<T>, bool>) {
            unsigned char any = 0;
            for (std::byte b : bytes) any |= static_cast<unsigned char>(b);
            return any <= 1;
        } else {
            (void)bytes;
            return true;
        }
    }

    basic_file_reader(Source src, safeshard::header h) : source_(std::move(src)), header_(std::move(h)) {}

    // Checks a region request against tensor `t` and the destination's extents.
    template <class View>
    error_info check_region(const tensor_info& t, std::span<const std::uint64_t> offsets,
                            std::span<const std::uint64_t> lengths, const View& dst) const {
        auto fail = [&](errc code, const char* text) {
            return error_info(code).in_file(path()).at_tensor(t.name).with_detail(text);
        };
        char buf[112];
        if (offsets.size() != t.rank() || lengths.size() != t.rank()) {
            std::snprintf(buf, sizeof buf, "region has rank %zu/%zu, tensor has rank %zu", offsets.size(), lengths.size(),
                          t.rank());
            return fail(errc::shape_mismatch, buf);
        }
        if (View::rank() != t.rank()) {
            std::snprintf(buf, sizeof buf, "destination has rank %zu, tensor has rank %zu",
                          static_cast<std::size_t>(View::rank()), t.rank());
            return fail(errc::shape_mismatch, buf);
        }
        for (std::size_t r = 0; r < t.rank(); ++r) {
            std::uint64_t end = 0;
            if (detail::add_overflow(offsets[r], lengths[r], end) || end > t.shape[r]) {
                std::snprintf(buf, sizeof buf, "dimension %zu: [%llu, %llu + %llu) outside extent %llu", r,
                              static_cast<unsigned long long>(offsets[r]), static_cast<unsigned long long>(offsets[r]),
                              static_cast<unsigned long long>(lengths[r]), static_cast<unsigned long long>(t.shape[r]));
                return fail(errc::out_of_bounds, buf);
            }
            const auto extent = static_cast<unsigned long long>(dst.extent(static_cast<typename View::rank_type>(r)));
            if (extent != lengths[r]) {
                std::snprintf(buf, sizeof buf, "dimension %zu: destination extent %llu, region length %llu", r, extent,
                              static_cast<unsigned long long>(lengths[r]));
                return fail(errc::shape_mismatch, buf);
            }
        }
        return {};
    }

    template <class Mapping, class T, std::size_t R>
    error_info check_load(const tensor_info& t) const {
        static_assert(has_dtype<T>, "the element type has no safetensors dtype: specialise safeshard::dtype_traits.");
        if (t.rank() != R) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "tensor has rank %zu, view has rank %zu", t.rank(), R);
            return error_info(errc::shape_mismatch).in_file(path()).at_tensor(t.name).with_detail(buf);
        }
        if (!Mapping::template accepts<T>(t.dtype)) {
            char buf[96];
            std::snprintf(buf, sizeof buf, "file has %.*s, view holds %.*s", static_cast<int>(name(t.dtype).size()),
                          name(t.dtype).data(), static_cast<int>(name(dtype_of<T>).size()), name(dtype_of<T>).data());
            return error_info(errc::dtype_mismatch).in_file(path()).at_tensor(t.name).with_detail(buf);
        }
        return {};
    }

    template <class T, std::size_t R, class P>
    static tensor_view<P, dextents<std::uint64_t, R>> make_view_of(P* p, const tensor_info& t) {
        std::array<std::uint64_t, R> ext{};
        for (std::size_t r = 0; r < R; ++r) ext[r] = t.shape[r];
        if constexpr (R == 0) return tensor_view<P, dextents<std::uint64_t, 0>>(p, dextents<std::uint64_t, 0>());
        else return tensor_view<P, dextents<std::uint64_t, R>>(p, ext);
    }

    Source source_;
    safeshard::header header_;
};

/// Reads through a read-only mapping: zero-copy `view`/`bytes`/`load`, and `pread` for copies.
using file_reader = basic_file_reader<io::mmap_source>;
/// Reads with `pread` only: no mapping (no SIGBUS if the file is truncated under it).
using pread_file_reader = basic_file_reader<io::pread_source>;
/// Reads a file held in memory.
using memory_reader = basic_file_reader<io::memory_source>;

/// Opens and validates a file held in memory. `name`, when given, appears in errors as the
/// file (it must outlive the reader).
inline result<memory_reader> open_memory(std::span<const std::byte> bytes, const parse_options& opt = {},
                                         std::string_view name = {}) {
    return memory_reader::from_source(io::memory_source(bytes, name), opt);
}

}  // namespace safeshard

#endif
