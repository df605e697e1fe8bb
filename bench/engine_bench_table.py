#!/usr/bin/python3
"""engine_bench_table.py RESULTS_DIR - the side-by-side table of bench/engine_bench.sh.

Reads the *.log files for lines
  RESULT <engine> <size> <task> <rep> <seconds>
  CHECK  <engine> <size> <key> <value>
  RSS    <engine> <size> <kB>
  LOADAVG <engine> <size> <1-minute load average when the engine started>
and prints, per size, the median of every task per engine and each peer's time as a multiple
of huike's (x faster), the segment counts (which must agree) and peak RSS. Python stdlib only.
"""
import glob
import os
import statistics
import sys
from collections import defaultdict

ENGINES = ["huike", "duckdb", "pandas", "sqlite", "postgres"]
LABEL = {"huike": "huike engine", "duckdb": "DuckDB", "pandas": "pandas",
         "sqlite": "SQLite", "postgres": "PostgreSQL"}
TASKS = [("load", "load (CSV → memory/table)"), ("agg_rfm", "aggregates + RFM"),
         ("seg1", "seg1"), ("seg2", "seg2")]

times = defaultdict(list)
checks = defaultdict(dict)
rss = {}
load = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.log"))):
    for line in open(path, errors="replace"):
        f = line.split()
        if len(f) == 6 and f[0] == "RESULT":
            times[(f[1], f[2], f[3])].append(float(f[5]))
        elif len(f) == 5 and f[0] == "CHECK":
            checks[(f[2], f[3])][f[1]] = f[4]
        elif len(f) == 4 and f[0] == "RSS" and f[3].isdigit():
            rss[(f[1], f[2])] = max(rss.get((f[1], f[2]), 0), int(f[3]))
        elif len(f) == 4 and f[0] == "LOADAVG":
            load[(f[1], f[2])] = f[3]


def fmt(s):
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def med(e, size, task):
    v = times.get((e, size, task))
    return statistics.median(v) if v else None


sizes = sorted({k[1] for k in times}, key=lambda s: (len(s), s), reverse=True)
for size in sorted(sizes):
    engines = [e for e in ENGINES if any((e, size, t) in times for t, _ in TASKS)]
    print(f"\n### {size}\n")
    print("| task | " + " | ".join(LABEL[e] for e in engines) + " |")
    print("|---" * (len(engines) + 1) + "|")
    for t, label in TASKS:
        h = med("huike", size, t)
        cells = []
        for e in engines:
            m = med(e, size, t)
            if e == "huike" or m is None or not h:
                cells.append(fmt(m))
            else:
                x = m / h
                cells.append(f"{fmt(m)} ({x:.0f}×)" if x >= 100 else f"{fmt(m)} ({x:.3g}×)")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("| peak RSS | " + " | ".join(
        f"{rss[(e, size)] / 1024:.0f} MiB" if (e, size) in rss else "—" for e in engines) + " |")
    print("| load average at start | " + " | ".join(load.get((e, size), "—") for e in engines)
          + " |")
    for key in ("seg1", "seg2", "n_cust"):
        c = checks.get((size, key), {})
        if c:
            print(f"| {key} count | " + " | ".join(c.get(e, "—") for e in engines) + " |")
    extra = [(t, v) for (e, s, t), v in sorted(times.items())
             if e == "huike" and s == size and t not in dict(TASKS)]
    if extra:
        print("\nhuike only: " + ", ".join(f"{t} {fmt(statistics.median(v))}" for t, v in extra))
print("\n(x) = the peer's median time divided by huike's: how many times faster huike is.")
