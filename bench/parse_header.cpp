// SPDX-License-Identifier: MIT
// Header parse + validate throughput, next to simdjson's bare parse of the same bytes.
//
//   parse_header [file] [reps] [tensors]      (or --file=PATH --reps=N --tensors=N)
//
// Inputs: a real file (default: the 20,000-tensor golden file of the corpus, when present) and
// a generated 100,000-tensor header. For each, in one interleaved loop:
//   * simdjson dom::parser::parse of the JSON (bare parse, no walk);
//   * a simdjson ondemand walk touching every key and value (unescaped_key for every key,
//     get_string for dtype and metadata, get_uint64 for every array element);
//   * header_parser::parse (one parser reused; JSON already padded, parsed in place);
//   * the same from an unpadded span (one copy into the parser's buffer);
//   * open_memory of the whole file (framing, parse, name index, tiling), end to end.
// MB/s = header bytes (N) / time; ratio = ours / bare, for both bare figures, by wall clock
// and by this thread's CPU time (steadier on a shared machine). Last, the parse again with
// malloc recycling freed pages, to tell first-touch page faults from parsing work.
// First of all, the first parse in a process, which is what a loader pays: each run starts a
// fresh process (this program again), which times one file_reader::open of the file (read,
// parse, validate, index) against, in another, one simdjson DOM parse of its header with a
// fresh parser (read from the file the same way), with their page faults and the growth of
// their resident memory (the fresh memory each touched). With --cli=PATH (meson passes the
// safeshard command when it builds it), the same as whole processes timed from fork to exit:
// `safeshard verify FILE` against a process of this program that reads the header and parses
// it with a fresh simdjson DOM parser, next to `safeshard --help` (a process that starts,
// links the same libraries, prints and exits): the floor no parse can go under.

#include "common.hpp"

#include <safeshard/file/reader.hpp>
#include <safeshard/format/emit.hpp>
#include <safeshard/format/parse.hpp>

#include <simdjson.h>

#include <functional>
#include <malloc.h>
#include <memory>

#include <sys/wait.h>

namespace {

using namespace std::string_view_literals;

struct input {
    std::string label;
    std::span<const std::byte> file;  // the whole file: 8-byte prefix, JSON, data
    std::uint64_t n = 0;              // JSON bytes
    std::size_t tensors = 0;
    simdjson::padded_string padded;   // a padded copy of the JSON, for the in-place parses
};

// ---- bare simdjson -------------------------------------------------------------------------

std::uint64_t bare_dom(simdjson::dom::parser& p, const input& in) {
    simdjson::dom::element doc;
    if (auto e = p.parse(in.padded.data(), in.padded.size(), false).get(doc)) bench::die("dom parse", simdjson::error_message(e));
    return static_cast<std::uint64_t>(doc.type());
}

std::uint64_t bare_walk(simdjson::ondemand::parser& p, const input& in) {
    using namespace simdjson;
    auto fail = [](error_code e) { bench::die("ondemand walk", error_message(e)); };
    ondemand::document doc;
    if (auto e = p.iterate(in.padded).get(doc)) fail(e);
    ondemand::object root;
    if (auto e = doc.get_object().get(root)) fail(e);
    std::uint64_t acc = 0;
    for (auto f : root) {
        ondemand::field fld;
        if (auto e = std::move(f).get(fld)) fail(e);
        std::string_view key;
        if (auto e = fld.unescaped_key().get(key)) fail(e);
        acc += key.size();
        ondemand::object o;
        if (auto e = fld.value().get_object().get(o)) fail(e);
        const bool meta = key == "__metadata__"sv;
        for (auto g : o) {
            ondemand::field h;
            if (auto e = std::move(g).get(h)) fail(e);
            std::string_view k;
            if (auto e = h.unescaped_key().get(k)) fail(e);
            acc += k.size();
            if (meta || k == "dtype"sv) {
                std::string_view s;
                if (auto e = h.value().get_string().get(s)) fail(e);
                acc += s.size();
            } else {
                ondemand::array a;
                if (auto e = h.value().get_array().get(a)) fail(e);
                for (auto el : a) {
                    std::uint64_t x = 0;
                    if (auto e = el.get_uint64().get(x)) fail(e);
                    acc += x;
                }
            }
        }
    }
    return acc;
}

// ---- ours ----------------------------------------------------------------------------------

std::uint64_t ours_parse(safeshard::header_parser& p, const input& in, bool padded) {
    std::span<const char> json(in.padded.data(), static_cast<std::size_t>(in.n));
    auto h = p.parse(json, in.file.size(), {}, padded ? simdjson::SIMDJSON_PADDING : 0);
    bench::check(h, "header_parser::parse");
    return h->size();
}

std::uint64_t ours_open(const input& in) {
    auto r = safeshard::open_memory(in.file);
    bench::check(r, "open_memory");
    return r->tensors().size();
}

// ---- inputs --------------------------------------------------------------------------------

// Maps `path` read-only; the mapping lives until exit.
std::span<const std::byte> map_file(const std::string& path) {
    int fd = bench::open_or_die(path, O_RDONLY);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size < 8) bench::die("fstat", path + ": not a safetensors file");
    void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) bench::die("mmap", path + ": " + std::strerror(errno));
    return {static_cast<const std::byte*>(p), static_cast<std::size_t>(st.st_size)};
}

void finish_input(input& in) {
    auto frame = safeshard::check_frame(in.file.first(8), in.file.size());
    bench::check(frame, "check_frame");
    in.n = *frame;
    in.padded = simdjson::padded_string(reinterpret_cast<const char*>(in.file.data()) + 8, static_cast<std::size_t>(in.n));
    auto h = safeshard::parse_file_header(in.file);
    bench::check(h, "parse_file_header");
    in.tensors = h->size();
}

// A 100,000-tensor header shaped like a large MoE checkpoint's, emitted canonically. The data
// section is a fresh anonymous mapping that is never touched (reads as zeros, costs nothing).
input generated(std::size_t count, bench::region& storage) {
    static constexpr std::array<const char*, 4> proj = {"gate_proj", "up_proj", "down_proj", "gate_up_proj_bias"};
    static constexpr std::array<safeshard::dtype, 4> dts = {safeshard::dtype::BF16, safeshard::dtype::BF16,
                                                            safeshard::dtype::F8_E4M3, safeshard::dtype::F32};
    std::vector<std::string> names;
    std::vector<std::array<std::uint64_t, 2>> shapes;
    names.reserve(count);
    shapes.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        std::size_t layer = i / 512, expert = (i % 512) / 4;
        names.push_back("model.layers." + std::to_string(layer) + ".mlp.experts." + std::to_string(expert) + "." +
                        proj[i % 4] + ".weight");
        shapes.push_back({std::uint64_t{8} << (i % 3), 24 + 8 * (i % 5)});
    }
    std::vector<safeshard::tensor_spec> specs;
    specs.reserve(count);
    for (std::size_t i = 0; i < count; ++i) specs.push_back({names[i], dts[i % 4], shapes[i]});
    std::array<safeshard::metadata_entry, 1> meta = {{{"format", "pt"}}};
    auto layout = safeshard::emit_header(specs, meta);
    bench::check(layout, "emit_header");
    storage = bench::region(static_cast<std::size_t>(layout->file_size()), bench::pages::small);
    std::memcpy(storage.data(), layout->bytes.data(), layout->bytes.size());
    input in;
    in.label = "generated, " + std::to_string(count) + " tensors";
    in.file = {storage.data(), static_cast<std::size_t>(layout->file_size())};
    finish_input(in);
    return in;
}

// One first-in-process measurement: a fresh process (this program, executed again with
// `--first-parse-child=ours|dom`, so that nothing of this process's heap is shared with it)
// runs one parse of the file and sends back its timing and how much its resident memory grew
// meanwhile (KiB): the fresh memory the parse touched, whether faulted in page by page or
// mapped in ahead.
struct child_run {
    bench::timing t;
    long rss_kib = 0;
};

child_run in_fresh_process(const char* which, const std::string& path) {
    int fds[2];
    if (::pipe(fds) != 0) bench::die("pipe", std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) bench::die("fork", std::strerror(errno));
    if (pid == 0) {
        ::close(fds[0]);
        const std::string mode = std::string("--first-parse-child=") + which, fd = std::to_string(fds[1]);
        const char* args[] = {"parse_header", mode.c_str(), path.c_str(), fd.c_str(), nullptr};
        ::execv("/proc/self/exe", const_cast<char* const*>(args));
        ::_exit(127);
    }
    ::close(fds[1]);
    child_run r{};
    const bool got = ::read(fds[0], &r, sizeof r) == static_cast<ssize_t>(sizeof r);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) bench::die("first parse", "the child failed");
    return r;
}

// The child's side: one parse, timed, then the result down the pipe `fd`.
int first_parse_child(std::string_view which, const std::string& path, int fd) {
    const long before = bench::proc_kib("/proc/self/status", "RssAnon");
    child_run r;
    if (which == "ours") {
        bench::stopwatch sw;
        auto f = safeshard::file_reader::open(path);
        r.t = sw.stop();
        r.rss_kib = bench::proc_kib("/proc/self/status", "RssAnon") - before;
        bench::check(f, "file_reader::open");
    } else {
        bench::stopwatch sw;
        const int in = bench::open_or_die(path, O_RDONLY);
        std::uint64_t n = 0;
        bench::pread_all(in, reinterpret_cast<std::byte*>(&n), 8, 0);
        simdjson::padded_string json(static_cast<std::size_t>(n));
        bench::pread_all(in, reinterpret_cast<std::byte*>(json.data()), static_cast<std::size_t>(n), 8);
        ::close(in);
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        if (auto e = parser.parse(json).get(doc)) bench::die("dom parse", simdjson::error_message(e));
        r.t = sw.stop();
        r.rss_kib = bench::proc_kib("/proc/self/status", "RssAnon") - before;
        bench::keep(doc);
    }
    return ::write(fd, &r, sizeof r) == static_cast<ssize_t>(sizeof r) ? 0 : 1;
}

// One whole process, from fork to its exit, with its output on /dev/null: `args` (args[0] the
// program) must exit 0.
double whole_process(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    bench::stopwatch sw;
    const pid_t pid = ::fork();
    if (pid < 0) bench::die("fork", std::strerror(errno));
    if (pid == 0) {
        const int nul = ::open("/dev/null", O_WRONLY);
        if (nul < 0 || ::dup2(nul, 1) < 0 || ::dup2(nul, 2) < 0) ::_exit(126);
        ::execv(argv[0], const_cast<char* const*>(argv.data()));
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    const double t = sw.stop().seconds;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bench::die(args[0].c_str(), "the process failed");
    return t;
}

// `safeshard verify FILE` as a whole process against a whole process that DOM-parses the
// header with a fresh simdjson parser, alternating, `reps` runs each; and the floor, a process
// of the command that only starts.
void run_whole_process(const std::string& cli, const std::string& path, int reps) {
    const std::vector<std::string> verify = {cli, "verify", path};
    // This program again (a forked child still runs it), sending its result to its standard
    // output, which whole_process points at /dev/null.
    const std::vector<std::string> dom = {"/proc/self/exe", "--first-parse-child=dom", path, "1"};
    const std::vector<std::string> start = {cli, "--help"};
    bench::samples floor;
    const bench::pair_result res = bench::alternate(
        reps,
        [&](int) {
            floor.add(whole_process(start));
            bench::timing t;
            t.seconds = whole_process(verify);
            return t;
        },
        [&](int) {
            bench::timing t;
            t.seconds = whole_process(dom);
            return t;
        });
    const double ours = res.ours.median(), theirs = res.raw.median(), base = floor.median();
    std::printf("whole process, from fork to exit (%d runs each, alternating; wall-clock medians):\n", reps);
    std::printf("  safeshard verify FILE                           %6.2f ms\n", ours * 1e3);
    std::printf("  a process that reads the header and DOM-parses it with a fresh simdjson parser %6.2f ms"
                "  ratio %.2fx\n", theirs * 1e3, theirs / ours);
    std::printf("  safeshard --help (start, print, exit: the floor) %6.2f ms; verify above it: %.2f ms\n\n", base * 1e3,
                (ours - base) * 1e3);
}

// The first parse in a process of the file at `path`: ours (file_reader::open) against a fresh
// simdjson parser's DOM parse of the header read with pread, alternating, `reps` runs each.
void run_first(const std::string& path, int reps) {
    bench::samples ours_rss, dom_rss;  // KiB
    const bench::pair_result res = bench::alternate(
        reps,
        [&](int) {
            const child_run r = in_fresh_process("ours", path);
            ours_rss.add(static_cast<double>(r.rss_kib));
            return r.t;
        },
        [&](int) {
            const child_run r = in_fresh_process("dom", path);
            dom_rss.add(static_cast<double>(r.rss_kib));
            return r.t;
        });
    std::uint64_t n = 0;  // the header's JSON bytes, as in the other rows
    {
        const int fd = bench::open_or_die(path, O_RDONLY);
        bench::pread_all(fd, reinterpret_cast<std::byte*>(&n), 8, 0);
        ::close(fd);
    }
    std::printf("first parse in a process (a fresh process each run; %d runs each):\n", reps);
    bench::pair_head(46, "simdjson");
    std::printf("\n");
    bench::pair_row(46, "file_reader::open vs fresh dom::parse", n, res);
    std::printf("\n    ms per run: ours %.2f, simdjson %.2f; minor page faults per run: ours %.0f, simdjson %.0f (header %.2f MB)\n",
                res.ours.median() * 1e3, res.raw.median() * 1e3, res.ours.faults_per_run(), res.raw.faults_per_run(),
                static_cast<double>(n) / 1e6);
    const double ours_mb = ours_rss.median() * 1024 / 1e6, dom_mb = dom_rss.median() * 1024 / 1e6;
    const double header_mb = static_cast<double>(n) / 1e6;
    std::printf("    fresh memory touched (growth of anonymous resident memory, median): ours %.2f MB = %.2fx the header, simdjson %.2f MB = %.2fx"
                "  target <= 2x: %s\n",
                ours_mb, ours_mb / header_mb, dom_mb, dom_mb / header_mb, bench::verdict(ours_mb <= 2 * header_mb));
    bench::print_runs("    ", res, "simdjson", false);
    std::printf("\n");
}

void run(input& in, int reps) {
    simdjson::dom::parser dom;
    simdjson::ondemand::parser od;
    safeshard::header_parser ours;
    struct named_case {
        const char* label;
        std::function<std::uint64_t()> fn;
        bench::samples s;
    };
    // NB: std::function costs one indirect call per parse, nothing next to a parse.
    std::vector<named_case> cases;
    cases.push_back({"simdjson dom::parser::parse (bare)", [&] { return bare_dom(dom, in); }, {}});
    cases.push_back({"simdjson ondemand walk, every key+value (bare)", [&] { return bare_walk(od, in); }, {}});
    cases.push_back({"header_parser::parse (padded, in place)", [&] { return ours_parse(ours, in, true); }, {}});
    cases.push_back({"header_parser::parse (unpadded: +1 copy)", [&] { return ours_parse(ours, in, false); }, {}});
    cases.push_back({"open_memory (frame+parse+index+tiling)", [&] { return ours_open(in); }, {}});

    for (auto& c : cases)  // warm up: allocations, code, the input's pages
        for (int w = 0; w < 2; ++w) bench::keep(c.fn());
    for (int r = 0; r < reps; ++r) {
        for (std::size_t j = 0; j < cases.size(); ++j) {  // rotate the order every rep
            auto& c = cases[(j + static_cast<std::size_t>(r)) % cases.size()];
            bench::stopwatch sw;
            std::uint64_t v = c.fn();
            bench::timing t = sw.stop();
            bench::keep(v);
            c.s.add(t);
        }
    }

    const double mb = static_cast<double>(in.n) / 1e6;
    const auto& dom_s = cases[0].s;
    const auto& walk_s = cases[1].s;
    std::printf("\n%s: header N = %llu bytes (%.2f MB), %zu tensors, %d runs each, interleaved\n", in.label.c_str(),
                static_cast<unsigned long long>(in.n), mb, in.tensors, reps);
    std::printf("  %-46s %8s %8s %7s %6s %6s %6s | %8s %6s %6s\n", "case", "med MB/s", "best", "med ms", "faults",
                "/dom", "/walk", "cpu MB/s", "/dom", "/walk");
    for (std::size_t j = 0; j < cases.size(); ++j) {
        const auto& c = cases[j].s;
        std::printf("  %-46s %8.0f %8.0f %7.3f %6.0f %6.3f %6.3f | %8.0f %6.3f %6.3f\n", cases[j].label, mb / c.median(),
                    mb / c.best(), c.median() * 1e3, c.faults_per_run(), dom_s.median() / c.median(),
                    walk_s.median() / c.median(), mb / c.cpu_median(), dom_s.cpu_median() / c.cpu_median(),
                    walk_s.cpu_median() / c.cpu_median());
    }
    std::printf("  (wall-clock medians left of |, this thread's CPU time right of it; faults = minor page faults per\n"
                "   run; /dom and /walk = MB/s over the bare figure's)\n");
    const auto& o = cases[2].s;
    auto verdict = [](double r) { return bench::verdict(r >= 0.7); };
    std::printf("  target: header_parser::parse >= 0.7x the bare simdjson parse\n"
                "    wall medians: %.2fx of dom::parse (%s), %.2fx of the ondemand walk (%s);\n"
                "    median of per-run ratios %.2fx, %.2fx; fastest runs %.2fx, %.2fx\n"
                "    CPU-time medians: %.2fx of dom::parse (%s), %.2fx of the ondemand walk (%s)\n",
                dom_s.median() / o.median(), verdict(dom_s.median() / o.median()), walk_s.median() / o.median(),
                verdict(walk_s.median() / o.median()), bench::paired_ratio(dom_s, o), bench::paired_ratio(walk_s, o),
                dom_s.best() / o.best(), walk_s.best() / o.best(), dom_s.cpu_median() / o.cpu_median(),
                verdict(dom_s.cpu_median() / o.cpu_median()), walk_s.cpu_median() / o.cpu_median(),
                verdict(walk_s.cpu_median() / o.cpu_median()));
}

// The same parse once the C library recycles freed memory instead of returning it to the
// kernel (glibc: heap up to 32 MiB blocks, no trimming): separates the cost of first-touch
// page faults on the header's fresh arenas from the CPU cost of the parse. Call last: it
// changes the allocator for the rest of the process.
void run_recycled(input& in, int reps) {
    simdjson::dom::parser dom;
    safeshard::header_parser ours;
    bench::samples d, o;
    for (int w = 0; w < 2; ++w) {
        bench::keep(bare_dom(dom, in));
        bench::keep(ours_parse(ours, in, true));
    }
    for (int r = 0; r < reps; ++r) {
        bench::stopwatch a;
        bench::keep(bare_dom(dom, in));
        d.add(a.stop());
        bench::stopwatch b;
        bench::keep(ours_parse(ours, in, true));
        o.add(b.stop());
    }
    const double mb = static_cast<double>(in.n) / 1e6;
    std::printf("  %-32s %5.0f faults/run; wall: parse %5.0f MB/s, dom %5.0f MB/s, ratio %.3f (fastest %.3f);\n"
                "  %-32s CPU time: parse %5.0f MB/s, dom %5.0f MB/s, ratio %.3f\n",
                in.label.c_str(), o.faults_per_run(), mb / o.median(), mb / d.median(), d.median() / o.median(),
                d.best() / o.best(), "", mb / o.cpu_median(), mb / d.cpu_median(), d.cpu_median() / o.cpu_median());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::string_view(argv[1]).starts_with("--first-parse-child="))
        return first_parse_child(std::string_view(argv[1]).substr(20), argv[2], std::atoi(argv[3]));
    bench::options opt(argc, argv, {"file", "reps", "tensors", "cli"},
                       "usage: parse_header [file] [reps] [tensors] [--cli=PATH]\n"
                       "  file     a .safetensors file (default: the corpus' many_tensors_20000, when present)\n"
                       "  reps     timed runs per case (default 30)\n"
                       "  tensors  tensors in the generated header (default 100000)\n"
                       "  cli      the safeshard command: also time `safeshard verify FILE` as a whole process\n");
    const int reps = opt.integer("reps", 30);
    const auto gen_count = static_cast<std::size_t>(opt.integer("tensors", 100000));

    std::string file = opt.str("file");
    if (file.empty()) {
        std::string corpus = SAFESHARD_BENCH_CORPUS_DIR;
        std::string candidate = corpus + "/golden/many_tensors_20000.safetensors";
        if (::access(candidate.c_str(), R_OK) == 0) file = candidate;
    }

    std::printf("parse_header: simdjson %d.%d.%d, implementation %s%s\n", int(simdjson::SIMDJSON_VERSION_MAJOR),
                int(simdjson::SIMDJSON_VERSION_MINOR), int(simdjson::SIMDJSON_VERSION_REVISION),
                simdjson::get_active_implementation()->name().c_str(),
#ifdef NDEBUG
                ""
#else
                "  [WARNING: built without NDEBUG: simdjson runs 2-3x slower]"
#endif
    );

    if (!file.empty()) run_first(file, std::min(reps, 10));
    if (const std::string cli = opt.str("cli"); !file.empty() && !cli.empty()) run_whole_process(cli, file, std::min(reps, 20));

    input in_file;
    if (!file.empty()) {
        in_file.file = map_file(file);
        std::size_t slash = file.rfind('/');
        in_file.label = slash == std::string::npos ? file : file.substr(slash + 1);
        finish_input(in_file);
        run(in_file, reps);
    } else {
        std::printf("(no corpus file found; pass a file to measure one)\n");
    }

    bench::region storage;
    input gen = generated(gen_count, storage);
    run(gen, reps);

    // Diagnosis, not a target: the same with the allocator recycling the arenas' pages.
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    std::printf("\nheader_parser::parse (padded) vs dom::parse with malloc recycling freed pages (fewer fresh-page faults):\n");
    if (!in_file.file.empty()) run_recycled(in_file, reps);
    run_recycled(gen, reps);
    return 0;
}
