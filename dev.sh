#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The project's entry points (see README):
#   ./dev.sh demo    build, then write a small checkpoint with the library, inspect and verify it;
#                    then a sharded checkpoint cycle (save on 4 ranks, verify, reload on 3)
#   ./dev.sh test    build and run every test: release (g++), ASan+UBSan (clang), ThreadSanitizer,
#                    then the fuzzers for a bounded time; prints each leg's time and ends
#                    "N passed, N failed, N skipped"
#   ./dev.sh bench   build and run the benchmarks in bench/
# Each installs the Debian packages it needs when they are missing.
set -euo pipefail
cd "$(dirname "$0")"

packages=(meson ninja-build g++ clang pkg-config cmake libsimdjson-dev doctest-dev libopenmpi-dev openmpi-bin)

ensure_packages() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

# setup DIR [meson options...]: configure once, reconfigure when options change.
setup() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson configure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

# run_suite NAME DIR: runs meson test, adds its counts to the totals.
total_pass=0
total_fail=0
total_skip=0
run_suite() {
    local name=$1 dir=$2 log
    log=$(mktemp)
    echo "== $name"
    set +e
    meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1 | tee "$log" | grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout|Expected Fail|Unexpected Pass):'
    set -e
    local ok fail timeout skip xfail upass
    ok=$(awk '/^Ok:/ {print $2}' "$log")
    fail=$(awk '/^Fail:/ {print $2}' "$log")
    timeout=$(awk '/^Timeout:/ {print $2}' "$log")
    skip=$(awk '/^Skipped:/ {print $2}' "$log")
    xfail=$(awk '/^Expected Fail:/ {print $3}' "$log")
    upass=$(awk '/^Unexpected Pass:/ {print $3}' "$log")
    if [ -z "$ok" ]; then  # meson did not get as far as running the tests
        tail -n 40 "$log"
        ok=0
        fail=1
    fi
    total_pass=$((total_pass + ok + ${xfail:-0}))
    total_fail=$((total_fail + ${fail:-0} + ${timeout:-0} + ${upass:-0}))
    total_skip=$((total_skip + ${skip:-0}))
    rm -f "$log"
}

build() {  # build NAME DIR: compile, counting a failed build as a failed test
    if ! ninja -C "$2" >"$2.log" 2>&1; then
        tail -n 60 "$2.log"
        echo "== $1: build failed"
        total_fail=$((total_fail + 1))
        return 1
    fi
}

# leg NAME DIR: builds DIR and runs its tests, timing both; the times are printed at the end.
leg_times=()
leg() {
    local name=$1 dir=$2 start=$SECONDS
    build "$name" "$dir" && run_suite "$name" "$dir"
    leg_times+=("$(printf '%-28s %4d s' "$name" $((SECONDS - start)))")
}

# run_fuzzers DIR: each libFuzzer target for a bounded time (SAFESHARD_FUZZ_SECONDS, default 15)
# on a working corpus seeded from tests/fuzz/seeds and, for the file-level targets, the shared
# corpus's files; a crash, leak, timeout or out-of-memory is a failed test.
run_fuzzers() {
    local dir=$1 secs=${SAFESHARD_FUZZ_SECONDS:-15} corpus=${SAFESHARD_CORPUS:-../shared/corpus}
    echo "== fuzz (clang, libFuzzer + ASan + UBSan), ${secs}s per target"
    for target in fuzz_header fuzz_file fuzz_checkpoint fuzz_planner; do
        local work="$dir/fuzz-corpus/$target" seeds=() log
        mkdir -p "$work" "$dir/fuzz-artifacts"
        [ -d "tests/fuzz/seeds/$target" ] && seeds+=("tests/fuzz/seeds/$target")
        if [ "$target" = fuzz_header ] || [ "$target" = fuzz_file ]; then
            if [ -d "$corpus" ]; then
                for sub in golden real hostile; do [ -d "$corpus/$sub" ] && seeds+=("$corpus/$sub"); done
            else
                echo "   SKIPPED: no corpus at $corpus: $target starts from its own inputs only"
            fi
        fi
        log=$(mktemp)
        set +e
        "$dir/tests/fuzz/$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$dir/fuzz-artifacts/$target-" "$work" "${seeds[@]}" >"$log" 2>&1
        local rc=$?
        set -e
        local runs
        runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
        if [ $rc -eq 0 ]; then
            echo "   $target: ${runs:-?} runs, no findings"
            total_pass=$((total_pass + 1))
        else
            echo "   $target: FAILED (exit $rc)"
            grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -n 20
            total_fail=$((total_fail + 1))
        fi
        rm -f "$log"
    done
}

cmd=${1:-}
case "$cmd" in
demo)
    ensure_packages
    setup build -Dbuildtype=release -Dtests=disabled
    ninja -C build >/dev/null
    out=$(mktemp -d)
    build/examples/write_checkpoint "$out/model.safetensors"
    build/tools/safeshard inspect "$out/model.safetensors" --hash
    build/tools/safeshard verify "$out/model.safetensors" && echo "verify: $out/model.safetensors is valid"
    build/examples/load_typed "$out/model.safetensors"
    build/examples/checkpoint_cycle "$out/checkpoint"
    build/tools/safeshard verify "$out/checkpoint" && echo "verify: $out/checkpoint is a valid checkpoint"
    ;;
test)
    ensure_packages
    started=$SECONDS
    export ASAN_OPTIONS=detect_leaks=1 TSAN_OPTIONS=halt_on_error=1
    # g++, release: every suite, every header alone (with and without exceptions), the CLI,
    # the examples and the compile-failure checks.
    setup build -Dbuildtype=release -Dtests=enabled
    leg "release (g++)" build
    # clang with ASan+UBSan: every suite again, under a second compiler with -Werror.
    CXX=clang++ setup build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
        -Dcpp_args=-fno-sanitize-recover=all -Dtests=enabled
    leg "ASan+UBSan (clang)" build-asan
    # ThreadSanitizer: the suites that run threads or processes.
    CXX=clang++ setup build-tsan -Dbuildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false -Dtests=enabled \
        -Dexamples=disabled -Dtools=disabled
    leg "ThreadSanitizer (clang)" build-tsan
    CXX=clang++ setup build-fuzz -Dbuildtype=debugoptimized -Dfuzz=true -Dtests=disabled -Dexamples=disabled -Dtools=disabled
    start=$SECONDS
    build "fuzz (clang)" build-fuzz && run_fuzzers build-fuzz
    leg_times+=("$(printf '%-28s %4d s' "fuzz (clang)" $((SECONDS - start)))")
    echo "== time per leg (build + tests)"
    printf '   %s\n' "${leg_times[@]}"
    printf '   %-28s %4d s\n' "all" $((SECONDS - started))
    echo "$total_pass passed, $total_fail failed, $total_skip skipped"
    [ "$total_fail" -eq 0 ]
    ;;
bench)
    ensure_packages
    setup build-bench -Dbuildtype=release -Dbench=true -Dtests=disabled
    ninja -C build-bench >/dev/null
    meson test -C build-bench --benchmark --verbose --num-processes 1
    ;;
*)
    echo "usage: ./dev.sh demo|test|bench" >&2
    exit 2
    ;;
esac
