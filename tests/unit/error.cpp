// SPDX-License-Identifier: MIT
#include <safeshard/core/error.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <new>
#include <utility>
#include <vector>

using namespace safeshard;

// The allocation an error's parts come from, made to fail on demand (see "an error built
// without memory keeps its code"). It hands out the ordinary allocation otherwise, so that
// the matching delete is the ordinary one (and ASan sees one allocator).
namespace {
bool fail_nothrow_new = false;
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    if (fail_nothrow_new) return nullptr;
    return ::operator new(n);
}

namespace {

// The last enumerator: a new code must be added before it or this constant moved, which makes
// the "every enumerator" checks below notice a code without a message.
constexpr auto last_errc = errc::file_not_found;
constexpr auto errc_count = static_cast<std::size_t>(last_errc) + 1;

std::string format_to_string(const error_info& e) {
    char buf[1024];
    std::size_t n = e.format(buf, sizeof buf);
    REQUIRE(n < sizeof buf);
    return std::string(buf, n);
}

// Counts live instances so that result<T> is seen to construct and destroy its value exactly
// once, including through moves and the error path.
struct tracked {
    static inline int live = 0;
    static inline int moves = 0;
    std::unique_ptr<int> p;

    explicit tracked(int v) : p(std::make_unique<int>(v)) { ++live; }
    tracked(tracked&& o) noexcept : p(std::move(o.p)) { ++live; ++moves; }
    tracked& operator=(tracked&& o) noexcept {
        p = std::move(o.p);
        ++moves;
        return *this;
    }
    tracked(const tracked&) = delete;
    tracked& operator=(const tracked&) = delete;
    ~tracked() { --live; }
};

#if SAFESHARD_EXCEPTIONS
// The safeshard::error `f` throws, so that the thrown object's members can be CHECKed outside
// any try (doctest's THROWS checks see only its type and what()); an error with errc::ok when
// `f` throws none.
template <class F>
safeshard::error thrown_by(F&& f) {
    try {
        f();
    } catch (const safeshard::error& e) {
        return e;
    }
    return safeshard::error(error_info());
}
#endif

result<int> parse_positive(int v) {
    if (v <= 0) return error_info(errc::invalid_argument).with_detail("not positive");
    return v;
}

status check_even(int v, int& calls) {
    ++calls;
    if (v % 2) return error_info(errc::out_of_bounds).at_offset(static_cast<std::uint64_t>(v));
    return {};
}

// SAFESHARD_TRY in a status function: returns the inner error unchanged, or carries on.
status try_status(int v, int& calls, int& reached) {
    SAFESHARD_TRY(check_even(v, calls));
    ++reached;
    return {};
}

// SAFESHARD_TRY on a result<T> inside a function that returns another result type.
result<std::string> try_result(int v, int& reached) {
    SAFESHARD_TRY(parse_positive(v));
    ++reached;
    return std::string("positive");
}

}  // namespace

TEST_SUITE("error") {

TEST_CASE("errc values are stable and every one has its own message") {
    // The header promises stable values: pin the ends and a few in between.
    static_assert(static_cast<int>(errc::ok) == 0);
    CHECK(static_cast<int>(errc::file_too_small) == 1);
    CHECK(static_cast<int>(errc::header_not_json) == 6);
    CHECK(static_cast<int>(errc::duplicate_tensor) == 11);
    CHECK(static_cast<int>(errc::data_gap) == 21);
    CHECK(static_cast<int>(errc::limit_exceeded) == 25);
    CHECK(static_cast<int>(errc::unsupported_conversion) == 33);
    CHECK(static_cast<int>(errc::file_not_found) == 39);

    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < errc_count; ++i) {
        auto ec = static_cast<errc>(i);
        std::string_view msg = error_message(ec);
        INFO("errc value ", i, ": ", msg);
        CHECK(!msg.empty());
        // A code that falls through the switch gets the fallback text.
        CHECK(msg != "unknown error");
        if (i != 0) CHECK(msg != "no error");
        CHECK(seen.insert(msg).second);  // distinct
    }
    CHECK(seen.size() == errc_count);
    CHECK(std::string_view(error_message(errc::ok)) == "no error");
    CHECK(std::string_view(error_message(errc::duplicate_tensor)) == "duplicate tensor name");
    CHECK(std::string_view(error_message(static_cast<errc>(errc_count))) == "unknown error");
    CHECK(std::string_view(error_message(static_cast<errc>(0xFFFF))) == "unknown error");
    // Usable in constant expressions.
    static_assert(std::string_view(error_message(errc::unknown_dtype)) == "unknown dtype");
}

TEST_CASE("error_info defaults and builders") {
    // Success costs two words: the parts of an error live out of line.
    static_assert(sizeof(error_info) == 2 * sizeof(void*));
    static_assert(sizeof(status) <= 16);
    static_assert(sizeof(result<int>) <= sizeof(int) + 2 * sizeof(void*) + alignof(void*));
    static_assert(std::is_nothrow_copy_constructible_v<error_info> && std::is_nothrow_move_constructible_v<error_info>);
    error_info e;
    CHECK(e.code() == errc::ok);
    CHECK(e == errc::ok);
    CHECK(e.offset() == error_info::no_offset);
    CHECK(e.offset() == UINT64_MAX);
    CHECK(e.file().empty());
    CHECK(e.tensor().empty());
    CHECK(e.detail().empty());

    error_info c(errc::data_gap);
    CHECK(c == errc::data_gap);
    CHECK_FALSE(c == errc::data_overlap);

    SUBCASE("builders chain and set each part") {
        auto x = error_info(errc::unknown_dtype).in_file("/m/a.safetensors").at_tensor("w").at_offset(42).with_detail("F128");
        CHECK(std::string_view(x.file()) == "/m/a.safetensors");
        CHECK(std::string_view(x.tensor()) == "w");
        CHECK(x.offset() == 42);
        CHECK(std::string_view(x.detail()) == "F128");
        // A copy is a full, independent value (it travels across threads and no-exception code).
        error_info y = x;
        x.at_tensor("other");
        CHECK(std::string_view(y.tensor()) == "w");
        CHECK(std::string_view(x.tensor()) == "other");
    }
    SUBCASE("default_file fills only an empty file") {
        auto x = error_info(errc::io_error);
        x.default_file("outer.safetensors");
        CHECK(std::string_view(x.file()) == "outer.safetensors");
        x.default_file("later.safetensors");
        CHECK(std::string_view(x.file()) == "outer.safetensors");
        auto z = error_info(errc::io_error).in_file("inner").default_file("outer");
        CHECK(std::string_view(z.file()) == "inner");
    }
    SUBCASE("empty strings leave parts absent") {
        auto x = error_info(errc::io_error).in_file("").at_tensor("").with_detail("");
        CHECK(format_to_string(x) == "I/O error");
    }
}

TEST_CASE("error_info::format writes FILE: tensor 'NAME': byte OFF: MESSAGE (DETAIL)") {
    SUBCASE("all parts") {
        auto e = error_info(errc::unknown_dtype).in_file("model.safetensors").at_tensor("layer.0.w").at_offset(42)
                     .with_detail("F128");
        CHECK(format_to_string(e) == "model.safetensors: tensor 'layer.0.w': byte 42: unknown dtype (F128)");
        CHECK(e.to_string() == "model.safetensors: tensor 'layer.0.w': byte 42: unknown dtype (F128)");
    }
    SUBCASE("message only") {
        CHECK(format_to_string(error_info(errc::data_gap)) == "gap between tensors in the data section");
        CHECK(format_to_string(error_info()) == "no error");
    }
    SUBCASE("each part alone") {
        CHECK(format_to_string(error_info(errc::io_error).in_file("f")) == "f: I/O error");
        CHECK(format_to_string(error_info(errc::tensor_not_found).at_tensor("x")) == "tensor 'x': no such tensor");
        CHECK(format_to_string(error_info(errc::header_length_zero).at_offset(0)) == "byte 0: header length is zero");
        CHECK(format_to_string(error_info(errc::invalid_argument).with_detail("why")) == "invalid argument (why)");
    }
    SUBCASE("pairs keep their order") {
        CHECK(format_to_string(error_info(errc::data_overlap).in_file("f").at_offset(7)) ==
              "f: byte 7: tensors overlap in the data section");
        CHECK(format_to_string(error_info(errc::size_overflow).at_tensor("t").with_detail("d")) ==
              "tensor 't': tensor size overflows 64 bits (d)");
        CHECK(format_to_string(error_info(errc::unexpected_eof).in_file("f").with_detail("d")) ==
              "f: unexpected end of file (d)");
        CHECK(format_to_string(error_info(errc::trailing_bytes).at_tensor("t").at_offset(9)) ==
              "tensor 't': byte 9: bytes after the last tensor");
    }
    SUBCASE("offsets print in decimal, including the largest real one") {
        CHECK(format_to_string(error_info(errc::data_gap).at_offset(10)) == "byte 10: gap between tensors in the data section");
        CHECK(format_to_string(error_info(errc::data_gap).at_offset(1234567890)) ==
              "byte 1234567890: gap between tensors in the data section");
        CHECK(format_to_string(error_info(errc::data_gap).at_offset(error_info::no_offset - 1)) ==
              "byte 18446744073709551614: gap between tensors in the data section");
        // no_offset itself means "unknown" and is not printed.
        CHECK(format_to_string(error_info(errc::data_gap).at_offset(error_info::no_offset)) ==
              "gap between tensors in the data section");
    }
    SUBCASE("code changes only the message") {
        auto e = error_info(errc::io_error).in_file("f").with_detail("open: No such file or directory");
        e.with_code(errc::unexpected_eof);
        CHECK(format_to_string(e) == "f: unexpected end of file (open: No such file or directory)");
    }
}

TEST_CASE("long paths keep their tail and long names their head, marked with ...") {
    constexpr std::size_t file_cap = error_info::max_file_bytes;
    constexpr std::size_t name_cap = error_info::max_tensor_bytes;
    constexpr std::size_t detail_cap = error_info::max_detail_bytes;
    static_assert(file_cap == 1024 && name_cap == 512 && detail_cap == 1024);

    SUBCASE("a path that fits is kept whole") {
        std::string p(file_cap, 'p');
        p.back() = 'Z';
        auto e = error_info(errc::io_error).in_file(p);
        CHECK(e.file() == p);
    }
    SUBCASE("a long path keeps its tail (the file name)") {
        std::string dir(3000, 'd');
        std::string p = "/" + dir + "/model-00001-of-00002.safetensors";
        auto e = error_info(errc::io_error).in_file(p);
        std::string_view f = e.file();
        REQUIRE(f.size() == file_cap);
        CHECK(f.substr(0, 3) == "...");
        CHECK(f.substr(3) == std::string_view(p).substr(p.size() - (file_cap - 3)));
        CHECK(f.ends_with("/model-00001-of-00002.safetensors"));
        CHECK(e.to_string() == std::string(f) + ": I/O error");
    }
    SUBCASE("one byte over the limit is marked too") {
        std::string p = "A" + std::string(file_cap, 'b');
        auto e = error_info(errc::io_error).in_file(p);
        CHECK(e.file().size() == file_cap);
        CHECK(e.file() == "..." + std::string(file_cap - 3, 'b'));
    }
    SUBCASE("a cut never splits a UTF-8 sequence") {
        std::string p;
        while (p.size() < file_cap + 10) p += "\xc3\xa9";  // two-byte code points
        auto e = error_info(errc::io_error).in_file(p).at_tensor(p);
        CHECK(e.file().substr(0, 3) == "...");
        CHECK(e.file().substr(3, 2) == "\xc3\xa9");
        CHECK(e.tensor().ends_with("\xc3\xa9..."));
    }
    SUBCASE("a name that fits is kept whole") {
        std::string n(name_cap, 'n');
        auto e = error_info(errc::tensor_not_found).at_tensor(n);
        CHECK(e.tensor() == n);
    }
    SUBCASE("a long name keeps its head") {
        std::string n = "model.layers.0." + std::string(2000, 'x') + ".weight";
        auto e = error_info(errc::tensor_not_found).at_tensor(n);
        std::string_view t = e.tensor();
        REQUIRE(t.size() == name_cap);
        CHECK(t.substr(0, name_cap - 3) == std::string_view(n).substr(0, name_cap - 3));
        CHECK(t.ends_with("..."));
        CHECK(t.starts_with("model.layers.0.x"));
        CHECK(e.to_string() == "tensor '" + std::string(t) + "': no such tensor");
    }
    SUBCASE("a long detail keeps its head") {
        std::string d(5000, 'q');
        auto e = error_info(errc::io_error).with_detail(d);
        CHECK(e.detail().size() == detail_cap);
        CHECK(e.detail() == std::string(detail_cap - 3, 'q') + "...");
    }
    SUBCASE("every part at its longest still formats in full through to_string") {
        auto e = error_info(errc::data_past_end)
                     .in_file(std::string(5000, 'f'))
                     .at_tensor(std::string(5000, 't'))
                     .at_offset(error_info::no_offset - 1)
                     .with_detail(std::string(5000, 'd'));
        std::size_t wanted = e.format(nullptr, 0);
        std::string s = e.to_string();
        CHECK(s.size() == wanted);
        CHECK(s.size() > file_cap + name_cap + detail_cap);
        CHECK(s.starts_with("...fff"));
        CHECK(s.ends_with("ddd...)"));
        CHECK(s.find("byte 18446744073709551614: tensor data runs past the end of the file (") != std::string::npos);
    }
}

// Out of memory while an error is built: the failing builder leaves the error as it was, so
// its code (and any part built before) always survives. The nothrow allocation the error's
// parts come from is replaced below to fail on demand.
TEST_CASE("an error built without memory keeps its code") {
    auto e = error_info(errc::io_error).in_file("first.safetensors");
    fail_nothrow_new = true;
    e.at_tensor("w").with_detail("lost");
    auto fresh = error_info(errc::chunk_hole).in_file("f").at_offset(7);
    fail_nothrow_new = false;
    CHECK(e.code() == errc::io_error);
    CHECK(e.file() == "first.safetensors");
    CHECK(e.tensor().empty());
    CHECK(e.detail().empty());
    CHECK(e.to_string() == "first.safetensors: I/O error");
    CHECK(fresh.code() == errc::chunk_hole);
    CHECK(fresh.to_string() == "saved chunks leave part of the tensor uncovered");
    status st = std::move(fresh);
    CHECK(st.code() == errc::chunk_hole);
}

TEST_CASE("errc is a std::error_code of the safeshard category") {
    std::error_code ec = errc::chunk_overlap;
    CHECK(ec.category().name() == std::string_view("safeshard"));
    CHECK(ec.value() == static_cast<int>(errc::chunk_overlap));
    CHECK(ec.message() == error_message(errc::chunk_overlap));
    CHECK(ec == make_error_code(errc::chunk_overlap));
    CHECK(ec != std::error_code(errc::chunk_hole));
    auto e = error_info(errc::io_error).in_file("f");
    CHECK(e.error_code() == std::error_code(errc::io_error));
    CHECK_FALSE(std::error_code(errc::ok));
}

TEST_CASE("format truncates to small buffers and never writes past them") {
    auto e = error_info(errc::unknown_dtype).in_file("model.safetensors").at_tensor("w").at_offset(42).with_detail("F128");
    const std::string full = "model.safetensors: tensor 'w': byte 42: unknown dtype (F128)";
    REQUIRE(e.to_string() == full);

    SUBCASE("capacity zero writes nothing, even to a null buffer, and still reports the length") {
        CHECK(e.format(nullptr, 0) == full.size());
        char guard = 'G';
        CHECK(e.format(&guard, 0) == full.size());
        CHECK(guard == 'G');
    }
    SUBCASE("every capacity from 1 to past the full length") {
        for (std::size_t cap = 1; cap <= full.size() + 4; ++cap) {
            INFO("cap = ", cap);
            // A canary region after `cap` bytes catches any write past the buffer.
            std::vector<char> buf(cap + 16, '#');
            std::size_t n = e.format(buf.data(), cap);
            CHECK(n == full.size());
            std::size_t kept = cap - 1 < full.size() ? cap - 1 : full.size();
            CHECK(std::string_view(buf.data()) == std::string_view(full).substr(0, kept));
            CHECK(buf[kept] == '\0');
            bool canary_intact = true;
            for (std::size_t i = cap; i < buf.size(); ++i) canary_intact = canary_intact && buf[i] == '#';
            CHECK(canary_intact);
        }
    }
}

TEST_CASE("result<T> holds a value or an error") {
    SUBCASE("value") {
        result<int> r = 7;
        CHECK(r.has_value());
        CHECK(static_cast<bool>(r));
        CHECK(r.code() == errc::ok);
        CHECK(r.error() == errc::ok);
        CHECK(*r == 7);
        CHECK(r.value() == 7);
        int out = 0;
        CHECK(std::move(r).get(out).ok());
        CHECK(out == 7);
    }
    SUBCASE("error from errc") {
        result<int> r = errc::tensor_not_found;
        CHECK_FALSE(r.has_value());
        CHECK_FALSE(static_cast<bool>(r));
        CHECK(r.code() == errc::tensor_not_found);
        int out = -1;
        CHECK(std::move(r).get(out) == errc::tensor_not_found);
        CHECK(out == -1);  // untouched on error
    }
    SUBCASE("error from error_info keeps every part") {
        result<int> r = error_info(errc::data_gap).in_file("f").at_tensor("t").at_offset(3).with_detail("d");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().to_string() == "f: tensor 't': byte 3: gap between tensors in the data section (d)");
        CHECK(r.error().offset() == 3);
        // get() hands back the whole error, not only its code.
        int out = -1;
        status st = std::move(r).get(out);
        CHECK(st == errc::data_gap);
        CHECK(st.error().to_string() == "f: tensor 't': byte 3: gap between tensors in the data section (d)");
        CHECK(out == -1);
    }
    SUBCASE("operator-> and const access") {
        result<std::string> r = std::string("abc");
        CHECK(r->size() == 3);
        const auto& cr = r;
        CHECK(*cr == "abc");
        CHECK(cr->front() == 'a');
        CHECK(cr.value() == "abc");
    }
    SUBCASE("value() && moves out") {
        result<std::string> r = std::string(100, 'z');
        std::string s = std::move(r).value();
        CHECK(s == std::string(100, 'z'));
    }
    SUBCASE("move-only values") {
        result<std::unique_ptr<int>> r = std::make_unique<int>(5);
        REQUIRE(r.has_value());
        CHECK(**r == 5);
        result<std::unique_ptr<int>> moved(std::move(r));
        REQUIRE(moved.has_value());
        CHECK(**moved == 5);
        std::unique_ptr<int> out;
        CHECK(std::move(moved).get(out).ok());
        REQUIRE(out != nullptr);
        CHECK(*out == 5);

        result<std::unique_ptr<int>> bad = errc::out_of_bounds;
        result<std::unique_ptr<int>> bad_moved(std::move(bad));
        CHECK(bad_moved.code() == errc::out_of_bounds);
        std::unique_ptr<int> untouched = std::make_unique<int>(9);
        CHECK(std::move(bad_moved).get(untouched) == errc::out_of_bounds);
        REQUIRE(untouched != nullptr);
        CHECK(*untouched == 9);
    }
    SUBCASE("the value is constructed and destroyed exactly once per object") {
        tracked::live = 0;
        {
            result<tracked> r = tracked(3);
            CHECK(tracked::live == 1);
            result<tracked> m(std::move(r));
            CHECK(tracked::live == 2);  // the moved-from value still lives in `r` until its end
            REQUIRE(m->p != nullptr);
            CHECK(*m->p == 3);
            CHECK(r->p == nullptr);
            tracked out(0);
            CHECK(std::move(m).get(out).ok());
            REQUIRE(out.p != nullptr);
            CHECK(*out.p == 3);
        }
        CHECK(tracked::live == 0);
        {
            result<tracked> e = errc::io_error;
            result<tracked> em(std::move(e));
            CHECK(tracked::live == 0);  // an error result never holds a T
        }
        CHECK(tracked::live == 0);
    }
    SUBCASE("type traits") {
        static_assert(!std::is_copy_constructible_v<result<int>>);
        static_assert(std::is_move_constructible_v<result<int>>);
        static_assert(std::is_nothrow_move_constructible_v<result<std::unique_ptr<int>>>);
        static_assert(std::is_same_v<result<int>::value_type, int>);
    }
}

TEST_CASE("status") {
    status ok;
    CHECK(ok.ok());
    CHECK(static_cast<bool>(ok));
    CHECK(ok.code() == errc::ok);
    CHECK(ok.error().offset() == error_info::no_offset);

    status bad = errc::io_error;
    CHECK_FALSE(bad.ok());
    CHECK_FALSE(static_cast<bool>(bad));
    CHECK(bad.code() == errc::io_error);

    status detailed = error_info(errc::unexpected_eof).in_file("f").at_offset(8);
    CHECK(detailed.error().to_string() == "f: byte 8: unexpected end of file");

    // A status built from an error_info whose code is ok is a success.
    status from_ok = error_info();
    CHECK(from_ok.ok());

    // Usable during constant evaluation (a constexpr variable is not possible: the text buffers
    // are left uninitialised past their first byte on purpose).
    static_assert([] {
        status s = errc::invalid_argument;
        return !s.ok() && s.code() == errc::invalid_argument && status{}.ok();
    }());
}

#if SAFESHARD_EXCEPTIONS
TEST_CASE("value() throws safeshard::error with the formatted message") {
    SUBCASE("result") {
        result<int> r = error_info(errc::unknown_dtype).in_file("m.safetensors").at_tensor("w").at_offset(42).with_detail("F128");
        CHECK_THROWS_WITH_AS((void)r.value(), "safeshard: m.safetensors: tensor 'w': byte 42: unknown dtype (F128)",
                             safeshard::error);
        const safeshard::error e = thrown_by([&] { (void)r.value(); });
        CHECK(e.code() == errc::unknown_dtype);
        CHECK(e.info().offset() == 42);
        CHECK(std::string_view(e.info().tensor()) == "w");
        CHECK_THROWS_AS((void)std::move(r).value(), safeshard::error);
        const auto& cr = r;
        CHECK_THROWS_AS((void)cr.value(), safeshard::error);
        // safeshard::error is a std::runtime_error, so generic handlers see the same text.
        CHECK_THROWS_WITH_AS((void)r.value(), "safeshard: m.safetensors: tensor 'w': byte 42: unknown dtype (F128)",
                             std::runtime_error);
    }
    SUBCASE("result with a value does not throw") {
        result<int> r = 1;
        CHECK_NOTHROW((void)r.value());
    }
    SUBCASE("status") {
        status s = errc::trailing_bytes;
        CHECK_THROWS_WITH_AS(s.value(), "safeshard: bytes after the last tensor", safeshard::error);
        status good;
        CHECK_NOTHROW(good.value());
    }
    SUBCASE("the error code list message is what() after the prefix") {
        for (std::size_t i = 1; i < errc_count; ++i) {
            auto ec = static_cast<errc>(i);
            safeshard::error e{error_info(ec)};
            CHECK(std::string_view(e.what()) == std::string("safeshard: ") + error_message(ec));
            CHECK(e.code() == ec);
        }
    }
}
#endif

TEST_CASE("SAFESHARD_TRY returns the first error and evaluates its expression once") {
    SUBCASE("status, success goes on") {
        int calls = 0, reached = 0;
        status s = try_status(4, calls, reached);
        CHECK(s.ok());
        CHECK(calls == 1);
        CHECK(reached == 1);
    }
    SUBCASE("status, failure returns early with the inner error") {
        int calls = 0, reached = 0;
        status s = try_status(5, calls, reached);
        CHECK(s.code() == errc::out_of_bounds);
        CHECK(s.error().offset() == 5);
        CHECK(calls == 1);
        CHECK(reached == 0);
    }
    SUBCASE("result, success goes on") {
        int reached = 0;
        auto r = try_result(3, reached);
        REQUIRE(r.has_value());
        CHECK(*r == "positive");
        CHECK(reached == 1);
    }
    SUBCASE("result, failure converts into the caller's result type") {
        int reached = 0;
        auto r = try_result(-1, reached);
        CHECK(r.code() == errc::invalid_argument);
        CHECK(std::string_view(r.error().detail()) == "not positive");
        CHECK(reached == 0);
    }
}

}  // TEST_SUITE
