#!/bin/sh
# SPDX-License-Identifier: MIT
# check.sh SOURCE COMPILER [ARGS...]: a compile-failure test. SOURCE is compiled twice:
# with -DSAFESHARD_NEGATIVE=0 it must compile (so the test cannot rot into failing for an
# unrelated reason), with -DSAFESHARD_NEGATIVE=1 it must fail, and the compiler's messages
# must contain the text of SOURCE's "// expect: " line: the library's own sentence.
set -u
src=$1
shift
expect=$(sed -n 's|^// expect: ||p' "$src")
if [ -z "$expect" ]; then
    echo "FAIL: $src has no '// expect: ' line"
    exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! "$@" -fsyntax-only -DSAFESHARD_NEGATIVE=0 "$src" >"$out" 2>&1; then
    echo "FAIL: the valid form of $src does not compile:"
    head -n 30 "$out"
    exit 1
fi
if "$@" -fsyntax-only -DSAFESHARD_NEGATIVE=1 "$src" >"$out" 2>&1; then
    echo "FAIL: the invalid form of $src compiles"
    exit 1
fi
if ! grep -qF -- "$expect" "$out"; then
    echo "FAIL: the compiler rejects the invalid form of $src, but without: $expect"
    head -n 30 "$out"
    exit 1
fi
echo "ok: $(basename "$src") fails to compile with: $expect"
