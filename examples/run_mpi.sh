#!/bin/sh
# SPDX-License-Identifier: MIT
# run_mpi.sh MPI_CHECKPOINT DIR: the MPI example as a test: saved on 2 ranks and on 1, the
# consolidated files the same bytes, then loaded on 3 ranks.
set -e
run() { timeout 300 mpirun --oversubscribe --allow-run-as-root -np "$@"; }
rm -rf "$2" "$2-one"
run 2 "$1" save "$2" 40
run 1 "$1"  save "$2-one" 40 >/dev/null
for f in "$2"/model*; do cmp "$f" "$2-one/$(basename "$f")"; done
echo "the consolidated files saved on 2 ranks and on 1 are the same bytes"
exec timeout 300 mpirun --oversubscribe --allow-run-as-root -np 3 "$1" load "$2" 40
