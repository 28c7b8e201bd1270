// SPDX-License-Identifier: MIT
// Opening files through each of the three sources (memory, mapped, pread): bad files are errors
// naming the file, lookups, raw bytes, and read errors that name file and tensor and write nothing.

#include "../support/reader.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

using namespace safeshard;
using namespace safeshard::test;

TEST_SUITE("reader_open") {

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
        CHECK(gap.error().offset() == 8 + gap_json.size() + 1);  // the data section starts at 8 + N; "a" at 1
        auto trailing = o.open(dir, raw_file("{" + u8a + "}", three), "trailing.safetensors");
        REQUIRE_FALSE(trailing.has_value());
        CHECK(trailing.error().offset() == 8 + u8a.size() + 2 + 1);
        CHECK(contains(trailing.error().detail(), "2 bytes"));
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
            CHECK(std::string_view(r.error().detail()).substr(0, 5) == "open:");
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
    CHECK(contains(st.error().detail(), "buffer of 95 bytes for 96"));
    CHECK(std::all_of(small.begin(), small.end(), [](std::byte b) { return b == std::byte{0xee}; }));
}

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
        CHECK(contains(st.error().detail(), "dimension 0"));
        st = r->read_slice("w", arr2{0, 5}, arr2{1, 2}, dview<float, 2>(f.data(), arr2{1, 2}));
        check_error(st.error(), errc::out_of_bounds, r.path(), "w");
        CHECK(contains(st.error().detail(), "dimension 1"));
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
        CHECK(contains(st.error().detail(), "dimension 1: destination extent 4, region length 3"));
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
        CHECK(contains(st.error().detail(), "file has F32, destination holds I32"));
        std::vector<double> d(24, -9.0);
        st = r->read("w", dview<double, 2>(d.data(), arr2{4, 6}));  // exact: no widening
        check_error(st.error(), errc::dtype_mismatch, r.path(), "w");
        CHECK(std::all_of(d.begin(), d.end(), [](double v) { return v == -9.0; }));
        st = r->read_slice("\xc3\xa9.weight", arr2{0, 0}, arr2{1, 1}, dview<float, 2>(f.data(), arr2{1, 1}));
        check_error(st.error(), errc::dtype_mismatch, r.path(), "\xc3\xa9.weight");
        CHECK(contains(st.error().detail(), "file has BF16, destination holds F32"));
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
    CHECK(missing.code() == errc::tensor_not_found);
    CHECK_THROWS_WITH_AS(missing.value(), doctest::Contains("tensor 'nope': no such tensor"), safeshard::error);
    float f[2];
    status st = r->read("w", make_view<std::uint64_t>(f, 2));
    CHECK_THROWS_AS(st.value(), safeshard::error);
    CHECK_NOTHROW(r->info("w").value());
}
#endif

}  // TEST_SUITE
