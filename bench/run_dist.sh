#!/bin/sh
# SPDX-License-Identifier: MIT
# run_dist.sh DIST_MPI [args...]: bench/dist_mpi.cpp on 4 MPI processes.
exe=$1
shift
exec mpirun --oversubscribe --allow-run-as-root -np 4 "$exe" "$@"
