// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TESTS_SUPPORT_READER_HPP
#define SAFESHARD_TESTS_SUPPORT_READER_HPP

// What the reader suites share: files built in memory (canonical and hand-framed), references
// computed here from the bytes written (never from another read), the three reader kinds
// (memory, mapped, pread) and the error check every suite uses.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/dtype_mapping.hpp>
#include <safeshard/core/element_types.hpp>
#include <safeshard/core/error.hpp>
#include <safeshard/core/extents.hpp>
#include <safeshard/core/layout_stride.hpp>
#include <safeshard/core/subview.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/file/writer.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "files.hpp"

namespace safeshard::test {

// A zero-initialised array of any element type: std::vector<bool> has no data().
template <class T>
struct buffer {
    std::unique_ptr<T[]> p;
    std::size_t n;
    explicit buffer(std::size_t count) : p(std::make_unique<T[]>(count ? count : 1)), n(count) {}
    T* data() const { return p.get(); }
    std::span<const std::byte> bytes() const { return std::as_bytes(std::span<const T>(p.get(), n)); }
};

template <class T>
std::vector<std::byte> bytes_of(const std::vector<T>& v) {
    std::vector<std::byte> out(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
    return out;
}

// A file whose prefix says `n`, then `json` as it is, then `data`: for hostile and misaligned
// files, which the canonical writer would never produce.
inline std::vector<std::byte> raw_file(std::uint64_t n, std::string_view json, std::span<const std::byte> data = {}) {
    std::vector<std::byte> out(8);
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
    for (char c : json) out.push_back(static_cast<std::byte>(c));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}
inline std::vector<std::byte> raw_file(std::string_view json, std::span<const std::byte> data = {}) {
    return raw_file(json.size(), json, data);
}

// One tensor to write, owning its name, shape and bytes.
struct owned_tensor {
    std::string name;
    dtype type;
    std::vector<std::uint64_t> shape;
    std::vector<std::byte> data;
};

inline std::vector<std::byte> save(const std::vector<owned_tensor>& ts, std::span<const metadata_entry> meta = {}) {
    std::vector<tensor_entry> entries;
    for (const auto& t : ts) entries.push_back(tensor_entry{t.name, t.type, t.shape, t.data});
    auto bytes = save_to_memory(entries, meta);
    REQUIRE_MESSAGE(bytes.has_value(), bytes.error().to_string());
    return bytes ? std::move(*bytes) : std::vector<std::byte>{};
}

inline std::uint64_t numel_of(std::span<const std::uint64_t> shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

// Calls fn(idx) for every index below `lengths`, row-major (last index fastest); never when a
// length is 0; once, with an empty index, for rank 0.
template <std::size_t R, class Fn>
void for_each_index(const std::array<std::uint64_t, R>& lengths, Fn&& fn) {
    std::array<std::uint64_t, R> idx{};
    if constexpr (R == 0) {
        fn(idx);
    } else {
        for (auto l : lengths)
            if (l == 0) return;
        for (;;) {
            fn(idx);
            std::size_t r = R - 1;
            for (;;) {
                if (++idx[r] < lengths[r]) break;
                idx[r] = 0;
                if (r == 0) return;
                --r;
            }
        }
    }
}

// The row-major element index of `off + idx` in a tensor of `shape`.
template <std::size_t R>
std::uint64_t linear(std::span<const std::uint64_t> shape, const std::array<std::uint64_t, R>& off,
                     const std::array<std::uint64_t, R>& idx) {
    std::uint64_t lin = 0;
    for (std::size_t r = 0; r < R; ++r) lin = lin * shape[r] + off[r] + idx[r];
    return lin;
}

// The bytes of region (off, len) of a row-major tensor of `shape` and `esize`-byte elements,
// gathered element by element: the reference every region read is compared against.
template <std::size_t R>
std::vector<std::byte> gather(std::span<const std::byte> data, std::span<const std::uint64_t> shape, std::size_t esize,
                              const std::array<std::uint64_t, R>& off, const std::array<std::uint64_t, R>& len) {
    // Sized first and filled in place: GCC 12 at -O3 warns falsely on growing by insert here.
    std::size_t count = 1;
    for (auto l : len) count *= static_cast<std::size_t>(l);
    std::vector<std::byte> out(count * esize);
    std::size_t at = 0;
    for_each_index(len, [&](const std::array<std::uint64_t, R>& idx) {
        std::memcpy(out.data() + at, data.data() + linear(shape, off, idx) * esize, esize);
        at += esize;
    });
    return out;
}

// Checks an error's code and that it names `file` and `tensor` (an empty string: names none).
inline void check_error(const error_info& e, errc code, std::string_view file, std::string_view tensor) {
    CHECK(e.code() == code);
    CHECK(std::string_view(e.file()) == file);
    CHECK(std::string_view(e.tensor()) == tensor);
    const std::string text = e.to_string();
    if (!file.empty()) CHECK(text.rfind(std::string(file) + ": ", 0) == 0);
    if (!tensor.empty()) CHECK(text.find("tensor '" + std::string(tensor) + "'") != std::string::npos);
    CHECK(text.find(error_message(code)) != std::string::npos);
}

inline bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// Calls fn(std::type_identity<T>{}) with the element type of `d`; false for the packed
// sub-byte dtypes, which have none.
template <class Fn>
bool with_element_type(dtype d, Fn&& fn) {
    switch (d) {
        case dtype::BOOL: fn(std::type_identity<bool>{}); return true;
        case dtype::U8: fn(std::type_identity<std::uint8_t>{}); return true;
        case dtype::I8: fn(std::type_identity<std::int8_t>{}); return true;
        case dtype::F8_E5M2: fn(std::type_identity<f8_e5m2>{}); return true;
        case dtype::F8_E4M3: fn(std::type_identity<f8_e4m3>{}); return true;
        case dtype::F8_E8M0: fn(std::type_identity<f8_e8m0>{}); return true;
        case dtype::F8_E4M3FNUZ: fn(std::type_identity<f8_e4m3fnuz>{}); return true;
        case dtype::F8_E5M2FNUZ: fn(std::type_identity<f8_e5m2fnuz>{}); return true;
        case dtype::I16: fn(std::type_identity<std::int16_t>{}); return true;
        case dtype::U16: fn(std::type_identity<std::uint16_t>{}); return true;
        case dtype::F16: fn(std::type_identity<f16>{}); return true;
        case dtype::BF16: fn(std::type_identity<bf16>{}); return true;
        case dtype::I32: fn(std::type_identity<std::int32_t>{}); return true;
        case dtype::U32: fn(std::type_identity<std::uint32_t>{}); return true;
        case dtype::F32: fn(std::type_identity<float>{}); return true;
        case dtype::C64: fn(std::type_identity<std::complex<float>>{}); return true;
        case dtype::F64: fn(std::type_identity<double>{}); return true;
        case dtype::I64: fn(std::type_identity<std::int64_t>{}); return true;
        case dtype::U64: fn(std::type_identity<std::uint64_t>{}); return true;
        case dtype::F4: case dtype::F6_E2M3: case dtype::F6_E3M2: return false;
    }
    return false;
}

template <class Fn>
void with_rank(std::size_t rank, Fn&& fn) {
    switch (rank) {
        case 0: fn(std::integral_constant<std::size_t, 0>{}); break;
        case 1: fn(std::integral_constant<std::size_t, 1>{}); break;
        case 2: fn(std::integral_constant<std::size_t, 2>{}); break;
        case 3: fn(std::integral_constant<std::size_t, 3>{}); break;
        case 4: fn(std::integral_constant<std::size_t, 4>{}); break;
        case 5: fn(std::integral_constant<std::size_t, 5>{}); break;
        default: FAIL("rank " << rank);
    }
}

template <std::size_t R>
std::array<std::uint64_t, R> to_array(std::span<const std::uint64_t> s) {
    std::array<std::uint64_t, R> a{};
    for (std::size_t r = 0; r < R; ++r) a[r] = s[r];
    return a;
}

template <class T, std::size_t R>
using dview = tensor_view<T, dextents<std::uint64_t, R>>;
template <class T, std::size_t R>
using sview = tensor_view<T, dextents<std::uint64_t, R>, layout_stride>;

// ---- the three readers ---------------------------------------------------------------------

struct memory_kind {
    using reader = memory_reader;
    static constexpr bool on_disk = false;
    static constexpr bool mapped = true;  // has view(), and load() can be zero-copy
};
struct mmap_kind {
    using reader = file_reader;
    static constexpr bool on_disk = true;
    static constexpr bool mapped = true;
};
struct pread_kind {
    using reader = pread_file_reader;
    static constexpr bool on_disk = true;
    static constexpr bool mapped = false;
};

// Opens `bytes` with reader kind K: from a file in `dir` or from memory. Keeps the memory
// reader's bytes (8-aligned, as a real loader's buffer would be) and the path errors name.
template <class K>
struct opener {
    std::vector<std::uint64_t> storage;
    std::string path;  // empty for memory: open_memory takes no name

    result<typename K::reader> open(const temp_dir& dir, std::span<const std::byte> bytes, std::string_view name,
                                    const parse_options& opt = {}) {
        if constexpr (K::on_disk) {
            path = dir / name;
            write_file(path, bytes);
            return K::reader::open(path, opt);
        } else {
            storage.assign(bytes.size() / 8 + 1, 0);
            if (!bytes.empty()) std::memcpy(storage.data(), bytes.data(), bytes.size());
            return open_memory(std::span<const std::byte>(reinterpret_cast<const std::byte*>(storage.data()), bytes.size()),
                               opt);
        }
    }
};

// An open reader of kind K over `bytes`. Not movable: the memory reader points into it.
template <class K>
struct opened {
    opener<K> o;
    std::optional<typename K::reader> r;

    opened(const temp_dir& dir, std::span<const std::byte> bytes, std::string_view name = "t.safetensors") {
        auto x = o.open(dir, bytes, name);
        REQUIRE_MESSAGE(x.has_value(), x.error().to_string());
        if (x) r.emplace(std::move(*x));
    }
    opened(const opened&) = delete;
    opened& operator=(const opened&) = delete;

    const typename K::reader* operator->() const { return &*r; }
    const typename K::reader& operator*() const { return *r; }
    const std::string& path() const { return o.path; }

    // The first byte of the file in the reader's address space (mapped kinds only).
    const std::byte* base() const {
        if constexpr (std::is_same_v<K, memory_kind>) return reinterpret_cast<const std::byte*>(o.storage.data());
        else return r->source().data();
    }
    // Where tensor `name`'s bytes lie in that address space.
    const std::byte* address_of(std::string_view name) const {
        const tensor_info* t = r->find(name);
        REQUIRE(t != nullptr);
        return base() + r->header().data_offset() + t->begin;
    }
};

template <class Reader>
concept has_view = requires(const Reader& r) { r.template view<float, 1>(std::string_view{}); };
static_assert(has_view<memory_reader> && has_view<file_reader>);
static_assert(!has_view<pread_file_reader>, "a pread reader has no mapping to view");

// A small file used by several cases.
inline std::vector<owned_tensor> small_tensors() {
    std::vector<float> w(24), s = {-2.5f};
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 1.25f - 7.0f;
    std::vector<double> d = {0.1, -1e300, 42.0};
    std::vector<std::int64_t> i64 = {-1, 1, std::numeric_limits<std::int64_t>::min(), 7, 1 << 30};
    return {
        {"w", dtype::F32, {4, 6}, bytes_of(w)},
        {"d", dtype::F64, {3}, bytes_of(d)},
        {"b", dtype::U8, {5}, pattern(5, 1)},
        {"s", dtype::F32, {}, bytes_of(s)},
        {"e", dtype::F32, {3, 0, 4}, {}},
        {"i", dtype::I64, {5}, bytes_of(i64)},
        {"\xc3\xa9.weight", dtype::BF16, {2, 2}, pattern(8, 2)},
    };
}

inline const owned_tensor& by_name(const std::vector<owned_tensor>& ts, std::string_view name) {
    for (const auto& t : ts)
        if (t.name == name) return t;
    FAIL("no tensor " << std::string(name));
    return ts.front();
}

// A file whose data section starts at 8 + N with N = 1 (mod 8), as PyTorch's consolidation
// writes them: every multi-byte tensor in it is misaligned for its element type.
inline std::vector<std::byte> misaligned_file(std::uint64_t* data_offset = nullptr) {
    std::string json = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}, )"
                       R"("d":{"dtype":"F64","shape":[2],"data_offsets":[24,40]}, )"
                       R"("b":{"dtype":"U8","shape":[3],"data_offsets":[40,43]}})";
    while (json.size() % 8 != 1) json.push_back(' ');
    std::vector<float> w = {1.5f, -2.0f, 3.25f, 4.0f, 1e-3f, -0.0f};
    std::vector<double> d = {1.0 / 3.0, -7.5};
    std::vector<std::byte> data = bytes_of(w);
    auto db = bytes_of(d);
    data.insert(data.end(), db.begin(), db.end());
    data.push_back(std::byte{10});
    data.push_back(std::byte{20});
    data.push_back(std::byte{30});
    if (data_offset) *data_offset = 8 + json.size();
    return raw_file(json, data);
}

// F16 to float from the format's definition (1 sign, 5 exponent bits biased by 15, 10 mantissa
// bits; exponent 0 subnormal, 31 Inf/NaN).
inline float ref_f16(std::uint16_t h) {
    const bool neg = (h >> 15) != 0;
    const int e = (h >> 10) & 31;
    const int m = h & 1023;
    float v;
    if (e == 31) v = m ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
    else if (e == 0) v = std::ldexp(static_cast<float>(m), -24);
    else v = std::ldexp(static_cast<float>(1024 + m), e - 25);
    return neg ? -v : v;
}


// Element `lin` of the region tests' tensors, and a value none of them holds.
template <class T>
T value_at(std::uint64_t lin, std::uint64_t salt) {
    if constexpr (std::is_same_v<T, double>) return static_cast<double>(lin) * 0.5 + static_cast<double>(salt);
    else return static_cast<T>((lin * 2654435761u) ^ salt);
}
template <class T>
T sentinel_of() {
    if constexpr (std::is_same_v<T, double>) return -1.0;  // values are never negative
    else return std::numeric_limits<T>::min() + 12345;
}

// Compares `got(i, j)` for every index of a `rows` x `cols` region against want(i, j).
template <class View, class Want>
std::size_t mismatches(const View& got, std::uint64_t rows, std::uint64_t cols, Want&& want) {
    std::size_t wrong = 0;
    for (std::uint64_t i = 0; i < rows; ++i)
        for (std::uint64_t j = 0; j < cols; ++j) wrong += got(i, j) == want(i, j) ? 0 : 1;
    return wrong;
}

// A tensor name with JSON escapes and multi-byte UTF-8 in it.
inline std::string random_name(std::mt19937_64& rng) {
    // Pieces that need JSON escapes and multi-byte UTF-8 as well as the usual characters.
    static const char* const pieces[] = {"a", "b", "z", "Z", "0", "9", ".", "_", "-", "/", " ", "\"", "\\", "\n",
                                         "\t", "\x01", "\x1f", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                         "weight", "layers."};
    std::string s;
    const std::size_t n = 1 + rng() % 10;
    for (std::size_t i = 0; i < n; ++i) s += pieces[rng() % std::size(pieces)];
    return s;
}

// A shape of rank 0 to 5 with at most 6000 elements, whole bytes for dtype `d`.
inline std::vector<std::uint64_t> random_shape(std::mt19937_64& rng, dtype d) {
    for (;;) {
        std::vector<std::uint64_t> shape(rng() % 6);
        for (auto& x : shape) {
            const auto p = rng() % 20;
            x = p == 0 ? 0 : p < 3 ? 5 + rng() % 12 : 1 + rng() % 4;
        }
        const std::uint64_t n = numel_of(shape);
        if (n > 6000) continue;
        if ((n * bits(d)) % 8 != 0) continue;  // packed dtypes must fill whole bytes
        return shape;
    }
}

}  // namespace safeshard::test

#endif
