// SPDX-License-Identifier: MIT
// Reads a checkpoint back: zero-copy views, converting loads, and strided slices.
//   load_typed FILE.safetensors   (a file from write_checkpoint)
#include <safeshard/safeshard.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: load_typed FILE.safetensors\n");
        return 2;
    }
    using namespace safeshard;
    file_reader reader;
    // get() moves the reader out and returns the whole error: file, tensor, offset and detail.
    if (status st = file_reader::open(argv[1]).get(reader); !st) {
        std::fprintf(stderr, "%s\n", st.error().to_string().c_str());  // e.g. "x.safetensors: I/O error (open: No such file or directory)"
        return 1;
    }

    // 1. Zero copy: the view points into the mapped file (F32 data, 4-byte aligned).
    auto q = reader.view<float, 2>("model.layers.0.self_attn.q_proj.weight");
    if (!q) return std::fprintf(stderr, "%s\n", q.error().to_string().c_str()), 1;
    std::printf("q_proj %llux%llu, q[1][2] = %g\n", static_cast<unsigned long long>(q->extent(0)),
                static_cast<unsigned long long>(q->extent(1)), static_cast<double>((*q)(1, 2)));

    // 2. A BF16 tensor loaded as float: the dtype mapping converts while copying.
    auto embed = reader.load<dtype_map::convert, float, 2>("model.embed_tokens.weight");
    if (!embed) return std::fprintf(stderr, "%s\n", embed.error().to_string().c_str()), 1;
    std::printf("embed[3][5] = %g (zero copy: %s)\n", static_cast<double>(embed->view()(3, 5)),
                embed->zero_copy() ? "yes" : "no");

    // 3. A slice (rows 10..13, columns 0..8) into the middle of a larger strided buffer.
    std::vector<float> buf(4 * 16, -1.0f);
    auto whole = make_view(buf.data(), 4, 16);
    std::array<std::uint64_t, 2> at{0, 4}, len{4, 8};
    auto window = subview(whole, at, len);  // layout_stride, row stride 16
    std::array<std::uint64_t, 2> off{10, 0};
    if (status st = reader.read_slice<dtype_map::convert>("model.embed_tokens.weight", off, len, window); !st)
        return std::fprintf(stderr, "%s\n", st.error().to_string().c_str()), 1;
    std::printf("slice row 0: %g %g ... buffer edge untouched: %g\n", static_cast<double>(buf[4]),
                static_cast<double>(buf[5]), static_cast<double>(buf[0]));

    // 4. Asking for the wrong element type is caught once, with the reason.
    std::vector<std::int32_t> wrong(64);
    status st = reader.read("model.layers.0.input_layernorm.weight", make_view(wrong.data(), 64));
    std::printf("as int32: %s\n", st.ok() ? "ok?!" : st.error().to_string().c_str());
    return st.ok() ? 1 : 0;
}
