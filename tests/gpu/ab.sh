#!/bin/sh
# Two builds of libpyagent side by side on the GPU machine, in turns, on the 110M and 1B F16
# shapes (gpu-bench --gen 128 --agents 16 --prompt 512), so both see the same minutes of the
# device. After tests/gpu/run.sh has unpacked .gpu (or alone, with .gpu present):
#   sh tests/gpu/ab.sh [ROUNDS]
# compares .gpu/bin/libpyagent.so.1 with .gpu/base.tar.xz's (tests/gpu/pack.sh BASE_LIB=...).
set -u
cd "$(dirname "$0")/../.."
rounds=${1:-1}
[ -d /tmp/lib ] || tar -C /tmp -xJf .gpu/lib.tar.xz
mkdir -p /tmp/ab-base && tar -C /tmp/ab-base -xJf .gpu/base.tar.xz
L=/tmp/lib
cuda_libs=$(sh tests/gpu/cuda_libs.sh)
[ -n "$cuda_libs" ] && L="$L:$cuda_libs"
.gpu/bin/pyagent-random-gguf -o /tmp/ab-110M.gguf --preset 110M --tied --type f16 >/dev/null 2>&1
.gpu/bin/pyagent-random-gguf -o /tmp/ab-1B.gguf --dim 2048 --layers 16 --heads 32 --kv-heads 8 \
    --ff 8192 --vocab 128256 --ctx 4096 --type f16 >/dev/null 2>&1
r=0
while [ $r -lt "$rounds" ]; do
    for lib in /tmp/ab-base "$PWD/.gpu/bin"; do
        for m in 110M 1B; do
            echo "== $( [ $lib = /tmp/ab-base ] && echo base || echo this) $m"
            LD_LIBRARY_PATH=$lib:$L timeout 100 .gpu/bin/gpu-bench /tmp/ab-$m.gguf --gen 128 \
                --agents 16 --prompt 512 2>&1 | grep -E "decode|prefill|roofline|gpu-bench:"
        done
    done
    r=$((r + 1))
done
rm -f /tmp/ab-1B.gguf
