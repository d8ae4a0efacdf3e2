#!/bin/sh
# Installs the build into a scratch root, then builds a small C host against the *installed*
# library using nothing but `pkg-config --cflags --libs libpyagent`, and runs it on the model.
# usage: install_check.sh BUILD_ROOT SOURCE_ROOT MODEL
set -eu
build=$1
src=$2
model=$3
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

meson install -C "$build" --no-rebuild --destdir "$root" --quiet
pcdir=$(dirname "$(find "$root" -name libpyagent.pc | head -n 1)")
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$root"
flags=$(pkg-config --cflags --libs libpyagent)
echo "pkg-config: $flags"
cc -std=c11 -Wall -Wextra -Werror -o "$root/host" "$src/tests/install_host.c" $flags
libdir=$(dirname "$(find "$root" -name 'libpyagent.so.*' | head -n 1)")
LD_LIBRARY_PATH="$libdir" ldd "$root/host" | grep -q "$libdir/libpyagent.so" || {
    echo "FAIL: host does not load the installed libpyagent"; exit 1; }
LD_LIBRARY_PATH="$libdir" "$root/host" "$model"
