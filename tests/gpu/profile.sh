#!/bin/sh
# Where a decode step's time goes on the GPU: Nsight Compute (ncu) times every kernel of a few
# decode steps (gpu-bench --profile), and tests/gpu/kernel_times.py sums them by kernel per
# step. Run on the GPU machine after tests/gpu/run.sh has set up the programs, or alone:
#   sh tests/gpu/profile.sh MODEL [AGENTS]
# Prints the per-step sums; the raw reports stay in /tmp (ncu-1.csv, ncu-A.csv).
set -u
cd "$(dirname "$0")/../.."
model=$1 agents=${2:-16}
bin=${PYAGENT_GPU_BIN:-.gpu/bin}
gen=8
for run in 1 "$agents"; do
    timeout 200 ncu --clock-control none --cache-control none --profile-from-start off \
        --csv --page raw \
        --metrics gpu__time_duration.sum \
        "$bin/gpu-bench" "$model" --gen $gen --agents "$agents" --prompt 16 --profile "$run" \
        >"/tmp/ncu-$run.csv" 2>"/tmp/ncu-$run.err" || echo "ncu ($run): rc $?"
    echo "== kernels of one decode step, batch $run"
    python3 tests/gpu/kernel_times.py "/tmp/ncu-$run.csv"
done
