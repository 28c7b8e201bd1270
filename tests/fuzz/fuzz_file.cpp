// SPDX-License-Identifier: MIT
// libFuzzer target: a file of arbitrary bytes opened from memory, every tensor read whole and
// as a random region through the checkpoint reader's raw path. Nothing may crash, hang or
// allocate more than the input justifies.

#include <safeshard/checkpoint/metadata.hpp>
#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/file/reader.hpp>
#include <safeshard/io/memory.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace ck = safeshard::checkpoint;
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    auto f = safeshard::open_memory(bytes, {}, "fuzz.safetensors");
    if (!f) {
        (void)f.error().to_string();
        return 0;
    }
    for (const auto& t : f->tensors()) {
        if (t.byte_size() > size) __builtin_trap();  // a tensor never claims more than the file holds
        std::vector<std::byte> buf(t.byte_size());
        if (!f->read_bytes(t, buf)) __builtin_trap();
    }
    std::vector<std::pair<std::string, safeshard::io::memory_source>> files;
    files.emplace_back("fuzz.safetensors", safeshard::io::memory_source(bytes, "fuzz.safetensors"));
    auto cp = ck::basic_checkpoint<safeshard::io::memory_source>::from_files("mem", std::move(files));
    if (!cp) {
        (void)cp.error().to_string();
        return 0;
    }
    ck::basic_storage_reader<safeshard::io::memory_source> reader(std::move(*cp), {});
    std::uint64_t seed = size;
    for (const auto& t : reader.tensors()) {
        if (bits(t.dtype) % 8 != 0) continue;
        std::vector<std::uint64_t> off(t.rank()), len(t.rank());
        std::uint64_t n = bits(t.dtype) / 8;
        for (std::size_t d = 0; d < t.rank(); ++d) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            off[d] = t.shape[d] ? (seed >> 33) % (t.shape[d] + 1) : 0;
            len[d] = t.shape[d] - off[d] ? (seed >> 17) % (t.shape[d] - off[d] + 1) : 0;
            n *= len[d];
        }
        std::vector<std::byte> out(n);
        if (!reader.read_raw(t.name, off, len, out)) __builtin_trap();
    }
    return 0;
}
