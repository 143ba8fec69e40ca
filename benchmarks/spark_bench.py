"""Benchmark the Spark engine against the pandas engine, and time the bucket split prototype.

Generates a multi-entity Parquet export with `cardaudit sample` (cached in the work folder), runs
`cardaudit audit` with `--engine pandas` and with `--engine spark --spark-master local[2]` in fresh
processes as a user would, checks that both give the same summary figures and findings, and prints
wall time and rows per second. Then audits the largest legal entity whole and in hash buckets
(cardaudit.split) in this process and prints both times. Tests never time anything; this does.

    python benchmarks/spark_bench.py                       # 1M rows, 8 legal entities
    python benchmarks/spark_bench.py --rows 200000 --entities 4 --buckets 4,16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

CLI = [sys.executable, "-m", "cardaudit"]
AS_OF = "2026-10-31"


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(args)}\n{done.stderr.decode()}")
    return wall


def figures(out: Path) -> tuple[dict, list]:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))["findings"]
    return ({k: summary[k] for k in ("entities", "total", "rows")}, findings)


def split_timing(folder: Path, buckets: list[int]) -> None:
    from cardaudit import blacklist as blacklist_mod
    from cardaudit import engine, load
    from cardaudit.normalize import normalise
    from cardaudit.rules import load_pack
    from cardaudit.split import split_audit

    as_of = date.fromisoformat(AS_OF)
    loaded = load.load_exports([folder / "export.parquet"])
    largest = loaded.frame["legal_entity"].value_counts().index[0]
    frame = loaded.frame[loaded.frame["legal_entity"] == largest].reset_index(drop=True)
    normalised = normalise(frame, load_pack().settings, as_of)
    listed = blacklist_mod.from_frame(load.load_blacklist(folder / "blacklist.csv").frame, as_of)
    start = time.perf_counter()
    whole = engine.audit(normalised, load_pack(), listed).entities[0]
    print(f"split prototype, largest entity ({len(frame):,} rows): whole "
          f"{time.perf_counter() - start:.2f} s", flush=True)
    for b in buckets:
        start = time.perf_counter()
        split = split_audit(normalised, load_pack(), listed, buckets=b)
        wall = time.perf_counter() - start
        same = all((split[r].subjects, split[r].cards, split[r].rows) == (o.subjects, o.cards, o.rows)
                   for r, o in whole.outcomes.items())
        print(f"  {b:>3} buckets: {wall:.2f} s in all, about {wall / b:.2f} s and "
              f"{len(frame) // b:,} rows per bucket; figures equal: {same}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--entities", type=int, default=8)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--buckets", default="4,16")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cardaudit-bench")
    args = parser.parse_args()
    folder = args.work / f"spark_{args.rows}_{args.entities}"
    if not (folder / "export.parquet").exists():
        subprocess.run([*CLI, "sample", "--rows", str(args.rows), "--seed", "1", "--entities",
                        str(args.entities), "--format", "parquet", "--out", str(folder)],
                       check=True, stdout=subprocess.DEVNULL)
    common = [str(folder / "export.parquet"), "--blacklist", str(folder / "blacklist.csv"),
              "--as-of", AS_OF, "--quiet"]
    rows = json.loads((folder / "truth.json").read_text(encoding="utf-8"))["total"]["rows"]["read"]
    results = {}
    for engine_name, extra in (("pandas", []), ("spark", ["--spark-master", args.master])):
        out = folder / f"out_{engine_name}"
        wall = timed([*CLI, "audit", *common, "--out", str(out), "--engine", engine_name, *extra])
        results[engine_name] = figures(out)
        label = engine_name if engine_name == "pandas" else f"spark {args.master}"
        print(f"{label:<16} {rows:>10,} rows  {args.entities} entities  {wall:7.1f} s  "
              f"{rows / wall:>9,.0f} rows/s", flush=True)
    print("same figures and findings:", results["pandas"] == results["spark"], flush=True)
    split_timing(folder, [int(b) for b in args.buckets.split(",")])


if __name__ == "__main__":
    main()
