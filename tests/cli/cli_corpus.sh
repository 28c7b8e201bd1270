#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The safeshard command on the shared conformance corpus ($SAFESHARD_CORPUS): `inspect --json
# --hash` of every golden and real-world file equals its .info.json, and `verify` gives every
# hostile file its expected verdict, naming the file. Without the corpus: exit 77 (skipped).
set -u
bin="$1"
corpus="${SAFESHARD_CORPUS:-}"
if [ -z "$corpus" ] || [ ! -d "$corpus/golden" ] || [ ! -f "$corpus/hostile/expected.tsv" ]; then
    echo "SKIPPED: no conformance corpus at '${corpus}' (set SAFESHARD_CORPUS)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

for f in "$corpus"/golden/*.safetensors "$corpus"/real/*.safetensors; do
    if "$bin" inspect --json --hash "$f" >"$tmp/out" 2>"$tmp/err" && cmp -s "$tmp/out" "${f%.safetensors}.info.json"; then ok; else bad "inspect --json --hash $f differs from its .info.json"; fi
done
rows=0
while IFS=$'\t' read -r file verdict _; do
    [ "$file" = file ] && continue
    rows=$((rows + 1))
    "$bin" verify "$corpus/hostile/$file" >/dev/null 2>"$tmp/err"
    rc=$?
    if [ "$verdict" = accept ]; then want=0; else want=1; fi
    if [ "$rc" = "$want" ]; then ok; else bad "verify $file: exit $rc, verdict $verdict"; fi
    if [ "$rc" = 1 ] && ! grep -q "$file" "$tmp/err"; then bad "verify $file: message does not name the file"; fi
done <"$corpus/hostile/expected.tsv"
[ "$rows" -ge 25 ] && ok || bad "expected.tsv has only $rows rows"

echo "cli-corpus: $pass passed, $fail failed"
[ "$fail" = 0 ]
