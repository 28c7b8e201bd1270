// SPDX-License-Identifier: MIT
// The safeshard command: inspect and verify safetensors files and checkpoints, extract and
// compare tensors, consolidate sharded checkpoints, built on the public API only.

#include <safeshard/safeshard.hpp>

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

namespace {

using namespace safeshard;
namespace ck = safeshard::checkpoint;

constexpr const char* usage_text =
    "usage: safeshard <command> [options]\n"
    "\n"
    "commands:\n"
    "  inspect FILE [--json] [--hash]   list the tensors and metadata of a safetensors file\n"
    "                                   --json: one JSON object {\"metadata\", \"tensors\"} sorted by name\n"
    "                                   --hash: add each tensor's FNV-1a 64 checksum\n"
    "  inspect DIR [--json]             list a checkpoint's files and tensors (dtype, global shape,\n"
    "                                   chunks); --json: {\"tensors\"} sorted by name, each with its\n"
    "                                   chunks' offsets, sizes and file\n"
    "  verify FILE|DIR...               check files against the format and directories as whole\n"
    "                                   checkpoints; exit 1 and one line per bad argument on\n"
    "                                   stderr when any is invalid\n"
    "  extract PATH NAME [--offsets A,B,..] [--lengths C,D,..] --out FILE\n"
    "                                   write tensor NAME of the checkpoint or file PATH (or the\n"
    "                                   box at --offsets of size --lengths) to FILE as raw\n"
    "                                   little-endian row-major bytes\n"
    "  diff A B                         compare two checkpoints or files of any layout: names,\n"
    "                                   dtypes, global shapes and bytes; exit 0 when the same,\n"
    "                                   1 with the first differences, 2 on errors\n"
    "  consolidate IN_DIR OUT_DIR [--mapping FILE | --max-shard-size SIZE] [--threads N]\n"
    "                                   merge the DCP-sharded checkpoint IN_DIR into full tensors\n"
    "                                   in OUT_DIR/model-I-of-N.safetensors plus\n"
    "                                   model.safetensors.index.json; one file by default\n"
    "                                   --mapping: a JSON object {name: file index >= 1}, or a\n"
    "                                   model.safetensors.index.json whose layout to follow\n"
    "                                   --max-shard-size: files of at most SIZE bytes, split as\n"
    "                                   Hugging Face does (5GB, 500MB, 10KB = powers of 10;\n"
    "                                   2GiB, 500MiB, 10KiB = powers of 2; or plain bytes)\n"
    "                                   --threads: threads in all, 2 by default\n"
    "                                   a progress bar on stderr when it is a terminal; exit 1\n"
    "                                   on errors (all checks run before anything is written)\n"
    "  help                             this text\n";

/// Largest buffer one slab of `extract` or `diff` uses (diff holds two of half this size).
/// `SAFESHARD_CLI_SLAB_BYTES` lowers it, so the tests can run the slab loop on small tensors.
std::uint64_t slab_limit() {
    std::uint64_t cap = std::uint64_t{64} << 20;
    if (const char* env = std::getenv("SAFESHARD_CLI_SLAB_BYTES")) {
        char* end = nullptr;
        unsigned long long v = std::strtoull(env, &end, 10);
        if (end != env && *end == '\0' && v > 0 && v < cap) cap = v;
    }
    return cap;
}

int usage_error(const char* what) {
    std::fprintf(stderr, "safeshard: %s\n\n%s", what, usage_text);
    return 2;
}

void print_error(const error_info& e) {
    char buf[640];
    e.format(buf, sizeof buf);
    std::fprintf(stderr, "%s\n", buf);
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c == '\b') out += "\\b";
        else if (c == '\f') out += "\\f";
        else if (c < 0x20) {
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else out.push_back(ch);
    }
    out.push_back('"');
}

std::string shape_text(std::span<const std::uint64_t> shape, const char* sep) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += sep;
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

std::vector<const tensor_info*> sorted_by_name(const file_reader& r) {
    std::vector<const tensor_info*> v;
    v.reserve(r.tensors().size());
    for (const auto& t : r.tensors()) v.push_back(&t);
    std::sort(v.begin(), v.end(), [](const tensor_info* a, const tensor_info* b) { return a->name < b->name; });
    return v;
}

bool is_directory(const char* path) {
    std::error_code ec;
    return std::filesystem::is_directory(std::filesystem::path(path), ec);
}

std::string dims_text(std::span<const std::uint64_t> v) { return shape_text(v, ", "); }

int inspect_checkpoint(const char* path, bool json) {
    auto opened = ck::checkpoint_metadata::open(path);
    if (!opened) {
        print_error(error_info(opened.error()).default_file(path));
        return 1;
    }
    const ck::checkpoint_metadata& cp = *opened;
    auto tensors = cp.tensors();
    auto files = cp.files();
    std::string out;
    if (json) {
        out += "{\"tensors\":[";
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const ck::tensor_metadata& t = tensors[i];
            out += i ? ",\n" : "\n";
            out += "{\"name\":";
            append_json_string(out, t.name);
            out += ",\"dtype\":\"";
            out += name(t.dtype);
            out += "\",\"shape\":" + shape_text(t.shape, ",");
            out += ",\"chunks\":[";
            for (std::size_t c = 0; c < t.chunks.size(); ++c) {
                if (c) out += ',';
                out += "{\"offsets\":" + shape_text(t.boxes[c].offsets, ",");
                out += ",\"sizes\":" + shape_text(t.boxes[c].sizes, ",");
                out += ",\"file\":";
                append_json_string(out, files[t.chunks[c].file].name);
                out += '}';
            }
            out += "]}";
        }
        out += tensors.empty() ? "]}\n" : "\n]}\n";
    } else {
        out += path;
        out += ": checkpoint of " + std::to_string(files.size()) + (files.size() == 1 ? " file, " : " files, ") +
               std::to_string(tensors.size()) + " tensors, " + std::to_string(cp.total_size()) + " data bytes, " +
               (cp.has_index() ? "with " + std::string(ck::index_file_name) : std::string("no index")) + "\n";
        out += "files:\n";
        for (const auto& f : files) {
            out += "  ";
            out += f.name;
            out += f.has_sharding_info ? "  (DCP_SHARDING_INFO)\n" : "\n";
        }
        std::size_t name_w = 4, shape_w = 5;
        for (const auto& t : tensors) {
            name_w = std::max(name_w, t.name.size());
            shape_w = std::max(shape_w, dims_text(t.shape).size());
        }
        auto row = [&](std::string_view n, std::string_view d, std::string_view s, std::string_view b, std::string_view c) {
            out += n;
            out.append(name_w - n.size() + 2, ' ');
            out += d;
            out.append(13 - d.size(), ' ');
            out += s;
            out.append(shape_w - s.size() + 2, ' ');
            out.append(b.size() < 14 ? 14 - b.size() : 0, ' ');
            out += b;
            out.append(c.size() < 8 ? 8 - c.size() : 0, ' ');
            out += c;
            out += '\n';
        };
        row("name", "dtype", "shape", "bytes", "chunks");
        for (const auto& t : tensors)
            row(t.name, name(t.dtype), dims_text(t.shape), std::to_string(t.byte_size()), std::to_string(t.chunks.size()));
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
}

/// A directory as a whole checkpoint (every check of opening it), then each of its files as
/// `verify FILE` checks them. Prints one line for the first problem; false when there is one.
bool verify_checkpoint(const char* path) {
    auto cp = ck::checkpoint_metadata::open(path);
    if (!cp) {
        print_error(error_info(cp.error()).default_file(path));
        return false;
    }
    for (std::uint32_t i = 0; i < cp->files().size(); ++i) {
        std::string full = cp->file_path(i);
        auto r = file_reader::open(full);
        if (!r) {
            print_error(error_info(r.error()).default_file(full));
            return false;
        }
    }
    return true;
}

/// Parses "a,b,c" (non-negative decimal integers that fit in 64 bits); an empty text is an
/// empty list (a scalar's offsets).
bool parse_dims(std::string_view text, std::vector<std::uint64_t>& out) {
    out.clear();
    if (text.empty()) return true;
    std::size_t start = 0;
    while (true) {
        std::size_t comma = text.find(',', start);
        std::string_view part = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (part.empty()) return false;
        std::uint64_t v = 0;
        for (char ch : part) {
            if (ch < '0' || ch > '9') return false;
            auto digit = static_cast<std::uint64_t>(ch - '0');
            if (v > (~std::uint64_t{0} - digit) / 10) return false;
            v = v * 10 + digit;
        }
        out.push_back(v);
        if (comma == std::string_view::npos) return true;
        start = comma + 1;
    }
}

/// Calls `fn(offsets, lengths, bytes)` for slabs of the box [off, off + len) of a tensor with
/// `elem`-byte elements, in row-major order: each slab is contiguous in the box's row-major
/// bytes and at most `cap` bytes (one element at least). Slabs run along dimension 0 when a
/// row fits in `cap`, along a later dimension otherwise. Returns the first error of `fn`.
template <class Fn>
error_info for_each_slab(std::span<const std::uint64_t> off, std::span<const std::uint64_t> len, std::uint64_t elem,
                         std::uint64_t cap, Fn&& fn) {
    const std::size_t rank = len.size();
    if (rank == 0) return fn(off, len, elem);
    for (auto l : len)
        if (l == 0) return {};
    std::vector<std::uint64_t> step(rank);  // bytes of one index step along each dimension
    for (std::size_t d = rank; d-- > 0;) step[d] = d + 1 < rank ? step[d + 1] * len[d + 1] : elem;
    std::size_t s = 0;
    while (step[s] > cap && s + 1 < rank) ++s;
    const std::uint64_t rows = std::min(len[s], std::max<std::uint64_t>(1, cap / step[s]));
    std::vector<std::uint64_t> so(off.begin(), off.end()), sl(len.begin(), len.end()), idx(s, 0);
    for (std::size_t d = 0; d < s; ++d) sl[d] = 1;
    for (std::uint64_t pos = 0;;) {
        for (std::size_t d = 0; d < s; ++d) so[d] = off[d] + idx[d];
        so[s] = off[s] + pos;
        sl[s] = std::min(rows, len[s] - pos);
        if (auto e = fn(std::span<const std::uint64_t>(so), std::span<const std::uint64_t>(sl), sl[s] * step[s]);
            e.code != errc::ok)
            return e;
        pos += sl[s];
        if (pos < len[s]) continue;
        pos = 0;
        std::size_t d = s;
        while (d > 0 && ++idx[d - 1] == len[d - 1]) idx[--d] = 0;
        if (d == 0) return {};
    }
}

/// Reads bytes [at, at + out.size()) of a tensor saved whole in one chunk, as stored (the
/// only way to read sub-byte dtypes, whose regions are not byte-addressable).
error_info read_packed(const ck::storage_reader& r, const ck::tensor_metadata& t, std::uint64_t at, std::span<std::byte> out) {
    if (t.chunks.size() != 1)
        return error_info(errc::unsupported_conversion).in_file(r.metadata().directory()).at_tensor(t.name).with_detail(
            "sub-byte dtype saved in " + std::to_string(t.chunks.size()) + " chunks: not byte-addressable");
    const auto& c = t.chunks[0];
    const auto& f = r.metadata().files()[c.file];
    if (auto st = f.reader.source().read(f.reader.header().data_offset() + c.info->begin + at, out); !st)
        return error_info(st.error()).default_file(r.metadata().file_path(c.file)).at_tensor(t.name);
    return {};
}

int extract(int argc, char** argv) {
    const char* path = nullptr;
    const char* tensor = nullptr;
    const char* out_path = nullptr;
    std::optional<std::vector<std::uint64_t>> offsets, lengths;
    for (int i = 0; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--offsets" || a == "--lengths" || a == "--out") {
            if (i + 1 == argc) return usage_error(a == "--out" ? "extract: --out needs a FILE" : "extract: --offsets and --lengths need a list");
            const char* v = argv[++i];
            if (a == "--out") {
                if (out_path) return usage_error("extract: --out given twice");
                out_path = v;
                continue;
            }
            auto& dst = a == "--offsets" ? offsets : lengths;
            if (dst) return usage_error("extract: --offsets or --lengths given twice");
            dst.emplace();
            if (!parse_dims(v, *dst)) {
                std::string m = "extract: " + std::string(a) + " \"" + v + "\" is not a comma-separated list of non-negative integers";
                return usage_error(m.c_str());
            }
        } else if (a.starts_with("--")) {
            return usage_error("extract: unknown option");
        } else if (!path) {
            path = argv[i];
        } else if (!tensor) {
            tensor = argv[i];
        } else {
            return usage_error("extract: one PATH and one NAME");
        }
    }
    if (!path || !tensor) return usage_error("extract: PATH and NAME needed");
    if (!out_path) return usage_error("extract: --out FILE missing");
    auto opened = ck::storage_reader::open(path);
    if (!opened) {
        print_error(error_info(opened.error()).default_file(path));
        return 1;
    }
    const ck::storage_reader& r = *opened;
    auto found = r.metadata().info(tensor);
    if (!found) {
        print_error(error_info(found.error()).in_file(path));
        return 1;
    }
    const ck::tensor_metadata& t = **found;
    const std::size_t rank = t.rank();
    auto fail = [&](errc code, const std::string& detail) {
        print_error(error_info(code).in_file(path).at_tensor(t.name).with_detail(detail));
        return 1;
    };
    for (const auto* given : {&offsets, &lengths})
        if (*given && (*given)->size() != rank)
            return fail(errc::invalid_argument, std::string(given == &offsets ? "--offsets" : "--lengths") + " has " +
                                                    std::to_string((*given)->size()) + " value(s); the tensor has rank " +
                                                    std::to_string(rank) + ", shape " + dims_text(t.shape));
    std::vector<std::uint64_t> off = offsets ? *offsets : std::vector<std::uint64_t>(rank, 0);
    std::vector<std::uint64_t> len(rank);  // without --lengths: to the end of each dimension
    for (std::size_t d = 0; d < rank; ++d)
        len[d] = lengths ? (*lengths)[d] : off[d] <= t.shape[d] ? t.shape[d] - off[d] : 0;
    for (std::size_t d = 0; d < rank; ++d)
        if (off[d] > t.shape[d] || len[d] > t.shape[d] - off[d])
            return fail(errc::out_of_bounds, "region at " + dims_text(off) + " of size " + dims_text(len) +
                                                 " is outside the global shape " + dims_text(t.shape));
    auto sink = io::atomic_file_sink::create(out_path);
    if (!sink) {
        print_error(error_info(sink.error()).default_file(out_path));
        return 1;
    }
    const std::uint64_t cap = slab_limit();
    std::vector<std::byte> buf;
    error_info e;
    if (bits(t.dtype) % 8 != 0) {
        // Sub-byte dtypes: the whole tensor only, as its stored bytes.
        if (len != t.shape)
            return fail(errc::unsupported_conversion, "sub-byte dtype: regions are not byte-addressable; extract the whole tensor");
        const std::uint64_t total = t.byte_size();
        buf.resize(static_cast<std::size_t>(std::min(total, cap)));
        for (std::uint64_t at = 0; at < total && e.code == errc::ok; at += buf.size()) {
            auto piece = std::span(buf).first(static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), total - at)));
            e = read_packed(r, t, at, piece);
            if (e.code == errc::ok) e = sink->write(piece).error();
        }
    } else {
        e = for_each_slab(off, len, bits(t.dtype) / 8, cap,
                          [&](std::span<const std::uint64_t> so, std::span<const std::uint64_t> sl, std::uint64_t bytes) -> error_info {
                              if (buf.size() < bytes) buf.resize(static_cast<std::size_t>(bytes));
                              auto piece = std::span(buf).first(static_cast<std::size_t>(bytes));
                              if (auto st = r.read_raw(t.name, so, sl, piece); !st) return st.error();
                              return sink->write(piece).error();
                          });
    }
    if (e.code == errc::ok) e = sink->commit().error();
    if (e.code != errc::ok) {
        print_error(e.default_file(out_path));
        return 1;
    }
    return 0;
}

/// The row-major multi-index of flat element `flat` in `shape`, as "[i, j, k]".
std::string multi_index(std::uint64_t flat, std::span<const std::uint64_t> shape) {
    std::vector<std::uint64_t> idx(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        idx[d] = shape[d] ? flat % shape[d] : 0;
        flat = shape[d] ? flat / shape[d] : 0;
    }
    return dims_text(idx);
}

/// Compares the bytes of tensor `ta` of `a` with `tb` of `b` (same dtype and shape). Sets
/// `first` to the first differing element's flat index when they differ.
error_info compare_tensor(const ck::storage_reader& a, const ck::tensor_metadata& ta, const ck::storage_reader& b,
                          const ck::tensor_metadata& tb, std::optional<std::uint64_t>& first) {
    const std::uint64_t cap = std::max<std::uint64_t>(slab_limit() / 2, 1);
    std::vector<std::byte> ba, bb;
    const unsigned nbits = bits(ta.dtype);
    // Where the slabs' bytes differ: the first differing bit, as an element of the tensor.
    auto mismatch = [&](std::uint64_t base_bit, std::span<const std::byte> x, std::span<const std::byte> y) {
        if (std::memcmp(x.data(), y.data(), x.size()) == 0) return false;
        std::size_t i = 0;
        while (x[i] == y[i]) ++i;
        auto diff = static_cast<unsigned>(std::to_integer<unsigned>(x[i]) ^ std::to_integer<unsigned>(y[i]));
        first = (base_bit + 8 * std::uint64_t{i} + static_cast<unsigned>(std::countr_zero(diff))) / nbits;
        return true;
    };
    if (nbits % 8 != 0) {
        const std::uint64_t total = ta.byte_size();
        ba.resize(static_cast<std::size_t>(std::min(total, cap)));
        bb.resize(ba.size());
        for (std::uint64_t at = 0; at < total; at += ba.size()) {
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(ba.size(), total - at));
            auto x = std::span(ba).first(n), y = std::span(bb).first(n);
            if (auto e = read_packed(a, ta, at, x); e.code != errc::ok) return e;
            if (auto e = read_packed(b, tb, at, y); e.code != errc::ok) return e;
            if (mismatch(8 * at, x, y)) return {};
        }
        return {};
    }
    std::vector<std::uint64_t> zeros(ta.rank(), 0);
    std::uint64_t done_bits = 0;
    error_info e = for_each_slab(zeros, ta.shape, nbits / 8, cap,
                                 [&](std::span<const std::uint64_t> so, std::span<const std::uint64_t> sl, std::uint64_t bytes) -> error_info {
                                     if (ba.size() < bytes) {
                                         ba.resize(static_cast<std::size_t>(bytes));
                                         bb.resize(static_cast<std::size_t>(bytes));
                                     }
                                     auto x = std::span(ba).first(static_cast<std::size_t>(bytes));
                                     auto y = std::span(bb).first(static_cast<std::size_t>(bytes));
                                     if (auto st = a.read_raw(ta.name, so, sl, x); !st) return st.error();
                                     if (auto st = b.read_raw(tb.name, so, sl, y); !st) return st.error();
                                     if (mismatch(done_bits, x, y)) return error_info(errc::invalid_argument);  // stops the walk
                                     done_bits += 8 * bytes;
                                     return {};
                                 });
    if (first) return {};  // the stop above was the mismatch, not an error
    return e;
}

int diff(int argc, char** argv) {
    if (argc != 2) return usage_error("diff: two paths needed, A and B");
    for (int i = 0; i < argc; ++i)
        if (std::string_view(argv[i]).starts_with("--")) return usage_error("diff: unknown option");
    auto a = ck::storage_reader::open(argv[0]);
    if (!a) {
        print_error(error_info(a.error()).default_file(argv[0]));
        return 2;
    }
    auto b = ck::storage_reader::open(argv[1]);
    if (!b) {
        print_error(error_info(b.error()).default_file(argv[1]));
        return 2;
    }
    constexpr std::size_t max_lines = 10;
    std::size_t found = 0;
    std::string out;
    auto report = [&](const std::string& line) {
        if (found++ < max_lines) out += line + "\n";
    };
    auto ta = a->tensors(), tb = b->tensors();
    std::size_t i = 0, j = 0;
    while ((i < ta.size() || j < tb.size()) && found <= max_lines) {
        if (j == tb.size() || (i < ta.size() && ta[i].name < tb[j].name)) {
            report("only in A: " + std::string(ta[i++].name));
        } else if (i == ta.size() || tb[j].name < ta[i].name) {
            report("only in B: " + std::string(tb[j++].name));
        } else {
            const auto& x = ta[i++];
            const auto& y = tb[j++];
            const std::string n(x.name);
            if (x.dtype != y.dtype) {
                report(n + ": dtype " + std::string(name(x.dtype)) + " in A, " + std::string(name(y.dtype)) + " in B");
            } else if (x.shape != y.shape) {
                report(n + ": shape " + dims_text(x.shape) + " in A, " + dims_text(y.shape) + " in B");
            } else {
                std::optional<std::uint64_t> first;
                if (auto e = compare_tensor(*a, x, *b, y, first); e.code != errc::ok) {
                    std::fwrite(out.data(), 1, out.size(), stdout);
                    std::fflush(stdout);
                    print_error(e);
                    return 2;
                }
                if (first) report(n + ": bytes differ, first at element " + multi_index(*first, x.shape));
            }
        }
    }
    if (found > max_lines) out += "(more differences not shown)\n";
    if (found == 0) {
        std::uint64_t bytes = 0;
        for (const auto& t : ta) bytes += t.byte_size();
        out += "same: " + std::to_string(ta.size()) + " tensors, " + std::to_string(bytes) + " bytes\n";
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (std::fflush(stdout) != 0) return 2;
    return found ? 1 : 0;
}

int inspect(int argc, char** argv) {
    const char* path = nullptr;
    bool json = false, hash = false;
    for (int i = 0; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--json") json = true;
        else if (a == "--hash") hash = true;
        else if (a.starts_with("--")) return usage_error("inspect: unknown option");
        else if (path) return usage_error("inspect: one FILE at a time");
        else path = argv[i];
    }
    if (!path) return usage_error("inspect: FILE missing");
    if (is_directory(path)) {
        if (hash) return usage_error("inspect: --hash is for a FILE, not a checkpoint directory");
        return inspect_checkpoint(path, json);
    }
    auto opened = file_reader::open(path);
    if (!opened) {
        print_error(opened.error());
        return 1;
    }
    const file_reader& r = *opened;
    auto tensors = sorted_by_name(r);
    std::vector<std::uint64_t> hashes(tensors.size());
    if (hash) {
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            auto h = tensor_fnv1a64(r.source(), r.header().data_offset(), *tensors[i]);
            if (!h) {
                print_error(error_info(h.error()).default_file(path));
                return 1;
            }
            hashes[i] = *h;
        }
    }
    std::string out;
    if (json) {
        out += "{\"metadata\":";
        if (!r.header().has_metadata()) {
            out += "null";
        } else {
            out += '{';
            bool first = true;
            for (const auto& m : r.header().metadata()) {
                if (!first) out += ',';
                first = false;
                append_json_string(out, m.key);
                out += ':';
                append_json_string(out, m.value);
            }
            out += '}';
        }
        out += ",\"tensors\":[";
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const tensor_info& t = *tensors[i];
            out += i ? ",\n" : "\n";
            out += "{\"name\":";
            append_json_string(out, t.name);
            out += ",\"dtype\":\"";
            out += name(t.dtype);
            out += "\",\"shape\":" + shape_text(t.shape, ",");
            out += ",\"data_offsets\":[" + std::to_string(t.begin) + "," + std::to_string(t.end) + "]";
            if (hash) {
                char buf[24];
                std::snprintf(buf, sizeof buf, "%016" PRIx64, hashes[i]);
                out += ",\"fnv1a64\":\"";
                out += buf;
                out += '"';
            }
            out += '}';
        }
        out += tensors.empty() ? "]}\n" : "\n]}\n";
    } else {
        std::size_t name_w = 4, shape_w = 5;
        for (const tensor_info* t : tensors) {
            name_w = std::max(name_w, t->name.size());
            shape_w = std::max(shape_w, shape_text(t->shape, ", ").size());
        }
        char line[256];
        std::snprintf(line, sizeof line, "%s: %zu tensors, %" PRIu64 " data bytes, header %" PRIu64 " bytes\n", path,
                      tensors.size(), r.header().data_size(), r.header().header_size());
        out += line;
        if (r.header().has_metadata()) {
            out += "metadata:\n";
            for (const auto& m : r.header().metadata()) {
                out += "  ";
                out += m.key;
                out += " = ";
                out += m.value;
                out += '\n';
            }
        }
        auto row = [&](std::string_view n, std::string_view d, std::string_view s, std::string_view b, std::string_view h) {
            out += n;
            out.append(name_w - n.size() + 2, ' ');
            out += d;
            out.append(13 - d.size(), ' ');
            out += s;
            out.append(shape_w - s.size() + 2, ' ');
            out.append(b.size() < 14 ? 14 - b.size() : 0, ' ');
            out += b;
            if (!h.empty()) {
                out += "  ";
                out += h;
            }
            out += '\n';
        };
        row("name", "dtype", "shape", "bytes", hash ? "fnv1a64" : "");
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const tensor_info& t = *tensors[i];
            char hb[24] = "";
            if (hash) std::snprintf(hb, sizeof hb, "%016" PRIx64, hashes[i]);
            row(t.name, name(t.dtype), shape_text(t.shape, ", "), std::to_string(t.byte_size()), hb);
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
}

int verify(int argc, char** argv) {
    if (argc == 0) return usage_error("verify: FILE missing");
    int bad = 0;
    for (int i = 0; i < argc; ++i) {
        if (is_directory(argv[i])) {
            if (!verify_checkpoint(argv[i])) ++bad;
            continue;
        }
        auto r = file_reader::open(argv[i]);
        if (!r) {
            print_error(error_info(r.error()).default_file(argv[i]));
            ++bad;
        }
    }
    return bad ? 1 : 0;
}

/// Parses a decimal integer of at most `max`; nullopt when it is not one.
std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t max = ~std::uint64_t{0}) {
    if (text.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') return std::nullopt;
        auto digit = static_cast<std::uint64_t>(ch - '0');
        if (v > (max - digit) / 10) return std::nullopt;
        v = v * 10 + digit;
    }
    return v;
}

/// A size as Hugging Face's `max_shard_size` takes it: digits, then optionally a unit, any
/// case: B; KB, MB, GB, TB (powers of 10); KiB, MiB, GiB, TiB (powers of 2). Positive.
std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    auto v = parse_count(text.substr(0, digits));
    if (!v || *v == 0) return std::nullopt;
    std::string unit;
    for (char ch : text.substr(digits)) unit.push_back(ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch);
    static constexpr struct {
        std::string_view name;
        std::uint64_t factor;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"kb", 1'000},
                 {"mb", 1'000'000},
                 {"gb", 1'000'000'000},
                 {"tb", 1'000'000'000'000},
                 {"kib", std::uint64_t{1} << 10},
                 {"mib", std::uint64_t{1} << 20},
                 {"gib", std::uint64_t{1} << 30},
                 {"tib", std::uint64_t{1} << 40}};
    for (const auto& u : units)
        if (unit == u.name) {
            if (*v > ~std::uint64_t{0} / u.factor) return std::nullopt;
            return *v * u.factor;
        }
    return std::nullopt;
}

/// Reads the whole of a (small) file.
error_info read_text(const char* path, std::string& out) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return error_info(errc::io_error).in_file(path).with_detail(std::string("open: ") + std::strerror(errno));
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    const bool failed = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    if (failed) return error_info(errc::io_error).in_file(path).with_detail(std::string("read: ") + std::strerror(err));
    return {};
}

/// The I of a `model-I-of-N.safetensors` file name (1 <= I <= N), else nullopt.
std::optional<std::uint32_t> model_file_index(std::string_view n) {
    constexpr std::string_view prefix = "model-", of = "-of-";
    if (!n.starts_with(prefix) || !n.ends_with(ck::file_suffix)) return std::nullopt;
    n = n.substr(prefix.size(), n.size() - prefix.size() - ck::file_suffix.size());
    const std::size_t at = n.find(of);
    if (at == std::string_view::npos) return std::nullopt;
    auto i = parse_count(n.substr(0, at), 0xffffffffu);
    auto total = parse_count(n.substr(at + of.size()), 0xffffffffu);
    if (!i || !total || *i == 0 || *i > *total) return std::nullopt;
    return static_cast<std::uint32_t>(*i);
}

/// Reads `--mapping FILE`: a JSON object {name: index >= 1}, or an index whose weight_map's
/// file names give the indices.
error_info load_mapping(const char* path, std::vector<std::pair<std::string, std::uint32_t>>& mapping) {
    std::string text;
    if (auto e = read_text(path, text); e.code != errc::ok) return e;
    auto bad = [&](std::string_view tensor, const std::string& what) {
        return error_info(errc::invalid_argument).in_file(path).at_tensor(tensor).with_detail(what);
    };
    simdjson::dom::parser parser;
    simdjson::padded_string padded(text);
    simdjson::dom::element root;
    if (auto err = parser.parse(padded).get(root); err != simdjson::SUCCESS)
        return bad("", std::string("mapping is not JSON: ") + simdjson::error_message(err));
    simdjson::dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) return bad("", "mapping is not a JSON object");
    simdjson::dom::element map;
    if (obj["weight_map"].get(map) == simdjson::SUCCESS && map.is_object()) {
        auto index = parse_index(text);
        if (!index) return error_info(index.error()).default_file(path);
        for (const auto& e : index->weight_map()) {
            auto i = model_file_index(e.file);
            if (!i) return bad(e.tensor, "file name \"" + std::string(e.file) + "\" is not model-I-of-N.safetensors");
            mapping.emplace_back(std::string(e.tensor), *i);
        }
        return {};
    }
    std::unordered_set<std::string_view> seen;
    for (auto field : obj) {
        if (!seen.insert(field.key).second) return bad(field.key, "name given twice in the mapping");
        std::uint64_t i = 0;
        if (field.value.get_uint64().get(i) != simdjson::SUCCESS || i > 0xffffffffu)
            return bad(field.key, "file index is not an integer from 1 to 4294967295");
        if (i == 0) return bad(field.key, "file index 0: indices are 1-based, as in model-00001-of-N");
        mapping.emplace_back(std::string(field.key), static_cast<std::uint32_t>(i));
    }
    return {};
}

/// "12.3 MB": decimal units, as the rates are.
std::string bytes_text(std::uint64_t n) {
    static constexpr const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    auto v = static_cast<double>(n);
    std::size_t u = 0;
    while (v >= 1000 && u + 1 < std::size(units)) v /= 1000, ++u;
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%" PRIu64 " B", n);
    else std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
    return buf;
}

/// The progress bar on stderr: bytes, percent, rate and time left, redrawn at most ten times a
/// second (and at the end); nothing when off.
class progress_bar {
public:
    using clock = std::chrono::steady_clock;
    explicit progress_bar(bool on) : on_(on), start_(clock::now()) {}

    void operator()(std::uint64_t done, std::uint64_t total) {
        if (!on_) return;
        const auto now = clock::now();
        if (shown_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        shown_ = true;
        const double secs = std::chrono::duration<double>(now - start_).count();
        const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
        const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1;
        constexpr int width = 30;
        char bar[width + 1];
        const int full = static_cast<int>(frac * width);
        for (int i = 0; i < width; ++i) bar[i] = i < full ? '#' : '.';
        bar[width] = '\0';
        char left[32] = "--:--";
        if (rate > 0) {
            auto s = static_cast<std::uint64_t>(static_cast<double>(total - done) / rate + 0.5);
            if (s >= 3600) std::snprintf(left, sizeof left, "%" PRIu64 ":%02u:%02u", s / 3600, static_cast<unsigned>(s / 60 % 60), static_cast<unsigned>(s % 60));
            else std::snprintf(left, sizeof left, "%u:%02u", static_cast<unsigned>(s / 60), static_cast<unsigned>(s % 60));
        }
        std::fprintf(stderr, "\r[%s] %3d%%  %s / %s  %.1f MB/s  %s left\033[K", bar, static_cast<int>(frac * 100),
                     bytes_text(done).c_str(), bytes_text(total).c_str(), rate / 1e6, left);
        std::fflush(stderr);
    }

    /// Ends the bar's line, if one was drawn.
    void finish() {
        if (shown_) std::fputc('\n', stderr);
        shown_ = false;
    }

private:
    bool on_;
    bool shown_ = false;
    clock::time_point start_, last_;
};

int consolidate(int argc, char** argv) {
    const char* in = nullptr;
    const char* out = nullptr;
    const char* mapping_path = nullptr;
    std::optional<std::uint64_t> max_size;
    std::optional<unsigned> threads;
    for (int i = 0; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--mapping" || a == "--max-shard-size" || a == "--threads") {
            if (i + 1 == argc) {
                std::string m = "consolidate: " + std::string(a) + " needs a value";
                return usage_error(m.c_str());
            }
            const char* v = argv[++i];
            if (a == "--mapping") {
                if (mapping_path) return usage_error("consolidate: --mapping given twice");
                mapping_path = v;
            } else if (a == "--max-shard-size") {
                if (max_size) return usage_error("consolidate: --max-shard-size given twice");
                max_size = parse_size(v);
                if (!max_size) {
                    std::string m = "consolidate: --max-shard-size \"" + std::string(v) +
                                    "\" is not a positive size (bytes, or with KB, MB, GB, TB, KiB, MiB, GiB, TiB)";
                    return usage_error(m.c_str());
                }
            } else {
                if (threads) return usage_error("consolidate: --threads given twice");
                auto n = parse_count(v, 1024);
                if (!n || *n == 0) {
                    std::string m = "consolidate: --threads \"" + std::string(v) + "\" is not a number from 1 to 1024";
                    return usage_error(m.c_str());
                }
                threads = static_cast<unsigned>(*n);
            }
        } else if (a.starts_with("--")) {
            return usage_error("consolidate: unknown option");
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return usage_error("consolidate: one IN_DIR and one OUT_DIR");
        }
    }
    if (!in || !out) return usage_error("consolidate: IN_DIR and OUT_DIR needed");
    if (mapping_path && max_size) return usage_error("consolidate: --mapping and --max-shard-size exclude each other");

    ck::consolidate_options opt;
    opt.threads = threads.value_or(2);
    progress_bar bar(isatty(2) == 1);
    const auto start = std::chrono::steady_clock::now();
    auto run = [&](const auto& layout) -> int {
        auto r = ck::consolidate(in, out, layout, opt, bar);
        bar.finish();
        if (!r) {
            print_error(error_info(r.error()).default_file(in));
            return 1;
        }
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::size_t tensors = 0;
        for (const auto& f : r->files) tensors += f.tensors.size();
        std::printf("consolidated %s into %s: %zu file%s and %s, %zu tensors, %" PRIu64 " bytes in %.2f s (%.1f MB/s)\n", in,
                    out, r->files.size(), r->files.size() == 1 ? "" : "s", std::string(ck::index_file_name).c_str(), tensors,
                    r->total_size, secs, secs > 0 ? static_cast<double>(r->total_size) / secs / 1e6 : 0.0);
        return std::fflush(stdout) == 0 ? 0 : 1;
    };
    if (mapping_path) {
        std::vector<std::pair<std::string, std::uint32_t>> mapping;
        if (auto e = load_mapping(mapping_path, mapping); e.code != errc::ok) {
            print_error(e);
            return 1;
        }
        return run(ck::mapped_files(std::move(mapping)));
    }
    if (max_size) return run(ck::size_capped{*max_size});
    return run(ck::single_file{});
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage_error("no command given");
    std::string_view cmd = argv[1];
    if (cmd == "inspect") return inspect(argc - 2, argv + 2);
    if (cmd == "verify") return verify(argc - 2, argv + 2);
    if (cmd == "extract") return extract(argc - 2, argv + 2);
    if (cmd == "diff") return diff(argc - 2, argv + 2);
    if (cmd == "consolidate") return consolidate(argc - 2, argv + 2);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
        std::fputs(usage_text, stdout);
        return 0;
    }
    return usage_error("unknown command");
}
