// SPDX-License-Identifier: MIT
// The reader, run the same way over its three sources: a file held in memory (`open_memory`,
// whose copies take the direct path through addressable bytes), a mapped file (`file_reader`,
// whose copies go through pread: long runs straight into the destination, short runs gathered
// in windows) and a pread-only file (`pread_file_reader`). Every value read is checked against
// values computed here from the bytes the test wrote, never against another read.

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
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/files.hpp"


namespace {

using namespace safeshard;
using namespace safeshard::test;

// ---- helpers -------------------------------------------------------------------------------

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
std::vector<std::byte> raw_file(std::uint64_t n, std::string_view json, std::span<const std::byte> data = {}) {
    std::vector<std::byte> out(8);
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
    for (char c : json) out.push_back(static_cast<std::byte>(c));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}
std::vector<std::byte> raw_file(std::string_view json, std::span<const std::byte> data = {}) {
    return raw_file(json.size(), json, data);
}

// One tensor to write, owning its name, shape and bytes.
struct owned_tensor {
    std::string name;
    dtype type;
    std::vector<std::uint64_t> shape;
    std::vector<std::byte> data;
};

std::vector<std::byte> save(const std::vector<owned_tensor>& ts, std::span<const metadata_entry> meta = {}) {
    std::vector<tensor_entry> entries;
    for (const auto& t : ts) entries.push_back(tensor_entry{t.name, t.type, t.shape, t.data});
    auto bytes = save_to_memory(entries, meta);
    REQUIRE_MESSAGE(bytes.has_value(), bytes.error().to_string());
    return bytes ? std::move(*bytes) : std::vector<std::byte>{};
}

std::uint64_t numel_of(std::span<const std::uint64_t> shape) {
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
void check_error(const error_info& e, errc code, std::string_view file, std::string_view tensor) {
    CHECK(e.code == code);
    CHECK(std::string_view(e.file) == file);
    CHECK(std::string_view(e.tensor) == tensor);
    const std::string text = e.to_string();
    if (!file.empty()) CHECK(text.rfind(std::string(file) + ": ", 0) == 0);
    if (!tensor.empty()) CHECK(text.find("tensor '" + std::string(tensor) + "'") != std::string::npos);
    CHECK(text.find(error_message(code)) != std::string::npos);
}

bool contains(const char* text, std::string_view part) { return std::string_view(text).find(part) != std::string_view::npos; }

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
std::vector<owned_tensor> small_tensors() {
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

const owned_tensor& by_name(const std::vector<owned_tensor>& ts, std::string_view name) {
    for (const auto& t : ts)
        if (t.name == name) return t;
    FAIL("no tensor " << std::string(name));
    return ts.front();
}

// A file whose data section starts at 8 + N with N = 1 (mod 8), as PyTorch's consolidation
// writes them: every multi-byte tensor in it is misaligned for its element type.
std::vector<std::byte> misaligned_file(std::uint64_t* data_offset = nullptr) {
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
float ref_f16(std::uint16_t h) {
    const bool neg = (h >> 15) != 0;
    const int e = (h >> 10) & 31;
    const int m = h & 1023;
    float v;
    if (e == 31) v = m ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
    else if (e == 0) v = std::ldexp(static_cast<float>(m), -24);
    else v = std::ldexp(static_cast<float>(1024 + m), e - 25);
    return neg ? -v : v;
}

}  // namespace

TEST_SUITE("reader") {

// ---- opening -------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("open: bad files are errors that name the file", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    const auto one = pattern(1, 1), two = pattern(2, 2), three = pattern(3, 3), four = pattern(4, 4);
    const std::string u8a = R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
    struct hostile {
        const char* what;
        std::vector<std::byte> bytes;
        errc code;
        const char* tensor;
    };
    const std::vector<hostile> cases = {
        {"empty", {}, errc::file_too_small, ""},
        {"5 bytes", pattern(5, 9), errc::file_too_small, ""},
        {"N = 0", raw_file(0, "{}"), errc::header_length_zero, ""},
        {"N past the end", raw_file(100, "{}"), errc::header_past_end, ""},
        {"N over the limit", raw_file(100'000'001, "{}"), errc::header_too_large, ""},
        {"not an object", raw_file("[]"), errc::header_not_object, ""},
        {"not JSON", raw_file("{"), errc::header_not_json, ""},
        {"not UTF-8", raw_file("{\"\xff\":{}}"), errc::header_not_utf8, ""},
        {"a tensor entry that is not an object", raw_file(R"({"a":5})"), errc::tensor_not_object, "a"},
        {"missing data_offsets", raw_file(R"({"a":{"dtype":"U8","shape":[1]}})", one), errc::missing_field, "a"},
        {"unknown dtype", raw_file(R"({"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", four),
         errc::unknown_dtype, "a"},
        {"byte length against dtype and shape",
         raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", four), errc::size_mismatch, "a"},
        {"F4 of odd length", raw_file(R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", two),
         errc::sub_byte_unaligned, "a"},
        {"duplicate names",
         raw_file("{" + u8a + R"(,"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", two),
         errc::duplicate_tensor, "a"},
        {"a gap", raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", two), errc::data_gap, "a"},
        {"an overlap",
         raw_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                  three),
         errc::data_overlap, "b"},
        {"data past the end", raw_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", two),
         errc::data_past_end, "a"},
        {"trailing bytes", raw_file("{" + u8a + "}", three), errc::trailing_bytes, ""},
        {"__metadata__ of numbers", raw_file(R"({"__metadata__":{"k":1}})"), errc::metadata_not_map, ""},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        CAPTURE(cases[i].what);
        opener<K> o;
        auto r = o.open(dir, cases[i].bytes, "hostile-" + std::to_string(i) + ".safetensors");
        REQUIRE_FALSE(r.has_value());
        check_error(r.error(), cases[i].code, o.path, cases[i].tensor);
    }

    SUBCASE("byte offsets point at the problem") {
        opener<K> o;
        const std::string gap_json = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
        auto gap = o.open(dir, raw_file(gap_json, two), "gap.safetensors");
        REQUIRE_FALSE(gap.has_value());
        CHECK(gap.error().offset == 8 + gap_json.size() + 1);  // the data section starts at 8 + N; "a" at 1
        auto trailing = o.open(dir, raw_file("{" + u8a + "}", three), "trailing.safetensors");
        REQUIRE_FALSE(trailing.has_value());
        CHECK(trailing.error().offset == 8 + u8a.size() + 2 + 1);
        CHECK(contains(trailing.error().detail, "2 bytes"));
    }
    SUBCASE("trailing bytes are accepted when the caller asks") {
        parse_options opt;
        opt.validation = validation::allow_trailing_bytes;
        opener<K> o;
        auto r = o.open(dir, raw_file("{" + u8a + "}", three), "lenient.safetensors", opt);
        REQUIRE(r.has_value());
        CHECK(r->header().trailing_bytes() == 2);
        std::uint8_t v = 0;
        REQUIRE(r->read("a", make_view<std::uint64_t>(&v, 1)).ok());
        CHECK(v == static_cast<std::uint8_t>(three[0]));
    }
    if constexpr (K::on_disk) {
        SUBCASE("a missing file: io_error naming it") {
            const std::string path = dir / "missing.safetensors";
            auto r = K::reader::open(path);
            REQUIRE_FALSE(r.has_value());
            check_error(r.error(), errc::io_error, path, "");
            CHECK(std::string_view(r.error().detail).substr(0, 5) == "open:");
        }
        SUBCASE("a directory: invalid_argument naming it") {
            auto r = K::reader::open(dir.path);
            REQUIRE_FALSE(r.has_value());
            check_error(r.error(), errc::invalid_argument, dir.path, "");
        }
    }
}

TEST_CASE("open_memory: a memory_source given a name has its errors name it") {
    // open_memory itself takes no name, so its errors name no file; from_source with a named
    // memory_source does.
    const auto bytes = raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", pattern(2, 1));
    auto unnamed = open_memory(bytes);
    REQUIRE_FALSE(unnamed.has_value());
    check_error(unnamed.error(), errc::data_gap, "", "a");
    auto named = memory_reader::from_source(io::memory_source(bytes, "net://model.safetensors"));
    REQUIRE_FALSE(named.has_value());
    check_error(named.error(), errc::data_gap, "net://model.safetensors", "a");

    const auto good = save(small_tensors());
    auto r = memory_reader::from_source(io::memory_source(good, "net://model.safetensors"));
    REQUIRE(r.has_value());
    CHECK(r->path() == "net://model.safetensors");
    float f[24];
    check_error(r->read("nope", make_view<std::uint64_t>(f, 24)).error(), errc::tensor_not_found, "net://model.safetensors",
                "nope");
}

// ---- lookup and raw bytes ------------------------------------------------------------------

TEST_CASE_TEMPLATE("find, info and tensor_not_found", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    const auto ts = small_tensors();
    const auto bytes = save(ts);
    opened<K> r(dir, bytes);
    CHECK(r->path() == r.path());
    CHECK(r->tensors().size() == ts.size());
    CHECK(r->header().data_offset() % 8 == 0);
    std::uint64_t total = 0;
    for (const auto& t : ts) {
        CAPTURE(t.name);
        const tensor_info* info = r->find(t.name);
        REQUIRE(info != nullptr);
        CHECK(info->name == t.name);
        CHECK(info->dtype == t.type);
        CHECK(std::vector<std::uint64_t>(info->shape.begin(), info->shape.end()) == t.shape);
        CHECK(info->byte_size() == t.data.size());
        auto again = r->info(t.name);
        REQUIRE(again.has_value());
        CHECK(*again == info);
        total += t.data.size();
    }
    CHECK(r->header().data_size() == total);
    CHECK(r->header().data_offset() + total == bytes.size());

    CHECK(r->find("nope") == nullptr);
    CHECK(r->find("") == nullptr);
    CHECK(r->find("w ") == nullptr);
    auto missing = r->info("nope");
    REQUIRE_FALSE(missing.has_value());
    check_error(missing.error(), errc::tensor_not_found, r.path(), "nope");
}

TEST_CASE_TEMPLATE("read_bytes: each tensor's exact bytes", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    const auto ts = small_tensors();
    opened<K> r(dir, save(ts));
    for (const auto& t : ts) {
        CAPTURE(t.name);
        const tensor_info* info = r->find(t.name);
        REQUIRE(info != nullptr);
        std::vector<std::byte> back(t.data.size(), std::byte{0xee});
        REQUIRE(r->read_bytes(*info, back).ok());
        CHECK(same_bytes(back, t.data));
        if constexpr (K::mapped) {
            auto in_place = r->bytes(*info);
            REQUIRE(in_place.has_value());
            CHECK(same_bytes(*in_place, t.data));
            if (!t.data.empty()) CHECK(in_place->data() == r.address_of(t.name));
        }
    }
    const tensor_info* w = r->find("w");
    REQUIRE(w != nullptr);
    std::vector<std::byte> small(95, std::byte{0xee});
    status st = r->read_bytes(*w, small);
    check_error(st.error(), errc::shape_mismatch, r.path(), "w");
    CHECK(contains(st.error().detail, "buffer of 95 bytes for 96"));
    CHECK(std::all_of(small.begin(), small.end(), [](std::byte b) { return b == std::byte{0xee}; }));
}

// ---- whole tensors -------------------------------------------------------------------------

TEST_CASE_TEMPLATE("read: whole tensors of every dtype with an element type", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    std::vector<owned_tensor> ts;
    for (dtype d : all_dtypes) {
        // 3 × 4 elements: whole bytes for F4 (6) and F6 (9) too.
        std::vector<std::byte> data = pattern(12 * bits(d) / 8, index_of(d) + 100);
        if (d == dtype::BOOL)
            for (auto& b : data) b &= std::byte{1};
        ts.push_back({std::string(name(d)), d, {3, 4}, std::move(data)});
    }
    // BOOL bytes other than 0 and 1 are allowed in a file; a bool must still come out 0 or 1.
    ts.push_back({"bool_any", dtype::BOOL, {6}, {std::byte{0}, std::byte{1}, std::byte{2}, std::byte{0x80}, std::byte{0xff}, std::byte{0}}});
    opened<K> r(dir, save(ts));

    std::size_t typed = 0;
    for (const auto& t : ts) {
        if (t.name == "bool_any") continue;
        CAPTURE(t.name);
        const bool has_type = with_element_type(t.type, [&]<class T>(std::type_identity<T>) {
            CHECK(dtype_of<T> == t.type);
            buffer<T> out(12);
            if constexpr (!std::is_same_v<T, bool>) std::memset(static_cast<void*>(out.data()), 0xa5, 12 * sizeof(T));
            REQUIRE(r->read(t.name, dview<T, 2>(out.data(), std::array<std::uint64_t, 2>{3, 4})).ok());
            CHECK(same_bytes(out.bytes(), t.data));
            ++typed;
        });
        if (!has_type) {
            // Packed sub-byte dtypes: raw bytes only.
            std::vector<std::byte> raw(t.data.size());
            REQUIRE(r->read_bytes(*r->find(t.name), raw).ok());
            CHECK(same_bytes(raw, t.data));
        }
    }
    CHECK(typed == 19);

    bool flags[6];
    std::memset(flags, 0x55, sizeof flags);  // not a valid bool: each must be overwritten
    REQUIRE(r->read("bool_any", make_view<std::uint64_t>(flags, 6)).ok());
    unsigned char raw[6];
    std::memcpy(raw, flags, sizeof raw);
    const unsigned char want[6] = {0, 1, 1, 1, 1, 0};
    CHECK(std::memcmp(raw, want, 6) == 0);
}

// ---- regions -------------------------------------------------------------------------------

namespace {

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

// Random regions of tensor `name` (shape `shape`, element i holding value_at<T>(i, salt)) read
// into three kinds of destination: packed row-major; a subview of a bigger row-major buffer
// (padding on every side); and a layout_stride view whose dimensions are laid out in a random
// order with gaps. Each read must write every element of the region and nothing else.
template <class T, std::size_t R, class Reader>
void check_random_regions(const Reader& r, const std::string& name, const std::array<std::uint64_t, R>& shape,
                          std::uint64_t salt, std::mt19937_64& rng, int rounds) {
    auto uni = [&](std::uint64_t lo, std::uint64_t hi) { return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng); };
    const T sentinel = sentinel_of<T>();
    {  // read(): the whole tensor
        std::vector<T> all(numel_of(shape), sentinel);
        REQUIRE(r.read(name, dview<T, R>(all.data(), shape)).ok());
        std::size_t wrong = 0;
        for (std::uint64_t i = 0; i < all.size(); ++i) wrong += all[i] == value_at<T>(i, salt) ? 0 : 1;
        CHECK(wrong == 0);
    }
    for (int round = 0; round < rounds; ++round) {
        std::array<std::uint64_t, R> off{}, len{};
        const bool may_be_empty = rng() % 6 == 0;
        for (std::size_t d = 0; d < R; ++d) {
            if (may_be_empty && rng() % 2) {
                off[d] = uni(0, shape[d]);
                len[d] = uni(0, shape[d] - off[d]);
            } else {
                off[d] = uni(0, shape[d] - 1);
                len[d] = uni(1, shape[d] - off[d]);
            }
        }
        CAPTURE(round);
        std::vector<T> ref;
        for_each_index(len, [&](const std::array<std::uint64_t, R>& idx) { ref.push_back(value_at<T>(linear(shape, off, idx), salt)); });

        {  // packed row-major
            std::vector<T> buf(std::max<std::size_t>(ref.size(), 1), sentinel);
            REQUIRE(r.read_slice(name, off, len, dview<T, R>(buf.data(), len)).ok());
            if (ref.empty()) CHECK(buf[0] == sentinel);
            else CHECK(std::equal(ref.begin(), ref.end(), buf.begin()));
        }
        if constexpr (std::is_same_v<T, std::int32_t>) {  // widening on the way (I32 into int64)
            std::vector<std::int64_t> buf(std::max<std::size_t>(ref.size(), 1), -1);
            REQUIRE(r.template read_slice<dtype_map::convert>(name, off, len, dview<std::int64_t, R>(buf.data(), len)).ok());
            bool same = true;
            for (std::size_t k = 0; k < ref.size(); ++k) same = same && buf[k] == static_cast<std::int64_t>(ref[k]);
            CHECK(same);
        }
        {  // a subview of a padded buffer
            std::array<std::uint64_t, R> big_ext{}, at{};
            for (std::size_t d = 0; d < R; ++d) {
                const std::uint64_t pad = uni(0, 2);
                big_ext[d] = len[d] + pad;
                at[d] = uni(0, pad);
            }
            std::vector<T> big(std::max<std::size_t>(numel_of(big_ext), 1), sentinel);
            auto sub = subview(dview<T, R>(big.data(), big_ext), at, len);
            REQUIRE(r.read_slice(name, off, len, sub).ok());
            std::size_t k = 0, wrong = 0;
            for_each_index(len, [&](const std::array<std::uint64_t, R>& idx) { wrong += sub(idx) == ref[k++] ? 0 : 1; });
            CHECK(wrong == 0);
            const auto written = static_cast<std::size_t>(std::count_if(big.begin(), big.end(), [&](const T& v) { return v != sentinel; }));
            CHECK(written == ref.size());
        }
        {  // dimensions in a random order, with gaps
            std::array<std::size_t, R> perm{};
            std::iota(perm.begin(), perm.end(), std::size_t{0});
            std::shuffle(perm.begin(), perm.end(), rng);
            std::array<std::uint64_t, R> strides{};
            std::uint64_t span = 1;
            for (std::size_t k = 0; k < R; ++k) {
                strides[perm[k]] = span;
                span *= len[perm[k]] + uni(0, 1);
            }
            std::vector<T> buf(std::max<std::uint64_t>(span, 1), sentinel);
            layout_stride::mapping<dextents<std::uint64_t, R>> map(dextents<std::uint64_t, R>(len), strides);
            sview<T, R> dst(buf.data(), map);
            REQUIRE(r.read_slice(name, off, len, dst).ok());
            std::size_t k = 0, wrong = 0;
            for_each_index(len, [&](const std::array<std::uint64_t, R>& idx) { wrong += dst(idx) == ref[k++] ? 0 : 1; });
            CHECK(wrong == 0);
            const auto written = static_cast<std::size_t>(std::count_if(buf.begin(), buf.end(), [&](const T& v) { return v != sentinel; }));
            CHECK(written == ref.size());
        }
    }
}

}  // namespace

TEST_CASE_TEMPLATE("read_slice: random regions of rank 0 to 5 into packed and strided views", K, memory_kind, mmap_kind,
                   pread_kind) {
    temp_dir dir;
    std::mt19937_64 rng(2024);
    // Per rank one I32 and one F64 tensor of random shape (dimensions 1 to 5, the last up to 9).
    std::vector<owned_tensor> ts;
    std::vector<std::vector<std::uint64_t>> shapes;
    for (std::size_t rank = 0; rank <= 5; ++rank) {
        std::vector<std::uint64_t> shape(rank);
        for (std::size_t d = 0; d < rank; ++d) shape[d] = 1 + rng() % (d + 1 == rank ? 9 : 5);
        shapes.push_back(shape);
        const std::uint64_t n = numel_of(shape);
        std::vector<std::int32_t> iv(n);
        std::vector<double> dv(n);
        for (std::uint64_t i = 0; i < n; ++i) {
            iv[i] = value_at<std::int32_t>(i, rank);
            dv[i] = value_at<double>(i, rank);
        }
        ts.push_back({"i" + std::to_string(rank), dtype::I32, shape, bytes_of(iv)});
        ts.push_back({"d" + std::to_string(rank), dtype::F64, shape, bytes_of(dv)});
    }
    opened<K> r(dir, save(ts));
    for (std::size_t rank = 0; rank <= 5; ++rank) {
        CAPTURE(rank);
        with_rank(rank, [&](auto rc) {
            constexpr std::size_t R = decltype(rc)::value;
            {
                const auto shape = to_array<R>(shapes[rank]);
                check_random_regions<std::int32_t, R>(*r, "i" + std::to_string(rank), shape, rank, rng, R == 0 ? 2 : 40);
                check_random_regions<double, R>(*r, "d" + std::to_string(rank), shape, rank, rng, R == 0 ? 2 : 40);
            }
        });
    }
    // Whatever the switch, a scalar's bytes and a rank-1 view of it must be told apart.
    const tensor_info* s = r->find("i0");
    REQUIRE(s != nullptr);
    CHECK(s->rank() == 0);
    std::int32_t v = 0;
    REQUIRE(r->read_bytes(*s, std::as_writable_bytes(std::span(&v, 1))).ok());
    CHECK(v == value_at<std::int32_t>(0, 0));
    status wrong_rank = r->read("i0", make_view<std::uint64_t>(&v, 1));
    check_error(wrong_rank.error(), errc::shape_mismatch, r.path(), "i0");
}

TEST_CASE_TEMPLATE("read_slice: zero-length regions and empty tensors", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    const auto ts = small_tensors();
    opened<K> r(dir, save(ts));
    float buf[8];
    std::fill(std::begin(buf), std::end(buf), -9.0f);
    auto untouched = [&] { return std::all_of(std::begin(buf), std::end(buf), [](float f) { return f == -9.0f; }); };

    using arr2 = std::array<std::uint64_t, 2>;
    // Empty in either dimension, including an offset equal to the extent.
    for (auto [off, len] : {std::pair{arr2{2, 6}, arr2{2, 0}}, std::pair{arr2{4, 0}, arr2{0, 6}}, std::pair{arr2{0, 0}, arr2{0, 0}},
                            std::pair{arr2{1, 3}, arr2{0, 3}}}) {
        CHECK(r->read_slice("w", off, len, dview<float, 2>(buf, len)).ok());
        CHECK(untouched());
    }
    // An offset past the extent is out of bounds even for an empty region.
    status past = r->read_slice("w", arr2{5, 0}, arr2{0, 1}, dview<float, 2>(buf, arr2{0, 1}));
    check_error(past.error(), errc::out_of_bounds, r.path(), "w");
    CHECK(untouched());

    // A tensor with a zero dimension reads whole, as nothing.
    CHECK(r->read("e", dview<float, 3>(buf, std::array<std::uint64_t, 3>{3, 0, 4})).ok());
    CHECK(r->read("e", dview<float, 3>(nullptr, std::array<std::uint64_t, 3>{3, 0, 4})).ok());
    CHECK(untouched());
    const tensor_info* e = r->find("e");
    REQUIRE(e != nullptr);
    CHECK(r->read_bytes(*e, {}).ok());
    CHECK(r->read_slice("e", std::array<std::uint64_t, 3>{1, 0, 2}, std::array<std::uint64_t, 3>{2, 0, 2},
                        dview<float, 3>(buf, std::array<std::uint64_t, 3>{2, 0, 2}))
              .ok());
    CHECK(untouched());
}

// ---- errors --------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("read errors name the file and tensor and write nothing", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    opened<K> r(dir, save(small_tensors()));
    std::vector<float> f(64, -9.0f);
    std::vector<std::int32_t> i32(64, -9);
    auto untouched = [&] {
        return std::all_of(f.begin(), f.end(), [](float v) { return v == -9.0f; }) &&
               std::all_of(i32.begin(), i32.end(), [](std::int32_t v) { return v == -9; });
    };
    using arr2 = std::array<std::uint64_t, 2>;
    const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max();

    SUBCASE("out_of_bounds") {
        status st = r->read_slice("w", arr2{3, 0}, arr2{2, 6}, dview<float, 2>(f.data(), arr2{2, 6}));
        check_error(st.error(), errc::out_of_bounds, r.path(), "w");
        CHECK(contains(st.error().detail, "dimension 0"));
        st = r->read_slice("w", arr2{0, 5}, arr2{1, 2}, dview<float, 2>(f.data(), arr2{1, 2}));
        check_error(st.error(), errc::out_of_bounds, r.path(), "w");
        CHECK(contains(st.error().detail, "dimension 1"));
        // offset + length wraps around 64 bits: still out of bounds, not a small region
        st = r->read_slice("w", arr2{huge, 0}, arr2{2, 1}, dview<float, 2>(f.data(), arr2{2, 1}));
        check_error(st.error(), errc::out_of_bounds, r.path(), "w");
        st = r->read_slice("w", arr2{1, 0}, arr2{huge, 1}, dview<float, 2>(f.data(), arr2{0, 1}));
        CHECK(st.code() == errc::out_of_bounds);
    }
    SUBCASE("shape_mismatch") {
        // destination extent against region length
        status st = r->read_slice("w", arr2{0, 0}, arr2{2, 3}, dview<float, 2>(f.data(), arr2{2, 4}));
        check_error(st.error(), errc::shape_mismatch, r.path(), "w");
        CHECK(contains(st.error().detail, "dimension 1: destination extent 4, region length 3"));
        // region of the wrong rank
        const std::uint64_t one[1] = {0};
        st = r->read_slice("w", one, one, dview<float, 2>(f.data(), arr2{0, 0}));
        check_error(st.error(), errc::shape_mismatch, r.path(), "w");
        // whole tensor into a view of the wrong shape or rank
        st = r->read("w", dview<float, 2>(f.data(), arr2{6, 4}));
        check_error(st.error(), errc::shape_mismatch, r.path(), "w");
        st = r->read("w", dview<float, 3>(f.data(), std::array<std::uint64_t, 3>{4, 6, 1}));
        check_error(st.error(), errc::shape_mismatch, r.path(), "w");
        st = r->read("w", dview<float, 1>(f.data(), std::array<std::uint64_t, 1>{24}));
        check_error(st.error(), errc::shape_mismatch, r.path(), "w");
    }
    SUBCASE("dtype_mismatch") {
        status st = r->read("w", dview<std::int32_t, 2>(i32.data(), arr2{4, 6}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "w");
        CHECK(contains(st.error().detail, "file has F32, destination holds I32"));
        std::vector<double> d(24, -9.0);
        st = r->read("w", dview<double, 2>(d.data(), arr2{4, 6}));  // exact: no widening
        check_error(st.error(), errc::dtype_mismatch, r.path(), "w");
        CHECK(std::all_of(d.begin(), d.end(), [](double v) { return v == -9.0; }));
        st = r->read_slice("\xc3\xa9.weight", arr2{0, 0}, arr2{1, 1}, dview<float, 2>(f.data(), arr2{1, 1}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "\xc3\xa9.weight");
        CHECK(contains(st.error().detail, "file has BF16, destination holds F32"));
    }
    SUBCASE("tensor_not_found") {
        status st = r->read("nope", dview<float, 2>(f.data(), arr2{4, 6}));
        check_error(st.error(), errc::tensor_not_found, r.path(), "nope");
        st = r->read_slice("nope", arr2{0, 0}, arr2{1, 1}, dview<float, 2>(f.data(), arr2{1, 1}));
        check_error(st.error(), errc::tensor_not_found, r.path(), "nope");
    }
    CHECK(untouched());
}

#if SAFESHARD_EXCEPTIONS
TEST_CASE("value() throws safeshard::error carrying the error") {
    const auto bytes = save(small_tensors());
    auto r = open_memory(bytes);
    REQUIRE(r.has_value());
    auto missing = r->info("nope");
    CHECK_THROWS_AS(missing.value(), safeshard::error);
    try {
        missing.value();
    } catch (const safeshard::error& e) {
        CHECK(e.code() == errc::tensor_not_found);
        CHECK(std::string(e.what()).find("tensor 'nope'") != std::string::npos);
    }
    float f[2];
    status st = r->read("w", make_view<std::uint64_t>(f, 2));
    CHECK_THROWS_AS(st.value(), safeshard::error);
    CHECK_NOTHROW(r->info("w").value());
}
#endif

// ---- converting reads ----------------------------------------------------------------------

TEST_CASE_TEMPLATE("dtype_map::convert reads, against values computed here", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    // Every code of the 16-bit float types and of I8 / U16; F32 values that include the
    // special cases.
    std::vector<std::uint16_t> codes(65536);
    std::iota(codes.begin(), codes.end(), std::uint16_t{0});
    std::vector<std::int8_t> i8(256);
    for (int i = 0; i < 256; ++i) i8[static_cast<std::size_t>(i)] = static_cast<std::int8_t>(i - 128);
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> f32 = {0.0f, -0.0f, 1.0f, -1.5f, 3.1415927f, 1e-45f, -1e-40f, 1.17549435e-38f,
                              3.4028235e38f, -3.4028235e38f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 1e10f,
                              -123456.789f, 0.1f};
    std::vector<std::int64_t> i64 = {1, -2, 3, -4};
    std::vector<owned_tensor> ts = {
        {"f32", dtype::F32, {4, 4}, bytes_of(f32)},
        {"bf16", dtype::BF16, {256, 256}, bytes_of(codes)},
        {"f16", dtype::F16, {256, 256}, bytes_of(codes)},
        {"i8", dtype::I8, {16, 16}, bytes_of(i8)},
        {"u16", dtype::U16, {256, 256}, bytes_of(codes)},
        {"i64", dtype::I64, {4}, bytes_of(i64)},
    };
    opened<K> r(dir, save(ts));
    using arr2 = std::array<std::uint64_t, 2>;
    using dtype_map::convert;

    SUBCASE("F32 into double: exact") {
        std::vector<double> out(16, -9.0);
        REQUIRE(r->template read<convert>("f32", dview<double, 2>(out.data(), arr2{4, 4})).ok());
        for (std::size_t i = 0; i < 16; ++i) {
            CAPTURE(i);
            if (std::isnan(f32[i])) CHECK(std::isnan(out[i]));
            else CHECK(std::bit_cast<std::uint64_t>(out[i]) == std::bit_cast<std::uint64_t>(static_cast<double>(f32[i])));
        }
    }
    SUBCASE("BF16 into float: the code is the top half of the float") {
        std::vector<float> out(65536, -9.0f);
        REQUIRE(r->template read<convert>("bf16", dview<float, 2>(out.data(), arr2{256, 256})).ok());
        std::size_t wrong = 0;
        for (std::uint32_t c = 0; c < 65536; ++c) wrong += std::bit_cast<std::uint32_t>(out[c]) == c << 16 ? 0 : 1;
        CHECK(wrong == 0);
    }
    SUBCASE("F16 into float: the value the format defines") {
        std::vector<float> out(65536, -9.0f);
        REQUIRE(r->template read<convert>("f16", dview<float, 2>(out.data(), arr2{256, 256})).ok());
        std::size_t wrong = 0;
        for (std::uint32_t c = 0; c < 65536; ++c) {
            const float want = ref_f16(static_cast<std::uint16_t>(c));
            if (std::isnan(want)) wrong += std::isnan(out[c]) && std::signbit(out[c]) == std::signbit(want) ? 0 : 1;
            else wrong += std::bit_cast<std::uint32_t>(out[c]) == std::bit_cast<std::uint32_t>(want) ? 0 : 1;
        }
        CHECK(wrong == 0);
        CHECK(out[0x3c00] == 1.0f);
        CHECK(out[0x0001] == std::ldexp(1.0f, -24));
        CHECK(out[0xfc00] == -inf);
    }
    SUBCASE("I8 into I32 and U16 into I64: every value") {
        std::vector<std::int32_t> a(256, 0);
        REQUIRE(r->template read<convert>("i8", dview<std::int32_t, 2>(a.data(), arr2{16, 16})).ok());
        for (int i = 0; i < 256; ++i) CHECK(a[static_cast<std::size_t>(i)] == i - 128);
        std::vector<std::int64_t> b(65536, -1);
        REQUIRE(r->template read<convert>("u16", dview<std::int64_t, 2>(b.data(), arr2{256, 256})).ok());
        std::size_t wrong = 0;
        for (std::int64_t i = 0; i < 65536; ++i) wrong += b[static_cast<std::size_t>(i)] == i ? 0 : 1;
        CHECK(wrong == 0);
    }
    SUBCASE("converting slices into strided destinations") {
        // Rows 10..13, columns 200..255 of the BF16 codes into every other float of a buffer.
        std::vector<float> buf(4 * 56 * 2, -9.0f);
        layout_stride::mapping<dextents<std::uint64_t, 2>> map(dextents<std::uint64_t, 2>(4, 56),
                                                                std::array<std::uint64_t, 2>{112, 2});
        REQUIRE(r->template read_slice<convert>("bf16", arr2{10, 200}, arr2{4, 56}, sview<float, 2>(buf.data(), map)).ok());
        std::size_t wrong = 0;
        for (std::uint32_t i = 0; i < 4; ++i)
            for (std::uint32_t j = 0; j < 56; ++j) {
                const std::uint32_t code = (10 + i) * 256 + 200 + j;
                wrong += std::bit_cast<std::uint32_t>(buf[i * 112 + j * 2]) == code << 16 ? 0 : 1;
                wrong += buf[i * 112 + j * 2 + 1] == -9.0f ? 0 : 1;
            }
        CHECK(wrong == 0);
    }
    SUBCASE("rejected: float to integer, narrowing, signed to unsigned") {
        std::vector<std::int32_t> a(65536, -9);
        status st = r->template read<convert>("f32", dview<std::int32_t, 2>(a.data(), arr2{4, 4}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "f32");
        CHECK(contains(st.error().detail, "file has F32, destination holds I32"));
        st = r->template read<convert>("i64", dview<std::int32_t, 1>(a.data(), std::array<std::uint64_t, 1>{4}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "i64");
        CHECK(contains(st.error().detail, "file has I64, destination holds I32"));
        std::vector<std::int16_t> s16(65536, -9);
        st = r->template read<convert>("u16", dview<std::int16_t, 2>(s16.data(), arr2{256, 256}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "u16");
        std::vector<std::uint32_t> u32(256, 9);
        st = r->template read<convert>("i8", dview<std::uint32_t, 2>(u32.data(), arr2{16, 16}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "i8");
        CHECK(std::all_of(a.begin(), a.end(), [](std::int32_t v) { return v == -9; }));
        CHECK(std::all_of(s16.begin(), s16.end(), [](std::int16_t v) { return v == -9; }));
        CHECK(std::all_of(u32.begin(), u32.end(), [](std::uint32_t v) { return v == 9; }));
        // And the exact mapping does not widen at all.
        std::vector<float> f(65536);
        st = r->read("bf16", dview<float, 2>(f.data(), arr2{256, 256}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "bf16");
    }
}

// ---- zero-copy views and loads -------------------------------------------------------------

TEST_CASE_TEMPLATE("view: zero copy where aligned, an error where not", K, memory_kind, mmap_kind) {
    temp_dir dir;
    const auto ts = small_tensors();
    opened<K> r(dir, save(ts));
    SUBCASE("aligned: a view into the file's bytes") {
        auto w = r->template view<float, 2>("w");
        REQUIRE(w.has_value());
        CHECK(static_cast<const void*>(w->data_handle()) == r.address_of("w"));
        CHECK(w->extent(0) == 4);
        CHECK(w->extent(1) == 6);
        CHECK((*w)(2, 5) == 17 * 1.25f - 7.0f);
        CHECK(same_bytes(std::as_bytes(std::span(w->data_handle(), w->size())), by_name(ts, "w").data));
        auto d = r->template view<double, 1>("d");
        REQUIRE(d.has_value());
        CHECK(static_cast<const void*>(d->data_handle()) == r.address_of("d"));
        CHECK((*d)(1) == -1e300);
        auto b = r->template view<std::uint8_t, 1>("b");
        REQUIRE(b.has_value());
        CHECK((*b)(4) == static_cast<std::uint8_t>(by_name(ts, "b").data[4]));
        auto s = r->template view<float, 0>("s");
        REQUIRE(s.has_value());
        CHECK((*s)() == -2.5f);
        CHECK(static_cast<const void*>(s->data_handle()) == r.address_of("s"));
        auto e = r->template view<float, 3>("e");
        REQUIRE(e.has_value());
        CHECK(e->size() == 0);
        CHECK(e->extent(0) == 3);
        auto h = r->template view<bf16, 2>("\xc3\xa9.weight");
        REQUIRE(h.has_value());
        CHECK((*h)(1, 1).bits == static_cast<std::uint16_t>(static_cast<unsigned>(by_name(ts, "\xc3\xa9.weight").data[6]) |
                                                             static_cast<unsigned>(by_name(ts, "\xc3\xa9.weight").data[7]) << 8));
    }
    SUBCASE("wrong rank, dtype or name") {
        auto rank = r->template view<float, 1>("w");
        REQUIRE_FALSE(rank.has_value());
        check_error(rank.error(), errc::shape_mismatch, r.path(), "w");
        auto type = r->template view<double, 2>("w");
        REQUIRE_FALSE(type.has_value());
        check_error(type.error(), errc::dtype_mismatch, r.path(), "w");
        auto missing = r->template view<float, 2>("nope");
        REQUIRE_FALSE(missing.has_value());
        check_error(missing.error(), errc::tensor_not_found, r.path(), "nope");
    }
    SUBCASE("misaligned data: invalid_argument at the tensor's byte offset") {
        std::uint64_t data_offset = 0;
        const auto bytes = misaligned_file(&data_offset);
        REQUIRE(data_offset % 4 == 1);
        opened<K> m(dir, bytes, "misaligned.safetensors");
        auto w = m->template view<float, 2>("w");
        REQUIRE_FALSE(w.has_value());
        check_error(w.error(), errc::invalid_argument, m.path(), "w");
        CHECK(w.error().offset == data_offset);
        CHECK(contains(w.error().detail, "not aligned"));
        auto d = m->template view<double, 1>("d");
        REQUIRE_FALSE(d.has_value());
        check_error(d.error(), errc::invalid_argument, m.path(), "d");
        CHECK(d.error().offset == data_offset + 24);
        // One-byte elements are never misaligned.
        auto b = m->template view<std::uint8_t, 1>("b");
        REQUIRE(b.has_value());
        CHECK(static_cast<const void*>(b->data_handle()) == m.address_of("b"));
        CHECK((*b)(2) == 30);
    }
}

TEST_CASE_TEMPLATE("load: zero copy when mapped, aligned and of the same dtype; a copy otherwise", K, memory_kind,
                   mmap_kind, pread_kind) {
    temp_dir dir;
    const auto ts = small_tensors();
    opened<K> r(dir, save(ts));
    auto expect_w = [](const auto& v, auto scale) {
        std::size_t wrong = 0;
        for (std::uint64_t i = 0; i < 4; ++i)
            for (std::uint64_t j = 0; j < 6; ++j)
                wrong += v(i, j) == static_cast<decltype(scale)>(static_cast<float>(i * 6 + j) * 1.25f - 7.0f) ? 0 : 1;
        return wrong;
    };

    SUBCASE("same dtype") {
        auto w = r->template load<float, 2>("w");
        REQUIRE(w.has_value());
        CHECK(w->zero_copy() == K::mapped);
        if constexpr (K::mapped) CHECK(static_cast<const void*>(w->view().data_handle()) == r.address_of("w"));
        CHECK(w->view().extent(0) == 4);
        CHECK(w->view().extent(1) == 6);
        CHECK(expect_w(w->view(), 0.0f) == 0);
        // A copy is owned by the result and moves with it.
        loaded_tensor<float, 2> moved = std::move(*w);
        CHECK(expect_w(moved.view(), 0.0f) == 0);
        CHECK(moved.zero_copy() == K::mapped);
        auto d = r->template load<double, 1>("d");
        REQUIRE(d.has_value());
        CHECK(d->zero_copy() == K::mapped);
        CHECK(d->view()(2) == 42.0);
    }
    SUBCASE("converted: always a copy") {
        auto w = r->template load<double, 2, dtype_map::convert>("w");
        REQUIRE(w.has_value());
        CHECK_FALSE(w->zero_copy());
        CHECK(expect_w(w->view(), 0.0) == 0);
        auto h = r->template load<float, 2, dtype_map::convert>("\xc3\xa9.weight");
        REQUIRE(h.has_value());
        CHECK_FALSE(h->zero_copy());
        const auto& raw = by_name(ts, "\xc3\xa9.weight").data;
        const std::uint32_t code = static_cast<unsigned>(raw[2]) | static_cast<unsigned>(raw[3]) << 8;
        CHECK(std::bit_cast<std::uint32_t>(h->view()(0, 1)) == code << 16);
    }
    SUBCASE("empty tensors") {
        auto e = r->template load<float, 3>("e");
        REQUIRE(e.has_value());
        CHECK(e->view().size() == 0);
        CHECK(e->view().extent(2) == 4);
        CHECK_FALSE(e->zero_copy());  // nothing to point at
    }
    SUBCASE("scalars") {
        auto s = r->template load<float, 0>("s");
        REQUIRE(s.has_value());
        CHECK(s->zero_copy() == K::mapped);
        CHECK(s->view()() == -2.5f);
        auto sd = r->template load<double, 0, dtype_map::convert>("s");
        REQUIRE(sd.has_value());
        CHECK_FALSE(sd->zero_copy());
        CHECK(sd->view()() == -2.5);
    }
    SUBCASE("misaligned data: a copy with the right values") {
        opened<K> m(dir, misaligned_file(), "misaligned.safetensors");
        auto w = m->template load<float, 2>("w");
        REQUIRE(w.has_value());
        CHECK_FALSE(w->zero_copy());
        const float want[6] = {1.5f, -2.0f, 3.25f, 4.0f, 1e-3f, -0.0f};
        CHECK(std::memcmp(w->view().data_handle(), want, sizeof want) == 0);
        CHECK(reinterpret_cast<std::uintptr_t>(w->view().data_handle()) % alignof(float) == 0);
        auto d = m->template load<double, 1>("d");
        REQUIRE(d.has_value());
        CHECK_FALSE(d->zero_copy());
        CHECK(d->view()(0) == 1.0 / 3.0);
        CHECK(d->view()(1) == -7.5);
        auto b = m->template load<std::uint8_t, 1>("b");
        REQUIRE(b.has_value());
        CHECK(b->zero_copy() == K::mapped);
        CHECK(b->view()(1) == 20);
        // Region reads of misaligned data are plain copies.
        float col[2];
        REQUIRE(m->read_slice("w", std::array<std::uint64_t, 2>{0, 1}, std::array<std::uint64_t, 2>{2, 1},
                              dview<float, 2>(col, std::array<std::uint64_t, 2>{2, 1}))
                    .ok());
        CHECK(col[0] == -2.0f);
        CHECK(col[1] == 1e-3f);
    }
    SUBCASE("errors") {
        auto type = r->template load<std::int32_t, 2>("w");
        REQUIRE_FALSE(type.has_value());
        check_error(type.error(), errc::dtype_mismatch, r.path(), "w");
        auto narrowing = r->template load<std::int32_t, 1, dtype_map::convert>("i");
        REQUIRE_FALSE(narrowing.has_value());
        check_error(narrowing.error(), errc::dtype_mismatch, r.path(), "i");
        auto rank = r->template load<float, 3>("w");
        REQUIRE_FALSE(rank.has_value());
        check_error(rank.error(), errc::shape_mismatch, r.path(), "w");
        CHECK(contains(rank.error().detail, "tensor has rank 2, view has rank 3"));
        auto missing = r->template load<float, 2>("nope");
        REQUIRE_FALSE(missing.has_value());
        check_error(missing.error(), errc::tensor_not_found, r.path(), "nope");
    }
}

// ---- large tensors -------------------------------------------------------------------------

namespace {

// Compares `got(i, j)` for every index of a `rows` × `cols` region against want(i, j).
template <class View, class Want>
std::size_t mismatches(const View& got, std::uint64_t rows, std::uint64_t cols, Want&& want) {
    std::size_t wrong = 0;
    for (std::uint64_t i = 0; i < rows; ++i)
        for (std::uint64_t j = 0; j < cols; ++j) wrong += got(i, j) == want(i, j) ? 0 : 1;
    return wrong;
}

}  // namespace

TEST_CASE_TEMPLATE("large tensors: column slices (short runs) and row slices (long runs)", K, memory_kind, mmap_kind,
                   pread_kind) {
    // Over 8 MiB each, so that the windowed short-run path fills and flushes its bounce buffer
    // several times and long runs exceed it.
    temp_dir dir;
    constexpr std::uint64_t rows = 3000, cols = 1500, wrows = 200, wcols = 20000;
    std::vector<float> big(rows * cols), wide(wrows * wcols);
    std::vector<std::uint16_t> bbig(rows * cols);
    for (std::uint64_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);  // exact below 2^24
    for (std::uint64_t i = 0; i < wide.size(); ++i) wide[i] = static_cast<float>(i);
    for (std::uint64_t i = 0; i < rows; ++i)
        for (std::uint64_t j = 0; j < cols; ++j) bbig[i * cols + j] = static_cast<std::uint16_t>((i * 7 + j * 13) & 0x7f7f);
    std::vector<owned_tensor> ts;
    ts.push_back({"big", dtype::F32, {rows, cols}, bytes_of(big)});
    ts.push_back({"wide", dtype::F32, {wrows, wcols}, bytes_of(wide)});
    ts.push_back({"bbig", dtype::BF16, {rows, cols}, bytes_of(bbig)});
    auto file = save(ts);
    ts.clear();
    wide.clear();
    bbig.clear();
    opened<K> r(dir, file);
    file = {};
    using arr2 = std::array<std::uint64_t, 2>;
    using dtype_map::convert;
    auto big_at = [&](std::uint64_t r0, std::uint64_t c0) {
        return [=](std::uint64_t i, std::uint64_t j) { return static_cast<float>((r0 + i) * cols + c0 + j); };
    };
    auto bf_at = [&](std::uint64_t r0, std::uint64_t c0) {
        return [=](std::uint64_t i, std::uint64_t j) {
            return std::bit_cast<float>(static_cast<std::uint32_t>(((r0 + i) * 7 + (c0 + j) * 13) & 0x7f7f) << 16);
        };
    };

    SUBCASE("columns: packed, padded and converting destinations") {
        for (const auto& cw : {std::pair<std::uint64_t, std::uint64_t>{0, 1}, {777, 7}, {1436, 64}, {1499, 1}}) {
            const std::uint64_t c0 = cw.first, w = cw.second;  // not a structured binding: lambdas capture it
            CAPTURE(c0);
            std::vector<float> out(rows * w, -9.0f);
            REQUIRE(r->read_slice("big", arr2{0, c0}, arr2{rows, w}, dview<float, 2>(out.data(), arr2{rows, w})).ok());
            CHECK(mismatches(dview<float, 2>(out.data(), arr2{rows, w}), rows, w, big_at(0, c0)) == 0);

            std::vector<float> padded(rows * (w + 5), -9.0f);
            auto sub = subview(dview<float, 2>(padded.data(), arr2{rows, w + 5}), arr2{0, 2}, arr2{rows, w});
            REQUIRE(r->read_slice("big", arr2{0, c0}, arr2{rows, w}, sub).ok());
            CHECK(mismatches(sub, rows, w, big_at(0, c0)) == 0);
            CHECK(static_cast<std::size_t>(std::count(padded.begin(), padded.end(), -9.0f)) == rows * 5);

            std::vector<double> dbl(rows * w, -9.0);
            REQUIRE(r->template read_slice<convert>("big", arr2{0, c0}, arr2{rows, w}, dview<double, 2>(dbl.data(), arr2{rows, w}))
                        .ok());
            CHECK(mismatches(dview<double, 2>(dbl.data(), arr2{rows, w}), rows, w,
                             [&](std::uint64_t i, std::uint64_t j) { return static_cast<double>(big_at(0, c0)(i, j)); }) == 0);

            std::vector<float> fb(rows * w, -9.0f);
            REQUIRE(r->template read_slice<convert>("bbig", arr2{0, c0}, arr2{rows, w}, dview<float, 2>(fb.data(), arr2{rows, w}))
                        .ok());
            CHECK(mismatches(dview<float, 2>(fb.data(), arr2{rows, w}), rows, w, bf_at(0, c0)) == 0);
        }
    }
    SUBCASE("columns of rows longer than the gap limit, and wide column blocks") {
        for (const auto& cw : {std::pair<std::uint64_t, std::uint64_t>{12345, 3}, {2000, 16000}}) {
            const std::uint64_t c0 = cw.first, w = cw.second;
            CAPTURE(c0);
            std::vector<float> out(wrows * w, -9.0f);
            REQUIRE(r->read_slice("wide", arr2{0, c0}, arr2{wrows, w}, dview<float, 2>(out.data(), arr2{wrows, w})).ok());
            CHECK(mismatches(dview<float, 2>(out.data(), arr2{wrows, w}), wrows, w,
                             [&](std::uint64_t i, std::uint64_t j) { return static_cast<float>(i * wcols + c0 + j); }) == 0);
        }
    }
    SUBCASE("rows: the whole tensor, long row blocks, a few rows") {
        for (const auto& rh : {std::pair<std::uint64_t, std::uint64_t>{0, rows}, {1000, 1000}, {5, 3}}) {
            const std::uint64_t r0 = rh.first, h = rh.second;
            CAPTURE(r0);
            std::vector<float> out(h * cols, -9.0f);
            REQUIRE(r->read_slice("big", arr2{r0, 0}, arr2{h, cols}, dview<float, 2>(out.data(), arr2{h, cols})).ok());
            CHECK(std::memcmp(out.data(), big.data() + r0 * cols, out.size() * sizeof(float)) == 0);
        }
        std::vector<float> whole(rows * cols, -9.0f);
        REQUIRE(r->read("big", dview<float, 2>(whole.data(), arr2{rows, cols})).ok());
        CHECK(whole == big);
    }
    SUBCASE("rows, converting: F32 into double and BF16 into float, longer than the bounce buffer") {
        std::vector<double> dbl(rows * cols, -9.0);
        REQUIRE(r->template read<convert>("big", dview<double, 2>(dbl.data(), arr2{rows, cols})).ok());
        std::size_t wrong = 0;
        for (std::uint64_t i = 0; i < dbl.size(); ++i) wrong += dbl[i] == static_cast<double>(i) ? 0 : 1;
        CHECK(wrong == 0);
        std::vector<float> fb(1000 * cols, -9.0f);
        REQUIRE(r->template read_slice<convert>("bbig", arr2{2000, 0}, arr2{1000, cols}, dview<float, 2>(fb.data(), arr2{1000, cols}))
                    .ok());
        CHECK(mismatches(dview<float, 2>(fb.data(), arr2{1000, cols}), 1000, cols, bf_at(2000, 0)) == 0);
    }
    SUBCASE("rows into every other element: a long run with a destination stride") {
        std::vector<float> buf(1000 * cols * 2, -9.0f);
        layout_stride::mapping<dextents<std::uint64_t, 2>> map(dextents<std::uint64_t, 2>(1000, cols),
                                                                std::array<std::uint64_t, 2>{2 * cols, 2});
        sview<float, 2> dst(buf.data(), map);
        REQUIRE(r->read_slice("big", arr2{1500, 0}, arr2{1000, cols}, dst).ok());
        CHECK(mismatches(dst, 1000, cols, big_at(1500, 0)) == 0);
        CHECK(static_cast<std::size_t>(std::count(buf.begin(), buf.end(), -9.0f)) == 1000 * cols);
    }
    SUBCASE("a block in the middle into a padded destination") {
        const std::uint64_t h = 1000, w = 1200;
        std::vector<float> buf(h * (w + 3), -9.0f);
        auto sub = subview(dview<float, 2>(buf.data(), arr2{h, w + 3}), arr2{0, 1}, arr2{h, w});
        REQUIRE(r->read_slice("big", arr2{100, 10}, arr2{h, w}, sub).ok());
        CHECK(mismatches(sub, h, w, big_at(100, 10)) == 0);
        CHECK(static_cast<std::size_t>(std::count(buf.begin(), buf.end(), -9.0f)) == h * 3);
    }
}

// ---- property: random files ----------------------------------------------------------------

namespace {

std::string random_name(std::mt19937_64& rng) {
    // Pieces that need JSON escapes and multi-byte UTF-8 as well as the usual characters.
    static const char* const pieces[] = {"a", "b", "z", "Z", "0", "9", ".", "_", "-", "/", " ", "\"", "\\", "\n",
                                         "\t", "\x01", "\x1f", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                         "weight", "layers."};
    std::string s;
    const std::size_t n = 1 + rng() % 10;
    for (std::size_t i = 0; i < n; ++i) s += pieces[rng() % std::size(pieces)];
    return s;
}

std::vector<std::uint64_t> random_shape(std::mt19937_64& rng, dtype d) {
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

// Reads regions of `t` (element type T, rank R) and compares them with the reference gathered
// from the bytes written; `reads` counts the regions read.
template <class T, std::size_t R, class Reader>
void check_property_regions(const Reader& r, const owned_tensor& t, std::mt19937_64& rng, std::size_t& reads) {
    const auto shape = to_array<R>(t.shape);
    auto uni = [&](std::uint64_t lo, std::uint64_t hi) { return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng); };

    // One destination type per (T, R): every read goes into a subview, padded or not, which
    // keeps the number of instantiations (and the compile time) down.
    for (int round = 0; round < 4; ++round) {
        std::array<std::uint64_t, R> off{}, len{}, big_ext{}, at{};
        for (std::size_t d = 0; d < R; ++d) {
            if (round == 0) {  // the whole tensor, unpadded
                len[d] = big_ext[d] = shape[d];
                continue;
            }
            off[d] = uni(0, shape[d]);
            len[d] = uni(0, shape[d] - off[d]);
            if (len[d] == 0 && off[d] < shape[d] && rng() % 4) len[d] = 1;  // mostly non-empty
            const std::uint64_t pad = uni(0, 2);
            big_ext[d] = len[d] + pad;
            at[d] = uni(0, pad);
        }
        const auto want = gather(t.data, t.shape, sizeof(T), off, len);
        buffer<T> big(numel_of(big_ext));
        auto dst = subview(dview<T, R>(big.data(), big_ext), at, len);
        REQUIRE(r.read_slice(t.name, off, len, dst).ok());
        ++reads;
        std::vector<std::byte> got;
        for_each_index(len, [&](const std::array<std::uint64_t, R>& idx) {
            const auto* p = reinterpret_cast<const std::byte*>(&dst(idx));
            got.insert(got.end(), p, p + sizeof(T));
        });
        CHECK(same_bytes(got, want));
        if (round == 0) CHECK(same_bytes(got, t.data));
    }
}

}  // namespace

TEST_CASE_TEMPLATE("property: 200 random files round-trip byte for byte", K, memory_kind, mmap_kind, pread_kind) {
    temp_dir dir;
    std::mt19937_64 rng(0x5afe5a4d);
    std::size_t tensors_checked = 0, regions_read = 0;
    for (int file = 0; file < 200; ++file) {
        CAPTURE(file);
        std::vector<owned_tensor> ts;
        std::set<std::string> names;
        const std::size_t count = rng() % 7;
        while (ts.size() < count) {
            std::string n = random_name(rng);
            if (!names.insert(n).second) continue;
            const dtype d = all_dtypes[rng() % dtype_count];
            auto shape = random_shape(rng, d);
            auto data = pattern(static_cast<std::size_t>(numel_of(shape) * bits(d) / 8), rng());
            if (d == dtype::BOOL)
                for (auto& b : data) b &= std::byte{1};  // bools read back as 0 / 1
            ts.push_back({std::move(n), d, std::move(shape), std::move(data)});
        }
        std::vector<std::pair<std::string, std::string>> meta_store;
        if (rng() % 3 == 0)
            for (std::size_t k = 0, m = 1 + rng() % 3; k < m; ++k) meta_store.emplace_back("k" + std::to_string(k), random_name(rng));
        std::vector<metadata_entry> meta;
        for (const auto& [k, v] : meta_store) meta.push_back({k, v});

        const auto bytes = save(ts, meta);
        opened<K> r(dir, bytes, "p" + std::to_string(file) + ".safetensors");

        // Canonical: data order is dtype descending then name, offsets contiguous.
        auto infos = r->tensors();
        REQUIRE(infos.size() == ts.size());
        std::uint64_t cursor = 0;
        for (std::size_t k = 0; k < infos.size(); ++k) {
            CHECK(infos[k].begin == cursor);
            cursor = infos[k].end;
            if (k > 0) {
                const auto& a = infos[k - 1];
                const auto& b = infos[k];
                CHECK((a.dtype > b.dtype || (a.dtype == b.dtype && a.name < b.name)));
            }
        }
        CHECK(r->header().data_offset() + cursor == bytes.size());
        for (const auto& [k, v] : meta_store) CHECK(r->header().metadata_value(k) == std::optional<std::string_view>(v));

        for (const auto& t : ts) {
            CAPTURE(t.name);
            const tensor_info* info = r->find(t.name);
            REQUIRE(info != nullptr);
            CHECK(info->dtype == t.type);
            CHECK(std::vector<std::uint64_t>(info->shape.begin(), info->shape.end()) == t.shape);
            std::vector<std::byte> back(t.data.size());
            REQUIRE(r->read_bytes(*info, back).ok());
            CHECK(same_bytes(back, t.data));
            ++tensors_checked;
            with_rank(t.shape.size(), [&](auto rc) {
                constexpr std::size_t R = decltype(rc)::value;
                
                    with_element_type(t.type, [&]<class T>(std::type_identity<T>) {
                        check_property_regions<T, R>(*r, t, rng, regions_read);
                    });
            });
        }
    }
    // The generator must actually have produced work.
    CHECK(tensors_checked > 400);
    CHECK(regions_read > 600);
}

}  // TEST_SUITE("reader")
