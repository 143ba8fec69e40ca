"""Benchmark the audit as a user runs it: wall time, rows per second and peak RSS.

Generates exports with `cardaudit sample` (cached in the work folder), runs the full default
audit (all rules, Markdown + JSON outputs) in a fresh process for each, and prints one line per
run. Also times `cardaudit --help` (start-up). Tests never time anything; this script does.

    python benchmarks/bench.py                       # 1M Parquet + 1M GB18030 CSV
    python benchmarks/bench.py --rows 1000000,10000000 --formats parquet
    python benchmarks/bench.py --rows 0 --entity-demo 30000000   # bounded memory, entity by entity
    python benchmarks/bench.py --rows 10000000 --formats parquet --against ../base   # A/B

`--against` names a source checkout of another version (`git worktree add ../base <commit>`):
each case is also run with that version's package, the two alternating run by run, so both see
the same machine state (on a virtual machine, wall and system time drift by 10-20% between
minutes; compare versions this way, not with figures measured at another time).

The entity demo builds a Parquet dataset of PARTS files (each `cardaudit sample --first-entity`,
so every file holds its own legal entities), audits it, and audits one legal entity of the same
size alone: the dataset's peak RSS should stay near that one-entity figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# The benchmark runs the installed command, exactly as a user does. -P: the current folder is
# not put first on the module path, or `--against` would measure a checkout's own package from
# its folder instead of the other version.
CLI = [sys.executable, "-P", "-m", "cardaudit"]


@dataclass
class Run:
    wall: float  # seconds
    rss: float  # peak resident set, MiB
    user: float  # CPU seconds in the process
    system: float  # CPU seconds in the kernel for it (mostly page faults and file I/O)
    faults: int  # minor page faults (fresh memory pages touched)


def run_measured(args: list[str], source: Path | None = None) -> Run:
    """Run a command in a child process and measure it (with `source`: that checkout's package)."""
    env = None
    if source is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(source.resolve()), *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        error = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed: {' '.join(args)}\n{error}")
    return Run(wall, usage.ru_maxrss / 1024, usage.ru_utime, usage.ru_stime, usage.ru_minflt)


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


def entity_demo(work: Path, rows: int, parts: int, per_part: int,
                sources: list[Path | None], repeat: int) -> None:
    """Audit a multi-file dataset entity by entity, then one entity of the same size alone."""
    dataset = work / f"dataset_{rows}_{parts}x{per_part}"
    part_rows = rows // parts
    for i in range(parts):
        target = dataset / f"part-{i:03d}.parquet"
        if not target.exists():
            folder = work / f"part_{rows}_{i}"
            t = time.perf_counter()
            subprocess.run([*CLI, "sample", "--rows", str(part_rows), "--seed", str(100 + i),
                            "--entities", str(per_part), "--first-entity", str(i * per_part),
                            "--format", "parquet", "--out", str(folder)], check=True,
                           stdout=subprocess.DEVNULL)
            dataset.mkdir(parents=True, exist_ok=True)
            (folder / "export.parquet").rename(target)
            print(f"# generated part {i + 1}/{parts} ({part_rows:,} rows) in "
                  f"{time.perf_counter() - t:.1f} s", flush=True)
    one = ensure_sample(work, part_rows // per_part, "parquet", 1)
    for label, export, n in (("dataset", dataset, part_rows * parts),
                             ("one entity", one / "export.parquet", part_rows // per_part)):
        cmd = [*CLI, "audit", str(export), "--as-of", "2026-10-31", "--quiet",
               "--out", str(work / f"out_{label.replace(' ', '_')}")]
        for source, (run, rss) in measured(cmd, sources, repeat).items():
            print(f"{label:>12}: {n:,} rows, {run.wall:.1f} s, {n / run.wall:,.0f} rows/s, "
                  f"peak RSS {rss:,.0f} MiB, user {run.user:.1f} s, sys {run.system:.1f} s, "
                  f"{run.faults:,} page faults" + ("" if source is None else f"  ({source.name})"),
                  flush=True)


def measured(cmd: list[str], sources: list[Path | None],
             repeat: int) -> dict[Path | None, tuple[Run, float]]:
    """Per version: the median run by wall time (its CPU and faults with it) and the highest
    peak RSS of all runs. The versions alternate run by run, so both see the same machine."""
    runs: dict[Path | None, list[Run]] = {source: [] for source in sources}
    for _ in range(repeat):
        for source in sources:
            runs[source].append(run_measured(cmd, source))
    out = {}
    for source, done in runs.items():
        done.sort(key=lambda r: r.wall)
        out[source] = (done[len(done) // 2], max(r.rss for r in done))
    return out


def startup(repeat: int) -> float:
    times = [run_measured([*CLI, "--help"]).wall for _ in range(repeat)]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="1000000", help="comma list of row counts")
    parser.add_argument("--formats", default="parquet,csv", help="comma list: parquet,csv")
    parser.add_argument("--entities", type=int, default=2)
    parser.add_argument("--entity-demo", type=int, default=0, metavar="ROWS",
                        help="also audit a ROWS-row Parquet dataset entity by entity")
    parser.add_argument("--parts", type=int, default=3, help="files of the entity demo")
    parser.add_argument("--part-entities", type=int, default=5, help="legal entities per file")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median shown)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "cardaudit-bench")
    parser.add_argument("--against", type=Path, metavar="SRC",
                        help="also run every case with the package of this source checkout")
    args = parser.parse_args()
    if args.against is not None and not (args.against / "cardaudit" / "__init__.py").is_file():
        raise SystemExit(f"--against {args.against}: no cardaudit package there")
    args.work.mkdir(parents=True, exist_ok=True)

    print(f"cardaudit --help: {startup(args.repeat):.3f} s (median of {args.repeat})", flush=True)
    print(f"{'rows':>12} {'format':>8} {'wall s':>8} {'rows/s':>12} {'peak RSS MiB':>13} "
          f"{'user s':>7} {'sys s':>6} {'page faults':>12}")
    results = {}
    sources = [None] if args.against is None else [None, args.against]
    for rows in (int(r) for r in args.rows.split(",") if int(r)):
        for fmt in args.formats.split(","):
            folder = ensure_sample(args.work, rows, fmt, args.entities)
            cmd = [*CLI, "audit", str(folder / f"export.{fmt}"), "--blacklist",
                   str(folder / "blacklist.csv"), "--as-of", "2026-10-31", "--quiet",
                   "--out", str(folder / "out")]
            for source, (median, rss) in measured(cmd, sources, args.repeat).items():
                if source is None:
                    results[(rows, fmt)] = median.wall
                print(f"{rows:>12,} {fmt:>8} {median.wall:>8.2f} {rows / median.wall:>12,.0f} "
                      f"{rss:>13,.0f} {median.user:>7.1f} {median.system:>6.1f} "
                      f"{median.faults:>12,}" + ("" if source is None else f"  ({source.name})"),
                      flush=True)
    if args.entity_demo:
        entity_demo(args.work, args.entity_demo, args.parts, args.part_entities, sources,
                    args.repeat)
    sizes = sorted({r for r, _ in results})
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for fmt in args.formats.split(","):
            ratio = results[(large, fmt)] / results[(small, fmt)]
            print(f"# {fmt}: {large:,}/{small:,} rows took {ratio:.1f}x the time")


if __name__ == "__main__":
    main()
