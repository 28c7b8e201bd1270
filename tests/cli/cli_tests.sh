#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tests of the safeshard command on files and checkpoints made here (the shared corpus is
# cli_corpus.sh's).
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

# Checkpoints (directories), written by the generator given as the second argument.
gen="${2:-}"
if [ -n "$gen" ] && [ -x "$gen" ]; then
    ck="$tmp/ck"
    if "$gen" "$ck" 2>"$tmp/err"; then ok; else bad "make_checkpoints: $(cat "$tmp/err")"; fi

    expect_rc 0 "inspect DIR --json" -- "$bin" inspect "$ck/dcp2" --json
    s1=shard-00001-model-00001-of-00001.safetensors
    s2=shard-00002-model-00001-of-00001.safetensors
    want='{"tensors":[
{"name":"dtensor","dtype":"F32","shape":[4,4],"chunks":[{"offsets":[0,0],"sizes":[2,4],"file":"'$s1'"},{"offsets":[2,0],"sizes":[2,4],"file":"'$s2'"}]},
{"name":"dtensor_col","dtype":"F32","shape":[4,4],"chunks":[{"offsets":[0,0],"sizes":[4,2],"file":"'$s1'"},{"offsets":[0,2],"sizes":[4,2],"file":"'$s2'"}]},
{"name":"ints","dtype":"I32","shape":[2,3],"chunks":[{"offsets":[0,0],"sizes":[2,3],"file":"'$s1'"}]}
]}'
    cmp -s "$tmp/out" <(printf '%s\n' "$want") && ok || bad "inspect DIR --json: $(cat "$tmp/out")"
    expect_rc 0 "inspect DIR" -- "$bin" inspect "$ck/hf"
    grep -q "2 files, 3 tensors, 152 data bytes, with model.safetensors.index.json" "$tmp/out" && ok || bad "inspect DIR summary: $(cat "$tmp/out")"
    grep -Eq '^dtensor_col +F32 +\[4, 4\] +64 +1$' "$tmp/out" && ok || bad "inspect DIR row: $(cat "$tmp/out")"
    grep -q '^  model-00002-of-00002.safetensors' "$tmp/out" && ok || bad "inspect DIR lists the files: $(cat "$tmp/out")"
    expect_rc 2 "inspect DIR --hash" -- "$bin" inspect "$ck/dcp2" --hash
    expect_rc 1 "inspect broken DIR" -- "$bin" inspect "$ck/overlap"

    expect_rc 0 "verify dcp2" -- "$bin" verify "$ck/dcp2"
    expect_rc 0 "verify hf" -- "$bin" verify "$ck/hf"
    expect_rc 0 "verify dirs and a file" -- "$bin" verify "$ck/dcp2" "$ck/hf" "$tmp/ok.safetensors"
    # broken DIR WORD FILE [TENSOR]: verify refuses DIR with one line that starts with DIR's path
    # and holds FILE (the offending file as the message names it; "" when the problem is the
    # tensor's alone), tensor 'TENSOR' when given, and WORD; consolidate refuses DIR with the
    # same line first and creates no OUT_DIR.
    broken() {
        local dir=$1 word=$2 file=$3 tensor=${4:-} line
        expect_rc 1 "verify $dir" -- "$bin" verify "$ck/$dir"
        line=$(head -1 "$tmp/err")
        [ "$(wc -l <"$tmp/err")" = 1 ] && ok || bad "verify $dir: one line on stderr: $(cat "$tmp/err")"
        case "$line" in "$ck/$dir"[/:]*) ok ;; *) bad "verify $dir: the line starts with its path: $line" ;; esac
        [[ "$line" == *"$file"* ]] && ok || bad "verify $dir names the file ($file): $line"
        [ -z "$tensor" ] || { [[ "$line" == *"tensor '$tensor'"* ]] && ok || bad "verify $dir names tensor '$tensor': $line"; }
        [[ "$line" == *"$word"* ]] && ok || bad "verify $dir names the problem ($word): $line"
        expect_rc 1 "consolidate $dir" -- "$bin" consolidate "$ck/$dir" "$tmp/broken-out"
        [ "$(head -1 "$tmp/err")" = "$line" ] && ok || bad "consolidate $dir: not verify's message: $(cat "$tmp/err")"
        [ ! -e "$tmp/broken-out" ] && ok || bad "consolidate $dir: OUT_DIR created"
        rm -rf "$tmp/broken-out"
    }
    broken hole uncovered "" t
    broken overlap overlap shard-00002 t
    broken stale overlap shard-00003 dtensor
    broken escape outside "escape/model.safetensors.index.json: "
    broken missing "not exist" "missing/model-00002-of-00002.safetensors: "
    # The hostile checkpoints of tests/unit/reliability.cpp.
    broken notjson "not JSON" "notjson/$s1: "
    broken wrongrank "saved_offsets [0]" "wrongrank/$s1: " t
    broken ghost "does not hold" "ghost/$s1: " u
    broken lacks "no entry" "lacks/$s1: " t
    broken dtypes dtype "$s2" t
    broken absurd uncovered "" t
    broken overflow overflows "overflow/$s1: " t
    broken twice overlap b.safetensors t
    broken absolute "/tmp/a.safetensors" "absolute/model.safetensors.index.json: "
    broken symlink outside "symlink/a.safetensors: "
    expect_rc 1 "verify good and bad" -- "$bin" verify "$ck/dcp2" "$ck/hole" "$tmp/ok.safetensors" "$ck/overlap" "$tmp/short.safetensors"
    [ "$(wc -l <"$tmp/err")" = 3 ] && ok || bad "one line per bad argument: $(cat "$tmp/err")"

    # extract: float32 words little-endian; arange(16) and its box at [1, 1] of size [2, 2].
    f32() { for h in "$@"; do printf "\\x${h:6:2}\\x${h:4:2}\\x${h:2:2}\\x${h:0:2}"; done; }
    f32 00000000 3f800000 40000000 40400000 40800000 40a00000 40c00000 40e00000 \
        41000000 41100000 41200000 41300000 41400000 41500000 41600000 41700000 >"$tmp/arange.bin"
    f32 40a00000 40c00000 41100000 41200000 >"$tmp/box.bin"
    [ "$(wc -c <"$tmp/arange.bin")" = 64 ] && ok || bad "test data: arange.bin"
    same_bytes() {  # same_bytes WHAT EXPECTED ACTUAL
        cmp -s "$2" "$3" && ok || bad "$1: $(od -An -tx1 "$3" 2>&1 | head -c 300)"
    }
    expect_rc 0 "extract dcp2 dtensor" -- "$bin" extract "$ck/dcp2" dtensor --out "$tmp/x.bin"
    same_bytes "extract dcp2 dtensor" "$tmp/arange.bin" "$tmp/x.bin"
    expect_rc 0 "extract dcp2 dtensor_col" -- "$bin" extract "$ck/dcp2" dtensor_col --out "$tmp/x.bin"
    same_bytes "extract dcp2 dtensor_col" "$tmp/arange.bin" "$tmp/x.bin"
    expect_rc 0 "extract hf dtensor" -- "$bin" extract "$ck/hf" dtensor --out "$tmp/x.bin"
    same_bytes "extract hf dtensor" "$tmp/arange.bin" "$tmp/x.bin"
    expect_rc 0 "extract in 4-byte slabs" -- env SAFESHARD_CLI_SLAB_BYTES=4 "$bin" extract "$ck/dcp2" dtensor_col --out "$tmp/x.bin"
    same_bytes "extract in 4-byte slabs" "$tmp/arange.bin" "$tmp/x.bin"
    expect_rc 0 "extract in 24-byte slabs" -- env SAFESHARD_CLI_SLAB_BYTES=24 "$bin" extract "$ck/dcp2" dtensor --out "$tmp/x.bin"
    same_bytes "extract in 24-byte slabs" "$tmp/arange.bin" "$tmp/x.bin"
    expect_rc 0 "extract box dcp2" -- "$bin" extract "$ck/dcp2" dtensor_col --offsets 1,1 --lengths 2,2 --out "$tmp/x.bin"
    same_bytes "extract box dcp2 dtensor_col" "$tmp/box.bin" "$tmp/x.bin"
    expect_rc 0 "extract box hf" -- "$bin" extract "$ck/hf" dtensor --lengths 2,2 --offsets 1,1 --out "$tmp/x.bin"
    same_bytes "extract box hf dtensor" "$tmp/box.bin" "$tmp/x.bin"
    expect_rc 0 "extract box in slabs" -- env SAFESHARD_CLI_SLAB_BYTES=4 "$bin" extract "$ck/dcp2" dtensor --offsets 1,1 --lengths 2,2 --out "$tmp/x.bin"
    same_bytes "extract box in slabs" "$tmp/box.bin" "$tmp/x.bin"
    expect_rc 0 "extract to the end" -- "$bin" extract "$ck/dcp2" dtensor --offsets 2,0 --out "$tmp/x.bin"
    same_bytes "extract rows 2-3" <(tail -c 32 "$tmp/arange.bin") "$tmp/x.bin"
    expect_rc 0 "extract ints dcp2" -- "$bin" extract "$ck/dcp2" ints --out "$tmp/x.bin"
    expect_rc 0 "extract ints hf" -- "$bin" extract "$ck/hf" ints --out "$tmp/y.bin"
    same_bytes "extract ints dcp2 = hf" "$tmp/y.bin" "$tmp/x.bin"
    expect_rc 0 "extract from a file" -- "$bin" extract "$tmp/ok.safetensors" a --out "$tmp/x.bin"
    same_bytes "extract from a file" <(f32 3f800000 40000000) "$tmp/x.bin"
    expect_rc 1 "extract outside the tensor" -- "$bin" extract "$ck/dcp2" dtensor --offsets 3,1 --lengths 2,2 --out "$tmp/no.bin"
    grep -q "outside" "$tmp/err" && ok || bad "extract outside: $(cat "$tmp/err")"
    expect_rc 1 "extract wrong count" -- "$bin" extract "$ck/dcp2" dtensor --offsets 1 --out "$tmp/no.bin"
    grep -q "rank 2" "$tmp/err" && ok || bad "extract wrong count: $(cat "$tmp/err")"
    expect_rc 1 "extract missing tensor" -- "$bin" extract "$ck/dcp2" nope --out "$tmp/no.bin"
    grep -q "nope" "$tmp/err" && ok || bad "extract missing tensor named: $(cat "$tmp/err")"
    expect_rc 1 "extract from broken dir" -- "$bin" extract "$ck/hole" t --out "$tmp/no.bin"
    [ ! -e "$tmp/no.bin" ] && ok || bad "a failed extract left its output"
    expect_rc 2 "extract bad number" -- "$bin" extract "$ck/dcp2" dtensor --offsets 1,x --out "$tmp/no.bin"
    expect_rc 2 "extract negative number" -- "$bin" extract "$ck/dcp2" dtensor --offsets 1,-1 --out "$tmp/no.bin"
    expect_rc 2 "extract number too large" -- "$bin" extract "$ck/dcp2" dtensor --offsets 1,18446744073709551616 --out "$tmp/no.bin"
    expect_rc 2 "extract without --out" -- "$bin" extract "$ck/dcp2" dtensor
    expect_rc 2 "extract without NAME" -- "$bin" extract "$ck/dcp2" --out "$tmp/no.bin"
    expect_rc 2 "extract unknown option" -- "$bin" extract "$ck/dcp2" dtensor --out "$tmp/no.bin" --frob

    # diff: the same tensors in either layout; then one float of dtensor_col ([1, 2]) negated.
    expect_rc 0 "diff dcp2 hf" -- "$bin" diff "$ck/dcp2" "$ck/hf"
    grep -q "^same" "$tmp/out" && ok || bad "diff same: $(cat "$tmp/out")"
    expect_rc 0 "diff in slabs" -- env SAFESHARD_CLI_SLAB_BYTES=8 "$bin" diff "$ck/hf" "$ck/dcp2"
    cp -r "$ck/hf" "$tmp/mod"
    f="$tmp/mod/model-00002-of-00002.safetensors"
    n=$(od -An -tu8 -N8 "$f" | tr -d ' ')
    printf '\xc0' | dd of="$f" bs=1 seek=$((8 + n + 27)) conv=notrunc 2>/dev/null
    expect_rc 1 "diff modified copy" -- "$bin" diff "$ck/dcp2" "$tmp/mod"
    grep -q "^dtensor_col: .*\[1, 2\]" "$tmp/out" && [ "$(wc -l <"$tmp/out")" = 1 ] && ok || bad "diff names the tensor and element: $(cat "$tmp/out")"
    expect_rc 1 "diff modified copy in slabs" -- env SAFESHARD_CLI_SLAB_BYTES=8 "$bin" diff "$tmp/mod" "$ck/dcp2"
    grep -q "^dtensor_col: .*\[1, 2\]" "$tmp/out" && ok || bad "diff in slabs names the element: $(cat "$tmp/out")"
    expect_rc 1 "diff names" -- "$bin" diff "$ck/hf" "$tmp/ok.safetensors"
    grep -q "only in A: dtensor$" "$tmp/out" && grep -q "only in B: a$" "$tmp/out" && ok || bad "diff names: $(cat "$tmp/out")"
    expect_rc 1 "diff shapes" -- "$bin" diff "$ck/hf" "$ck/dcp2/$s1"
    grep -q "^dtensor: shape \[4, 4\] in A, \[2, 4\] in B" "$tmp/out" && ok || bad "diff shapes: $(cat "$tmp/out")"
    expect_rc 2 "diff broken checkpoint" -- "$bin" diff "$ck/dcp2" "$ck/overlap"
    grep -q "overlap" "$tmp/err" && ok || bad "diff error: $(cat "$tmp/err")"
    expect_rc 2 "diff one path" -- "$bin" diff "$ck/dcp2"
    expect_rc 2 "diff three paths" -- "$bin" diff "$ck/dcp2" "$ck/hf" "$ck/hf"

    # consolidate: dcp2 into one file plus DCP's index text (2-space indent, no final newline).
    m1=model-00001-of-00001.safetensors
    index_text() {  # index_text TOTAL NAME FILE NAME FILE ...: the index DCP writes
        local total=$1 sep=''
        shift
        printf '{\n  "metadata": {\n    "total_size": %s\n  },\n  "weight_map": {' "$total"
        while [ $# -gt 0 ]; do
            printf '%s\n    "%s": "%s"' "$sep" "$1" "$2"
            sep=,
            shift 2
        done
        printf '\n  }\n}'
    }
    same_index() {  # same_index WHAT DIR TOTAL NAME FILE ...
        local what=$1 dir=$2
        shift 2
        cmp -s "$dir/model.safetensors.index.json" <(index_text "$@") && ok || bad "$what: index is $(cat "$dir/model.safetensors.index.json")"
    }
    model_files() { (cd "$1" && ls | tr '\n' ' '); }  # model_files DIR: its entries, sorted
    c="$tmp/cons"
    expect_rc 0 "consolidate dcp2" -- "$bin" consolidate "$ck/dcp2" "$c/one"
    [ ! -s "$tmp/err" ] && ok || bad "consolidate writes nothing on stderr when it is not a terminal: $(cat "$tmp/err")"
    grep -q "^consolidated .*: 1 file and model.safetensors.index.json, 3 tensors, 152 bytes in .* MB/s)$" "$tmp/out" && [ "$(wc -l <"$tmp/out")" = 1 ] &&
        ok || bad "consolidate summary: $(cat "$tmp/out")"
    [ "$(model_files "$c/one")" = "$m1 model.safetensors.index.json " ] && ok || bad "consolidate dcp2 files: $(model_files "$c/one")"
    same_index "consolidate dcp2" "$c/one" 152 dtensor $m1 dtensor_col $m1 ints $m1
    expect_rc 0 "verify consolidated" -- "$bin" verify "$c/one" "$c/one/$m1"
    expect_rc 0 "diff dcp2 consolidated" -- "$bin" diff "$ck/dcp2" "$c/one"
    expect_rc 0 "inspect consolidated file" -- "$bin" inspect "$c/one/$m1"
    grep -q "^  format = pt$" "$tmp/out" && ok || bad "consolidated file has format = pt: $(cat "$tmp/out")"
    grep -q "DCP_SHARDING_INFO" "$tmp/out" && bad "consolidated file keeps DCP_SHARDING_INFO: $(cat "$tmp/out")" || ok
    expect_rc 0 "consolidate --threads 1" -- "$bin" consolidate "$ck/dcp2" "$c/t1" --threads 1
    cmp -s "$c/one/$m1" "$c/t1/$m1" && ok || bad "consolidate --threads 1 and 2 differ"
    expect_rc 0 "consolidate --threads 5" -- "$bin" consolidate --threads 5 "$ck/dcp2" "$c/t5"
    cmp -s "$c/one/$m1" "$c/t5/$m1" && ok || bad "consolidate --threads 5 and 2 differ"

    # --mapping as a JSON object of file indices.
    printf '{"dtensor": 1, "dtensor_col": 2, "ints": 2}\n' >"$tmp/map.json"
    expect_rc 0 "consolidate --mapping" -- "$bin" consolidate "$ck/dcp2" "$c/map" --mapping "$tmp/map.json"
    f1=model-00001-of-00002.safetensors f2=model-00002-of-00002.safetensors
    [ "$(model_files "$c/map")" = "$f1 $f2 model.safetensors.index.json " ] && ok || bad "consolidate --mapping files: $(model_files "$c/map")"
    same_index "consolidate --mapping" "$c/map" 152 dtensor $f1 dtensor_col $f2 ints $f2
    expect_rc 0 "inspect mapped file 1" -- "$bin" inspect "$c/map/$f1" --json
    [ "$(grep -o '"name":"[a-z_]*"' "$tmp/out" | tr '\n' ' ')" = '"name":"dtensor" ' ] && ok || bad "mapped file 1 tensors: $(cat "$tmp/out")"
    expect_rc 0 "inspect mapped file 2" -- "$bin" inspect "$c/map/$f2" --json
    [ "$(grep -o '"name":"[a-z_]*"' "$tmp/out" | tr '\n' ' ')" = '"name":"dtensor_col" "name":"ints" ' ] && ok || bad "mapped file 2 tensors: $(cat "$tmp/out")"
    expect_rc 0 "diff dcp2 mapped" -- "$bin" diff "$ck/dcp2" "$c/map"
    expect_rc 0 "diff hf mapped" -- "$bin" diff "$ck/hf" "$c/map"
    # --mapping as a Hugging Face index: its layout again, index text and all.
    expect_rc 0 "consolidate --mapping index" -- "$bin" consolidate "$ck/dcp2" "$c/idx" --mapping "$ck/hf/model.safetensors.index.json"
    [ "$(model_files "$c/idx")" = "$f1 $f2 model.safetensors.index.json " ] && ok || bad "consolidate --mapping index files: $(model_files "$c/idx")"
    same_index "consolidate --mapping index" "$c/idx" 152 dtensor $f1 dtensor_col $f2 ints $f2
    cmp -s "$c/map/$f1" "$c/idx/$f1" && cmp -s "$c/map/$f2" "$c/idx/$f2" && ok || bad "--mapping index and JSON give different files"
    expect_rc 0 "diff dcp2 index-mapped" -- "$bin" diff "$ck/dcp2" "$c/idx"

    # --max-shard-size: Hugging Face's split in natural name order (64, 64, 24 bytes).
    expect_rc 0 "consolidate --max-shard-size 100" -- "$bin" consolidate "$ck/dcp2" "$c/cap100" --max-shard-size 100
    same_index "consolidate --max-shard-size 100" "$c/cap100" 152 dtensor $f1 dtensor_col $f2 ints $f2
    expect_rc 0 "diff dcp2 capped at 100" -- "$bin" diff "$ck/dcp2" "$c/cap100"
    expect_rc 0 "consolidate --max-shard-size 64B" -- "$bin" consolidate "$ck/dcp2" "$c/cap64" --max-shard-size 64B
    g1=model-00001-of-00003.safetensors g2=model-00002-of-00003.safetensors g3=model-00003-of-00003.safetensors
    [ "$(model_files "$c/cap64")" = "$g1 $g2 $g3 model.safetensors.index.json " ] && ok || bad "consolidate --max-shard-size 64B files: $(model_files "$c/cap64")"
    same_index "consolidate --max-shard-size 64B" "$c/cap64" 152 dtensor $g1 dtensor_col $g2 ints $g3
    expect_rc 0 "verify capped at 64" -- "$bin" verify "$c/cap64"
    expect_rc 0 "diff dcp2 capped at 64" -- "$bin" diff "$ck/dcp2" "$c/cap64"
    expect_rc 0 "consolidate --max-shard-size 1KiB" -- "$bin" consolidate "$ck/dcp2" "$c/cap1k" --max-shard-size 1KiB
    [ "$(model_files "$c/cap1k")" = "$m1 model.safetensors.index.json " ] && ok || bad "consolidate --max-shard-size 1KiB files: $(model_files "$c/cap1k")"
    expect_rc 0 "consolidate --max-shard-size 5gb" -- "$bin" consolidate "$ck/dcp2" "$c/cap5g" --max-shard-size 5gb
    cmp -s "$c/one/$m1" "$c/cap5g/$m1" && ok || bad "--max-shard-size 5gb differs from one file"

    # Into a directory an earlier consolidation wrote: its other model files go.
    expect_rc 0 "consolidate over an earlier output" -- "$bin" consolidate "$ck/dcp2" "$c/cap64"
    [ "$(model_files "$c/cap64")" = "$m1 model.safetensors.index.json " ] && ok || bad "stale model files removed: $(model_files "$c/cap64")"
    expect_rc 0 "diff after consolidating over" -- "$bin" diff "$ck/dcp2" "$c/cap64"

    # hf_storage_writer's files carry DCP_SHARDING_INFO too, so hf/ consolidates.
    expect_rc 0 "consolidate hf" -- "$bin" consolidate "$ck/hf" "$c/fromhf"
    expect_rc 0 "diff hf consolidated" -- "$bin" diff "$ck/hf" "$c/fromhf"

    # Errors: exit 1, the library's message, nothing written.
    printf '{"dtensor": 1, "ints": 2}' >"$tmp/short.json"
    expect_rc 1 "consolidate, mapping lacks a tensor" -- "$bin" consolidate "$ck/dcp2" "$c/no" --mapping "$tmp/short.json"
    grep -q "dtensor_col" "$tmp/err" && ok || bad "mapping lacks a tensor: names it: $(cat "$tmp/err")"
    [ ! -e "$c/no" ] && ok || bad "mapping lacks a tensor: OUT_DIR created"
    printf '{"dtensor": 1, "dtensor_col": 2, "ints": 2, "ghost": 3}' >"$tmp/ghost.json"
    expect_rc 1 "consolidate, mapping names a tensor not saved" -- "$bin" consolidate "$ck/dcp2" "$c/no" --mapping "$tmp/ghost.json"
    grep -q "ghost" "$tmp/err" && ok || bad "mapping names a tensor not saved: names it: $(cat "$tmp/err")"
    [ ! -e "$c/no" ] && ok || bad "mapping names a tensor not saved: OUT_DIR created"
    bad_mapping() {  # bad_mapping WHAT JSON WORD: the mapping is refused with a message holding WORD
        printf '%s' "$2" >"$tmp/badmap.json"
        expect_rc 1 "consolidate, mapping $1" -- "$bin" consolidate "$ck/dcp2" "$c/no" --mapping "$tmp/badmap.json"
        grep -q "badmap.json" "$tmp/err" && grep -q -- "$3" "$tmp/err" && ok || bad "mapping $1: message: $(cat "$tmp/err")"
        [ ! -e "$c/no" ] && ok || bad "mapping $1: OUT_DIR created"
    }
    bad_mapping "with a name twice" '{"dtensor": 1, "dtensor_col": 2, "ints": 2, "dtensor": 2}' "twice"
    bad_mapping "with index 0" '{"dtensor": 0, "dtensor_col": 2, "ints": 2}' "1-based"
    bad_mapping "with a fraction" '{"dtensor": 1.5, "dtensor_col": 2, "ints": 2}' "not an integer"
    bad_mapping "with a string" '{"dtensor": "1", "dtensor_col": 2, "ints": 2}' "not an integer"
    bad_mapping "with a negative index" '{"dtensor": -1, "dtensor_col": 2, "ints": 2}' "not an integer"
    bad_mapping "too large" '{"dtensor": 4294967296, "dtensor_col": 2, "ints": 2}' "not an integer"
    bad_mapping "not an object" '[1, 2]' "not a JSON object"
    bad_mapping "not JSON" '{"dtensor": 1,' "not JSON"
    bad_mapping "index with odd file names" '{"weight_map": {"dtensor": "a.safetensors", "dtensor_col": "model-00001-of-00001.safetensors", "ints": "model-00001-of-00001.safetensors"}}' "a.safetensors"
    bad_mapping "index with file 0" '{"weight_map": {"dtensor": "model-00000-of-00002.safetensors"}}' "model-00000-of-00002"
    expect_rc 1 "consolidate, mapping file missing" -- "$bin" consolidate "$ck/dcp2" "$c/no" --mapping "$tmp/nope.json"
    grep -q "nope.json" "$tmp/err" && ok || bad "missing mapping file named: $(cat "$tmp/err")"
    for d in hole overlap stale; do
        expect_rc 1 "consolidate $d" -- "$bin" consolidate "$ck/$d" "$c/no"
        grep -q "$d" "$tmp/err" && ok || bad "consolidate $d names it: $(cat "$tmp/err")"
        [ ! -e "$c/no" ] && ok || bad "consolidate $d: OUT_DIR created"
    done
    mkdir "$c/kept"
    expect_rc 1 "consolidate overlap into an existing dir" -- "$bin" consolidate "$ck/overlap" "$c/kept"
    [ -z "$(ls -A "$c/kept")" ] && ok || bad "consolidate overlap wrote into OUT_DIR: $(ls -A "$c/kept")"
    expect_rc 1 "consolidate hole over an earlier output" -- "$bin" consolidate "$ck/hole" "$c/map"
    [ "$(model_files "$c/map")" = "$f1 $f2 model.safetensors.index.json " ] && ok || bad "failed consolidate changed OUT_DIR: $(model_files "$c/map")"
    expect_rc 0 "earlier output intact" -- "$bin" diff "$ck/dcp2" "$c/map"
    mkdir "$tmp/plain" && cp "$tmp/ok.safetensors" "$tmp/plain/model.safetensors"
    expect_rc 1 "consolidate without DCP metadata" -- "$bin" consolidate "$tmp/plain" "$c/no"
    grep -q "DCP_SHARDING_INFO" "$tmp/err" && grep -q "plain/model.safetensors" "$tmp/err" && ok || bad "no DCP metadata: message: $(cat "$tmp/err")"
    [ ! -e "$c/no" ] && ok || bad "no DCP metadata: OUT_DIR created"
    expect_rc 1 "consolidate a missing dir" -- "$bin" consolidate "$tmp/nodir" "$c/no"
    [ ! -e "$c/no" ] && ok || bad "missing IN_DIR: OUT_DIR created"

    # convert: quantized pairs dequantized (FP8 under the weight's name, MXFP4 without
    # "_blocks"), scales dropped, integers copied; one model.safetensors, or files and an index.
    v="$tmp/conv"
    expect_rc 0 "convert fp8 --dtype F32" -- "$bin" convert "$ck/fp8" "$v/f32" --dtype F32
    grep -q "^converted .*: 1 file, 3 tensors (2 dequantized, 0 quantized), 108 bytes in" "$tmp/out" && ok || bad "convert summary: $(cat "$tmp/out")"
    [ "$(ls "$v/f32")" = "model.safetensors" ] && ok || bad "convert --dtype F32 files: $(ls "$v/f32")"
    expect_rc 0 "inspect converted" -- "$bin" inspect "$v/f32/model.safetensors"
    grep -Eq '^proj\.weight +F32 +\[4, 4\] +64$' "$tmp/out" && grep -Eq '^x +F32 +\[2, 4\] +32$' "$tmp/out" &&
        grep -Eq '^ids +I32 +\[3\] +12$' "$tmp/out" && ! grep -q "scale" "$tmp/out" && ok || bad "converted tensors: $(cat "$tmp/out")"
    expect_rc 0 "extract a dequantized weight" -- "$bin" extract "$v/f32" proj.weight --out "$tmp/w.bin"
    for i in $(seq 16); do printf '\x00\x00\x40\x40'; done >"$tmp/threes.bin"  # 3.0f, 16 times
    cmp -s "$tmp/w.bin" "$tmp/threes.bin" && ok || bad "proj.weight is not 1.5 x 2 everywhere"
    expect_rc 0 "extract an MXFP4 tensor" -- "$bin" extract "$v/f32" x --out "$tmp/x.bin"
    # row 0 (scale 2^0): 0.5 1.0 0.5 1.0; row 1 (2^1): 1 2 1 2
    printf '\x00\x00\x00\x3f\x00\x00\x80\x3f\x00\x00\x00\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x80\x3f\x00\x00\x00\x40' >"$tmp/x_want.bin"
    cmp -s "$tmp/x.bin" "$tmp/x_want.bin" && ok || bad "x dequantized wrong: $(od -An -tf4 "$tmp/x.bin")"
    expect_rc 0 "convert fp8 --dtype BF16 --max-shard-size 40B" -- "$bin" convert "$ck/fp8" "$v/bf16" --dtype BF16 --max-shard-size 40B --threads 1
    [ "$(model_files "$v/bf16")" = "model-00001-of-00003.safetensors model-00002-of-00003.safetensors model-00003-of-00003.safetensors model.safetensors.index.json " ] &&
        ok || bad "convert --max-shard-size files: $(model_files "$v/bf16")"
    expect_rc 0 "verify converted checkpoint" -- "$bin" verify "$v/bf16"
    expect_rc 0 "convert back to F32" -- "$bin" convert "$v/bf16" "$v/back" --dtype F32
    expect_rc 0 "diff bf16 round trip" -- "$bin" diff "$v/f32" "$v/back"
    # --quantize: proj.weight (2-D *.weight) becomes F8_E4M3 with its scale grid; x is left alone.
    expect_rc 0 "convert --quantize fp8-block:2" -- "$bin" convert "$v/f32" "$v/q" --quantize fp8-block:2
    grep -q "(0 dequantized, 1 quantized)" "$tmp/out" && ok || bad "quantize summary: $(cat "$tmp/out")"
    expect_rc 0 "inspect quantized" -- "$bin" inspect "$v/q/model.safetensors"
    grep -Eq '^proj\.weight +F8_E4M3 +\[4, 4\] +16$' "$tmp/out" && grep -Eq '^proj\.weight_scale_inv +F32 +\[2, 2\] +16$' "$tmp/out" &&
        grep -Eq '^x +F32 +\[2, 4\]' "$tmp/out" && ok || bad "quantized tensors: $(cat "$tmp/out")"
    expect_rc 0 "convert --quantize --only" -- "$bin" convert "$v/f32" "$v/none" --quantize fp8-block --only '^nothing'
    grep -q "(0 dequantized, 0 quantized)" "$tmp/out" && ok || bad "--only selecting nothing: $(cat "$tmp/out")"
    # Errors: exit 1 with the tensor named and OUT as it was; usage errors exit 2.
    expect_rc 1 "convert a malformed pair" -- "$bin" convert "$ck/badfp8" "$v/f32" --dtype F32
    grep -q "proj.weight_scale_inv" "$tmp/err" && grep -q "badfp8/model.safetensors" "$tmp/err" && ok || bad "malformed pair message: $(cat "$tmp/err")"
    expect_rc 0 "output unchanged after a failed convert" -- "$bin" diff "$v/f32" "$v/back"
    expect_rc 1 "convert a missing input" -- "$bin" convert "$tmp/nodir" "$v/no" --dtype F32
    [ ! -e "$v/no" ] && ok || bad "convert of a missing input created OUT"
    expect_rc 2 "convert without --dtype or --quantize" -- "$bin" convert "$ck/fp8" "$v/no"
    expect_rc 2 "convert --dtype I32" -- "$bin" convert "$ck/fp8" "$v/no" --dtype I32
    expect_rc 2 "convert --quantize fp9" -- "$bin" convert "$ck/fp8" "$v/no" --quantize fp9
    expect_rc 2 "convert --quantize fp8-block:0" -- "$bin" convert "$ck/fp8" "$v/no" --quantize fp8-block:0
    expect_rc 2 "convert --only without --quantize" -- "$bin" convert "$ck/fp8" "$v/no" --dtype F32 --only x
    expect_rc 2 "convert --only not a regex" -- "$bin" convert "$ck/fp8" "$v/no" --quantize fp8-block --only '('
    [ ! -e "$v/no" ] && ok || bad "a convert usage error created OUT"

    # Usage errors: exit 2.
    expect_rc 2 "consolidate without dirs" -- "$bin" consolidate
    expect_rc 2 "consolidate without OUT_DIR" -- "$bin" consolidate "$ck/dcp2"
    expect_rc 2 "consolidate three dirs" -- "$bin" consolidate "$ck/dcp2" "$c/no" "$c/no2"
    expect_rc 2 "consolidate unknown option" -- "$bin" consolidate "$ck/dcp2" "$c/no" --frob
    for size in 0 5XB 1.5GB -1 GB "" 18446744073709551616 20000000TB; do
        expect_rc 2 "consolidate --max-shard-size '$size'" -- "$bin" consolidate "$ck/dcp2" "$c/no" --max-shard-size "$size"
    done
    expect_rc 2 "consolidate --max-shard-size without value" -- "$bin" consolidate "$ck/dcp2" "$c/no" --max-shard-size
    expect_rc 2 "consolidate --mapping and --max-shard-size" -- "$bin" consolidate "$ck/dcp2" "$c/no" --mapping "$tmp/map.json" --max-shard-size 1GB
    grep -q "exclude" "$tmp/err" && ok || bad "both options: message: $(head -1 "$tmp/err")"
    expect_rc 2 "consolidate --mapping without value" -- "$bin" consolidate "$ck/dcp2" "$c/no" --mapping
    for n in 0 x -1 1025; do
        expect_rc 2 "consolidate --threads $n" -- "$bin" consolidate "$ck/dcp2" "$c/no" --threads "$n"
    done
    [ ! -e "$c/no" ] && [ ! -e "$c/no2" ] && ok || bad "a usage error created OUT_DIR"
else
    bad "no make_checkpoints program given (second argument)"
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
