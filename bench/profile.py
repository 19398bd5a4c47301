"""`python -m bench.profile {flattening,backfill,day} [--days N]`: where the time goes, by function.

Not part of `make bench` (a profiler changes what it measures: these numbers explain a missed
target, they are not figures). `flattening` profiles `flatten_pages` + the Parquet write on one
large-org page in this process; `backfill` and `day` run the same `dagster asset materialize`
as the benchmarks under `python -m cProfile` in a child process, against a simulator served
from here, and print the heaviest functions by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench import backfill, day, flattening, procs, simulation


def _print(stats: pstats.Stats, limit: int) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats(order).print_stats(limit)
        text = out.getvalue()
        print(f"--- by {order} ---")
        print(text[text.find("   ncalls") :])


def profile_flattening(limit: int) -> None:
    pages = flattening.fetch_pages(flattening.LARGE_ORG, "sync")
    flattening.timed(flattening.ours, pages, datetime.now(UTC))  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    flattening.timed(flattening.ours, pages, datetime.now(UTC))
    profiler.disable()
    _print(pstats.Stats(profiler), limit)


def profile_dagster(args: list[str], served: simulation.ServedSimulator, limit: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="genesys-bench-profile-"))
    try:
        home = workdir / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        out = workdir / "profile.out"
        env = procs.clean_env(
            **served.env(), DAGSTER_HOME=str(home), GENESYS_ASSETS_HOME=str(workdir / "home")
        )
        command = [procs.PYTHON, "-m", "cProfile", "-o", str(out), procs.DAGSTER, "asset"]
        command += ["materialize", "-m", "genesys_assets", "--select", "*", *args]
        finished = procs.run(command, env=env, cwd=workdir).check("the profiled run")
        print(f"profiled run: {finished.wall_s:.1f} s (the profiler slows it down)")
        _print(pstats.Stats(str(out)), limit)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("what", choices=("flattening", "backfill", "day"))
    parser.add_argument("--days", type=int, default=90, help="backfill: days in the range")
    parser.add_argument("--limit", type=int, default=30, help="functions listed per order")
    args = parser.parse_args(argv)
    if args.what == "flattening":
        profile_flattening(args.limit)
        return 0
    if args.what == "day":
        config = simulation.config(**day.MID_ORG, latency_ms=day.LATENCY_MS)
        with simulation.ServedSimulator(config) as served:
            served.warm([day.DAY])
            profile_dagster(["--partition", day.DAY.isoformat()], served, args.limit)
        return 0
    days = backfill.days_from(backfill.FIRST_A, args.days)
    config = simulation.config(
        latency_ms=backfill.LATENCY_MS, rate_limit_per_minute=backfill.RATE_A
    )
    with simulation.ServedSimulator(config) as served:
        served.warm(days)
        profile_dagster(["--partition-range", f"{days[0]}...{days[-1]}"], served, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
