#!/bin/sh
# Installs the build into a scratch prefix and builds a program against the
# installed copy with pkg-config and with find_package(axon); also checks
# that libaxon.so exports only ax_ symbols and carries SONAME libaxon.so.0.
# usage: run.sh BUILD_DIR SOURCE_DIR(tests/package)
set -eu
build=$1
src=$2
tmp=$(mktemp -d /tmp/axon-pkg-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pfx=$tmp/prefix
fail() { echo "package: FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$pfx" >/dev/null || fail "cmake --install"
lib=$(dirname "$(find "$pfx" -name 'libaxon.so.0' | head -n 1)")
[ -n "$lib" ] && [ -f "$lib/libaxon.a" ] || fail "libaxon.so.0 / libaxon.a not installed"
[ -f "$pfx/include/axon.h" ] && [ -f "$pfx/include/axon/socket.h" ] || fail "headers not installed"

# The tool and its manual page come with the package, and the installed
# binary finds the installed library on its own (RPATH $ORIGIN/../lib).
[ -f "$pfx/share/man/man1/axon.1" ] || fail "man page axon.1 not installed"
"$pfx/bin/axon" --version >/dev/null || fail "installed axon --version did not run"

soname=$(readelf -d "$lib/libaxon.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libaxon.so.0" ] || fail "SONAME is '$soname', want libaxon.so.0"
others=$(nm -D --defined-only "$lib/libaxon.so" | awk '{print $3}' | grep -v '^ax_' || true)
[ -z "$others" ] || fail "libaxon.so exports non-ax_ symbols: $others"
nexp=$(nm -D --defined-only "$lib/libaxon.so" | grep -c ' ax_')
echo "package: libaxon.so exports $nexp symbols, all ax_*, SONAME $soname"

export PKG_CONFIG_PATH="$lib/pkgconfig"
cc -Wall -Werror "$src/hello.c" $(pkg-config --cflags --libs axon) -o "$tmp/hello_pc" ||
    fail "build with pkg-config"
LD_LIBRARY_PATH=$lib "$tmp/hello_pc" || fail "pkg-config program did not run"
cc -Wall -Werror $(pkg-config --cflags axon) "$src/hello.c" "$lib/libaxon.a" -o "$tmp/hello_st" ||
    fail "static build"
"$tmp/hello_st" || fail "static program did not run"

cmake -S "$src" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$pfx" >/dev/null ||
    fail "find_package(axon) configure"
cmake --build "$tmp/consumer" >/dev/null || fail "find_package(axon) build"
LD_LIBRARY_PATH=$lib "$tmp/consumer/hello" || fail "find_package program did not run"
"$tmp/consumer/hello_static" || fail "find_package static program did not run"
echo "package: pkg-config, static and find_package builds all ran"
