"""Backfill of both default datasets, through Dagster as a user runs it, against references.

(a) 90 days, simulator at 500 ms a request and 300 requests a minute (Genesys' default):
`dagster asset materialize -m genesys_assets --select '*' --partition-range A...B` (one run:
multi-day chunks, fetched concurrently) and, beside it in the same repetition, `bench.sequential`
(the same work, one day after another, one request at a time). The order of the two alternates
between repetitions so that drift in the machine's load favours neither.

(b) 30 days, simulator at 500 ms and 30 requests a minute, where the rate limit decides if the
run needs more requests than a minute's budget. The bound is `requests / rate limit`: the time the
server's limit alone imposes on the requests the run made.

Requests and 429s are counted by the simulator (`stats()`, reset before each run), per dataset
by the query each request belongs to (see `bench.simulation`): the target is at most one
request per dataset per day of data. A 429 that escaped a retry would fail the run (or a
check): each run's exit status and check results are recorded.

Both use the simulator's default org (12 queues, 60 agents, 2,000 conversations a day). The
simulator runs in this process, on the two cores the pipeline runs on, and aggregates answers in
Python under one interpreter lock: a week of hourly agent data takes it about 0.3 s, and a
Dagster run that has 16 such queries in flight would wait seconds for that and share its CPU
with it, where a real API computes on its own servers. So the simulator remembers the answer to
every settled query (`remember_answers`, see `genesys_assets.simulator.answers`), and each
part starts with an untimed priming pass of every workload it times (a Dagster run and the loop
for (a), a Dagster run for (b)): the timed runs then wait for the configured latency per
request, the same for both sides of a comparison. What the priming aggregated, and how long it
took, is reported beside the figures. The same simulator also serves a one-day run per
repetition, the baseline for peak RSS (the memory table).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bench import dagster_run, procs, simulation
from bench.report import BenchResult, Figure, median
from genesys_assets import datasets
from genesys_assets.genesys.ratelimit import RESERVE

LATENCY_MS = 500.0
RATE_A = 300
RATE_B = 30
FIRST_A = date(2024, 6, 3)
FIRST_B = date(2024, 9, 2)
ONE_DAY = date(2024, 6, 5)
SPEEDUP_TARGET = 3.5
BOUND_TARGET = 1.5


@dataclass
class SequentialRun:
    finished: procs.Finished
    summary: dict[str, Any]
    counts: dict[str, Any]


def days_from(first: date, count: int) -> list[date]:
    return [first + timedelta(days=n) for n in range(count)]


def sequential(first: date, last: date, served: simulation.ServedSimulator) -> SequentialRun:
    home = tempfile.mkdtemp(prefix="genesys-bench-seq-")
    try:
        env = procs.clean_env(
            **served.env(), GENESYS_ASSETS_HOME=home, PYTHONPATH=str(procs.PROJECT)
        )
        finished = procs.run(
            [procs.PYTHON, "-m", "bench.sequential", first.isoformat(), last.isoformat()],
            env=env,
            cwd=procs.PROJECT,
        ).check("the sequential loop")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return SequentialRun(finished, json.loads(finished.stdout.strip().splitlines()[-1]), {})


def dagster_range(
    first: date, last: date, served: simulation.ServedSimulator
) -> dagster_run.DagsterRun:
    served.reset()
    args = (
        ["--partition-range", f"{first}...{last}"] if last > first else ["--partition", str(first)]
    )
    run = dagster_run.materialize(args, served.env())
    run.counts = served.counts()
    return run


def _primed(served: simulation.ServedSimulator, part: str) -> tuple[int, float]:
    """What the priming pass aggregated; counting starts afresh for the timed runs."""
    answers = served.sim.answers
    primed = (answers.computed, answers.computed_s)
    answers.reset_counts()
    print(
        f"  {part} primed: {primed[0]} answers aggregated in {primed[1]:.1f} s of CPU, remembered",
        flush=True,
    )
    return primed


def per_day(counts: dict[str, Any], dataset: str, days: int) -> float:
    return counts["by_dataset"].get(dataset, 0) / days


def _bound_s(requests: float, per_minute: int) -> float:
    return requests / per_minute * 60.0


def run(quick: bool = False) -> tuple[BenchResult, dict[str, Any]]:
    """The backfill table, and the peak RSS figures the memory table is made of."""
    reps = 1 if quick else 3
    days_a = 10 if quick else 90
    days_b = 7 if quick else 30
    range_a = days_from(FIRST_A, days_a)
    range_b = days_from(FIRST_B, days_b)
    names = [d.name for d in datasets.load().datasets]
    started = time.perf_counter()
    result = BenchResult(
        name="backfill",
        title="3. Backfill of both default datasets",
        method=(
            f"(a) {days_a} days ({range_a[0]}...{range_a[-1]}), simulator at {LATENCY_MS:.0f} ms "
            f"a request and {RATE_A} requests/min: `dagster asset materialize -m genesys_assets "
            "--select '*' --partition-range A...B` (one run, default settings) beside "
            "`bench/sequential.py` (the same work per day, one day after another, one request at "
            f"a time), order alternating per repetition. (b) {days_b} days ({range_b[0]}..."
            f"{range_b[-1]}) at {RATE_B} requests/min, through Dagster the same way. Requests "
            "and 429s counted by the simulator, per dataset by query; bound = API requests / "
            "rate limit. Simulator default org (12 queues, 60 agents, 2,000 conversations/day), "
            "remembering settled answers after an untimed priming pass of each workload, so "
            "that its own aggregation (on the same two cores) is not timed as the pipeline's."
        ),
    )
    one_day: list[dagster_run.DagsterRun] = []
    runs_a: list[dagster_run.DagsterRun] = []
    seqs: list[SequentialRun] = []
    served_a = simulation.ServedSimulator(
        simulation.config(
            latency_ms=LATENCY_MS, rate_limit_per_minute=RATE_A, remember_answers=True
        )
    )
    with served_a:
        warmed = served_a.warm(range_a)
        print(f"  (a) simulator ready, {days_a} days generated in {warmed:.1f} s", flush=True)
        dagster_range(range_a[0], range_a[-1], served_a)
        sequential(range_a[0], range_a[-1], served_a)
        primed_a = _primed(served_a, "(a)")
        for rep in range(reps):
            one_day.append(dagster_range(ONE_DAY, ONE_DAY, served_a))
            print(
                f"  rep {rep + 1}/{reps}: one day {one_day[-1].wall_s:.1f} s, "
                f"peak {one_day[-1].peak_mb:.0f} MB (tree PSS)",
                flush=True,
            )
            order = ("dagster", "sequential") if rep % 2 == 0 else ("sequential", "dagster")
            for side in order:
                if side == "dagster":
                    runs_a.append(dagster_range(range_a[0], range_a[-1], served_a))
                    r = runs_a[-1]
                    print(
                        f"  rep {rep + 1}/{reps}: Dagster {days_a} days {r.wall_s:.1f} s, "
                        f"{r.counts['api_requests']} requests, {r.counts['throttled']} 429s, "
                        f"first step at {r.first_step_s():.1f} s, "
                        f"API {r.fetch_sum('api_seconds'):.1f} client-s, "
                        f"peak {r.peak_mb:.0f} MB (tree PSS)",
                        flush=True,
                    )
                else:
                    served_a.reset()
                    seqs.append(sequential(range_a[0], range_a[-1], served_a))
                    seqs[-1].counts = served_a.counts()
                    s = seqs[-1]
                    print(
                        f"  rep {rep + 1}/{reps}: sequential {days_a} days "
                        f"{s.finished.wall_s:.1f} s, {s.counts['api_requests']} requests, "
                        f"fetch {s.summary['steps'].get('fetch', float('nan')):.1f} s",
                        flush=True,
                    )
        timed_a = served_a.sim.answers.computed

    runs_b: list[dagster_run.DagsterRun] = []
    served_b = simulation.ServedSimulator(
        simulation.config(
            latency_ms=LATENCY_MS, rate_limit_per_minute=RATE_B, remember_answers=True
        )
    )
    with served_b:
        warmed = served_b.warm(range_b)
        print(f"  (b) simulator ready, {days_b} days generated in {warmed:.1f} s", flush=True)
        dagster_range(range_b[0], range_b[-1], served_b)
        primed_b = _primed(served_b, "(b)")
        for rep in range(reps):
            runs_b.append(dagster_range(range_b[0], range_b[-1], served_b))
            r = runs_b[-1]
            print(
                f"  rep {rep + 1}/{reps}: Dagster {days_b} days at {RATE_B}/min "
                f"{r.wall_s:.1f} s, {r.counts['api_requests']} requests (bound "
                f"{_bound_s(r.counts['api_requests'], RATE_B):.0f} s), "
                f"{r.counts['throttled']} 429s",
                flush=True,
            )

    # --- (a) ---------------------------------------------------------------------------------
    walls = [r.wall_s for r in runs_a]
    seq_walls = [s.finished.wall_s for s in seqs]
    # Pair repetition by repetition: both sides of one repetition ran back to back.
    speedups = [s / d for s, d in zip(seq_walls, walls, strict=True)]
    a = f"(a) {days_a} d @ {RATE_A}/min"
    result.add(Figure(f"{a}: Dagster wall time", "s", walls, digits=1))
    result.add(Figure(f"{a}: sequential loop wall time", "s", seq_walls, digits=1))
    result.add(
        Figure(
            f"{a}: speed-up over the sequential loop",
            "x",
            speedups,
            target=f">= {SPEEDUP_TARGET:g}x",
            met=median(speedups) >= SPEEDUP_TARGET,
        )
    )
    result.add(
        Figure(
            f"{a}: Dagster time before the first step starts",
            "s",
            [r.first_step_s() for r in runs_a],
            digits=1,
        )
    )
    result.add(
        Figure(
            f"{a}: Dagster api_seconds (summed once per fetch)",
            "s",
            [r.fetch_sum("api_seconds") for r in runs_a],
            digits=1,
        )
    )
    result.add(
        Figure(
            f"{a}: sequential loop fetch time",
            "s",
            [float(s.summary["steps"].get("fetch", float("nan"))) for s in seqs],
            digits=1,
        )
    )
    _api_figures(result, a, runs_a, days_a, names, RATE_A)
    result.add(
        Figure(
            f"{a}: sequential loop API requests",
            "",
            [float(s.counts["api_requests"]) for s in seqs],
            digits=0,
        )
    )

    # --- (b) ---------------------------------------------------------------------------------
    b = f"(b) {days_b} d @ {RATE_B}/min"
    walls_b = [r.wall_s for r in runs_b]
    bounds_b = [_bound_s(r.counts["api_requests"], RATE_B) for r in runs_b]
    to_bound = [w / bound for w, bound in zip(walls_b, bounds_b, strict=True)]
    result.add(Figure(f"{b}: Dagster wall time", "s", walls_b, digits=1))
    _api_figures(result, b, runs_b, days_b, names, RATE_B)
    result.add(
        Figure(
            f"{b}: wall time / rate-limit bound",
            "x",
            to_bound,
            target=f"<= {BOUND_TARGET:g}x",
            met=median(to_bound) <= BOUND_TARGET,
        )
    )

    result.notes.append(
        f"Priming (untimed, see the module doc of `bench.backfill`): the simulator aggregated "
        f"{primed_a[0]} answers for (a) in {primed_a[1]:.1f} s of CPU and {primed_b[0]} "
        f"for (b) in {primed_b[1]:.1f} s; the timed runs of (a) aggregated {timed_a} more, "
        "every other answer came from memory."
    )
    phases_a = dagster_run.breakdown(runs_a)
    phases_b = dagster_run.breakdown(runs_b)
    seq_steps = _median_steps([s.summary["steps"] for s in seqs])
    usable = int(RATE_B * (1 - RESERVE))
    needed = median([float(r.counts["api_requests"]) for r in runs_b])
    if needed <= usable:
        result.notes.append(
            f"(b) needed {needed:.0f} requests, no more than the {usable} a minute the client "
            f"spends of the simulator's {RATE_B} (a tenth kept in reserve): `auto` sizes the "
            "query with one chunk and then asks one synchronous query per 7-day chunk, so the "
            "limit never held this run back and it finished under the bound. The limiter's "
            "behaviour when the limit does bind is covered by the test suite "
            "(`test_a_rate_limited_run_gets_every_page_with_fewer_429s_than_pages`)."
        )
    result.notes.append(
        "(a) Dagster, where the time goes (medians): "
        + "; ".join(f"{k.removeprefix('step ')} {v:.1f} s" for k, v in phases_a.items())
        + "."
    )
    result.notes.append(
        "(a) Dagster, per step (medians; times from the child's start): "
        + dagster_run.describe_steps(dagster_run.step_breakdown(runs_a))
        + "."
    )
    result.notes.append(
        "(a) sequential loop, where the time goes (medians): "
        + "; ".join(f"{k} {v:.1f} s" for k, v in seq_steps.items())
        + "."
    )
    result.notes.append(
        "(b) Dagster, where the time goes (medians): "
        + "; ".join(f"{k.removeprefix('step ')} {v:.1f} s" for k, v in phases_b.items())
        + "."
    )
    result.details = {
        "latency_ms": LATENCY_MS,
        "priming": {
            "a": {"answers": primed_a[0], "seconds": round(primed_a[1], 2)},
            "b": {"answers": primed_b[0], "seconds": round(primed_b[1], 2)},
            "a_timed_answers_aggregated": timed_a,
        },
        "a": {
            "days": [range_a[0].isoformat(), range_a[-1].isoformat()],
            "rate_limit_per_minute": RATE_A,
            "dagster": [r.summary() for r in runs_a],
            "sequential": [
                {
                    "wall_s": round(s.finished.wall_s, 3),
                    "peak_mb": round(s.finished.tree_pss_mb, 1),
                    "largest_process_mb": round(s.finished.largest_process_mb, 1),
                    "summary": {k: v for k, v in s.summary.items() if k != "per_day_seconds"},
                    "per_day_seconds": s.summary.get("per_day_seconds"),
                    "counts": s.counts,
                }
                for s in seqs
            ],
            "dagster_breakdown_median_s": phases_a,
            "dagster_steps_median_s": dagster_run.step_breakdown(runs_a),
            "sequential_steps_median_s": seq_steps,
        },
        "b": {
            "days": [range_b[0].isoformat(), range_b[-1].isoformat()],
            "rate_limit_per_minute": RATE_B,
            "dagster": [r.summary() for r in runs_b],
            "dagster_breakdown_median_s": phases_b,
            "dagster_steps_median_s": dagster_run.step_breakdown(runs_b),
        },
        "one_day": [r.summary() for r in one_day],
    }
    result.seconds = time.perf_counter() - started
    # Peak memory of each run's whole process tree (summed PSS, see `bench.procs`), and beside
    # it the summed RSS (shared pages once per process) and the largest single process.
    memory: dict[str, Any] = {
        "one_day_mb": [r.peak_mb for r in one_day],
        "days_b": days_b,
        "range_b_mb": [r.peak_mb for r in runs_b],
        "days_a": days_a,
        "range_a_mb": [r.peak_mb for r in runs_a],
        "sequential_mb": [s.finished.tree_pss_mb for s in seqs],
        "rss_sum_mb": {
            "one_day": [r.finished.tree_rss_mb for r in one_day],
            "range_b": [r.finished.tree_rss_mb for r in runs_b],
            "range_a": [r.finished.tree_rss_mb for r in runs_a],
        },
        "largest_process_mb": {
            "one_day": [r.finished.largest_process_mb for r in one_day],
            "range_b": [r.finished.largest_process_mb for r in runs_b],
            "range_a": [r.finished.largest_process_mb for r in runs_a],
            "sequential": [s.finished.largest_process_mb for s in seqs],
        },
    }
    return result, memory


def _api_figures(
    result: BenchResult,
    label: str,
    runs: list[dagster_run.DagsterRun],
    days: int,
    names: list[str],
    per_minute: int,
) -> None:
    requests = [float(r.counts["api_requests"]) for r in runs]
    result.add(Figure(f"{label}: Dagster API requests", "", requests, digits=0))
    result.add(
        Figure(
            f"{label}: Dagster API requests the run reports (fetch metadata, once per fetch)",
            "",
            [r.fetch_sum("requests") for r in runs],
            digits=0,
        )
    )
    result.add(
        Figure(
            f"{label}: rate-limit bound (requests / {per_minute} per min)",
            "s",
            [_bound_s(n, per_minute) for n in requests],
            digits=1,
        )
    )
    result.add(
        Figure(
            f"{label}: 429s answered (all retried)",
            "",
            [float(r.counts["throttled"]) for r in runs],
            digits=0,
        )
    )
    failed = [0.0 if r.succeeded and r.checks_passed else 1.0 for r in runs]
    result.add(
        Figure(
            f"{label}: runs failed (a 429 or anything else escaped)",
            "",
            failed,
            target="0",
            met=not any(failed),
            digits=0,
        )
    )
    for name in names:
        ratios = [per_day(r.counts, name, days) for r in runs]
        result.add(
            Figure(
                f"{label}: {name} requests per day of data",
                "",
                ratios,
                target="<= 1",
                met=max(ratios) <= 1.0,
            )
        )


def _median_steps(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for r in runs for k in r}
    return {k: round(median([r.get(k, 0.0) for r in runs]), 2) for k in sorted(keys)}
