#!/bin/sh
# ABI promise (DESIGN §4): only pyagent_* symbols leave the library, the exported set equals
# abi/symbols.txt, the SONAME carries PYAGENT_ABI_VERSION, and abidiff finds no incompatible
# change against the abi/libpyagent.abi baseline.
# usage: abi_check.sh SOURCE_ROOT LIBPYAGENT_SO
set -eu
src=$1
so=$2
fail=0

exported=$(nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort -u)
bad=$(printf '%s\n' "$exported" | grep -v '^pyagent_' || true)
if [ -n "$bad" ]; then
    echo "FAIL: symbols without the pyagent_ prefix are exported:"; echo "$bad"; fail=1
fi

if ! diff -u "$src/abi/symbols.txt" - <<EOS
$exported
EOS
then
    echo "FAIL: exported symbols differ from abi/symbols.txt (+ = new in the library)."
    echo "      Additions are fine: add them to abi/symbols.txt. Removals break the ABI."
    fail=1
fi

abi=$(sed -n 's/^#define PYAGENT_ABI_VERSION \([0-9]*\)$/\1/p' "$src/include/pyagent/pyagent.h")
# One version in three places: meson.build's project version and the header's macros (the
# library's file name and pyagent_version_string come from them).
header_version=$(sed -n 's/^#define PYAGENT_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' \
    "$src/include/pyagent/pyagent.h" | paste -sd.)
meson_version=$(sed -n "s/^ *version: '\([0-9.]*\)',*$/\1/p" "$src/meson.build" | head -n 1)
if [ "$header_version" != "$meson_version" ]; then
    echo "FAIL: PYAGENT_VERSION_* in pyagent.h say $header_version, meson.build says $meson_version"
    fail=1
fi
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != "libpyagent.so.$abi" ]; then
    echo "FAIL: SONAME is '$soname', expected libpyagent.so.$abi"; fail=1
fi
baseline_soname=$(sed -n "s/.* soname='\([^']*\)'.*/\1/p" "$src/abi/libpyagent.abi" | head -n 1)
if [ "$baseline_soname" != "$soname" ]; then
    echo "FAIL: abi/libpyagent.abi is the baseline of $baseline_soname, the library is $soname:"
    echo "      a new ABI version needs a new baseline (see CHANGELOG.md, how a change is classified)"
    fail=1
fi

if command -v abidiff >/dev/null 2>&1; then
    set +e
    report=$(mktemp)  # not in the current directory: run from the source root, it would dirty it
    trap 'rm -f "$report"' EXIT
    abidiff --headers-dir2 "$src/include/pyagent" "$src/abi/libpyagent.abi" "$so" > "$report"
    rc=$?
    set -e
    if [ $((rc & 1)) -ne 0 ] || [ $((rc & 8)) -ne 0 ]; then
        echo "FAIL: abidiff found an incompatible ABI change (exit $rc):"; cat "$report"; fail=1
    elif [ $((rc & 4)) -ne 0 ]; then
        echo "note: compatible ABI additions; refresh the baseline with"
        echo "  abidw --headers-dir include/pyagent --out-file abi/libpyagent.abi $so"
    fi
else
    echo "FAIL: abidiff (abigail-tools) is not installed"; fail=1
fi

[ $fail -eq 0 ] && echo "ABI OK: $(printf '%s\n' "$exported" | wc -l) symbols, SONAME $soname"
exit $fail
