"""Benchmark the audit as a user runs it: wall time, rows per second and peak RSS.

Generates exports with `cardaudit sample` (cached in the work folder), runs the full default
audit (all rules, Markdown + JSON outputs) in a fresh process for each, and prints one line per
run. Also times `cardaudit --help` (start-up). Tests never time anything; this script does.

    python benchmarks/bench.py                       # 1M Parquet + 1M GB18030 CSV
    python benchmarks/bench.py --rows 1000000,10000000 --formats parquet
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The benchmark runs the installed command, exactly as a user does.
CLI = [sys.executable, "-m", "cardaudit"]


def run_measured(args: list[str]) -> tuple[float, float]:
    """Run a command in a child process; return (wall seconds, peak RSS in MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        error = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed: {' '.join(args)}\n{error}")
    return wall, usage.ru_maxrss / 1024


def ensure_sample(work: Path, rows: int, fmt: str, entities: int) -> Path:
    folder = work / f"sample_{rows}_{fmt}_{entities}"
    export = folder / f"export.{fmt}"
    if not export.exists():
        t = time.perf_counter()
        subprocess.run([*CLI, "sample", "--rows", str(rows), "--seed", "1", "--entities",
                        str(entities), "--format", fmt, "--out", str(folder)], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"# generated {rows:,} rows as {fmt} in {time.perf_counter() - t:.1f} s",
              flush=True)
    return folder


def startup(repeat: int) -> float:
    times = [run_measured([*CLI, "--help"])[0] for _ in range(repeat)]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="1000000", help="comma list of row counts")
    parser.add_argument("--formats", default="parquet,csv", help="comma list: parquet,csv")
    parser.add_argument("--entities", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median shown)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cardaudit-bench")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    print(f"cardaudit --help: {startup(args.repeat):.3f} s (median of {args.repeat})", flush=True)
    print(f"{'rows':>12} {'format':>8} {'wall s':>8} {'rows/s':>12} {'peak RSS MiB':>13}")
    results = {}
    for rows in (int(r) for r in args.rows.split(",")):
        for fmt in args.formats.split(","):
            folder = ensure_sample(args.work, rows, fmt, args.entities)
            cmd = [*CLI, "audit", str(folder / f"export.{fmt}"), "--blacklist",
                   str(folder / "blacklist.csv"), "--as-of", "2026-10-31", "--quiet",
                   "--out", str(folder / "out")]
            runs = [run_measured(cmd) for _ in range(args.repeat)]
            wall = statistics.median(r[0] for r in runs)
            rss = max(r[1] for r in runs)
            results[(rows, fmt)] = wall
            print(f"{rows:>12,} {fmt:>8} {wall:>8.2f} {rows / wall:>12,.0f} {rss:>13,.0f}",
                  flush=True)
    sizes = sorted({r for r, _ in results})
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for fmt in args.formats.split(","):
            ratio = results[(large, fmt)] / results[(small, fmt)]
            print(f"# {fmt}: {large:,}/{small:,} rows took {ratio:.1f}x the time")


if __name__ == "__main__":
    main()
