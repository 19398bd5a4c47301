"""`python -m bench [--only NAME] [--quick]`: run the benchmarks, write bench/results/latest.*.

The default is the real thing (what `make bench` runs and the README shows); `--quick` is a
smoke run with fewer repetitions, a smaller org and fewer days, to iterate on the suite itself:
its figures are not comparable with the real ones and it writes `quick.json`/`quick.md` instead.
A run of some benchmarks only (`--only`), or one in which a benchmark failed, writes
`partial.json`/`partial.md`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from collections.abc import Callable

from bench import (
    backfill,
    day,
    flattening,
    large_org,
    load_time,
    machine,
    many_orgs,
    memory,
    report,
)
from bench.report import BenchResult

NAMES = ("flattening", "day", "backfill", "memory", "load_time", "many_orgs", "large_org")
ORDER = {name: i for i, name in enumerate(NAMES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        choices=NAMES,
        action="append",
        help="run only this benchmark (repeatable); memory runs day and backfill",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run, not the real figures")
    args = parser.parse_args(argv)
    # `kill` stops the run like Ctrl-C does: the running child's process group goes with it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    chosen = set(args.only or NAMES)
    if "memory" in chosen:
        chosen |= {"day", "backfill"}

    info = machine.describe()
    line = machine.one_line(info)
    print(f"genesys_assets benchmarks{' (quick)' if args.quick else ''} on {line}", flush=True)
    started = time.perf_counter()
    results: list[BenchResult] = []
    failures: list[str] = []
    memory_data: dict[str, object] | None = None
    day_result: BenchResult | None = None

    def step(name: str, fn: Callable[[], BenchResult | None]) -> None:
        print(f"\n== {name} ({(time.perf_counter() - started) / 60:.1f} min in)", flush=True)
        t = time.perf_counter()
        try:
            got = fn()
        except Exception:
            traceback.print_exc()
            failures.append(name)
            return
        if got is not None:
            got.seconds = got.seconds or time.perf_counter() - t
            results.append(got)
            for figure in got.figures:
                status = "" if figure.met is None else (" [met]" if figure.met else " [MISSED]")
                print(f"   {figure.name}: {figure.median:,.3g} {figure.unit}{status}")
        print(f"   ({time.perf_counter() - t:.0f} s)", flush=True)

    def run_day() -> BenchResult:
        nonlocal day_result
        day_result = day.run(args.quick)
        return day_result

    def run_backfill() -> BenchResult:
        nonlocal memory_data
        result, memory_data = backfill.run(args.quick)
        return result

    def run_memory() -> BenchResult | None:
        if memory_data is None:
            print("   skipped: the backfill benchmark did not finish")
            return None
        return memory.summarize(memory_data, day_result)

    plan: dict[str, Callable[[], BenchResult | None]] = {
        "load_time": lambda: load_time.run(args.quick),
        "flattening": lambda: flattening.run(args.quick),
        "day": run_day,
        "backfill": run_backfill,
        "memory": run_memory,
        "many_orgs": lambda: many_orgs.run(args.quick),
        "large_org": lambda: large_org.run(args.quick),
    }
    # Cheap ones first, so that a broken suite fails fast; memory needs day and backfill; the
    # many orgs' production stack next; the large org's backfill, the longest, last.
    for name in ("load_time", "flattening", "day", "backfill", "memory", "many_orgs", "large_org"):
        if name in chosen:
            step(name, plan[name])

    total = time.perf_counter() - started
    results.sort(key=lambda r: ORDER[r.name])
    settings = {"quick": args.quick, "only": sorted(chosen)}
    # latest.* is only ever a complete, real run (what the README shows): a smoke run, a run of
    # some benchmarks or a run in which one failed leaves it alone.
    complete = chosen == set(NAMES) and not failures
    stem = "quick" if args.quick else ("latest" if complete else "partial")
    json_path, md_path = report.write(results, info, line, total, settings, stem=stem)
    print(f"\nWrote {json_path} and {md_path}")
    print(f"Total: {total / 60:.1f} min ({total:.0f} s)")
    if failures:
        print(f"FAILED to run: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
