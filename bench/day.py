"""One day end to end through Dagster: fetch, raw pages, Parquet, warehouse, checks.

A mid-size org on a simulator with a realistic latency (300 ms a request, the default 2 s for
an async job to complete), and `genesys_job`'s assets for one day materialized by
`dagster asset materialize -m genesys_assets --select '*' --partition DAY` in a child process,
with a fresh stage, DuckDB file and Dagster instance each time: what a user or a schedule tick
pays, imports included. Under the multiprocess executor every step is a process of its own
(forked from a preloaded forkserver) and the two datasets' steps overlap.

Waiting on the API is taken from the run's own record: the `fetch` metadata of each
`<dataset>_raw_pages` day (the figures of the fetch it came in, counted once per `fetch_id`):
`api_seconds` is the client's elapsed time over every request of the fetch (job polls and the
waits between them included, since the step can do nothing else then). That time also holds
the Genesys SDK's import, which the client does lazily on its first request, once in each
fetching step's process (seconds: thousands of modules): not waiting on the API, so it is
measured apart after each run, in a fresh interpreter, and moved to the other side, once per
fetching process. The datasets fetch at the same time, so their API times overlap: the wall
time spent waiting on the API is the union of each dataset's interval [its fetching step's
start + the SDK import, its start + its `api_seconds`] (one fetch per dataset for one day), and
the summed client time is shown beside it. The one request that lists the routing queues (the
`genesys_queues` asset) is not in `api_seconds`, so the API share is understated by one
latency. Everything else in the child's wall time (interpreter, Dagster, definitions, run
bookkeeping, step processes, SDK import, flattening, Parquet, DuckDB, event writes, checks) is
"not waiting on the API".
"""

from __future__ import annotations

import json
import time
from datetime import date

from bench import dagster_run, procs, simulation
from bench.report import BenchResult, Figure

DAY = date(2024, 11, 6)
MID_ORG = {"queues": 50, "agents": 500, "conversations_per_day": 20_000}
QUICK_ORG = {"queues": 12, "agents": 60, "conversations_per_day": 2_000}
LATENCY_MS = 300.0
PEAK = "peak memory, whole process tree (summed PSS)"
SDK_IMPORT = """
import json, time
started = time.perf_counter()
from genesys_assets.genesys import sdk
package = sdk.load()
package.ConversationsApi, package.RoutingApi
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def sdk_import_s() -> float:
    """The Genesys SDK's import in a fresh interpreter, as the client's first request pays it."""
    finished = procs.run(
        [procs.PYTHON, "-c", SDK_IMPORT], env=procs.clean_env(PYTHONPATH=str(procs.PROJECT))
    )
    return float(json.loads(finished.check("importing the SDK").stdout)["seconds"])


def api_wait(run: dagster_run.DagsterRun, sdk_s: float) -> tuple[float, float]:
    """(wall seconds waiting on the API: the union of the datasets' fetch intervals, the
    client seconds summed over fetches), both without the SDK's import in each process."""
    by_asset = run.api_seconds_by_asset()
    detail = run.step_detail()
    step_of = run.step_of_asset()
    intervals = []
    for asset, seconds in by_asset.items():
        started = detail[step_of[asset]]["start_at"]  # the fetching step's start
        intervals.append((started + sdk_s, started + seconds))
    intervals.sort()
    union, reach = 0.0, float("-inf")
    for start, end in intervals:
        start = max(start, reach)
        if end > start:
            union += end - start
            reach = end
    return union, sum(by_asset.values()) - sdk_s * len(by_asset)


def run(quick: bool = False) -> BenchResult:
    reps = 2 if quick else 3
    org = QUICK_ORG if quick else MID_ORG
    started = time.perf_counter()
    result = BenchResult(
        name="day",
        title="2. One day end to end through Dagster",
        method=(
            f"`dagster asset materialize -m genesys_assets --select '*' --partition {DAY}` in a "
            f"child process (fresh stage, DuckDB file and DAGSTER_HOME per run) against a "
            f"simulated org of {org['queues']} queues, {org['agents']} agents and "
            f"{org['conversations_per_day']:,} conversations a day, {LATENCY_MS:.0f} ms a "
            "request, default 2 s async-job delay. API wait = the union over datasets of "
            "their fetch intervals (raw-pages step start + `api_seconds` of its fetches, from "
            "the per-day `fetch` metadata counted once per fetch_id), without the Genesys SDK's "
            "lazy import that each fetching process pays in its first request (measured apart, "
            "in a fresh interpreter, after each run); the rest of the child's wall time is not "
            "waiting on the API. Peak memory: the run's whole process tree (summed PSS, "
            f"sampled every {procs.SAMPLE_S:g} s)."
        ),
    )
    runs: list[dagster_run.DagsterRun] = []
    sdk: list[float] = []
    served = simulation.ServedSimulator(simulation.config(**org, latency_ms=LATENCY_MS))
    with served:
        warmed = served.warm([DAY])
        print(f"  simulator ready, traffic generated in {warmed:.1f} s", flush=True)
        for rep in range(reps):
            served.reset()
            one = dagster_run.materialize(["--partition", DAY.isoformat()], served.env())
            one.counts = served.counts()
            runs.append(one)
            sdk.append(sdk_import_s())
            waited, _ = api_wait(one, sdk[-1])
            print(
                f"  rep {rep + 1}/{reps}: {one.wall_s:.1f} s, API wait {waited:.1f} s, first "
                f"step at {one.first_step_s():.1f} s, {one.counts['api_requests']} requests, "
                f"peak {one.peak_mb:.0f} MB (tree PSS)",
                flush=True,
            )

    walls = [r.wall_s for r in runs]
    reported = [r.fetch_sum("api_seconds") for r in runs]
    waits = [api_wait(r, s) for r, s in zip(runs, sdk, strict=True)]
    api = [w for w, _ in waits]
    result.add(Figure("wall time", "s", walls))
    result.add(
        Figure("api_seconds, summed over the fetches as the run reports them", "s", reported)
    )
    result.add(Figure("SDK import, once per fetching process (measured apart)", "s", sdk))
    result.add(
        Figure(
            "client time on the API, summed (api_seconds - SDK imports)", "s", [c for _, c in waits]
        )
    )
    result.add(Figure("waiting on the API, wall (union over datasets)", "s", api))
    result.add(
        Figure("not waiting on the API", "s", [w - a for w, a in zip(walls, api, strict=True)])
    )
    result.add(
        Figure(
            "share not waiting on the API",
            "%",
            [100 * (w - a) / w for w, a in zip(walls, api, strict=True)],
            digits=0,
        )
    )
    result.add(Figure("startup before the run starts", "s", [r.startup_s() for r in runs]))
    result.add(Figure("time before the first step starts", "s", [r.first_step_s() for r in runs]))
    result.add(
        Figure("API requests", "", [float(r.counts["api_requests"]) for r in runs], digits=0)
    )
    result.add(
        Figure(
            "API requests the run reports (fetch metadata)",
            "",
            [r.fetch_sum("requests") for r in runs],
            digits=0,
        )
    )
    result.add(Figure(PEAK, "MB", [r.peak_mb for r in runs], digits=0))
    result.add(
        Figure(
            "peak RSS, largest single process",
            "MB",
            [r.finished.largest_process_mb for r in runs],
            digits=0,
        )
    )
    ok = all(r.succeeded and r.checks_passed for r in runs)
    phases = dagster_run.breakdown(runs)
    evaluations = sorted({len(r.run.get("checks", [])) for r in runs})
    result.notes.append(
        f"Every run succeeded and all its {'/'.join(map(str, evaluations))} check evaluations "
        "passed."
        if ok
        else "A run failed or a check did not pass: see latest.json."
    )
    result.notes.append(
        "Where the time goes (medians): "
        + "; ".join(
            f"{name.removeprefix('step ')} {seconds:.2f} s" for name, seconds in phases.items()
        )
        + "."
    )
    result.notes.append(
        "Per step (medians; times from the child's start): "
        + dagster_run.describe_steps(dagster_run.step_breakdown(runs))
        + "."
    )
    result.details = {
        "org": org,
        "latency_ms": LATENCY_MS,
        "day": DAY.isoformat(),
        "breakdown_median_s": phases,
        "steps_median_s": dagster_run.step_breakdown(runs),
        "sdk_import_s": sdk,
        "runs": [r.summary() for r in runs],
    }
    result.seconds = time.perf_counter() - started
    return result
