// SPDX-License-Identifier: MIT
// A DCP-style sharded checkpoint of a ~1 GiB transformer-shaped model (BF16 embedding and
// attention, F32 MLP, lm_head and norms), held by 8 in-process ranks as tensor parallelism
// holds it (q/k/v, gate/up, embedding, lm_head and norms split by rows, o_proj and down_proj
// by columns), measured in the same run against raw I/O of the same bytes:
//
//   * save: dcp_storage_writer (plan, then each rank's shard-0000r-model-00001-of-00001
//     file, atomic and fsynced) vs open + the same header and data in 8 MiB writes + fsync +
//     close per file, as many files; ranks one after another, then on `threads` threads.
//     File set removed (and the file system synced) between runs, untimed. GB/s = file bytes.
//   * resharded load 8 -> 3: three destination "ranks" each take a contiguous row slab (dim 0
//     cut in 3, uneven) of every tensor into its own pre-faulted buffer: storage_reader::open
//     + read_all per rank (thread_count 1, then `threads`), vs raw pread of every file's data
//     section (the same bytes in total) in 8 MiB blocks into a pre-faulted buffer, the files
//     spread over as many threads. Page cache warm. GB/s = tensor bytes. Second limit: the
//     same byte ranges read by hand in the same order (pread straight into place where a piece
//     lands whole, pread of 256 KiB windows + memcpy of each run where it lands strided).
//
//   checkpoint [size] [reps] [dir] [threads] [cases]   (or --size=1G --reps=3 --cases=load ...)
//
// ratio = raw time / ours time of the medians (targets: save >= 0.9, load >= 0.8); ours and
// raw alternate order run by run.

#include "common.hpp"

#include <safeshard/checkpoint/storage_reader.hpp>
#include <safeshard/checkpoint/storage_writer.hpp>
#include <safeshard/core/element_types.hpp>
#include <safeshard/core/extents.hpp>
#include <safeshard/core/tensor_view.hpp>
#include <safeshard/format/emit.hpp>

#include <cmath>

namespace {

namespace ck = safeshard::checkpoint;
using safeshard::bf16;

using bench::block;
constexpr std::uint32_t save_ranks = 8;
constexpr std::uint32_t load_ranks = 3;

/// [cut(n, parts, k), cut(n, parts, k + 1)) is part k of n (sizes differ by at most one).
std::uint64_t cut(std::uint64_t n, std::uint64_t parts, std::uint64_t k) { return n * k / parts; }

// ---- the model -------------------------------------------------------------------------------

struct tensor_def {
    std::string name;
    safeshard::dtype dtype = safeshard::dtype::F32;
    std::vector<std::uint64_t> shape;  // rank 1 or 2
    std::size_t split = 0;             // the dimension the save ranks split
    std::uint64_t elem() const { return dtype == safeshard::dtype::BF16 ? 2 : 4; }
    std::uint64_t row() const { return shape.size() > 1 ? shape[1] : 1; }  // elements per row
    std::uint64_t bytes() const { return shape[0] * row() * elem(); }
};

struct model {
    std::uint64_t hidden = 0, ffn = 0, vocab = 0, layers = 0;
    std::vector<tensor_def> tensors;
    std::uint64_t total = 0;  // tensor bytes
};

// Hidden size scales with the square root of the target (1024 at 1 GiB), vocab = 32 x hidden,
// ffn = 2.75 x hidden, GQA k/v of hidden / 4 rows; the layer count fills the target.
model make_model(std::uint64_t target) {
    using safeshard::dtype;
    model m;
    double h = 1024.0 * std::sqrt(static_cast<double>(target) / static_cast<double>(std::uint64_t{1} << 30));
    m.hidden = std::max<std::uint64_t>(64, static_cast<std::uint64_t>(h / 64.0 + 0.5) * 64);
    m.ffn = m.hidden * 11 / 4;
    m.vocab = 32 * m.hidden;
    const std::uint64_t H = m.hidden, F = m.ffn, kv = H / 4;
    const std::uint64_t ends = m.vocab * H * (2 + 4);
    const std::uint64_t layer = (2 * H * H + 2 * kv * H) * 2 + 3 * F * H * 4 + 2 * H * 4;
    m.layers = target > ends ? std::max<std::uint64_t>(1, (target - ends + layer / 2) / layer) : 1;
    auto add = [&](std::string name, dtype dt, std::vector<std::uint64_t> shape, std::size_t split) {
        m.tensors.push_back(tensor_def{std::move(name), dt, std::move(shape), split});
        m.total += m.tensors.back().bytes();
    };
    add("model.embed_tokens.weight", dtype::BF16, {m.vocab, H}, 0);
    for (std::uint64_t l = 0; l < m.layers; ++l) {
        std::string p = "model.layers." + std::to_string(l) + ".";
        add(p + "input_layernorm.weight", dtype::F32, {H}, 0);
        add(p + "self_attn.q_proj.weight", dtype::BF16, {H, H}, 0);
        add(p + "self_attn.k_proj.weight", dtype::BF16, {kv, H}, 0);
        add(p + "self_attn.v_proj.weight", dtype::BF16, {kv, H}, 0);
        add(p + "self_attn.o_proj.weight", dtype::BF16, {H, H}, 1);
        add(p + "post_attention_layernorm.weight", dtype::F32, {H}, 0);
        add(p + "mlp.gate_proj.weight", dtype::F32, {F, H}, 0);
        add(p + "mlp.up_proj.weight", dtype::F32, {F, H}, 0);
        add(p + "mlp.down_proj.weight", dtype::F32, {H, F}, 1);
    }
    add("model.norm.weight", dtype::F32, {H}, 0);
    add("lm_head.weight", dtype::F32, {m.vocab, H}, 0);
    return m;
}

// Element `flat` (row-major index in the global tensor) of tensor `t`: a function of the global
// position, so any resharding can be checked. Bits only (F32 words, BF16 half-words).
std::uint32_t word(std::size_t t, std::uint64_t flat) noexcept {
    return static_cast<std::uint32_t>(t * 0x9E3779B1u) ^ static_cast<std::uint32_t>(flat * 0x85EBCA6Bu);
}
std::uint16_t half(std::size_t t, std::uint64_t flat) noexcept {
    std::uint32_t w = word(t, flat);
    return static_cast<std::uint16_t>(w ^ (w >> 16));
}

// Box [off, off + len) of tensor t, row-major at `p`: fill with, or compare against, the pattern.
template <bool Check>
bool pattern_box(const tensor_def& d, std::size_t t, const std::uint64_t* off, const std::uint64_t* len, std::byte* p) {
    const std::uint64_t rows = len[0], cols = d.shape.size() > 1 ? len[1] : 1;
    const std::uint64_t r0 = off[0], c0 = d.shape.size() > 1 ? off[1] : 0;
    for (std::uint64_t i = 0; i < rows; ++i) {
        const std::uint64_t base = (r0 + i) * d.row() + c0;
        if (d.elem() == 4) {
            auto* w = reinterpret_cast<std::uint32_t*>(p) + i * cols;
            for (std::uint64_t j = 0; j < cols; ++j) {
                if constexpr (Check) {
                    if (w[j] != word(t, base + j)) return false;
                } else {
                    w[j] = word(t, base + j);
                }
            }
        } else {
            auto* w = reinterpret_cast<std::uint16_t*>(p) + i * cols;
            for (std::uint64_t j = 0; j < cols; ++j) {
                if constexpr (Check) {
                    if (w[j] != half(t, base + j)) return false;
                } else {
                    w[j] = half(t, base + j);
                }
            }
        }
    }
    return true;
}

// ---- the save side: 8 ranks, each its chunk of every tensor ----------------------------------

struct save_rank {
    std::vector<std::vector<std::uint64_t>> offsets, sizes;  // per tensor: the chunk
    std::vector<std::uint64_t> begin;                        // per tensor: offset in `arena` (file order)
    std::uint64_t data_size = 0;
    bench::region arena;  // the rank's chunks, laid out as its file's data section
    ck::rank_state state;
    std::string header;  // the header bytes the library wrote (read back once)
};

template <class T>
ck::save_chunk chunk(const tensor_def& d, const std::vector<std::uint64_t>& off, const std::vector<std::uint64_t>& len,
                     std::byte* p) {
    T* data = reinterpret_cast<T*>(p);
    if (d.shape.size() == 1) return ck::chunk_of(d.name, d.shape, off, safeshard::make_view(data, len[0]));
    return ck::chunk_of(d.name, d.shape, off, safeshard::make_view(data, len[0], len[1]));
}

std::vector<save_rank> make_save_ranks(const model& m) {
    std::vector<save_rank> ranks(save_ranks);
    for (std::uint32_t r = 0; r < save_ranks; ++r) {
        save_rank& s = ranks[r];
        std::vector<safeshard::tensor_spec> specs;
        for (const tensor_def& d : m.tensors) {
            std::vector<std::uint64_t> off(d.shape.size(), 0), len = d.shape;
            off[d.split] = cut(d.shape[d.split], save_ranks, r);
            len[d.split] = cut(d.shape[d.split], save_ranks, r + 1) - off[d.split];
            s.offsets.push_back(std::move(off));
            s.sizes.push_back(std::move(len));
        }
        for (std::size_t t = 0; t < m.tensors.size(); ++t) specs.push_back({m.tensors[t].name, m.tensors[t].dtype, s.sizes[t]});
        auto layout = safeshard::emit_header(specs);  // the canonical data order, as the writer's
        bench::check(layout, "emit_header");
        s.begin = layout->begin;
        s.data_size = layout->data_size;
        s.arena = bench::region(static_cast<std::size_t>(s.data_size), bench::pages::huge);
        for (std::size_t t = 0; t < m.tensors.size(); ++t) {
            const tensor_def& d = m.tensors[t];
            std::byte* p = s.arena.data() + s.begin[t];
            pattern_box<false>(d, t, s.offsets[t].data(), s.sizes[t].data(), p);
            s.state.push_back(d.dtype == safeshard::dtype::BF16 ? chunk<bf16>(d, s.offsets[t], s.sizes[t], p)
                                                                : chunk<float>(d, s.offsets[t], s.sizes[t], p));
        }
    }
    return ranks;
}

std::string ours_name(const std::string& dir, std::uint32_t r) {
    return dir + "/" + ck::file_name(1, 1, std::uint64_t{r} + 1);
}
std::string raw_name(const std::string& dir, std::uint32_t r) { return dir + "/raw-" + std::to_string(r) + ".bin"; }

bench::timing ours_save(const std::string& dir, const std::vector<ck::rank_state>& states, unsigned threads) {
    bench::stopwatch sw;
    ck::dcp_storage_writer<> w(dir, ck::single_file{}, ck::storage_writer_options{.thread_count = 1});
    if (threads <= 1) {
        auto res = w.save(states);
        bench::check(res, "dcp_storage_writer::save");
    } else {
        auto plan = w.plan(states);
        bench::check(plan, "dcp_storage_writer::plan");
        std::vector<std::vector<ck::write_result>> results(states.size());
        bench::on_threads(threads, [&](unsigned k) {
            for (std::uint32_t r = k; r < states.size(); r += threads) {
                auto res = w.write_rank(*plan, r, states[r]);
                bench::check(res, "dcp_storage_writer::write_rank");
                results[r] = std::move(*res);
            }
        });
        bench::check(w.finish(*plan, results), "dcp_storage_writer::finish");
    }
    return sw.stop();
}

bench::timing raw_save(const std::string& dir, const std::vector<save_rank>& ranks, unsigned threads) {
    bench::stopwatch sw;
    bench::on_threads(threads, [&](unsigned k) {
        for (std::uint32_t r = k; r < ranks.size(); r += std::max(threads, 1u))
            bench::write_file_synced(raw_name(dir, r), std::as_bytes(std::span<const char>(ranks[r].header)),
                                     {ranks[r].arena.data(), static_cast<std::size_t>(ranks[r].data_size)});
    });
    return sw.stop();
}

// ---- the load side: 3 destination ranks, each a row slab of every tensor -----------------------

using view2f = safeshard::tensor_view<float, safeshard::dextents<std::size_t, 2>>;
using view2b = safeshard::tensor_view<bf16, safeshard::dextents<std::size_t, 2>>;
using view1f = safeshard::tensor_view<float, safeshard::dextents<std::size_t, 1>>;

struct load_rank {
    std::vector<std::array<std::uint64_t, 2>> offsets;  // per tensor: {first row, 0}
    std::vector<std::uint64_t> rows, dst;               // per tensor: slab rows, offset in the arena
    std::vector<ck::region_request<view2f>> f2;
    std::vector<ck::region_request<view2b>> b2;
    std::vector<ck::region_request<view1f>> f1;
};

std::vector<load_rank> make_load_ranks(const model& m, std::byte* arena) {
    std::vector<load_rank> ranks(load_ranks);
    std::uint64_t at = 0;
    for (std::uint32_t k = 0; k < load_ranks; ++k) {
        load_rank& l = ranks[k];
        l.offsets.reserve(m.tensors.size());  // requests point into it
        for (const tensor_def& d : m.tensors) {
            std::uint64_t r0 = cut(d.shape[0], load_ranks, k), r1 = cut(d.shape[0], load_ranks, k + 1);
            l.offsets.push_back({r0, 0});
            l.rows.push_back(r1 - r0);
            l.dst.push_back(at);
            at += ((r1 - r0) * d.row() * d.elem() + 63) / 64 * 64;
        }
        for (std::size_t t = 0; t < m.tensors.size(); ++t) {
            const tensor_def& d = m.tensors[t];
            std::byte* p = arena + l.dst[t];
            std::span<const std::uint64_t> off(l.offsets[t].data(), d.shape.size());
            if (d.shape.size() == 1)
                l.f1.push_back({d.name, off, safeshard::make_view(reinterpret_cast<float*>(p), l.rows[t])});
            else if (d.dtype == safeshard::dtype::BF16)
                l.b2.push_back({d.name, off, safeshard::make_view(reinterpret_cast<bf16*>(p), l.rows[t], d.row())});
            else
                l.f2.push_back({d.name, off, safeshard::make_view(reinterpret_cast<float*>(p), l.rows[t], d.row())});
        }
    }
    return ranks;
}

std::uint64_t load_arena_size(const model& m) {
    std::uint64_t at = 0;
    for (std::uint32_t k = 0; k < load_ranks; ++k)
        for (const tensor_def& d : m.tensors)
            at += ((cut(d.shape[0], load_ranks, k + 1) - cut(d.shape[0], load_ranks, k)) * d.row() * d.elem() + 63) / 64 * 64;
    return at;
}

template <class View>
void read_batch(const ck::storage_reader& r, const std::vector<ck::region_request<View>>& rq) {
    bench::check(r.read_all(std::span<const ck::region_request<View>>(rq)), "storage_reader::read_all");
}

bench::timing ours_load(const std::string& dir, const std::vector<load_rank>& ranks, unsigned threads) {
    bench::stopwatch sw;
    for (const load_rank& l : ranks) {  // each destination rank opens the checkpoint, as a process would
        auto r = ck::storage_reader::open(dir, ck::storage_reader_options{.thread_count = threads});
        bench::check(r, "storage_reader::open");
        read_batch(*r, l.f2);
        read_batch(*r, l.b2);
        read_batch(*r, l.f1);
    }
    return sw.stop();
}

void verify_load(const model& m, const std::vector<load_rank>& ranks, std::byte* arena, const char* what) {
    for (const load_rank& l : ranks)
        for (std::size_t t = 0; t < m.tensors.size(); ++t) {
            const std::uint64_t len[2] = {l.rows[t], m.tensors[t].row()};
            if (!pattern_box<true>(m.tensors[t], t, l.offsets[t].data(), len, arena + l.dst[t]))
                bench::die(what, "wrong values in " + m.tensors[t].name);
        }
}

struct data_section {
    std::string path;
    std::uint64_t offset = 0, size = 0, dst = 0;
};

bench::timing raw_load(const std::vector<data_section>& files, std::byte* arena, unsigned threads) {
    bench::stopwatch sw;
    bench::on_threads(threads, [&](unsigned k) {
        for (std::size_t f = k; f < files.size(); f += std::max(threads, 1u)) {
            const data_section& s = files[f];
            int fd = bench::open_or_die(s.path, O_RDONLY);
            for (std::uint64_t at = 0; at < s.size; at += block)
                bench::pread_all(fd, arena + s.dst + at, static_cast<std::size_t>(std::min<std::uint64_t>(block, s.size - at)),
                                 s.offset + at);
            ::close(fd);
        }
    });
    return sw.stop();
}

// The second limit of the resharded load: the same reads the library makes, by hand. Each
// piece of a saved chunk that a destination slab needs is one byte range of its file; where it
// lands whole (a row chunk) it is one pread straight into place, and where it lands as short
// strided runs (a column chunk's rows) it is read in cache-sized windows and each run copied
// out with memcpy. Same order as read_all: per batch, file by file, front to back; on several
// threads the batch is cut in equal byte shares, one per thread.
struct same_run {
    std::uint32_t file = 0;
    std::uint64_t offset = 0, bytes = 0;  // in the file
    std::byte* dst = nullptr;
    std::uint64_t run = 0, dst_stride = 0;  // run == bytes: contiguous
};
using same_batch = std::vector<same_run>;  // sorted by file, then offset

constexpr std::size_t same_window = std::size_t{256} << 10;

template <class View>
same_batch same_runs_of(const ck::storage_reader& r, const std::vector<ck::region_request<View>>& rq) {
    same_batch out;
    for (const auto& q : rq) {
        const ck::tensor_metadata& m = *r.find(q.name);
        const std::uint64_t elem = safeshard::bits(m.dtype) / 8;
        const std::uint64_t cols = m.rank() > 1 ? m.shape[1] : 1, row_bytes = cols * elem;
        const std::uint64_t r0 = q.offsets[0], r1 = r0 + static_cast<std::uint64_t>(q.dst.extent(0));
        auto* base = reinterpret_cast<std::byte*>(q.dst.data_handle());
        for (std::size_t c = 0; c < m.chunks.size(); ++c) {
            const ck::chunk_box& b = m.boxes[c];
            const std::uint64_t a = std::max(r0, b.offsets[0]), e = std::min(r1, b.offsets[0] + b.sizes[0]);
            if (a >= e) continue;
            const std::uint64_t ccols = m.rank() > 1 ? b.sizes[1] : 1, c0 = m.rank() > 1 ? b.offsets[1] : 0;
            const std::uint64_t run = ccols * elem;
            const auto& file = r.metadata().files()[m.chunks[c].file];
            same_run s;
            s.file = m.chunks[c].file;
            s.offset = file.reader.header().data_offset() + m.chunks[c].info->begin + (a - b.offsets[0]) * run;
            s.bytes = (e - a) * run;
            s.dst = base + (a - r0) * row_bytes + c0 * elem;
            s.run = ccols == cols ? s.bytes : run;
            s.dst_stride = row_bytes;
            out.push_back(s);
        }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const same_run& x, const same_run& y) { return x.file != y.file ? x.file < y.file : x.offset < y.offset; });
    return out;
}

struct same_rank {
    std::vector<same_batch> batches;
};

std::vector<same_rank> make_same_ranks(const std::string& dir, const std::vector<load_rank>& ranks) {
    auto r = ck::storage_reader::open(dir);
    bench::check(r, "storage_reader::open");
    std::vector<same_rank> out;
    for (const load_rank& l : ranks)
        out.push_back(same_rank{{same_runs_of(*r, l.f2), same_runs_of(*r, l.b2), same_runs_of(*r, l.f1)}});
    return out;
}

bench::timing same_runs_load(const std::vector<std::string>& files, const std::vector<same_rank>& ranks, unsigned threads) {
    bench::stopwatch sw;
    threads = std::max(threads, 1u);
    static thread_local std::vector<std::byte> window(same_window);  // reused, as the library's is
    for (const same_rank& rank : ranks) {
        std::vector<int> fds;
        for (const auto& f : files) fds.push_back(bench::open_or_die(f, O_RDONLY));
        for (const same_batch& batch : rank.batches) {
            std::uint64_t total = 0;
            for (const same_run& s : batch) total += s.bytes;
            bench::on_threads(threads, [&](unsigned k) {
                window.resize(same_window);
                std::uint64_t before = 0;  // bytes of the batch before this run
                for (const same_run& s : batch) {
                    const std::uint64_t mid = before + s.bytes / 2;
                    before += s.bytes;
                    if (mid * threads / std::max<std::uint64_t>(total, 1) != k) continue;
                    if (s.run == s.bytes) {
                        bench::pread_all(fds[s.file], s.dst, static_cast<std::size_t>(s.bytes), s.offset);
                        continue;
                    }
                    const std::uint64_t per = std::max<std::uint64_t>(1, same_window / s.run);
                    std::byte* to = s.dst;
                    for (std::uint64_t at = 0; at < s.bytes; at += per * s.run) {
                        const std::uint64_t n = std::min(per * s.run, s.bytes - at);
                        bench::pread_all(fds[s.file], window.data(), static_cast<std::size_t>(n), s.offset + at);
                        for (std::uint64_t i = 0; i < n; i += s.run, to += s.dst_stride)
                            std::memcpy(to, window.data() + i, static_cast<std::size_t>(s.run));
                    }
                }
            });
        }
        for (int fd : fds) ::close(fd);
    }
    return sw.stop();
}

// ---- reporting -------------------------------------------------------------------------------

// The row, then the runs; with one thread also that thread's CPU time.
void print_row(const std::string& label, std::uint64_t bytes, const bench::pair_result& r, double target, bool cpu) {
    const double ratio = bench::pair_row(62, label.c_str(), bytes, r);
    std::printf("  %.1f: %s\n", target, bench::verdict(ratio >= target));
    std::fflush(stdout);
    bench::print_runs("    ", r, "raw", cpu);
}

}  // namespace

int main(int argc, char** argv) {
    bench::options opt(argc, argv, {"size", "reps", "dir", "threads", "cases"},
                       "usage: checkpoint [size] [reps] [dir] [threads] [cases]\n"
                       "  size     total tensor bytes of the model, K/M/G suffixes (default 1G; hidden size\n"
                       "           scales with its square root, layers fill it)\n"
                       "  reps     timed saves of each kind (default 3); loads run max(5, reps) times\n"
                       "  dir      where to make the temp directory (default /tmp); removed at exit\n"
                       "  threads  threads of the multi-threaded cases (default 2)\n"
                       "  cases    save, load or all (default all); load still saves the checkpoint once, untimed\n");
    const std::uint64_t size = opt.bytes("size", std::uint64_t{1} << 30);
    const int reps = opt.integer("reps", 3);
    const int load_reps = std::max(5, reps);
    const auto threads = static_cast<unsigned>(opt.integer("threads", 2));
    const std::string cases = opt.str("cases", "all");
    if (cases != "all" && cases != "save" && cases != "load") opt.fail("cases is save, load or all");
    const std::string dir = bench::make_temp_dir(opt.str("dir"));

    const model m = make_model(size);
    std::uint64_t file_bytes = 0;
    std::vector<std::string> ours_files, raw_files;
    for (std::uint32_t r = 0; r < save_ranks; ++r) {
        ours_files.push_back(ours_name(dir, r));
        raw_files.push_back(raw_name(dir, r));
    }

    std::printf("checkpoint: %zu tensors (BF16 embedding and attention, F32 MLP, norms and lm_head), %.2f GiB; "
                "hidden %llu, ffn %llu, vocab %llu, %llu layers; in %s\n",
                m.tensors.size(), bench::gib(m.total), static_cast<unsigned long long>(m.hidden),
                static_cast<unsigned long long>(m.ffn), static_cast<unsigned long long>(m.vocab),
                static_cast<unsigned long long>(m.layers), dir.c_str());
    std::printf("  save: %u ranks, each a row or column chunk of every tensor, one file each; load: %u ranks, each\n"
                "  rows [n*k/3, n*(k+1)/3) of every tensor into pre-faulted memory (page cache warm)\n"
                "  ratio = raw time / ours time of the medians; paired = median of per-run ratios; best = fastest runs\n\n",
                save_ranks, load_ranks);
    bench::pair_head(62, "raw GB/s");
    std::printf("  %s\n", "target (ratio)");
    std::fflush(stdout);

    // 1. Save.
    {
        std::vector<save_rank> ranks = make_save_ranks(m);
        std::vector<ck::rank_state> states;
        for (const auto& s : ranks) states.push_back(s.state);

        // Once, untimed: the library's files hold the arenas' bytes after their headers; keep
        // the headers so that the raw writer writes exactly the same files.
        ours_save(dir, states, 1);
        for (std::uint32_t r = 0; r < save_ranks; ++r) {
            save_rank& s = ranks[r];
            int fd = bench::open_or_die(ours_files[r], O_RDONLY);
            std::uint64_t n = 0;
            bench::pread_all(fd, reinterpret_cast<std::byte*>(&n), 8, 0);
            s.header.resize(static_cast<std::size_t>(8 + n));
            bench::pread_all(fd, reinterpret_cast<std::byte*>(s.header.data()), s.header.size(), 0);
            if (bench::file_size(ours_files[r]) != s.header.size() + s.data_size) bench::die("save", "unexpected file size");
            std::vector<std::byte> buf(block);
            for (std::uint64_t at = 0; at < s.data_size; at += block) {
                auto len = static_cast<std::size_t>(std::min<std::uint64_t>(block, s.data_size - at));
                bench::pread_all(fd, buf.data(), len, s.header.size() + at);
                if (std::memcmp(buf.data(), s.arena.data() + at, len) != 0) bench::die("save", "data differs in " + ours_files[r]);
            }
            ::close(fd);
            file_bytes += s.header.size() + s.data_size;
        }
        bench::remove_and_sync(ours_files, dir);

        // After each run, untimed: every file whole, then removed.
        auto settle = [&](const std::vector<std::string>& files, const char* what) {
            std::uint64_t got = 0;
            for (const auto& f : files) got += bench::file_size(f);
            if (got != file_bytes) bench::die(what, "unexpected file sizes");
            bench::remove_and_sync(files, dir);
        };
        for (unsigned th : {1u, threads}) {
            if (cases == "load") break;
            const bench::pair_result res = bench::alternate(
                reps,
                [&](int) {
                    auto t = ours_save(dir, states, th);
                    settle(ours_files, "save");
                    return t;
                },
                [&](int) {
                    auto t = raw_save(dir, ranks, th);
                    settle(raw_files, "raw write");
                    return t;
                });
            std::string label = th == 1 ? "save 8 ranks in turn vs write 8 MiB + fsync per file"
                                        : "save 8 ranks on " + std::to_string(th) + " threads vs raw on as many";
            print_row(label, file_bytes, res, 0.9, th == 1);
            if (threads == 1) break;
        }
        ours_save(dir, states, 1);  // the checkpoint the loads read
    }  // the source arenas are freed here

    // 2. Resharded load 8 -> 3.
    if (cases != "save") {
        std::vector<data_section> sections;
        std::uint64_t at = 0;
        for (std::uint32_t r = 0; r < save_ranks; ++r) {
            int fd = bench::open_or_die(ours_files[r], O_RDONLY);
            std::uint64_t n = 0;
            bench::pread_all(fd, reinterpret_cast<std::byte*>(&n), 8, 0);
            ::close(fd);
            data_section s{ours_files[r], 8 + n, bench::file_size(ours_files[r]) - 8 - n, at};
            at += s.size;
            sections.push_back(s);
        }
        if (at != m.total) bench::die("load", "data sections do not add up to the model");
        bench::region arena(static_cast<std::size_t>(std::max(at, load_arena_size(m))), bench::pages::small);
        arena.prefault();
        std::vector<load_rank> ranks = make_load_ranks(m, arena.data());
        for (int w = 0; w < 2; ++w)
            for (const auto& f : ours_files) bench::warm_file(f);

        const std::vector<same_rank> same = make_same_ranks(dir, ranks);
        for (unsigned th : {1u, threads}) {
            std::memset(arena.data(), 0, arena.size());
            same_runs_load(ours_files, same, th);  // the hand-made limit loads the same values
            verify_load(m, ranks, arena.data(), "same runs by hand");
            std::memset(arena.data(), 0, arena.size());
            ours_load(dir, ranks, th);  // warm-up, and the check
            verify_load(m, ranks, arena.data(), "storage_reader::read_all");
            raw_load(sections, arena.data(), th);
            const std::string n = std::to_string(th);
            const bench::pair_result res = bench::alternate(
                load_reps, [&](int) { return ours_load(dir, ranks, th); }, [&](int) { return raw_load(sections, arena.data(), th); });
            print_row(th == 1 ? "load 8->3 row slabs, read_all, 1 thread vs pread 8 MiB"
                              : "same, thread_count " + n + " vs pread on " + n + " threads",
                      m.total, res, 0.8, th == 1);
            const bench::pair_result same_res = bench::alternate(
                load_reps, [&](int) { return ours_load(dir, ranks, th); }, [&](int) { return same_runs_load(ours_files, same, th); });
            print_row("  same, vs its reads by hand: pread + memcpy of runs, " + n + (th == 1 ? " thread" : " threads"), m.total,
                      same_res, 0.9, false);
            if (threads == 1) break;
        }
    }
    return 0;
}
