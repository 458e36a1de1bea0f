"""Run every benchmark against the stack the environment names; print a table, write JSON.

    python -m benchmarks                 # full sizes (the targets are stated for these)
    python -m benchmarks --quick         # small sizes, under a minute (CI runs this)
    python -m benchmarks --only replay,produce --out results.json --markdown RESULTS.md
    python -m benchmarks --only room     # 40 learners on a room stack of its own (see room.py)

KAFKA_BOOTSTRAP_SERVERS, REDIS_URL and BANKU_NAMESPACE choose the servers and prefix the
namespaces (``bench-replay``, ``bench-produce``, ...), which are reset before each benchmark.
The room benchmark starts a secured room stack of its own instead (`benchmarks/room.py`).

Exit status: 0 when every benchmark ran (and, at full size, met its targets); 1 when a
full-size target was not met; 2 when a benchmark crashed. A quick run is not held to the
targets: small sizes are not the bar.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from banku.config import Settings

from .common import FULL, QUICK, Result, quiet

BENCHMARKS = ["replay", "produce", "timetravel", "failover", "memory", "commands", "coldstart",
              "room"]
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


def number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def verdict(met: bool | None) -> str:
    return {True: "MET", False: "NOT MET", None: "-"}[met]


def target_text(ratio) -> str:
    if ratio.target is None:
        return "-"
    sign = ">=" if ratio.higher_is_better else "<="
    return f"{sign} {ratio.target:g}"


def table(results: list[Result]) -> str:
    """The plain-text table printed at the end of a run."""
    lines: list[str] = []
    for result in results:
        lines.append("")
        lines.append(f"== {result.title} ({result.benchmark}, {result.seconds:.0f} s)")
        if result.error:
            lines.append(f"   CRASHED: {result.error}")
            continue
        for f in result.figures:
            lines.append(f"   {f.name:<66} {number(f.value):>12} {f.unit}")
        for r in result.ratios:
            lines.append(f"   {r.name:<66} {number(r.value):>12}x  target {target_text(r):<7}"
                         f" {verdict(r.met)}")
        for note in result.notes:
            lines.append(f"   note: {note}")
    return "\n".join(lines)


def markdown(results: list[Result], meta: dict) -> str:
    """The same results in Markdown, one table per benchmark (for benchmarks/RESULTS.md)."""
    out = [
        "# Benchmark results",
        "",
        f"Measured {meta['finished']} with `python -m benchmarks"
        f"{' --quick' if meta['sizes_name'] == 'quick' else ''}` on {meta['machine']}"
        f" ({meta['cpus']} CPUs, load average {meta['load_before']:.1f} before and"
        f" {meta['load_after']:.1f} after), Python {meta['python']}, kafka-python"
        f" {meta['kafka_python']}, commit {meta['commit']}. Ratios are the results; absolute"
        " figures are context (they move with the machine's load).",
    ]
    for result in results:
        out += ["", f"## {result.title}", ""]
        if result.error:
            out.append(f"Crashed: {result.error}")
            continue
        out += ["| Measure | Value | Target | Result |", "|---|---:|---|---|"]
        for f in result.figures:
            out.append(f"| {f.name} | {number(f.value)} {f.unit} | | |")
        for r in result.ratios:
            out.append(f"| **{r.name}** | **{number(r.value)}x** | {target_text(r)} |"
                       f" {verdict(r.met)} |")
        out += [""] + result.notes
    return "\n".join(out) + "\n"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (for CI)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}")

    quiet()
    settings = Settings.from_env()
    sizes = QUICK if args.quick else FULL
    load_before = os.getloadavg()[0]
    started = dt.datetime.now(dt.timezone.utc)
    print(f"Benchmarks ({'quick' if args.quick else 'full'} sizes) against Kafka at"
          f" {settings.bootstrap_servers} and Redis at {settings.redis_location()}", flush=True)
    results: list[Result] = []
    for name in chosen:
        print(f"-- {name} ...", flush=True)
        module = importlib.import_module(f".{name}", __package__)
        t0 = time.perf_counter()
        try:
            result = module.run(settings, sizes)
        except Exception as exc:  # report it, run the others, exit non-zero
            traceback.print_exc()
            result = Result(name, getattr(module, "TITLE", name),
                            error=f"{type(exc).__name__}: {exc}")
        result.seconds = time.perf_counter() - t0
        results.append(result)
        print(table([result]), flush=True)

    meta = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "sizes_name": "quick" if args.quick else "full",
        "sizes": asdict(sizes),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "python": platform.python_version(),
        "kafka_python": _version("kafka-python"),
        "commit": git_commit(),
    }
    crashed = [r.benchmark for r in results if r.error]
    missed = [f"{r.benchmark}: {ratio.name}" for r in results for ratio in r.ratios
              if ratio.met is False]
    report = {"meta": meta, "results": [r.as_dict() for r in results],
              "crashed": crashed, "targets_not_met": missed}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(results, meta))

    print("\n== Summary")
    print(table(results))
    print(f"\nWrote {args.out}" + (f" and {args.markdown}" if args.markdown else ""))
    if crashed:
        print(f"CRASHED: {', '.join(crashed)}", file=sys.stderr)
        return 2
    if missed:
        if args.quick:
            print(f"(quick sizes are not the bar; not met at this size: {'; '.join(missed)})")
            return 0
        print(f"NOT MET: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
