#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tests of the safeshard command. Files made here always run; the shared corpus runs when
# present (SAFESHARD_CORPUS), and its absence is said plainly.
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_rc() {  # expect_rc WANT DESCRIPTION -- command...
    local want=$1 what=$2
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" = "$want" ]; then ok; else bad "$what: exit $rc, wanted $want ($(head -c 300 "$tmp/err"))"; fi
}

# A valid file, written byte by byte: {"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} padded to 64.
json='{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
while [ $(( ${#json} % 8 )) != 0 ]; do json="$json "; done
n=${#json}
le64() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x\\x%02x' $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) $(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 )) 0 0 0 0)"; }
{ le64 "$n"; printf '%s' "$json"; printf '\x00\x00\x80\x3f\x00\x00\x00\x40'; } >"$tmp/ok.safetensors"
{ le64 "$n"; printf '%s' "$json"; printf '\x00\x00\x80\x3f'; } >"$tmp/short.safetensors"
{ le64 999; printf '{}'; } >"$tmp/badlen.safetensors"
: >"$tmp/empty.safetensors"

expect_rc 0 "verify valid file" -- "$bin" verify "$tmp/ok.safetensors"
expect_rc 1 "verify truncated data" -- "$bin" verify "$tmp/short.safetensors"
grep -q "short.safetensors: tensor 'a'" "$tmp/err" && ok || bad "verify names the file and tensor: $(cat "$tmp/err")"
expect_rc 1 "verify many files, two bad" -- "$bin" verify "$tmp/ok.safetensors" "$tmp/badlen.safetensors" "$tmp/empty.safetensors"
[ "$(wc -l <"$tmp/err")" = 2 ] && ok || bad "one line per bad file: $(cat "$tmp/err")"
expect_rc 1 "verify missing file" -- "$bin" verify "$tmp/nope.safetensors"
grep -q "nope.safetensors" "$tmp/err" && ok || bad "missing file named"
expect_rc 1 "verify a directory" -- "$bin" verify "$tmp"
expect_rc 2 "no command" -- "$bin"
expect_rc 2 "unknown command" -- "$bin" frobnicate
expect_rc 2 "inspect without file" -- "$bin" inspect
expect_rc 0 "help" -- "$bin" help

expect_rc 0 "inspect --json --hash" -- "$bin" inspect "$tmp/ok.safetensors" --json --hash
want='{"metadata":{"format":"pt"},"tensors":[
{"name":"a","dtype":"F32","shape":[2],"data_offsets":[0,8],"fnv1a64":"'
head -c ${#want} "$tmp/out" | cmp -s - <(printf '%s' "$want") && ok || bad "inspect json: $(cat "$tmp/out")"
expect_rc 0 "inspect table" -- "$bin" inspect "$tmp/ok.safetensors"
grep -Eq '^a +F32 +\[2\] +8$' "$tmp/out" && ok || bad "inspect table row: $(cat "$tmp/out")"
grep -q "format = pt" "$tmp/out" && ok || bad "inspect shows metadata"

corpus="${SAFESHARD_CORPUS:-}"
if [ -n "$corpus" ] && [ -d "$corpus/golden" ]; then
    for f in "$corpus"/golden/*.safetensors "$corpus"/real/*.safetensors; do
        if "$bin" inspect --json --hash "$f" >"$tmp/out" 2>"$tmp/err" && cmp -s "$tmp/out" "${f%.safetensors}.info.json"; then ok; else bad "inspect --json --hash $f differs from its .info.json"; fi
    done
    while IFS=$'\t' read -r file verdict _; do
        [ "$file" = file ] && continue
        "$bin" verify "$corpus/hostile/$file" >/dev/null 2>"$tmp/err"
        rc=$?
        if [ "$verdict" = accept ]; then want=0; else want=1; fi
        if [ "$rc" = "$want" ]; then ok; else bad "verify $file: exit $rc, verdict $verdict"; fi
        if [ "$rc" = 1 ] && ! grep -q "$file" "$tmp/err"; then bad "verify $file: message does not name the file"; fi
    done <"$corpus/hostile/expected.tsv"
else
    echo "SKIPPED: corpus conformance of the CLI (no corpus at '${corpus}')"
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
