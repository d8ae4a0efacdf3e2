#!/bin/sh
# Prints the directories of CUDA's libraries on a GPU machine, colon-separated: the toolkit's,
# else the ones PyTorch's wheels bring (tests/gpu/run.sh, tests/gpu/ab.sh).
dirs=
for d in /usr/local/cuda/lib64 $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, n, "lib") for p in nvidia.__path__ for n in ("cublas", "cuda_runtime")))' 2>/dev/null); do
    [ -d "$d" ] && dirs="${dirs:+$dirs:}$d"
done
echo "$dirs"
