"""`python -m bench.profile {flattening,backfill,day} [--days N]`: where the time goes, by function.

Not part of `make bench` (a profiler changes what it measures: these numbers explain a missed
target, they are not figures). `flattening` profiles `flatten_pages` + the Parquet write on one
large-org page in this process; `backfill` and `day` run the same `dagster asset materialize`
as the benchmarks in a child process, against a simulator served from here, and print the
heaviest functions by own time and by cumulative time.

Under the multiprocess executor the work happens in step processes forked from a forkserver, so
profiling the `dagster` process alone (`python -m cProfile dagster ...`) would show the parent
waiting. Instead a `sitecustomize` put on the child's PYTHONPATH profiles every Python process
of the run: the `dagster` process (dumped at exit) and each step process (a profiler started
after the fork, `multiprocessing.util.register_after_fork`, dumped by a multiprocessing
finalizer when the step process ends, since it leaves by `os._exit`). Each step process is
printed on its own, named by the pipeline function it spent most in, then all of them merged.
Only each process's main thread is profiled (the client's fetch threads are not: they wait on
the API).
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

from bench import backfill, dagster_run, day, flattening, procs, simulation

# Put on the child's PYTHONPATH as sitecustomize.py: profiles every process of the run.
HOOK = """
import cProfile, os

_out = os.environ.get("BENCH_PROFILE_DIR")


def _profile(tag):
    profiler = cProfile.Profile()

    def dump():
        profiler.disable()
        profiler.dump_stats(os.path.join(_out, "%s-%d.prof" % (tag, os.getpid())))

    profiler.enable()
    return dump


if _out:
    import atexit
    import multiprocessing.util as _mp

    atexit.register(_profile("main"))

    class _Hook:
        pass

    _hook = _Hook()
    _mp.register_after_fork(
        _hook, lambda _: _mp.Finalize(None, _profile("step"), exitpriority=100)
    )
"""

# What a step process spent its time in, to name it.
MARKERS = (
    "stage_raw_pages", "stage_parquet", "load_days", "verify", "list_queues",
    "publish_raw_pages", "publish_parquet",
)  # fmt: skip


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


def _label(stats: pstats.Stats) -> str:
    spent = {
        name: cumulative
        for (_, _, name), (_, _, _, cumulative, _) in stats.stats.items()  # type: ignore[attr-defined]
        if name in MARKERS
    }
    return max(spent, key=spent.__getitem__) if spent else "(no pipeline function)"


def profile_dagster(args: list[str], served: simulation.ServedSimulator, limit: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="genesys-bench-profile-"))
    try:
        home = workdir / "dagster_home"
        dagster_run.new_instance(home, procs.clean_env(**served.env()))
        hook = workdir / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK)
        out = workdir / "profiles"
        out.mkdir()
        env = procs.clean_env(
            **served.env(),
            DAGSTER_HOME=str(home),
            GENESYS_ASSETS_HOME=str(workdir / "home"),
            PYTHONPATH=str(hook),
            BENCH_PROFILE_DIR=str(out),
        )
        command = [procs.DAGSTER, "asset", "materialize", "-m", "genesys_assets", "--select", "*"]
        finished = procs.run([*command, *args], env=env, cwd=workdir).check("the profiled run")
        print(f"profiled run: {finished.wall_s:.1f} s (the profiler slows it down)")
        files = sorted(out.glob("*.prof"))
        merged: pstats.Stats | None = None
        for path in files:
            stats = pstats.Stats(str(path))
            if path.name.startswith("step-"):
                label = _label(stats)
                if label == "(no pipeline function)":
                    continue  # the forkserver's own exit, or a helper process
                print(f"=== step process {path.stem} ({label}): {stats.total_tt:.1f} s profiled")  # type: ignore[attr-defined]
                _print(stats, limit)
            else:
                print(f"=== {path.stem}: the dagster process, {stats.total_tt:.1f} s profiled")  # type: ignore[attr-defined]
                _print(stats, limit)
            if merged is None:
                merged = stats
            else:
                merged.add(str(path))
        if merged is not None:
            print(f"=== all {len(files)} processes merged")
            _print(merged, limit)
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
