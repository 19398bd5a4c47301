"""One day end to end through Dagster: fetch, raw pages, Parquet, warehouse, checks.

A mid-size org on a simulator with a realistic latency (300 ms a request, the default 2 s for
an async job to complete), and `genesys_job`'s assets for one day materialized by
`dagster asset materialize -m genesys_assets --select '*' --partition DAY` in a child process,
with a fresh stage, DuckDB file and Dagster instance each time: what a user or a schedule tick
pays, imports included.

Waiting on the API is taken from the run's own record: the `api_seconds` metadata of each
`<dataset>_raw_pages` materialization, the client's elapsed time over every request of the
fetch (job polls and the waits between them included, since the run can do nothing else
then). That time also holds the Genesys SDK's import, which the client does lazily on its
first request (seconds: thousands of modules): not waiting on the API, so it is measured apart
after each run, in a fresh interpreter, and moved to the other side. The one request that lists
the routing queues (the `genesys_queues` asset) is not in `api_seconds`, so the API share is
understated by one latency. Everything else in the child's wall time (interpreter, Dagster,
definitions, run bookkeeping, SDK import, flattening, Parquet, DuckDB, checks) is "not waiting
on the API".
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
SDK_IMPORT = """
import json, time
started = time.perf_counter()
import PureCloudPlatformClientV2
print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def sdk_import_s() -> float:
    """The Genesys SDK's import in a fresh interpreter, as the client's first request pays it."""
    finished = procs.run([procs.PYTHON, "-c", SDK_IMPORT], env=procs.clean_env())
    return float(json.loads(finished.check("importing the SDK").stdout)["seconds"])


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
            "request, default 2 s async-job delay. API wait = `api_seconds` of the "
            "`<dataset>_raw_pages` materializations (the client's time in the fetch, job polls "
            "included) minus the Genesys SDK's lazy import, which that time also holds "
            "(measured apart, in a fresh interpreter, after each run); the rest of the child's "
            "wall time is not waiting on the API."
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
            api = one.metadata_sum("api_seconds", "_raw_pages") - sdk[-1]
            print(
                f"  rep {rep + 1}/{reps}: {one.wall_s:.1f} s, API {api:.1f} s, "
                f"{one.counts['api_requests']} requests, peak RSS {one.peak_rss_mb:.0f} MB",
                flush=True,
            )

    walls = [r.wall_s for r in runs]
    reported = [r.metadata_sum("api_seconds", "_raw_pages") for r in runs]
    api = [a - s for a, s in zip(reported, sdk, strict=True)]
    result.add(Figure("wall time", "s", walls))
    result.add(Figure("api_seconds, as the run reports it", "s", reported))
    result.add(Figure("of which the SDK's import (measured apart)", "s", sdk))
    result.add(Figure("waiting on the API (api_seconds - SDK import)", "s", api))
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
    result.add(
        Figure("API requests", "", [float(r.counts["api_requests"]) for r in runs], digits=0)
    )
    result.add(Figure("peak RSS", "MB", [r.peak_rss_mb for r in runs], digits=0))
    ok = all(r.succeeded and r.checks_passed for r in runs)
    phases = dagster_run.breakdown(runs)
    result.notes.append(
        "Every run succeeded and all 4 checks passed."
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
    result.details = {
        "org": org,
        "latency_ms": LATENCY_MS,
        "day": DAY.isoformat(),
        "breakdown_median_s": phases,
        "sdk_import_s": sdk,
        "runs": [r.summary() for r in runs],
    }
    result.seconds = time.perf_counter() - started
    return result
