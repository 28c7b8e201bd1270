// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_TOOLS_CLI_INSPECT_HPP
#define SAFESHARD_TOOLS_CLI_INSPECT_HPP

// `safeshard inspect`: lists a safetensors file's metadata and tensors (name, dtype, shape,
// bytes, optionally an FNV-1a 64 checksum each), or a checkpoint directory's files and
// tensors with their global shapes and chunks; as aligned text, or as JSON sorted by name.

#include "common.hpp"

#include <safeshard/safeshard.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace safeshard::cli {

inline std::vector<const tensor_info*> sorted_by_name(const file_reader& r) {
    std::vector<const tensor_info*> v;
    v.reserve(r.tensors().size());
    for (const auto& t : r.tensors()) v.push_back(&t);
    std::sort(v.begin(), v.end(), [](const tensor_info* a, const tensor_info* b) { return a->name < b->name; });
    return v;
}

// A tensor's JSON object up to its shape (`{"name":…,"dtype":…,"shape":[…]`), after the
// separator from the one before; file and checkpoint listings add their own fields.
inline void append_tensor_json_start(std::string& out, std::size_t i, std::string_view tensor, dtype type,
                                     std::span<const std::uint64_t> shape) {
    out += i ? ",\n" : "\n";
    out += "{\"name\":";
    append_json_string(out, tensor);
    out += ",\"dtype\":\"";
    out += name(type);
    out += "\",\"shape\":" + shape_text(shape, ",");
}

// The columns every tensor table starts with: name, dtype and shape left-aligned (name and
// shape as wide as their longest entry), bytes right-aligned. The caller ends the row.
struct tensor_table {
    std::size_t name_w = 4, shape_w = 5;

    void fit(std::string_view tensor, std::string_view shape) {
        name_w = std::max(name_w, tensor.size());
        shape_w = std::max(shape_w, shape.size());
    }
    void start_row(std::string& out, std::string_view n, std::string_view d, std::string_view s, std::string_view b) const {
        out += n;
        out.append(name_w - n.size() + 2, ' ');
        out += d;
        out.append(13 - d.size(), ' ');
        out += s;
        out.append(shape_w - s.size() + 2, ' ');
        out.append(b.size() < 14 ? 14 - b.size() : 0, ' ');
        out += b;
    }
};

inline int inspect_checkpoint(const char* path, bool json) {
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
            append_tensor_json_start(out, i, t.name, t.dtype, t.shape);
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
        tensor_table table;
        for (const auto& t : tensors) table.fit(t.name, dims_text(t.shape));
        auto row = [&](std::string_view n, std::string_view d, std::string_view s, std::string_view b, std::string_view c) {
            table.start_row(out, n, d, s, b);
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

inline int inspect(int argc, char** argv) {
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
            append_tensor_json_start(out, i, t.name, t.dtype, t.shape);
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
        tensor_table table;
        for (const tensor_info* t : tensors) table.fit(t->name, dims_text(t->shape));
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
            table.start_row(out, n, d, s, b);
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
            row(t.name, name(t.dtype), dims_text(t.shape), std::to_string(t.byte_size()), hb);
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace safeshard::cli

#endif  // SAFESHARD_TOOLS_CLI_INSPECT_HPP
