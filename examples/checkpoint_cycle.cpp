// SPDX-License-Identifier: MIT
// A small training job's checkpoint cycle, as PyTorch DCP runs it: 4 ranks hold a transformer's
// state dict sharded the way tensor parallelism shards it, save it (each rank its own files),
// the checkpoint is verified from its headers, and a job resumed on 3 ranks with a different
// sharding loads it back; every element is compared with the original.
//   checkpoint_cycle [DIR]   (default: a fresh temporary directory, kept for inspection)
// Exit status 0 when everything matched, 1 on any error or mismatch.
#include <safeshard/safeshard.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace safeshard;
namespace ck = safeshard::checkpoint;

constexpr std::uint32_t train_ranks = 4;
constexpr std::uint32_t resume_ranks = 3;

/// How a tensor is spread over ranks: split along dimension 0 or 1, or whole on every rank.
enum class split { rows, cols, replicated };

const char* split_name(split s) {
    return s == split::rows ? "rows" : s == split::cols ? "columns" : "replicated";
}

/// One parameter: its global shape, how training and resumed ranks hold it, its values.
struct param {
    std::string name;
    dtype type = dtype::F32;
    std::vector<std::uint64_t> shape;
    split train = split::replicated, resume = split::replicated;
    std::vector<float> f32;  // the values of an F32 tensor
    std::vector<bf16> b16;   // the values of a BF16 tensor

    std::uint64_t numel() const {
        std::uint64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    std::uint64_t elem_bytes() const { return type == dtype::BF16 ? 2 : 4; }
};

/// A box of a tensor: where a rank's part starts and how large it is.
struct box {
    std::vector<std::uint64_t> offsets, sizes;
    std::uint64_t numel() const {
        std::uint64_t n = 1;
        for (auto d : sizes) n *= d;
        return n;
    }
};

/// Rank k's part of `p` among n ranks: [dim * k / n, dim * (k + 1) / n), so uneven dimensions
/// give parts that differ by one.
box part_of(const param& p, split s, std::uint32_t k, std::uint32_t n) {
    box b{std::vector<std::uint64_t>(p.shape.size(), 0), p.shape};
    if (s == split::replicated) return b;
    const std::size_t d = s == split::rows ? 0 : 1;
    b.offsets[d] = p.shape[d] * k / n;
    b.sizes[d] = p.shape[d] * (k + 1) / n - b.offsets[d];
    return b;
}

/// Deterministic pseudo-random values in [-scale, scale) (splitmix64 of the seed and index).
float value(std::uint64_t seed, std::uint64_t i, float scale) {
    std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<float>(static_cast<double>(z >> 40) / 8388608.0 - 1.0) * scale;
}

/// The elements of box `b` of a row-major global tensor, row-major.
template <class T>
std::vector<T> cut_out(const std::vector<T>& global, const param& p, const box& b) {
    std::vector<T> out(b.numel());
    if (p.shape.size() == 1) {
        for (std::uint64_t i = 0; i < b.sizes[0]; ++i) out[i] = global[b.offsets[0] + i];
        return out;
    }
    const std::uint64_t cols = p.shape[1], width = b.sizes[1];
    for (std::uint64_t r = 0; r < b.sizes[0]; ++r)
        for (std::uint64_t c = 0; c < width; ++c) out[r * width + c] = global[(b.offsets[0] + r) * cols + b.offsets[1] + c];
    return out;
}

/// A rank's part of one parameter, in the rank's own memory.
struct shard {
    const param* p = nullptr;
    box b;
    std::vector<float> f32;
    std::vector<bf16> b16;
    std::uint64_t bytes() const { return b.numel() * p->elem_bytes(); }
};

template <class T>
ck::save_chunk chunk_from(const shard& s, const T* data) {
    if (s.p->shape.size() == 1) return ck::chunk_of(s.p->name, s.p->shape, s.b.offsets, make_view(data, s.b.sizes[0]));
    return ck::chunk_of(s.p->name, s.p->shape, s.b.offsets, make_view(data, s.b.sizes[0], s.b.sizes[1]));
}

using matrix_f32 = tensor_view<float, dextents<std::size_t, 2>>;
using matrix_bf16 = tensor_view<bf16, dextents<std::size_t, 2>>;
using vector_f32 = tensor_view<float, dextents<std::size_t, 1>>;

/// A resumed rank's read requests, one batch per view type.
struct requests {
    std::vector<ck::region_request<matrix_f32>> f32;
    std::vector<ck::region_request<matrix_bf16>> b16;
    std::vector<ck::region_request<vector_f32>> vec;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double mb(std::uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

int fail(const error_info& e) {
    std::fprintf(stderr, "error: %s\n", e.to_string().c_str());
    return 1;
}

/// Compares a loaded part with the same box of the original, bit for bit.
template <class T>
bool same(const std::vector<T>& got, const std::vector<T>& global, const param& p, const box& b, std::uint32_t rank) {
    std::vector<T> want = cut_out(global, p, b);
    for (std::size_t i = 0; i < want.size(); ++i)
        if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
            std::fprintf(stderr, "MISMATCH: rank %u, %s, element %zu of its part: got %g, saved %g\n", rank, p.name.c_str(), i,
                         static_cast<double>(static_cast<float>(got[i])), static_cast<double>(static_cast<float>(want[i])));
            return false;
        }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 2) {
        std::fprintf(stderr, "usage: checkpoint_cycle [DIR]\n");
        return 2;
    }
    std::string dir;
    if (argc == 2) {
        dir = argv[1];
    } else {
        char templ[] = "/tmp/safeshard-checkpoint.XXXXXX";
        if (!::mkdtemp(templ)) return std::perror("mkdtemp"), 1;
        dir = templ;
    }

    // 1. The state dict: a 4-layer transformer with grouped-query attention. Vocabulary and
    //    MLP width are not multiples of 4 or 3, so some ranks hold one row or column more.
    constexpr std::uint64_t vocab = 4099, hidden = 256, kv = 64, ffn = 690, layers = 4;
    std::vector<param> params;
    auto add = [&](std::string name, dtype t, std::vector<std::uint64_t> shape, split train, split resume) {
        params.push_back(param{std::move(name), t, std::move(shape), train, resume, {}, {}});
    };
    add("model.embed_tokens.weight", dtype::BF16, {vocab, hidden}, split::rows, split::cols);
    for (std::uint64_t l = 0; l < layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        add(p + "input_layernorm.weight", dtype::F32, {hidden}, split::replicated, split::replicated);
        add(p + "self_attn.q_proj.weight", dtype::BF16, {hidden, hidden}, split::rows, split::cols);
        add(p + "self_attn.k_proj.weight", dtype::BF16, {kv, hidden}, split::rows, split::cols);
        add(p + "self_attn.v_proj.weight", dtype::BF16, {kv, hidden}, split::rows, split::cols);
        add(p + "self_attn.o_proj.weight", dtype::BF16, {hidden, hidden}, split::cols, split::rows);
        add(p + "post_attention_layernorm.weight", dtype::F32, {hidden}, split::replicated, split::rows);
        add(p + "mlp.up_proj.weight", dtype::F32, {ffn, hidden}, split::rows, split::cols);
        add(p + "mlp.down_proj.weight", dtype::F32, {hidden, ffn}, split::cols, split::rows);
    }
    add("model.norm.weight", dtype::F32, {hidden}, split::replicated, split::replicated);
    add("lm_head.weight", dtype::F32, {vocab, hidden}, split::rows, split::rows);

    std::uint64_t model_bytes = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
        param& p = params[i];
        const bool norm = p.shape.size() == 1;
        for (std::uint64_t k = 0; k < p.numel(); ++k) {
            float v = norm ? 1.0f + value(i, k, 0.05f) : value(i, k, 0.02f);
            if (p.type == dtype::BF16) p.b16.push_back(bf16(v));
            else p.f32.push_back(v);
        }
        model_bytes += p.numel() * p.elem_bytes();
    }
    std::printf("model: %zu tensors, %llu layers (hidden %llu, kv %llu, ffn %llu, vocab %llu): %.1f MB; BF16 embedding and\n"
                "       attention, F32 MLP, norms and lm_head\n",
                params.size(), static_cast<unsigned long long>(layers), static_cast<unsigned long long>(hidden),
                static_cast<unsigned long long>(kv), static_cast<unsigned long long>(ffn),
                static_cast<unsigned long long>(vocab), mb(model_bytes));

    // 2. Training ranks: each holds its part of every tensor in its own memory.
    std::vector<std::vector<shard>> train(train_ranks);
    std::vector<ck::rank_state> states(train_ranks);
    std::uint64_t held_bytes = 0;
    for (std::uint32_t r = 0; r < train_ranks; ++r) {
        train[r].reserve(params.size());
        for (const param& p : params) {
            shard s{&p, part_of(p, p.train, r, train_ranks), {}, {}};
            if (p.type == dtype::BF16) s.b16 = cut_out(p.b16, p, s.b);
            else s.f32 = cut_out(p.f32, p, s.b);
            held_bytes += s.bytes();
            train[r].push_back(std::move(s));
        }
        for (const shard& s : train[r])
            states[r].push_back(s.p->type == dtype::BF16 ? chunk_from(s, s.b16.data()) : chunk_from(s, s.f32.data()));
    }
    std::printf("train: %u ranks hold %.1f MB; split by rows: embedding, q/k/v, up_proj, lm_head; by columns:\n"
                "       o_proj, down_proj; norms replicated (whole on every rank, saved once)\n",
                train_ranks, mb(held_bytes));

    // 3. Save as DCP's save_distributed=True: each rank writes its chunks to its own files
    //    (transformer blocks in file 1, embedding, final norm and lm_head in file 2, written
    //    on 2 threads per rank), each file atomically; replicated chunks are written once.
    ck::mapped_files files({{"model.embed_tokens.weight", 2}, {"model.norm.weight", 2}, {"lm_head.weight", 2}}, 1);
    ck::dcp_storage_writer<ck::mapped_files> writer(dir, files, ck::storage_writer_options{.thread_count = 2});
    auto t0 = std::chrono::steady_clock::now();
    auto saved = writer.save(states);
    const double save_s = seconds_since(t0);
    if (!saved) return fail(saved.error());
    std::size_t written = 0;
    for (const auto& rank : *saved) written += rank.size();
    std::printf("save: dcp_storage_writer, %zu chunks to %s in %.3f s: %.0f MB/s\n", written, dir.c_str(), save_s,
                mb(model_bytes) / save_s);

    // 4. Verify: the checkpoint's metadata, from the file headers alone (dtypes agree, chunks
    //    tile every tensor exactly: no overlap, no hole).
    {
        auto cp = ck::checkpoint_metadata::open(dir);
        if (!cp) return fail(cp.error());
        std::size_t chunks = 0;
        for (const auto& t : cp->tensors()) chunks += t.chunks.size();
        std::printf("verify: %zu tensors, %zu chunks, %zu files, %.1f MB of tensor data; every tensor tiled exactly\n",
                    cp->tensors().size(), chunks, cp->files().size(), mb(cp->total_size()));
        for (const char* name : {"lm_head.weight", "model.layers.0.mlp.down_proj.weight", "model.norm.weight"}) {
            const ck::tensor_metadata* t = cp->find(name);
            if (!t) return fail(error_info(errc::tensor_not_found).in_file(dir).at_tensor(name));
            std::string shape;
            for (auto d : t->shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
            std::printf("        %-36s %s [%s] in %zu chunk(s), first in %s\n", name, std::string(safeshard::name(t->dtype)).c_str(),
                        shape.c_str(), t->chunks.size(), cp->files()[t->chunks.front().file].name.c_str());
        }
        if (cp->tensors().size() != params.size() || cp->total_size() != model_bytes) {
            std::fprintf(stderr, "MISMATCH: the checkpoint holds %zu tensors of %llu bytes, the model %zu of %llu\n",
                         cp->tensors().size(), static_cast<unsigned long long>(cp->total_size()), params.size(),
                         static_cast<unsigned long long>(model_bytes));
            return 1;
        }
    }

    // 5. Resume on 3 ranks with another sharding (what was split by rows is now split by
    //    columns and the other way round; one norm is now split too). Each rank opens the
    //    checkpoint and reads its boxes in one batch per element type, straight into its memory.
    std::vector<std::vector<shard>> resumed(resume_ranks);
    std::uint64_t loaded_bytes = 0;
    t0 = std::chrono::steady_clock::now();
    for (std::uint32_t r = 0; r < resume_ranks; ++r) {
        auto reader = ck::storage_reader::open(dir, ck::storage_reader_options{.thread_count = 2});
        if (!reader) return fail(reader.error());
        std::vector<shard>& mine = resumed[r];
        mine.reserve(params.size());  // the requests point into these shards
        requests rq;
        for (const param& p : params) {
            mine.push_back(shard{&p, part_of(p, p.resume, r, resume_ranks), {}, {}});
            shard& s = mine.back();
            loaded_bytes += s.bytes();
            const auto& n = s.b.sizes;
            if (p.shape.size() == 1) {
                s.f32.resize(s.b.numel());
                rq.vec.push_back({p.name, s.b.offsets, make_view(s.f32.data(), n[0])});
            } else if (p.type == dtype::BF16) {
                s.b16.resize(s.b.numel());
                rq.b16.push_back({p.name, s.b.offsets, make_view(s.b16.data(), n[0], n[1])});
            } else {
                s.f32.resize(s.b.numel());
                rq.f32.push_back({p.name, s.b.offsets, make_view(s.f32.data(), n[0], n[1])});
            }
        }
        if (auto st = reader->read_all(std::span<const ck::region_request<matrix_f32>>(rq.f32)); !st) return fail(st.error());
        if (auto st = reader->read_all(std::span<const ck::region_request<matrix_bf16>>(rq.b16)); !st) return fail(st.error());
        if (auto st = reader->read_all(std::span<const ck::region_request<vector_f32>>(rq.vec)); !st) return fail(st.error());
    }
    const double load_s = seconds_since(t0);
    std::printf("load: %u ranks, storage_reader::read_all (2 threads): embedding, q/k/v, up_proj now split by %s;\n"
                "      o_proj, down_proj, post_attention_layernorm by %s; %.1f MB read in %.3f s: %.0f MB/s\n",
                resume_ranks, split_name(split::cols), split_name(split::rows), mb(loaded_bytes), load_s,
                mb(loaded_bytes) / load_s);

    // 6. Compare every element each resumed rank holds with the original values.
    std::uint64_t compared = 0;
    for (std::uint32_t r = 0; r < resume_ranks; ++r)
        for (const shard& s : resumed[r]) {
            bool ok = s.p->type == dtype::BF16 ? same(s.b16, s.p->b16, *s.p, s.b, r) : same(s.f32, s.p->f32, *s.p, s.b, r);
            if (!ok) return 1;
            compared += s.b.numel();
        }

    // 7. A BF16 tensor into float memory: the converting reader widens while it copies.
    {
        auto reader = ck::converting_storage_reader::open(dir);
        if (!reader) return fail(reader.error());
        const param& e = params.front();
        std::vector<float> wide(e.numel());
        if (auto st = reader->read(e.name, make_view(wide.data(), e.shape[0], e.shape[1])); !st) return fail(st.error());
        for (std::size_t i = 0; i < wide.size(); ++i)
            if (wide[i] != static_cast<float>(e.b16[i])) {
                std::fprintf(stderr, "MISMATCH: %s element %zu read as float: %g, saved %g\n", e.name.c_str(), i,
                             static_cast<double>(wide[i]), static_cast<double>(static_cast<float>(e.b16[i])));
                return 1;
            }
        compared += wide.size();
    }
    std::printf("compare: all %llu elements equal the originals (%llu resumed on %u ranks, %llu of %s read as float)\n",
                static_cast<unsigned long long>(compared), static_cast<unsigned long long>(compared - params.front().numel()),
                resume_ranks, static_cast<unsigned long long>(params.front().numel()), params.front().name.c_str());
    if (argc < 2) std::printf("the checkpoint stays in %s\n", dir.c_str());
    return 0;
}
