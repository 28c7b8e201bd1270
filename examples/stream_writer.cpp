// SPDX-License-Identifier: MIT
// Streams a file whose tensors never sit in memory at once: the header first, then each
// tensor's bytes in pieces, in the order the writer asks for.
//   stream_writer OUT.safetensors
#include <safeshard/safeshard.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: stream_writer OUT.safetensors\n");
        return 2;
    }
    using namespace safeshard;
    const std::uint64_t big[] = {1024, 1024}, small[] = {16};
    tensor_spec specs[] = {{"big", dtype::F32, big}, {"small", dtype::I32, small}};

    auto writer = file_writer::create(argv[1], specs);  // the file appears only when finish() succeeds
    if (!writer) return std::fprintf(stderr, "%s\n", writer.error().to_string().c_str()), 1;

    std::vector<float> row(1024);
    std::vector<std::int32_t> ints(16, 7);
    while (const tensor_spec* next = writer->next()) {
        status st;
        if (next->name == "big") {
            for (std::size_t r = 0; r < 1024 && st; ++r) {  // one row at a time
                for (std::size_t c = 0; c < 1024; ++c) row[c] = static_cast<float>(r * 1024 + c);
                st = writer->write("big", std::as_bytes(std::span(row)));
            }
        } else {
            st = writer->write("small", std::as_bytes(std::span(ints)));
        }
        if (!st) return std::fprintf(stderr, "%s\n", st.error().to_string().c_str()), 1;
    }
    if (status st = writer->finish(); !st) return std::fprintf(stderr, "%s\n", st.error().to_string().c_str()), 1;
    std::printf("streamed %llu data bytes to %s\n", static_cast<unsigned long long>(writer->layout().data_size), argv[1]);
    return 0;
}
