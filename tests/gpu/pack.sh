#!/bin/sh
# Prepares, on a build machine with nvcc, what tests/gpu/run.sh needs on a GPU machine that
# cannot build libpyagent (no OpenBLAS, hwloc, cmocka ... there): build-cuda compiled, and
# .gpu/ (ignored by git; the device tool carries it) with the programs, the test models and
# the shared libraries they load, compressed (the device tool carries 64 MiB with the tree). The
# largest test model, tiny-wide-f16.gguf, run.sh makes there instead.
set -eu
cd "$(dirname "$0")/../.."
[ -d build-cuda ] || meson setup build-cuda -Dcuda=enabled
ninja -C build-cuda
rm -rf .gpu && mkdir -p .gpu/bin .gpu/models .gpu/lib
cp -L build-cuda/libpyagent.so.1 build-cuda/tests/test_cuda build-cuda/tests/test_cuda_kernels \
    build-cuda/tests/gpu-bench \
    build-cuda/examples/pyagent-random-gguf .gpu/bin/
strip --strip-unneeded .gpu/bin/*
cp build-cuda/tests/*.gguf .gpu/models/
rm .gpu/models/tiny-wide-f16.gguf
tar -C .gpu -cJf .gpu/models.tar.xz models && rm -rf .gpu/models
# every library the programs load, except glibc's and CUDA's own (the GPU machine has those)
for f in .gpu/bin/*; do ldd "$f"; done | awk '/=> \// { print $3 }' | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt)\.so' |
    while read -r lib; do cp -L "$lib" .gpu/lib/; done
tar -C .gpu -cJf .gpu/lib.tar.xz lib && rm -rf .gpu/lib
# BASE_LIB=path/to/libpyagent.so.1 (another build): the library tests/gpu/ab.sh compares with
if [ -n "${BASE_LIB:-}" ]; then
    mkdir -p .gpu/base && cp -L "$BASE_LIB" .gpu/base/libpyagent.so.1
    strip --strip-unneeded .gpu/base/libpyagent.so.1
    tar -C .gpu/base -cJf .gpu/base.tar.xz libpyagent.so.1 && rm -rf .gpu/base
fi
du -sh .gpu
