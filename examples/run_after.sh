#!/bin/sh
# SPDX-License-Identifier: MIT
# run_after.sh WRITER READER FILE: runs WRITER FILE, then READER FILE, so that an example which
# reads a file runs as a test on its own (the file is made here, not by another test).
set -e
rm -f "$3"
"$1" "$3" >/dev/null
exec "$2" "$3"
