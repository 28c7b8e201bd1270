#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# mpi_tests.sh SCENARIOS: the distributed scenarios under mpirun, each under a timeout that turns
# a hang into a failure. Saves on 1, 2 and 4 ranks must give the same consolidated bytes; each
# loads again on 3 ranks; a failure injected on one rank (an unusable directory, a state that
# disagrees with the plan, a full disk while writing shards or while consolidating, a load that
# cannot see the checkpoint) must fail every rank with one message and change nothing.
set -u
exe=$1
if ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIPPED: no mpirun on PATH"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
run() {  # run RANKS MODE DIR
    timeout 120 mpirun --oversubscribe --allow-run-as-root -np "$1" "$exe" "$2" "$3"
    local rc=$?
    [ $rc = 124 ] && echo "TIMEOUT: $2 on $1 ranks hung"
    return $rc
}

for n in 1 2 4; do
    if run "$n" save "$tmp/w$n"; then ok; else bad "save on $n ranks"; fi
done
for n in 2 4; do
    for f in model-00001-of-00001.safetensors model.safetensors.index.json; do
        if cmp -s "$tmp/w1/$f" "$tmp/w$n/$f"; then ok; else bad "$f saved on $n ranks differs from the one saved on 1"; fi
    done
done
for n in 1 2 4; do
    if run 3 load "$tmp/w$n/sharded"; then ok; else bad "load on 3 ranks of the shards saved on $n"; fi
    if run 3 load "$tmp/w$n"; then ok; else bad "load on 3 ranks of the consolidated checkpoint saved on $n"; fi
done

# Failures, each into a copy of a good checkpoint that must come out unchanged.
for spec in "2 fail-dir" "4 fail-state" "2 fail-disk" "2 fail-consolidate" "3 fail-load"; do
    set -- $spec
    rm -rf "$tmp/f" && cp -r "$tmp/w2" "$tmp/f"
    [ "$2" = fail-load ] && target="$tmp/f/sharded" || target="$tmp/f"
    if run "$1" "$2" "$target"; then ok; else bad "$2 on $1 ranks"; fi
    leftovers=$(find "$tmp/f" -name '*.safeshard-tmp.*' | head -1)
    [ -z "$leftovers" ] && ok || bad "$2: temp files left: $leftovers"
done

echo "mpi: $pass passed, $fail failed"
[ "$fail" = 0 ]
