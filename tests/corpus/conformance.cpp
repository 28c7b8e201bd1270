// SPDX-License-Identifier: MIT
// Conformance against the shared corpus: files written by the reference Rust crate (golden),
// by real tools (real), and crafted hostile files with the reference's verdicts. Summaries
// are compared field by field after parsing each `.info.json` independently (simdjson DOM).

#include <safeshard/safeshard.hpp>

#include "../support/corpus.hpp"

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace safeshard;

namespace {

std::vector<std::byte> slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(f)), {});
    std::vector<std::byte> out(c.size());
    if (!c.empty()) std::memcpy(out.data(), c.data(), c.size());
    return out;
}

struct expected_tensor {
    std::string name, dtype, hash;
    std::vector<std::uint64_t> shape;
    std::uint64_t begin = 0, end = 0;
};
struct expected_summary {
    bool has_metadata = false;
    std::map<std::string, std::string> metadata;
    std::vector<expected_tensor> tensors;
};

expected_summary read_info(const fs::path& p) {
    expected_summary s;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE_MESSAGE(parser.load(p.string()).get(doc) == simdjson::SUCCESS, p.string());
    // Every access goes through get(): a summary of the wrong shape fails the test, not UB.
    auto text = [](simdjson::dom::element el, const char* key) {
        std::string_view v;
        REQUIRE_MESSAGE(el[key].get(v) == simdjson::SUCCESS, key);
        return std::string(v);
    };
    simdjson::dom::element meta;
    REQUIRE(doc["metadata"].get(meta) == simdjson::SUCCESS);
    if (!meta.is_null()) {
        s.has_metadata = true;
        simdjson::dom::object obj;
        REQUIRE(meta.get(obj) == simdjson::SUCCESS);
        for (auto kv : obj) {
            std::string_view v;
            REQUIRE(kv.value.get(v) == simdjson::SUCCESS);
            s.metadata[std::string(kv.key)] = std::string(v);
        }
    }
    simdjson::dom::array tensors;
    REQUIRE(doc["tensors"].get(tensors) == simdjson::SUCCESS);
    for (simdjson::dom::element t : tensors) {
        expected_tensor e;
        e.name = text(t, "name");
        e.dtype = text(t, "dtype");
        e.hash = text(t, "fnv1a64");
        simdjson::dom::array shape, offs;
        REQUIRE(t["shape"].get(shape) == simdjson::SUCCESS);
        for (simdjson::dom::element d : shape) {
            std::uint64_t v = 0;
            REQUIRE(d.get(v) == simdjson::SUCCESS);
            e.shape.push_back(v);
        }
        REQUIRE(t["data_offsets"].get(offs) == simdjson::SUCCESS);
        REQUIRE(offs.size() == 2);
        REQUIRE(offs.at(0).get(e.begin) == simdjson::SUCCESS);
        REQUIRE(offs.at(1).get(e.end) == simdjson::SUCCESS);
        s.tensors.push_back(e);
    }
    return s;
}

// Checks one corpus file against its summary; returns the reader for further checks.
void check_against_summary(const fs::path& file) {
    INFO(file.string());
    auto expected = read_info(fs::path(file).replace_extension(".info.json"));
    auto r = file_reader::open(file.string());
    REQUIRE_MESSAGE(r.has_value(), r.error().to_string());
    const auto& h = r->header();
    CHECK(h.has_metadata() == expected.has_metadata);
    CHECK(h.metadata().size() == expected.metadata.size());
    for (const auto& m : h.metadata()) {
        auto it = expected.metadata.find(std::string(m.key));
        REQUIRE(it != expected.metadata.end());
        CHECK(it->second == m.value);
    }
    CHECK(h.size() == expected.tensors.size());
    for (const auto& e : expected.tensors) {
        INFO(e.name);
        const tensor_info* t = r->find(e.name);
        REQUIRE(t != nullptr);
        CHECK(name(t->dtype) == e.dtype);
        CHECK(std::vector<std::uint64_t>(t->shape.begin(), t->shape.end()) == e.shape);
        CHECK(t->begin == e.begin);
        CHECK(t->end == e.end);
        auto hash = tensor_fnv1a64(r->source(), h.data_offset(), *t);
        REQUIRE(hash.has_value());
        char hex[24];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(*hash));
        CHECK(e.hash == hex);
    }
}

// Rewrites a file through the writer from what the reader gives back.
std::vector<std::byte> rewrite(const std::vector<std::byte>& original) {
    auto r = open_memory(original);
    REQUIRE(r.has_value());
    std::vector<tensor_entry> entries;
    for (const auto& t : r->tensors()) {
        auto b = r->bytes(t);
        REQUIRE(b.has_value());
        entries.push_back(tensor_entry{t.name, t.dtype, {t.shape.begin(), t.shape.end()}, *b});
    }
    auto meta = r->header().metadata();
    auto out = save_to_memory(entries, meta);
    REQUIRE_MESSAGE(out.has_value(), out.error().to_string());
    return std::move(*out);
}

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> v;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".safetensors") v.push_back(e.path());
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

TEST_SUITE("corpus") {
    TEST_CASE("golden files match their summaries and are rewritten byte-identical") {
        auto root = test::corpus_root();
        REQUIRE(root);
        auto files = files_in(*root / "golden");
        REQUIRE(files.size() >= 20);
        for (const auto& f : files) {
            check_against_summary(f);
            auto bytes = slurp(f);
            auto again = rewrite(bytes);
            auto r = open_memory(bytes);
            REQUIRE(r.has_value());
            INFO(f.string());
            // The reference writes metadata keys in hash order: bytes compare only with <= 1 key.
            if (r->header().metadata().size() <= 1) {
                CHECK(again == bytes);
            } else {
                auto r2 = open_memory(again);
                REQUIRE(r2.has_value());
                CHECK(r2->header().size() == r->header().size());
                CHECK(std::equal(again.end() - static_cast<std::ptrdiff_t>(r->header().data_size()), again.end(),
                                 bytes.end() - static_cast<std::ptrdiff_t>(r->header().data_size())));
            }
        }
    }

    TEST_CASE("real-world files match their summaries and survive a rewrite") {
        auto root = test::corpus_root();
        REQUIRE(root);
        auto files = files_in(*root / "real");
        REQUIRE(files.size() >= 5);
        for (const auto& f : files) {
            check_against_summary(f);
            auto bytes = slurp(f);
            auto again = rewrite(bytes);
            auto a = open_memory(bytes);
            auto b = open_memory(again);
            REQUIRE(a.has_value());
            REQUIRE(b.has_value());
            INFO(f.string());
            CHECK(a->header().size() == b->header().size());
            for (const auto& t : a->tensors()) {
                const tensor_info* u = b->find(t.name);
                REQUIRE(u != nullptr);
                CHECK(u->dtype == t.dtype);
                auto x = a->bytes(t);
                auto y = b->bytes(*u);
                REQUIRE(x.has_value());
                REQUIRE(y.has_value());
                CHECK(std::equal(x->begin(), x->end(), y->begin(), y->end()));
            }
        }
    }

    TEST_CASE("hostile files get the expected verdicts") {
        auto root = test::corpus_root();
        REQUIRE(root);
        std::ifstream tsv(*root / "hostile" / "expected.tsv");
        REQUIRE(tsv.good());
        std::string line;
        std::getline(tsv, line);  // column names
        int rows = 0;
        while (std::getline(tsv, line)) {
            if (line.empty()) continue;
            auto tab = line.find('\t');
            auto tab2 = line.find('\t', tab + 1);
            std::string file = line.substr(0, tab), verdict = line.substr(tab + 1, tab2 - tab - 1);
            INFO(file << " expected " << verdict);
            auto r = file_reader::open((*root / "hostile" / file).string());
            bool accept = verdict == "accept";
            CHECK(r.has_value() == accept);
            if (!r) {
                // Every refusal names the file.
                CHECK(std::string(r.error().file()).find(file) != std::string::npos);
            }
            ++rows;
        }
        CHECK(rows >= 25);
    }
}

// Without the corpus there is nothing to check: the suite reports itself skipped.
int main(int argc, char** argv) {
    if (!test::corpus_root()) {
        std::printf("SKIPPED: conformance corpus not found (set SAFESHARD_CORPUS, or put it at ../shared/corpus)\n");
        return test::exit_skipped;
    }
    doctest::Context context(argc, argv);
    return context.run();
}
