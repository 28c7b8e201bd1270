// SPDX-License-Identifier: MIT
// Writes a small transformer-shaped checkpoint: typed views in, one atomic safetensors file out.
//   write_checkpoint OUT.safetensors
#include <safeshard/safeshard.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: write_checkpoint OUT.safetensors\n");
        return 2;
    }
    using namespace safeshard;
    constexpr std::size_t vocab = 512, dim = 64;

    std::vector<bf16> embed(vocab * dim);
    for (std::size_t i = 0; i < embed.size(); ++i) embed[i] = bf16(std::sin(0.01f * static_cast<float>(i)));
    std::vector<float> norm(dim, 1.0f);
    std::vector<float> wq(dim * dim);
    for (std::size_t i = 0; i < wq.size(); ++i) wq[i] = static_cast<float>(i % 7) * 0.125f;
    std::vector<std::int64_t> step{1000};

    std::vector<tensor_entry> tensors = {
        entry_of("model.embed_tokens.weight", make_view(embed.data(), vocab, dim)),
        entry_of("model.layers.0.input_layernorm.weight", make_view(norm.data(), dim)),
        entry_of("model.layers.0.self_attn.q_proj.weight", make_view(wq.data(), dim, dim)),
        entry_of("train.step", make_view(step.data())),  // a scalar: rank 0
    };
    metadata_entry metadata[] = {{"format", "pt"}};

    // Error codes, no exceptions needed: the status says what failed and where.
    if (status st = save_file(argv[1], tensors, metadata); !st) {
        std::fprintf(stderr, "%s\n", st.error().to_string().c_str());
        return 1;
    }
    std::printf("wrote %zu tensors to %s\n", tensors.size(), argv[1]);
    return 0;
}
