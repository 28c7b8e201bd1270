// SPDX-License-Identifier: MIT
// Writes the checkpoints the CLI tests use, under the directory given as the only argument:
//   dcp2/     4x4 F32 arange `dtensor` row-sharded and `dtensor_col` column-sharded over 2 ranks,
//             and a 2x3 I32 `ints` replicated on both (dcp_storage_writer, no index)
//   hf/       the same full tensors over 2 files with an index (hf_storage_writer)
//   hole/     DCP shards of `t` (3x4) holding rows 0 and 2 only
//   overlap/  DCP shards of `t` (3x4) holding rows 0-1 and 1-2
//   stale/    a 2-rank save of `dtensor` over a 4-rank save in the same directory
//   escape/   an index whose weight_map names "../outside.safetensors" (which exists)
//   missing/  an index naming a file that does not exist
//   fp8/      quantized: `proj.weight` 4x4 F8_E4M3 of 1.5 with `proj.weight_scale_inv` [[2]]
//             (so 3.0 dequantized), MXFP4 `x_blocks` U8 [2, 1, 2] of 0x21 (codes 1 then 2:
//             0.5, 1.0) with `x_scales` U8 [2, 1] = {127, 128}, and `ids` I32 [3]
//   badfp8/   `proj.weight` 4x4 F8_E4M3 with a scale grid of the wrong shape [1, 2]
// and, each a DCP shard file of a 2x2 tensor `t` unless said otherwise (the hostile checkpoints
// of tests/unit/reliability.cpp):
//   notjson/   DCP_SHARDING_INFO that is not JSON
//   wrongrank/ saved_offsets of length 1 for the 2-d `t`
//   ghost/     sharding info naming `u`, which the file lacks
//   lacks/     sharding info `{}` while the file holds `t`
//   dtypes/    two shards of `t`, F32 at row 0 and I32 at row 2
//   absurd/    `t` at saved_offsets [2^40, 0], leaving a hole
//   overflow/  `t` at saved_offsets [2^64 - 1, 0]
//   twice/     the whole `t` in a.safetensors and again in b.safetensors
//   absolute/  an index naming "/tmp/a.safetensors"
//   symlink/   an index naming a.safetensors, a symlink to symlink-outside.safetensors beside
//              the directory
// Exit 0 when all were written, else 1 with the error on stderr.

#include <safeshard/safeshard.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace safeshard;
namespace ck = safeshard::checkpoint;

bool report(const error_info& e) {
    std::fprintf(stderr, "make_checkpoints: %s\n", e.to_string().c_str());
    return false;
}

bool check(const status& st) { return st ? true : report(st.error()); }

template <class T>
bool check(const result<T>& r) {
    return r ? true : report(r.error());
}

bool make_dir(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) std::fprintf(stderr, "make_checkpoints: create %s: %s\n", path.c_str(), ec.message().c_str());
    return !ec;
}

bool write_text(const std::string& path, const std::string& text) {
    auto sink = io::atomic_file_sink::create(path);
    if (!sink) return report(sink.error());
    if (!check(sink->write(std::as_bytes(std::span(text.data(), text.size()))))) return false;
    return check(sink->commit());
}

// A DCP shard file holding the rows [row, row + rows) of a 4-column F32 tensor `t`.
bool dcp_shard(const std::string& path, const std::vector<float>& rows_data, std::uint64_t row, std::uint64_t rows) {
    tensor_entry e{"t", dtype::F32, {rows, 4}, std::as_bytes(std::span(rows_data))};
    std::string info = "{\"t\": {\"saved_offsets\": [" + std::to_string(row) + ", 0]}}";
    const metadata_entry meta[] = {{sharding_info_key, info}, {dcp_version_key, dcp_version_value},
                                   {format_key, format_value}};
    return check(save_file(path, std::span(&e, 1), meta));
}

// A DCP shard file holding a zeroed 2x2 tensor `t` of `type`, with `info` as its sharding info.
bool dcp_file(const std::string& path, const std::string& info, dtype type = dtype::F32) {
    const std::vector<std::byte> zeros(4 * byte_size(type));
    tensor_entry e{"t", type, {2, 2}, zeros};
    const metadata_entry meta[] = {{sharding_info_key, info}, {dcp_version_key, dcp_version_value},
                                   {format_key, format_value}};
    return check(save_file(path, std::span(&e, 1), meta));
}

// A directory holding one DCP shard file of `t` with `info` as its sharding info.
bool one_shard(const std::string& dir, const std::string& info) {
    return make_dir(dir) && dcp_file(dir + "/shard-00001-model-00001-of-00001.safetensors", info);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_checkpoints DIR\n");
        return 2;
    }
    const std::string root = argv[1];
    std::vector<float> full(16), cols0(8), cols1(8);
    for (int i = 0; i < 16; ++i) full[static_cast<std::size_t>(i)] = static_cast<float>(i);
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 2; ++c) {
            cols0[static_cast<std::size_t>(r * 2 + c)] = full[static_cast<std::size_t>(r * 4 + c)];
            cols1[static_cast<std::size_t>(r * 2 + c)] = full[static_cast<std::size_t>(r * 4 + c + 2)];
        }
    std::vector<std::int32_t> ints = {1, -2, 3, -4, 5, -6};
    const std::vector<std::uint64_t> shape44 = {4, 4}, at00 = {0, 0}, at20 = {2, 0}, at02 = {0, 2};

    // dcp2: 2 ranks, each its own shard file.
    {
        std::vector<ck::rank_state> ranks(2);
        ranks[0].push_back(ck::chunk_of("dtensor", shape44, at00, make_view(full.data(), 2, 4)));
        ranks[1].push_back(ck::chunk_of("dtensor", shape44, at20, make_view(full.data() + 8, 2, 4)));
        ranks[0].push_back(ck::chunk_of("dtensor_col", shape44, at00, make_view(cols0.data(), 4, 2)));
        ranks[1].push_back(ck::chunk_of("dtensor_col", shape44, at02, make_view(cols1.data(), 4, 2)));
        for (auto& r : ranks) r.push_back(ck::whole_tensor("ints", make_view(ints.data(), 2, 3)));
        if (!check(ck::dcp_storage_writer<>(root + "/dcp2").save(ranks))) return 1;
    }
    // hf: the full tensors over two files, with an index.
    {
        ck::rank_state state = {ck::whole_tensor("dtensor", make_view(full.data(), 4, 4)),
                                ck::whole_tensor("dtensor_col", make_view(full.data(), 4, 4)),
                                ck::whole_tensor("ints", make_view(ints.data(), 2, 3))};
        ck::mapped_files mapping({{"dtensor", 1}, {"dtensor_col", 2}, {"ints", 2}});
        if (!check(ck::hf_storage_writer<ck::mapped_files>(root + "/hf", mapping).save(state))) return 1;
    }
    // hole: rows 0 and 2 of a 3x4 tensor; row 1 is nowhere.
    {
        if (!make_dir(root + "/hole")) return 1;
        std::vector<float> r0(full.begin(), full.begin() + 4), r2(full.begin() + 8, full.begin() + 12);
        if (!dcp_shard(root + "/hole/shard-00001-model-00001-of-00001.safetensors", r0, 0, 1)) return 1;
        if (!dcp_shard(root + "/hole/shard-00002-model-00001-of-00001.safetensors", r2, 2, 1)) return 1;
    }
    // overlap: rows 0-1 and rows 1-2 of a 3x4 tensor; row 1 twice.
    {
        if (!make_dir(root + "/overlap")) return 1;
        std::vector<float> a(full.begin(), full.begin() + 8), b(full.begin() + 4, full.begin() + 12);
        if (!dcp_shard(root + "/overlap/shard-00001-model-00001-of-00001.safetensors", a, 0, 2)) return 1;
        if (!dcp_shard(root + "/overlap/shard-00002-model-00001-of-00001.safetensors", b, 1, 2)) return 1;
    }
    // stale: a 4-rank save (one row each), then a 2-rank save (two rows each) in the same
    // directory; shards 3 and 4 of the first save remain.
    {
        std::vector<ck::rank_state> four(4), two(2);
        for (std::uint64_t r = 0; r < 4; ++r) {
            const std::vector<std::uint64_t> at = {r, 0};
            four[r].push_back(ck::chunk_of("dtensor", shape44, at, make_view(full.data() + 4 * r, 1, 4)));
        }
        two[0].push_back(ck::chunk_of("dtensor", shape44, at00, make_view(full.data(), 2, 4)));
        two[1].push_back(ck::chunk_of("dtensor", shape44, at20, make_view(full.data() + 8, 2, 4)));
        if (!check(ck::dcp_storage_writer<>(root + "/stale").save(four))) return 1;
        if (!check(ck::dcp_storage_writer<>(root + "/stale").save(two))) return 1;
    }
    // escape: the index sends `t` outside the directory, to a file that exists there.
    {
        if (!make_dir(root + "/escape")) return 1;
        tensor_entry e = entry_of("t", make_view(full.data(), 4, 4));
        if (!check(save_file(root + "/outside.safetensors", std::span(&e, 1)))) return 1;
        if (!write_text(root + "/escape/model.safetensors.index.json",
                        "{\"metadata\": {\"total_size\": 64}, \"weight_map\": {\"t\": \"../outside.safetensors\"}}\n"))
            return 1;
    }
    // missing: the index names two files; the second was never written.
    {
        if (!make_dir(root + "/missing")) return 1;
        tensor_entry e = entry_of("t", make_view(full.data(), 4, 4));
        if (!check(save_file(root + "/missing/model-00001-of-00002.safetensors", std::span(&e, 1)))) return 1;
        if (!write_text(root + "/missing/model.safetensors.index.json",
                        "{\"metadata\": {\"total_size\": 128}, \"weight_map\": {\"t\": \"model-00001-of-00002.safetensors\", "
                        "\"u\": \"model-00002-of-00002.safetensors\"}}\n"))
            return 1;
    }
    // fp8 and badfp8: quantized checkpoints for `safeshard convert`.
    {
        if (!make_dir(root + "/fp8") || !make_dir(root + "/badfp8")) return 1;
        std::vector<f8_e4m3> w(16, f8_e4m3(1.5f));
        std::vector<float> scale = {2.0f}, wide = {1.0f, 1.0f};
        std::vector<std::uint8_t> blocks(4, 0x21), scales = {127, 128};
        std::vector<std::int32_t> ids = {3, 1, 2};
        const std::vector<tensor_entry> fp8 = {entry_of("proj.weight", make_view(w.data(), 4, 4)),
                                               entry_of("proj.weight_scale_inv", make_view(scale.data(), 1, 1)),
                                               entry_of("x_blocks", make_view(blocks.data(), 2, 1, 2)),
                                               entry_of("x_scales", make_view(scales.data(), 2, 1)), entry_of("ids", make_view(ids.data(), 3))};
        if (!check(save_file(root + "/fp8/model.safetensors", fp8))) return 1;
        const std::vector<tensor_entry> bad = {entry_of("proj.weight", make_view(w.data(), 4, 4)),
                                               entry_of("proj.weight_scale_inv", make_view(wide.data(), 1, 2))};
        if (!check(save_file(root + "/badfp8/model.safetensors", bad))) return 1;
    }
    // The hostile checkpoints of tests/unit/reliability.cpp, one directory each.
    if (!one_shard(root + "/notjson", "{\"t\": [0, 0")) return 1;
    if (!one_shard(root + "/wrongrank", "{\"t\": {\"saved_offsets\": [0]}}")) return 1;
    if (!one_shard(root + "/ghost", "{\"u\": {\"saved_offsets\": [0, 0]}}")) return 1;
    if (!one_shard(root + "/lacks", "{}")) return 1;
    if (!one_shard(root + "/absurd", "{\"t\": {\"saved_offsets\": [1099511627776, 0]}}")) return 1;
    if (!one_shard(root + "/overflow", "{\"t\": {\"saved_offsets\": [18446744073709551615, 0]}}")) return 1;
    // dtypes: rows 0-1 of `t` as F32, rows 2-3 as I32.
    {
        if (!one_shard(root + "/dtypes", "{\"t\": {\"saved_offsets\": [0, 0]}}")) return 1;
        if (!dcp_file(root + "/dtypes/shard-00002-model-00001-of-00001.safetensors",
                      "{\"t\": {\"saved_offsets\": [2, 0]}}", dtype::I32))
            return 1;
    }
    // twice: the whole `t` in two files.
    {
        const std::string info = "{\"t\": {\"saved_offsets\": [0, 0]}}";
        if (!make_dir(root + "/twice")) return 1;
        if (!dcp_file(root + "/twice/a.safetensors", info) || !dcp_file(root + "/twice/b.safetensors", info)) return 1;
    }
    // absolute: the index names a path from the root of the file system.
    {
        if (!make_dir(root + "/absolute")) return 1;
        if (!write_text(root + "/absolute/model.safetensors.index.json",
                        "{\"weight_map\": {\"t\": \"/tmp/a.safetensors\"}}\n"))
            return 1;
    }
    // symlink: a.safetensors in the directory is a link to a file beside it.
    {
        if (!make_dir(root + "/symlink")) return 1;
        if (!dcp_file(root + "/symlink-outside.safetensors", "{\"t\": {\"saved_offsets\": [0, 0]}}")) return 1;
        std::error_code ec;
        std::filesystem::create_symlink("../symlink-outside.safetensors", root + "/symlink/a.safetensors", ec);
        if (ec) {
            std::fprintf(stderr, "make_checkpoints: symlink %s/symlink/a.safetensors: %s\n", root.c_str(), ec.message().c_str());
            return 1;
        }
        if (!write_text(root + "/symlink/model.safetensors.index.json", "{\"weight_map\": {\"t\": \"a.safetensors\"}}\n"))
            return 1;
    }
    return 0;
}
