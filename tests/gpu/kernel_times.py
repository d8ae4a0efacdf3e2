"""Sums an ncu --csv --page raw report (metric gpu__time_duration.sum) by kernel name and
divides by the number of steps profiled (launches of the embedding kernel: one per step): the
device time of one step, kernel by kernel.

    python3 kernel_times.py REPORT.csv
"""
import csv
import re
import sys
from collections import defaultdict


def main(path):
    lines = open(path, errors="replace").read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        print("no ncu rows in", path)
        return
    rows = list(csv.DictReader(lines[start:]))
    total, count = defaultdict(float), defaultdict(int)
    for r in rows:
        t = r.get("gpu__time_duration.sum", "")
        try:
            t = float(t.replace(",", ""))
        except ValueError:  # the units row
            continue
        name = re.sub(r"\(.*", "", r.get("Kernel Name", "?"))[:60]
        total[name] += t
        count[name] += 1
    steps = max(1, sum(n for k, n in count.items() if "embed" in k))
    unit = rows[0].get("gpu__time_duration.sum", "ns") if rows else "ns"
    all_t = sum(total.values())
    for name in sorted(total, key=total.get, reverse=True):
        print(f"{total[name] / steps:10.1f} {unit}/step {count[name] / steps:6.1f} launches  {name}")
    print(f"{all_t / steps:10.1f} {unit}/step in {steps} steps, {sum(count.values()) / steps:.1f} kernels: all")


if __name__ == "__main__":
    main(sys.argv[1])
