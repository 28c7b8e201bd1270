// SPDX-License-Identifier: MIT
// Property: random files (names with escapes, every dtype, random shapes, metadata) round-trip
// byte for byte, and random regions of each tensor read back as the bytes written.

#include "../support/reader.hpp"

#include <optional>
#include <set>

using namespace safeshard;
using namespace safeshard::test;

namespace {

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

TEST_SUITE("reader_property") {

// One source (pread: the main path); element types pairwise: tensors of rank 2 are read as
// their own element type, whatever the dtype, and I32 tensors of every rank 0 to 5 are read
// at their rank. Every tensor's bytes are read whole too, whatever its dtype and rank.
TEST_CASE("property: 200 random files round-trip byte for byte") {
    using K = pread_kind;
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
            // Half the tensors: any dtype, rank 2 (or a random rank when packed); half: I32, any rank.
            const bool any_dtype = rng() % 2 == 0;
            const dtype d = any_dtype ? all_dtypes[rng() % dtype_count] : dtype::I32;
            auto shape = random_shape(rng, d);
            if (any_dtype && bits(d) % 8 == 0) shape = {1 + rng() % 9, 1 + rng() % 9};
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
            if (t.type == dtype::I32) {
                with_rank(t.shape.size(), [&](auto rc) {
                    check_property_regions<std::int32_t, decltype(rc)::value>(*r, t, rng, regions_read);
                });
            } else if (t.shape.size() == 2) {
                with_element_type(t.type, [&]<class T>(std::type_identity<T>) { check_property_regions<T, 2>(*r, t, rng, regions_read); });
            }
        }
    }
    // The generator must actually have produced work.
    CHECK(tensors_checked > 400);
    CHECK(regions_read > 600);
}

}  // TEST_SUITE
