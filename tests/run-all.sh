#!/bin/sh
# The whole test suite, as the README and CI run it:
#   1. the release-style build (debugoptimized): every meson suite (unit, golden, abi, hosts);
#   2. the same unit suites, and pyagent-server's HTTP tests, under AddressSanitizer +
#      UndefinedBehaviorSanitizer;
#   3. the thread-safety tests, pyagent-server's HTTP tests among them, under ThreadSanitizer;
#   4. clang libFuzzer targets (GGUF reader, tokenizer, registry import, server requests, ...), a
#      short run each;
#   5. where nvcc is on the PATH, the CUDA backend configured and compiled (build-cuda): its
#      'cuda' suite needs a GPU, so it runs on a GPU machine (tests/gpu/run.sh), never here.
# Ends with one line "N passed, N failed" and exits non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
fuzz_seconds=${PYAGENT_FUZZ_SECONDS:-45}

# Adds the Ok/Fail counts of the meson test log in $1 to the totals.
count() {
    ok=$(sed -n 's/^Ok: *\([0-9]*\)/\1/p' "$1" | tail -n 1)
    bad=$(sed -n 's/^Fail: *\([0-9]*\)/\1/p' "$1" | tail -n 1)
    timeout=$(sed -n 's/^Timeout: *\([0-9]*\)/\1/p' "$1" | tail -n 1)
    passed=$((passed + ${ok:-0}))
    failed=$((failed + ${bad:-0} + ${timeout:-0}))
}

# setup_and_build DIR ARGS...: configures DIR once, then builds; a failed build counts as a failure.
setup_and_build() {
    dir=$1; shift
    if { [ -d "$dir" ] || meson setup "$dir" "$@"; } && ninja -C "$dir"; then
        return 0
    fi
    echo "FAILED: build in $dir"
    failed=$((failed + 1))
    return 1
}

echo "== build (debugoptimized) and all suites"
if setup_and_build build; then
    meson test -C build --no-suite cuda --print-errorlogs 2>&1 | tee build/test-summary.txt
    count build/test-summary.txt
fi

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
if setup_and_build build-asan -Db_sanitize=address,undefined -Db_lundef=false; then
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
        meson test -C build-asan --suite unit --suite server --print-errorlogs 2>&1 \
        | tee build-asan/test-summary.txt
    count build-asan/test-summary.txt
fi

echo "== ThreadSanitizer: the thread-safety tests (host threads, agents, the loop, the server)"
if setup_and_build build-tsan -Db_sanitize=thread -Db_lundef=false; then
    TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan api kv registry server-http \
        --print-errorlogs 2>&1 | tee build-tsan/test-summary.txt
    count build-tsan/test-summary.txt
fi

echo "== libFuzzer (${fuzz_seconds}s per target)"
if CC=clang setup_and_build build-fuzz -Dfuzz=enabled -Dtests=false -Dbuildtype=debug -Db_lundef=false; then
    for target in gguf tokenizer registry_import server_request latent; do
        corpus=$(mktemp -d)
        cp tests/fuzz/corpus_$target/* "$corpus"/ 2>/dev/null
        if PYAGENT_TEST_DATA=tests/data build-fuzz/tests/fuzz/fuzz_$target \
            -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 "$corpus" \
            > build-fuzz/fuzz_$target.log 2>&1; then
            echo "fuzz_$target: OK, $(grep -o 'Done [0-9]* runs' build-fuzz/fuzz_$target.log)"
            passed=$((passed + 1))
        else
            echo "FAILED: fuzz_$target"; tail -n 40 build-fuzz/fuzz_$target.log
            failed=$((failed + 1))
        fi
        rm -rf "$corpus"
    done
fi

echo "== CUDA backend: configure and compile (-Dcuda=enabled; its tests run on a GPU machine)"
if command -v nvcc >/dev/null 2>&1; then
    if setup_and_build build-cuda -Dcuda=enabled; then
        echo "build-cuda: OK"
        passed=$((passed + 1))
    fi
else
    echo "nvcc is not on the PATH: not compiled"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
