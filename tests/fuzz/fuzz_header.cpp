// SPDX-License-Identifier: MIT
// libFuzzer target: the header parser on arbitrary bytes. A header it accepts must re-emit
// canonically and parse back to the same tensors (no parser differential with ourselves), and
// every tensor must lie inside the data section. The same bytes with one space before the JSON
// (which sends a canonical header through simdjson rather than the byte-level fast path) must
// give the same verdict: the same error code, or the same tensors.

#include <safeshard/format/emit.hpp>
#include <safeshard/format/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace {

// The input with one space inserted before its JSON (N one larger), when it has a frame.
bool spaced(const std::uint8_t* data, std::size_t size, std::vector<std::byte>& out) {
    if (size < 9) return false;
    std::uint64_t n = 0;
    std::memcpy(&n, data, 8);
    if (n == 0 || n > size - 8) return false;
    out.assign(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
    out.insert(out.begin() + 8, std::byte{' '});
    ++n;
    std::memcpy(out.data(), &n, 8);
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    auto h = safeshard::parse_file_header(bytes);
    if (std::vector<std::byte> other; spaced(data, size, other)) {
        auto g = safeshard::parse_file_header(other);
        if (h.has_value() != g.has_value()) __builtin_trap();
        if (!h && h.code() != g.code()) __builtin_trap();
        if (h) {
            if (g->size() != h->size() || g->metadata().size() != h->metadata().size()) __builtin_trap();
            for (std::size_t i = 0; i < h->size(); ++i) {
                const auto &x = h->tensors()[i], &y = g->tensors()[i];
                if (x.name != y.name || x.dtype != y.dtype || x.begin != y.begin || x.end != y.end || x.rank() != y.rank())
                    __builtin_trap();
            }
        }
    }
    if (!h) {
        (void)h.error().to_string();  // messages are built from hostile text: exercise them
        return 0;
    }
    std::vector<safeshard::tensor_spec> specs;
    for (const auto& t : h->tensors()) {
        if (t.end > h->data_size() || t.begin > t.end) __builtin_trap();
        specs.push_back({t.name, t.dtype, t.shape});
    }
    std::vector<safeshard::metadata_entry> meta(h->metadata().begin(), h->metadata().end());
    auto layout = safeshard::emit_header(specs, meta);
    if (!layout) __builtin_trap();  // what we accept, we can write
    std::vector<std::byte> again(layout->bytes.size() + layout->data_size);
    for (std::size_t i = 0; i < layout->bytes.size(); ++i) again[i] = static_cast<std::byte>(layout->bytes[i]);
    auto back = safeshard::parse_file_header(again);
    if (!back || back->size() != h->size()) __builtin_trap();
    for (const auto& t : h->tensors()) {
        const auto* u = back->find(t.name);
        if (!u || u->dtype != t.dtype || u->byte_size() != t.byte_size() || u->rank() != t.rank()) __builtin_trap();
        for (std::size_t d = 0; d < t.rank(); ++d)
            if (u->shape[d] != t.shape[d]) __builtin_trap();
    }
    for (const auto& m : h->metadata())
        if (back->metadata_value(m.key) != m.value) __builtin_trap();
    return 0;
}
