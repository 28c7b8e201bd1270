// SPDX-License-Identifier: MIT
#ifndef SAFESHARD_BENCH_COMMON_HPP
#define SAFESHARD_BENCH_COMMON_HPP

// Shared pieces of the benchmarks: a clock, sample statistics, ours and the limit run in
// alternation, command-line options, memory that is fresh (first touch faults, 4 KiB or 2 MiB
// pages) or pre-faulted, peak resident memory, a temporary directory removed at exit, raw file
// I/O in 8 MiB blocks, a ~1 GiB set of F32 tensors, and the result table.
//
// The machines these run on are small, shared and noisy (PERFORMANCE.md): every figure is
// printed next to a limit measured in the same run, and the two are interleaved.

#include <safeshard/core/dtype.hpp>
#include <safeshard/core/error.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bench {

// ---------------------------------------------------------------------------------------------
// Failing loudly

[[noreturn]] inline void die(const char* what, const std::string& why);

inline void check(const safeshard::status& s, const char* what) {
    if (!s) die(what, s.error().to_string());
}
template <class T>
T& check(safeshard::result<T>& r, const char* what) {
    if (!r) die(what, r.error().to_string());
    return *r;
}

// ---------------------------------------------------------------------------------------------
// Time and statistics

inline double now() noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Minor page faults of this process so far (first touches of anonymous memory, mostly).
inline long minor_faults() noexcept {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

/// Keeps `v` (and what it points to) alive as far as the optimiser can tell.
template <class T>
inline void keep(const T& v) noexcept {
    __asm__ __volatile__("" : : "r"(&v) : "memory");
}

/// CPU time of the calling thread (user + system), in seconds: unlike the wall clock, it does
/// not count the time other processes of a shared machine hold the CPU.
inline double thread_cpu() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// One timed run: wall seconds, the calling thread's CPU seconds, and the minor page faults
/// the process took meanwhile.
struct timing {
    double seconds = 0;
    double cpu = 0;
    long faults = 0;
};

/// Starts timing at construction; `stop()` says how long and how many faults since.
class stopwatch {
public:
    stopwatch() noexcept : f0_(minor_faults()), c0_(thread_cpu()), t0_(now()) {}
    timing stop() const noexcept {
        double t = now();
        double c = thread_cpu();
        return {t - t0_, c - c0_, minor_faults() - f0_};
    }

private:
    long f0_;
    double c0_;
    double t0_;
};

/// Timings of one case: wall seconds in `v`, CPU seconds in `cpu` (when given), faults.
struct samples {
    std::vector<double> v;
    std::vector<double> cpu;
    long faults = 0;
    void add(double s) { v.push_back(s); }
    void add(timing t) {
        v.push_back(t.seconds);
        cpu.push_back(t.cpu);
        faults += t.faults;
    }
    double cpu_median() const { return median_of(cpu); }
    double cpu_best() const { return cpu.empty() ? 0 : *std::min_element(cpu.begin(), cpu.end()); }
    static double median_of(std::vector<double> s) {
        if (s.empty()) return 0;
        std::sort(s.begin(), s.end());
        std::size_t n = s.size();
        return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
    double faults_per_run() const { return v.empty() ? 0 : static_cast<double>(faults) / static_cast<double>(v.size()); }
    double median() const { return median_of(v); }
    double best() const { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }
};

/// The median over runs i of a.v[i] / b.v[i]: runs measured next to each other share the
/// machine's state, so on a noisy machine this is steadier than a ratio of medians.
inline double paired_ratio(const samples& a, const samples& b) {
    samples r;
    for (std::size_t i = 0; i < a.v.size() && i < b.v.size(); ++i) r.add(a.v[i] / b.v[i]);
    return r.median();
}

/// Ours and the limit it is measured against ("raw": raw I/O, a copy), run next to each other.
struct pair_result {
    samples ours, raw;
};

/// Calls `side(run, k)` for each run in [0, reps) and each side k in [0, sides): in order on
/// even runs, in reverse on odd ones, so that no side always runs in the state another leaves
/// behind (page cache, allocator, CPU frequency).
template <class Fn>
void interleave(int reps, int sides, Fn&& side) {
    for (int r = 0; r < reps; ++r)
        for (int k = 0; k < sides; ++k) side(r, r % 2 == 0 ? k : sides - 1 - k);
}

/// `reps` runs each of `ours(run)` and `raw(run)` (each returns a timing or seconds), which goes
/// first alternating: ours on even runs, raw on odd ones.
template <class Ours, class Raw>
pair_result alternate(int reps, Ours&& ours, Raw&& raw) {
    pair_result res;
    interleave(reps, 2, [&](int r, int side) {
        if (side == 0) res.ours.add(ours(r));
        else res.raw.add(raw(r));
    });
    return res;
}

/// fn(k) for k in [0, threads): on the calling thread when threads <= 1, else on as many new
/// threads (started per call, as an application would start them).
template <class Fn>
void on_threads(unsigned threads, Fn&& fn) {
    if (threads <= 1) return fn(0u);
    std::vector<std::thread> pool;
    for (unsigned k = 0; k < threads; ++k) pool.emplace_back([&fn, k] { fn(k); });
    for (auto& t : pool) t.join();
}

// ---------------------------------------------------------------------------------------------
// Options: `--key=value` (or `key=value`), or positionals taken in a fixed key order.

class options {
public:
    /// `keys` name the positionals in order; `usage` is printed for -h/--help and bad input.
    options(int argc, char** argv, std::vector<std::string> keys, std::string usage)
        : keys_(std::move(keys)), usage_(std::move(usage)) {
        std::size_t pos = 0;
        for (int i = 1; i < argc; ++i) {
            std::string_view a = argv[i];
            if (a == "-h" || a == "--help") {
                std::printf("%s", usage_.c_str());
                std::exit(0);
            }
            while (a.starts_with('-')) a.remove_prefix(1);
            std::size_t eq = a.find('=');
            if (eq != std::string_view::npos) {
                std::string k(a.substr(0, eq));
                if (std::find(keys_.begin(), keys_.end(), k) == keys_.end()) bad("unknown option " + k);
                set(k, std::string(a.substr(eq + 1)));
            } else if (pos < keys_.size()) {
                set(keys_[pos++], std::string(a));
            } else {
                bad("too many arguments");
            }
        }
    }

    bool has(const std::string& k) const {
        for (const auto& kv : values_)
            if (kv.first == k) return true;
        return false;
    }
    std::string str(const std::string& k, std::string dflt = {}) const {
        for (const auto& kv : values_)
            if (kv.first == k) return kv.second;
        return dflt;
    }
    /// A byte count: digits with an optional K, M or G suffix (binary).
    std::uint64_t bytes(const std::string& k, std::uint64_t dflt) const {
        if (!has(k)) return dflt;
        std::string s = str(k);
        char* end = nullptr;
        double v = std::strtod(s.c_str(), &end);
        std::uint64_t mul = 1;
        if (end && *end) {
            switch (*end) {
                case 'k': case 'K': mul = 1ull << 10; break;
                case 'm': case 'M': mul = 1ull << 20; break;
                case 'g': case 'G': mul = 1ull << 30; break;
                default: bad("bad size " + s);
            }
        }
        if (!(v > 0)) bad("bad size " + s);
        return static_cast<std::uint64_t>(v * static_cast<double>(mul));
    }
    int integer(const std::string& k, int dflt) const {
        if (!has(k)) return dflt;
        int v = std::atoi(str(k).c_str());
        if (v <= 0) bad("bad number for " + k);
        return v;
    }

    /// Prints `why` and the usage, exits 2.
    [[noreturn]] void fail(const std::string& why) const { bad(why); }

private:
    void set(std::string k, std::string v) { values_.emplace_back(std::move(k), std::move(v)); }
    [[noreturn]] void bad(const std::string& why) const {
        std::fprintf(stderr, "error: %s\n%s", why.c_str(), usage_.c_str());
        std::exit(2);
    }

    std::vector<std::string> keys_;
    std::string usage_;
    std::vector<std::pair<std::string, std::string>> values_;
};

// ---------------------------------------------------------------------------------------------
// Memory. A fresh anonymous mapping costs nothing until touched; then every 4 KiB page faults
// (~15 µs here), or every 2 MiB page when the range is aligned and MADV_HUGEPAGE.

enum class pages { small, huge };

class region {
public:
    static constexpr std::size_t huge_page = std::size_t{2} << 20;

    region() = default;
    /// `size` bytes of fresh memory (nothing touched yet), 2 MiB aligned.
    region(std::size_t size, pages kind) : size_(size) {
        if (size == 0) return;
        map_len_ = (size + huge_page - 1) / huge_page * huge_page + huge_page;
        void* p = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) die("mmap", std::strerror(errno));
        map_ = p;
        auto a = (reinterpret_cast<std::uintptr_t>(p) + huge_page - 1) & ~std::uintptr_t{huge_page - 1};
        data_ = reinterpret_cast<std::byte*>(a);
        std::size_t len = map_len_ - (a - reinterpret_cast<std::uintptr_t>(p));
        // Say it both ways: THP may be "always" on some machines, "madvise" on others.
        ::madvise(data_, len, kind == pages::huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    }
    region(region&& o) noexcept
        : map_(std::exchange(o.map_, nullptr)), map_len_(std::exchange(o.map_len_, 0)),
          data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    region& operator=(region&& o) noexcept {
        if (this != &o) {
            release();
            map_ = std::exchange(o.map_, nullptr);
            map_len_ = std::exchange(o.map_len_, 0);
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    region(const region&) = delete;
    region& operator=(const region&) = delete;
    ~region() { release(); }

    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }

    /// Touches every page (a write), so later use takes no faults.
    void prefault() noexcept {
        for (std::size_t i = 0; i < size_; i += 4096) data_[i] = std::byte{0};
        if (size_) data_[size_ - 1] = std::byte{0};
    }

    void release() noexcept {
        if (map_) ::munmap(map_, map_len_);
        map_ = nullptr;
        data_ = nullptr;
        map_len_ = size_ = 0;
    }

private:
    void* map_ = nullptr;
    std::size_t map_len_ = 0;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// The value of the `<key>: <n> kB` line of a /proc file, in KiB; -1 where there is none.
inline long proc_kib(const char* path, const char* key) {
    std::FILE* f = std::fopen(path, "r");
    if (!f) return -1;
    const std::string format = std::string(key) + ": %ld kB";
    char line[256];
    long v = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, format.c_str(), &v) == 1) break;
    std::fclose(f);
    return v;
}

/// Huge pages the kernel currently backs anonymous memory with, in KiB (AnonHugePages), so a
/// run can say whether MADV_HUGEPAGE was honoured.
inline long anon_huge_kib() { return proc_kib("/proc/meminfo", "AnonHugePages"); }

/// Peak resident memory of this process since the last reset_peak_rss(), in KiB (VmHWM).
inline long peak_rss_kib() { return proc_kib("/proc/self/status", "VmHWM"); }
/// Starts a new peak: "5" written to clear_refs resets VmHWM to the current resident size.
inline void reset_peak_rss() {
    if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
        std::fputs("5", f);
        std::fclose(f);
    }
}

// ---------------------------------------------------------------------------------------------
// A temporary directory: a fresh one under `base` (default /tmp), removed with everything in it
// at exit, also on SIGINT/SIGTERM.

namespace detail {
inline char g_tmp_dir[4096] = {0};

// Removes everything in the directory open as `dfd`, folders too (consolidate writes its shards
// under in/), and closes it. Links are removed, never followed.
inline void empty_dir(int dfd) noexcept {
    DIR* d = ::fdopendir(dfd);
    if (!d) {
        ::close(dfd);
        return;
    }
    while (dirent* e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        if (::unlinkat(dfd, e->d_name, 0) == 0 || errno != EISDIR) continue;
        int sub = ::openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) empty_dir(sub);
        ::unlinkat(dfd, e->d_name, AT_REMOVEDIR);
    }
    ::closedir(d);
}

inline void empty_and_remove(const char* dir) noexcept {
    if (!dir[0]) return;
    int dfd = ::open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0) empty_dir(dfd);
    ::rmdir(dir);
}
inline void cleanup_at_exit() noexcept {
    empty_and_remove(g_tmp_dir);
    g_tmp_dir[0] = '\0';
}
inline void cleanup_on_signal(int sig) {
    empty_and_remove(g_tmp_dir);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}
}  // namespace detail

/// Creates the temp directory (once per process) and returns its path.
inline std::string make_temp_dir(std::string base) {
    if (base.empty()) base = "/tmp";
    std::string templ = base + "/safeshard-bench.XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) die("mkdtemp", templ + ": " + std::strerror(errno));
    if (std::strlen(buf.data()) >= sizeof detail::g_tmp_dir) die("mkdtemp", "path too long");
    std::strcpy(detail::g_tmp_dir, buf.data());
    std::atexit(detail::cleanup_at_exit);
    std::signal(SIGINT, detail::cleanup_on_signal);
    std::signal(SIGTERM, detail::cleanup_on_signal);
    return detail::g_tmp_dir;
}

[[noreturn]] inline void die(const char* what, const std::string& why) {
    std::fprintf(stderr, "bench: %s: %s\n", what, why.c_str());
    std::exit(1);  // runs cleanup_at_exit
}

// ---------------------------------------------------------------------------------------------
// Files. Raw I/O goes in 8 MiB blocks: large enough that the syscalls cost nothing next to the
// copies (PERFORMANCE.md), so it is the limit the library is measured against.

inline constexpr std::size_t block = std::size_t{8} << 20;

/// open(2) of `path`, or die naming it.
inline int open_or_die(const std::string& path, int flags, mode_t mode = 0644) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) die("open", path + ": " + std::strerror(errno));
    return fd;
}

inline std::uint64_t file_size(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) die("stat", path + ": " + std::strerror(errno));
    return static_cast<std::uint64_t>(st.st_size);
}

/// Reads `path` through the page cache into a reused buffer (makes the file warm); returns the
/// bytes read.
inline std::uint64_t warm_file(const std::string& path) {
    int fd = open_or_die(path, O_RDONLY);
    static std::vector<std::byte> buf(block);
    std::uint64_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("read", path + ": " + std::strerror(errno));
        if (n == 0) break;
        total += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
    return total;
}

/// Drops the page cache (after syncing), so that the next read comes from the disk. False,
/// with the reason in `why`, where that is not allowed (not root, a read-only /proc).
inline bool drop_caches(std::string& why) {
    ::sync();
    const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        why = std::string("/proc/sys/vm/drop_caches: ") + std::strerror(errno);
        return false;
    }
    const bool ok = ::write(fd, "3\n", 2) == 2;
    if (!ok) why = std::string("/proc/sys/vm/drop_caches: ") + std::strerror(errno);
    ::close(fd);
    return ok;
}

/// The whole of `[off, off + n)` with pread, or die.
inline void pread_all(int fd, std::byte* dst, std::size_t n, std::uint64_t off) {
    std::size_t done = 0;
    while (done < n) {
        ssize_t got = ::pread(fd, dst + done, n - done, static_cast<off_t>(off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) die("pread", got < 0 ? std::strerror(errno) : "unexpected end of file");
        done += static_cast<std::size_t>(got);
    }
}

/// The whole of `src` with write, or die.
inline void write_all(int fd, const std::byte* src, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
        ssize_t put = ::write(fd, src + done, n - done);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) die("write", put < 0 ? std::strerror(errno) : "wrote nothing");
        done += static_cast<std::size_t>(put);
    }
}

/// The raw writer: creates `path` with `head` then `data` in 8 MiB writes, fsyncs and closes it.
inline void write_file_synced(const std::string& path, std::span<const std::byte> head, std::span<const std::byte> data) {
    int fd = open_or_die(path, O_WRONLY | O_CREAT | O_TRUNC);
    write_all(fd, head.data(), head.size());
    for (std::size_t at = 0; at < data.size(); at += block) write_all(fd, data.data() + at, std::min(block, data.size() - at));
    if (::fsync(fd) != 0) die("fsync", path + ": " + std::strerror(errno));
    if (::close(fd) != 0) die("close", path + ": " + std::strerror(errno));
}

/// Syncs the file system holding `dir`: between runs, so that the blocks freed by the last run
/// and the journal settle before the next one.
inline void sync_fs(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::syncfs(fd);
        ::close(fd);
    }
}

/// Removes the files a run wrote (every one must be there), then sync_fs(dir).
inline void remove_and_sync(const std::vector<std::string>& paths, const std::string& dir) {
    for (const auto& p : paths)
        if (::unlink(p.c_str()) != 0) die("unlink", p + ": " + std::strerror(errno));
    sync_fs(dir);
}

// ---------------------------------------------------------------------------------------------
// The tensor set of the load and write benchmarks: `count` F32 tensors of shape [rows, 1024]
// (4 KiB rows) in a mix of sizes like a real checkpoint's — norms of 16 KiB, projections of a
// few MiB, embeddings of tens of MiB — scaled so they total about `target` bytes.

struct tensor_set {
    static constexpr std::uint64_t cols = 1024;
    std::vector<std::string> names;
    std::vector<std::array<std::uint64_t, 2>> shapes;
    std::vector<std::uint64_t> bytes;
    std::uint64_t total = 0;
    std::size_t size() const noexcept { return names.size(); }
    std::uint64_t smallest() const { return *std::min_element(bytes.begin(), bytes.end()); }
    std::uint64_t largest() const { return *std::max_element(bytes.begin(), bytes.end()); }
};

inline tensor_set make_tensor_set(std::uint64_t target, std::size_t count = 200) {
    // Sizes in KiB of a 10-tensor pattern (sum 52,304 KiB): 200 of them make ~1.0 GiB.
    static constexpr std::array<std::uint64_t, 10> kib = {16, 1024, 4096, 16, 8192, 512, 12288, 64, 2048, 24576};
    static constexpr std::array<const char*, 10> kind = {
        "input_layernorm.weight", "self_attn.k_proj.weight", "self_attn.q_proj.weight", "post_attention_layernorm.weight",
        "mlp.up_proj.weight",     "self_attn.v_bias",        "mlp.down_proj.weight",     "self_attn.q_norm.weight",
        "self_attn.o_proj.weight", "mlp.gate_proj.weight"};
    std::uint64_t pattern_total = 0;
    for (auto k : kib) pattern_total += k << 10;
    const double scale = static_cast<double>(target) / (static_cast<double>(pattern_total) * static_cast<double>(count) / 10.0);
    tensor_set s;
    for (std::size_t i = 0; i < count; ++i) {
        double want = static_cast<double>(kib[i % 10] << 10) * scale;
        auto rows = static_cast<std::uint64_t>(want / (tensor_set::cols * 4) + 0.5);
        if (rows == 0) rows = 1;
        s.names.push_back("model.layers." + std::to_string(i / 10) + "." + kind[i % 10]);
        s.shapes.push_back({rows, tensor_set::cols});
        s.bytes.push_back(rows * tensor_set::cols * 4);
        s.total += rows * tensor_set::cols * 4;
    }
    return s;
}

/// The 32-bit word `k` of tensor `i`'s contents (cheap, and differs between tensors).
inline std::uint32_t pattern_word(std::size_t i, std::uint64_t k) noexcept {
    return static_cast<std::uint32_t>(i * 0x9E3779B1u) ^ static_cast<std::uint32_t>(k * 0x85EBCA6Bu);
}
inline void fill_pattern(std::byte* dst, std::uint64_t bytes, std::size_t i) noexcept {
    auto* w = reinterpret_cast<std::uint32_t*>(dst);
    for (std::uint64_t k = 0; k < bytes / 4; ++k) w[k] = pattern_word(i, k);
}
/// Spot-checks tensor `i`'s bytes at `dst` (first, middle and last words).
inline bool check_pattern(const std::byte* dst, std::uint64_t bytes, std::size_t i) noexcept {
    const std::uint64_t n = bytes / 4;
    for (std::uint64_t k : {std::uint64_t{0}, n / 2, n - 1}) {
        std::uint32_t w;
        std::memcpy(&w, dst + k * 4, 4);
        if (w != pattern_word(i, k)) return false;
    }
    return true;
}

/// Fills every tensor of `s` with its pattern, tensor i at `arena + at[i]`; with `at` empty,
/// one after another from the start. Returns the offsets used.
inline std::vector<std::uint64_t> fill_set(const tensor_set& s, std::byte* arena, std::vector<std::uint64_t> at = {}) {
    if (at.empty()) {
        std::uint64_t pos = 0;
        for (std::uint64_t b : s.bytes) {
            at.push_back(pos);
            pos += b;
        }
    }
    for (std::size_t i = 0; i < s.size(); ++i) fill_pattern(arena + at[i], s.bytes[i], i);
    return at;
}

/// Dies unless every `step`-th tensor of `set`, read from file reader `f`, holds its pattern.
template <class Reader>
void verify_file(const Reader& f, const tensor_set& set, std::size_t step, const char* what) {
    for (std::size_t i = 0; i < set.size(); i += step) {
        const auto* t = f.find(set.names[i]);
        if (!t) die(what, "no tensor " + set.names[i]);
        auto b = f.bytes(*t);
        check(b, what);
        if (!check_pattern(b->data(), set.bytes[i], i)) die(what, "wrong bytes in " + set.names[i]);
    }
}

// ---------------------------------------------------------------------------------------------
// Output

inline double gib(std::uint64_t b) { return static_cast<double>(b) / static_cast<double>(1ull << 30); }
inline double mib(std::uint64_t b) { return static_cast<double>(b) / static_cast<double>(1ull << 20); }

inline const char* verdict(bool met) { return met ? "met" : "NOT met"; }

/// The head of an ours-against-raw table, up to its "best" column (a caller adds its own
/// columns and ends the line); `raw_name` names the limit's column ("raw GB/s", "copy GB/s").
inline void pair_head(int label_width, const char* raw_name) {
    std::printf("  %-*s %9s %9s %7s %7s %7s", label_width, "case", "ours GB/s", raw_name, "ratio", "paired", "best");
}

/// A row under pair_head: GB/s of each (`bytes` per run, medians), their ratio (= raw time /
/// ours time), the median of the per-run ratios, and the ratio of the fastest runs. Returns
/// the ratio, for the caller's verdict; the line is the caller's to end.
inline double pair_row(int label_width, const char* label, std::uint64_t bytes, const pair_result& r) {
    const double gb = static_cast<double>(bytes) / 1e9;
    const double o = gb / r.ours.median(), w = gb / r.raw.median();
    std::printf("  %-*s %9.2f %9.2f %7.3f %7.3f %7.3f", label_width, label, o, w, o / w, paired_ratio(r.raw, r.ours),
                r.raw.best() / r.ours.best());
    return o / w;
}

/// `<indent>runs (s), ours: t...; <raw_name>: t...` and, with `cpu`, the median CPU times of
/// the calling thread (which the rest of a shared machine inflates less than the wall clock).
inline void print_runs(const char* indent, const pair_result& r, const char* raw_name, bool cpu) {
    std::printf("%sruns (s), ours:", indent);
    for (double t : r.ours.v) std::printf(" %.3f", t);
    std::printf("; %s:", raw_name);
    for (double t : r.raw.v) std::printf(" %.3f", t);
    if (cpu) std::printf("; CPU (s), ours %.3f, %s %.3f", r.ours.cpu_median(), raw_name, r.raw.cpu_median());
    std::printf("\n");
}

// ---------------------------------------------------------------------------------------------
// A tensor-parallel model's metadata (bench/scale, bench/dist_scale): 32 layers of q, k and v
// split by rows, o by columns, and two replicated norms, 192 tensors.

struct tp_tensor {
    std::string name;
    std::vector<std::uint64_t> shape;
    int split;  // -1 replicated, else the dimension
};

/// q, k and v are [rows, cols], o is [cols, rows], a norm is [cols].
inline std::vector<tp_tensor> tp_model(std::uint64_t rows, std::uint64_t cols) {
    std::vector<tp_tensor> m;
    for (int l = 0; l < 32; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        m.push_back({p + "self_attn.q_proj.weight", {rows, cols}, 0});
        m.push_back({p + "self_attn.k_proj.weight", {rows, cols}, 0});
        m.push_back({p + "self_attn.v_proj.weight", {rows, cols}, 0});
        m.push_back({p + "self_attn.o_proj.weight", {cols, rows}, 1});
        m.push_back({p + "input_layernorm.weight", {cols}, -1});
        m.push_back({p + "post_attention_layernorm.weight", {cols}, -1});
    }
    return m;
}

/// Rank r of n's chunk of `t`: its split dimension cut in n parts differing by at most one,
/// the others whole.
inline void tp_chunk(const tp_tensor& t, std::uint64_t r, std::uint64_t n, std::vector<std::uint64_t>& off,
                     std::vector<std::uint64_t>& len) {
    off.assign(t.shape.size(), 0);
    len = t.shape;
    if (t.split < 0) return;
    const auto d = static_cast<std::size_t>(t.split);
    off[d] = t.shape[d] * r / n;
    len[d] = t.shape[d] * (r + 1) / n - off[d];
}

}  // namespace bench

#endif
