#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh MODE SOURCE_ROOT: builds tests/consumer against this source tree one way and runs it.
#   subproject  Meson, safeshard as subprojects/safeshard: none of safeshard's tests, examples or
#               tools are built and nothing is installed
#   pkgconfig   `meson install` into a temporary prefix, then the consumer built with
#               `pkg-config --cflags --libs safeshard`, without exceptions
#   cmake       the same install, then CMake's find_package(safeshard CONFIG REQUIRED)
set -euo pipefail
mode=$1
src=$(cd "$2" && pwd)
here="$src/tests/consumer"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL ($mode): $*"; exit 1; }

install_prefix() {  # a header-only install of this tree into $tmp/prefix
    meson setup "$tmp/lib" "$src" --prefix "$tmp/prefix" -Dtests=disabled -Dexamples=disabled -Dtools=disabled \
        >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "meson setup of safeshard"; }
    meson install -C "$tmp/lib" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "meson install"; }
    [ -f "$tmp/prefix/include/safeshard/safeshard.hpp" ] || fail "headers not installed"
    [ ! -e "$tmp/prefix/bin/safeshard" ] || fail "the safeshard command was installed with -Dtools=disabled"
}

case "$mode" in
subproject)
    mkdir -p "$tmp/proj/subprojects"
    cp "$here/meson.build" "$here/main.cpp" "$tmp/proj/"
    ln -s "$src" "$tmp/proj/subprojects/safeshard"
    meson setup "$tmp/build" "$tmp/proj" --wrap-mode=nodownload >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log"; fail "meson setup"; }
    grep -q "Subproject safeshard finished" "$tmp/setup.log" || fail "safeshard was not taken as a subproject"
    # Only the consumer is built: no test, example or tool of safeshard is scheduled.
    targets=$(ninja -C "$tmp/build" -t targets all | grep -E '^subprojects/safeshard/[^ ]*: (cpp_LINKER|cpp_COMPILER)' || true)
    [ -z "$targets" ] || fail "safeshard's own targets are built: $(echo "$targets" | head -3)"
    ninja -C "$tmp/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "build"; }
    meson install -C "$tmp/build" --destdir "$tmp/dest" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "meson install"; }
    [ -z "$(find "$tmp/dest" -type f 2>/dev/null)" ] || fail "a subproject installed files: $(find "$tmp/dest" -type f | head -3)"
    "$tmp/build/consumer" "$tmp/model.safetensors"
    ;;
pkgconfig)
    install_prefix
    pcdir=$(dirname "$(find "$tmp/prefix" -name safeshard.pc | head -1)")
    [ -n "$pcdir" ] || fail "no safeshard.pc installed"
    flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs safeshard) || fail "pkg-config does not find safeshard"
    # shellcheck disable=SC2086
    c++ -std=c++20 -O1 -fno-exceptions -Wall -Wextra -Werror "$here/main.cpp" $flags -o "$tmp/consumer" || fail "compile with pkg-config flags"
    "$tmp/consumer" "$tmp/model.safetensors"
    ;;
cmake)
    install_prefix
    find "$tmp/prefix" -name 'safeshardConfig.cmake' | grep -q . || fail "no safeshardConfig.cmake installed"
    find "$tmp/prefix" -name 'safeshardConfigVersion.cmake' -o -name 'safeshard-config-version.cmake' | grep -q . || fail "no version file installed"
    cmake -S "$here" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "cmake configure"; }
    cmake --build "$tmp/cm" >"$tmp/cmbuild.log" 2>&1 || { cat "$tmp/cmbuild.log"; fail "cmake build"; }
    "$tmp/cm/consumer" "$tmp/model.safetensors"
    ;;
*)
    fail "unknown mode"
    ;;
esac
echo "ok: consumer built as a $mode and run"
