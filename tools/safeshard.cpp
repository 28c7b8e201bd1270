// SPDX-License-Identifier: MIT
// The safeshard command: inspect and verify safetensors files, built on the public API only.

#include <safeshard/safeshard.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace safeshard;

constexpr const char* usage_text =
    "usage: safeshard <command> [options]\n"
    "\n"
    "commands:\n"
    "  inspect FILE [--json] [--hash]   list the tensors and metadata of a safetensors file\n"
    "                                   --json: one JSON object {\"metadata\", \"tensors\"} sorted by name\n"
    "                                   --hash: add each tensor's FNV-1a 64 checksum\n"
    "  verify FILE...                   check files against the format; exit 1 and one line\n"
    "                                   per problem on stderr when any is invalid\n"
    "  help                             this text\n";

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
        auto r = file_reader::open(argv[i]);
        if (!r) {
            print_error(error_info(r.error()).default_file(argv[i]));
            ++bad;
        }
    }
    return bad ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage_error("no command given");
    std::string_view cmd = argv[1];
    if (cmd == "inspect") return inspect(argc - 2, argv + 2);
    if (cmd == "verify") return verify(argc - 2, argv + 2);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
        std::fputs(usage_text, stdout);
        return 0;
    }
    return usage_error("unknown command");
}
