// SPDX-License-Identifier: MIT
// libFuzzer target: checkpoint metadata from arbitrary DCP_SHARDING_INFO and index JSON. Two
// in-memory shard files hold tensors whose shapes come from the input; their sharding info
// strings and the index are the input's text. Whatever is accepted must tile every tensor, and
// every tensor must then read whole without error.

#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/file/writer.hpp>
#include <safeshard/io/memory.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {
std::vector<std::byte> shard(std::vector<std::uint64_t> a_shape, std::vector<std::uint64_t> b_shape, std::string_view info) {
    std::vector<std::byte> a(4), b(1);
    std::uint64_t na = 1, nb = 1;
    for (auto d : a_shape) na *= d;
    for (auto d : b_shape) nb *= d;
    a.assign(na * 4, std::byte{0x11});
    b.assign(nb, std::byte{0x22});
    std::vector<safeshard::tensor_entry> entries = {{"a", safeshard::dtype::F32, a_shape, a}, {"b", safeshard::dtype::I8, b_shape, b}};
    std::vector<safeshard::metadata_entry> meta;
    if (!info.empty()) meta.push_back({"DCP_SHARDING_INFO", info});
    auto bytes = safeshard::save_to_memory(entries, meta);
    return bytes ? std::move(*bytes) : std::vector<std::byte>{};
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace ck = safeshard::checkpoint;
    if (size < 6) return 0;
    // Six shape bytes (each 0-7), then three texts separated by '\x01'.
    auto dim = [&](std::size_t i) { return static_cast<std::uint64_t>(data[i] % 8); };
    std::string_view rest(reinterpret_cast<const char*>(data + 6), size - 6);
    std::string_view part[3];
    for (int k = 0; k < 3; ++k) {
        auto cut = rest.find('\x01');
        part[k] = rest.substr(0, cut);
        rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 1);
    }
    std::vector<std::vector<std::byte>> bytes = {shard({dim(0), dim(1)}, {dim(2)}, part[0]), shard({dim(3), dim(4)}, {dim(5)}, part[1])};
    if (bytes[0].empty() || bytes[1].empty()) return 0;  // e.g. info that is not UTF-8
    std::vector<std::pair<std::string, safeshard::io::memory_source>> files;
    files.emplace_back("shard-00001-model-00001-of-00001.safetensors", safeshard::io::memory_source(bytes[0], "s1"));
    files.emplace_back("shard-00002-model-00001-of-00001.safetensors", safeshard::io::memory_source(bytes[1], "s2"));
    auto cp = ck::basic_checkpoint<safeshard::io::memory_source>::from_files("mem", std::move(files), part[2]);
    if (!cp) {
        (void)cp.error().to_string();
        return 0;
    }
    ck::basic_storage_reader<safeshard::io::memory_source> reader(std::move(*cp), {});
    for (const auto& t : reader.tensors()) {
        auto e = ck::check_tiling(t.name, t.shape, t.boxes, [](std::uint32_t) { return std::string("f"); });
        if (e.code() != safeshard::errc::ok) __builtin_trap();  // accepted, so it must tile
        if (t.byte_size() > 2 * 64 * 4) __builtin_trap();     // no tensor larger than its chunks
        std::vector<std::byte> out(t.byte_size());
        if (!reader.read_raw(t.name, {}, {}, out)) __builtin_trap();
    }
    return 0;
}
