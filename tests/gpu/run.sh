#!/bin/sh
# The GPU check of the CUDA backend (issue 8), in one run on a GPU machine, results in $OUT:
#   1. the programs: prebuilt ones from .gpu/ (tests/gpu/pack.sh on a build machine), or a
#      -Dcuda=enabled build here when the machine can build libpyagent;
#   2. the 'cuda' suite (tests/test_cuda_kernels.c, tests/test_cuda.c), then again under
#      compute-sanitizer memcheck;
#   3. gpu-bench on the 110M llama2.c shape in F16: device copy bandwidth, prefill of 2048
#      tokens, decode tokens/s at batch 1 and with 16 agents, the roofline fraction; decode
#      again with whole logit rows copied down (engine key top_candidates 0);
#   4. the same decode through PyTorch + transformers generate (eager, F16), side by side.
#   5. gpu-bench again on the 1B llama shape in F16;
#   6. with PROFILE=1, tests/gpu/profile.sh on both shapes: ncu's time of every kernel of a
#      decode step, summed by kernel ($OUT/profile.txt).
# Logs: $OUT/suite.log, $OUT/memcheck.log, $OUT/bench.txt, $OUT/bench-1B.txt, $OUT/hf.txt,
# $OUT/summary.txt.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/pyagent-gpu}
mkdir -p "$OUT"
summary="$OUT/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }

system_path=${LD_LIBRARY_PATH:-} # for python3 and PyTorch, as the machine has it
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$summary"
cuda_libs=$(sh tests/gpu/cuda_libs.sh)
[ -n "$cuda_libs" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$cuda_libs"

if [ -f .gpu/lib.tar.xz ]; then
    tar -C /tmp -xJf .gpu/lib.tar.xz
    tar -C /tmp -xJf .gpu/models.tar.xz
    bin=.gpu/bin models=/tmp/models
    export LD_LIBRARY_PATH="$PWD/.gpu/bin:/tmp/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # as tests/meson.build makes it
    "$bin/pyagent-random-gguf" -o $models/tiny-wide-f16.gguf --type f16 --dim 64 --layers 2 \
        --heads 4 --kv-heads 2 --ff 192 --vocab 512 --ctx 256 --seed 7 --dim 512 --layers 1 \
        --heads 8 --kv-heads 4 --ff 1024 >/dev/null
    note "programs: prebuilt (.gpu)"
else
    if ! { meson setup build-gpu -Dcuda=enabled >"$OUT/build.log" 2>&1 &&
           ninja -C build-gpu >>"$OUT/build.log" 2>&1; }; then
        note "FAILED: build (see build.log)"
        exit 1
    fi
    bin=build-gpu/tests models=build-gpu/tests
    cp build-gpu/examples/pyagent-random-gguf build-gpu/tests/
    export LD_LIBRARY_PATH
    note "programs: built here (build-gpu)"
fi
case $models in /*) ;; *) models="$PWD/$models" ;; esac
export PYAGENT_TEST_DATA="$PWD/tests/data" PYAGENT_TEST_MODELS="$models"
export OPENBLAS_NUM_THREADS=1

status=0
if timeout 60 "$bin/test_cuda_kernels" >"$OUT/kernels.log" 2>&1; then note "cuda kernels: OK"
else note "FAILED: cuda kernels (rc $?)"; status=1; fi
grep -E 'ERROR|PASSED|FAILED' "$OUT/kernels.log" | head -5 | tee -a "$summary"
if timeout 150 "$bin/test_cuda" >"$OUT/suite.log" 2>&1; then note "cuda suite: OK"
else note "FAILED: cuda suite (rc $?)"; status=1; fi
grep -E '^# |PASSED|FAILED' "$OUT/suite.log" | tee -a "$summary"

if command -v compute-sanitizer >/dev/null 2>&1; then
    if timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 \
        "$bin/test_cuda_kernels" >"$OUT/memcheck.log" 2>&1 &&
       timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/test_cuda" \
        >>"$OUT/memcheck.log" 2>&1; then note "memcheck: clean"
    else note "FAILED: memcheck (rc $?)"; status=1; fi
    grep -E 'ERROR SUMMARY|Invalid' "$OUT/memcheck.log" | head -5 | tee -a "$summary"
else
    note "memcheck: compute-sanitizer not found"
fi

model=/tmp/110M-f16.gguf
"$bin/pyagent-random-gguf" -o "$model" --preset 110M --tied --type f16 >/dev/null 2>&1 ||
    { note "FAILED: pyagent-random-gguf"; exit 1; }
note "bench: 110M F16 (tied), $(stat -c %s "$model") bytes"
if timeout 120 "$bin/gpu-bench" "$model" --gen 256 --agents 16 --prompt 2048 \
    >"$OUT/bench.txt" 2>&1; then :; else note "FAILED: gpu-bench (rc $?)"; status=1; fi
tee -a "$summary" <"$OUT/bench.txt"
# the same decode with every logit row copied down whole (the host picks the token), against
# the candidates picked on the device above
if timeout 60 "$bin/gpu-bench" "$model" --gen 256 --agents 16 --prompt 16 --top-candidates 0 \
    >"$OUT/bench-whole-rows.txt" 2>&1; then
    grep -E '^decode_tps' "$OUT/bench-whole-rows.txt" | sed 's/^/whole rows: /' | tee -a "$summary"
else note "FAILED: gpu-bench --top-candidates 0 (rc $?)"; status=1; fi
profile() { # MODEL NAME
    [ "${PROFILE:-0}" = 1 ] || return 0
    echo "== $2" >>"$OUT/profile.txt"
    PYAGENT_GPU_BIN=$bin sh tests/gpu/profile.sh "$1" >>"$OUT/profile.txt" 2>&1
}
profile "$model" "110M F16"

# the 1B llama shape of issue 8 (dim 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192, vocab
# 128256), F16: where the weights, not the launches, set the decode time
big=/tmp/1B-f16.gguf
if "$bin/pyagent-random-gguf" -o "$big" --dim 2048 --layers 16 --heads 32 --kv-heads 8 \
    --ff 8192 --vocab 128256 --ctx 4096 --type f16 >/dev/null 2>&1; then
    note "bench: 1B shape F16, $(stat -c %s "$big") bytes"
    if timeout 150 "$bin/gpu-bench" "$big" --gen 128 --agents 16 --prompt 512 \
        >"$OUT/bench-1B.txt" 2>&1; then :; else note "FAILED: gpu-bench 1B (rc $?)"; status=1; fi
    tee -a "$summary" <"$OUT/bench-1B.txt"
    profile "$big" "1B shape F16"
    rm -f "$big"
else
    note "FAILED: pyagent-random-gguf (1B shape)"
fi

if LD_LIBRARY_PATH=$system_path timeout 150 python3 tests/gpu/hf_baseline.py 128 >"$OUT/hf.txt" 2>&1; then :
else note "transformers baseline: failed (rc $?)"; fi
grep '^hf_' "$OUT/hf.txt" | tee -a "$summary"
exit $status
