"""Many orgs through the production stack: 4 simulated orgs x 30 days, each org a backfill
launched as the UI launches one, run by the daemon through the queue.

The stack is the deployment's own (deploy/dagster.yaml in a throwaway PostgreSQL, a code server,
the daemon, the webserver: `genesys_assets_tests.deployment`), with the instance's limits as
shipped: 4 runs at once, 2 per org, each org's fetches in its own pool, one DuckDB writer.
Genesys is one simulated region serving the 4 orgs (each its own time zone, client and rate
limit of 300 requests a minute, 500 ms a request), reached as real orgs are, into the local
stage and DuckDB.

Per repetition: each org's backfill alone, one after another (the order rotates), then all four
launched at once; the figure is the together run's wall time over the slowest org's alone, in
the same repetition. Wall time runs from the launch to the last run's end, the daemon's launch
latency included on both sides. Every run's peak memory (summed PSS of its worker's process
tree: the run worker, its forkserver and step processes) is sampled every half second. As in
the backfill benchmark, the simulator remembers settled answers and an untimed priming pass of
all four orgs comes first, so that its own aggregation (on the same two cores) is not timed as
the pipeline's. The machine's busy CPU time per phase says whether the orgs' work can overlap
at all here: the together run's core-seconds over the cores is a floor on its wall time.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from bench import process_tree
from bench.report import BenchResult, Figure, median
from genesys_assets.simulator import SimulatedRegion, SimulatorConfig

ORGS = (
    ("emea", "Europe/Berlin", 3),
    ("amer", "America/Chicago", 5),
    ("apac", "Asia/Singapore", 7),
    ("latam", "America/Sao_Paulo", 9),
)
FIRST = date(2024, 6, 3)
LATENCY_MS = 500.0
RATE = 300
TARGET = 1.3
SAMPLE_S = 0.5
CORES = os.cpu_count() or 1


@dataclass
class Launched:
    org: str
    backfill_id: str
    started: float
    run_ids: list[str] = field(default_factory=list)
    ended: float = 0.0


def run(quick: bool = False) -> BenchResult:
    from genesys_assets_tests.deployment import dagster_stack, shipped_datasets

    days = 3 if quick else 30
    reps = 1 if quick else 3
    range_days = [FIRST + timedelta(days=n) for n in range(days)]
    result = BenchResult(
        name="many_orgs",
        title="Many orgs through the daemon and the queue",
        method=(
            f"{len(ORGS)} simulated orgs x {days} days ({range_days[0]}...{range_days[-1]}), "
            f"the shipped datasets, one simulated region (each org its own time zone and "
            f"client, {RATE} requests/min, {LATENCY_MS:.0f} ms a request, the default org's "
            "size), the production stack (deploy/dagster.yaml in PostgreSQL, code server, "
            "daemon, webserver): each org's backfill alone, then all at once, per repetition; "
            "ratio = together / slowest alone, repetition by repetition. Peak memory of each "
            "run: summed PSS of its worker's process tree, sampled every 0.5 s. Simulator "
            "answers remembered after an untimed priming pass."
        ),
    )
    configs = [
        (
            org,
            SimulatorConfig(
                seed=seed,
                time_zone=zone,
                latency_ms=LATENCY_MS,
                rate_limit_per_minute=RATE,
                remember_answers=True,
                day_cache_size=days + 10,
                client_id=f"{org}-bench",
                client_secret=f"{org}-bench-secret",
            ),
        )
        for org, zone, seed in ORGS
    ]
    with SimulatedRegion(configs) as region, tempfile.TemporaryDirectory() as folder:
        env = {"GENESYS_ASSETS_DEPLOYMENT": "local"}
        orgs = {}
        for org, zone, _ in ORGS:
            served = region.org(org)
            env[f"GENESYS_{org.upper()}_CLIENT_ID"] = served.client_id
            env[f"GENESYS_{org.upper()}_CLIENT_SECRET"] = served.client_secret
            orgs[org] = {
                "time_zone": zone,
                "start_date": "2024-01-01",
                "api_host": region.base_url,
                "credentials": {
                    "client_id": f"GENESYS_{org.upper()}_CLIENT_ID",
                    "client_secret": f"GENESYS_{org.upper()}_CLIENT_SECRET",
                },
            }
        path = Path(folder) / "datasets.yaml"
        raw = {"orgs": orgs, "datasets": shipped_datasets()["datasets"]}
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        with dagster_stack(env=env, datasets_file=path, daemon_interval_s=2) as stack:
            os.environ.update(stack.instance_env)
            from dagster import DagsterInstance

            with DagsterInstance.get() as instance:
                sampler = Sampler(instance)
                sampler.start()
                try:
                    assets = _org_assets(raw)
                    primed_at = time.perf_counter()
                    _wait(stack, instance, [_launch(stack, o, assets[o], range_days) for o in orgs])
                    result.notes.append(
                        f"Priming (all {len(orgs)} orgs at once, untimed): "
                        f"{time.perf_counter() - primed_at:.0f} s, "
                        f"{sum(region.org(o).answers.computed for o in orgs)} answers aggregated."
                    )
                    region.reset_stats()
                    _measure(stack, instance, region, assets, range_days, reps, sampler, result)
                finally:
                    sampler.stop()
    return result


def _measure(
    stack: Any,
    instance: Any,
    region: SimulatedRegion,
    assets: dict[str, list[list[str]]],
    days: Sequence[date],
    reps: int,
    sampler: Sampler,
    result: BenchResult,
) -> None:
    names = list(assets)
    alone: dict[str, list[float]] = {o: [] for o in names}
    together: list[float] = []
    ratios: list[float] = []
    runs: list[dict[str, Any]] = []
    # The machine's CPU (every process: runs, daemon, code server, PostgreSQL, the simulator)
    # per phase: what the four orgs' work costs, and whether the together run had cores idle.
    cpu_alone: list[float] = []
    cpu_together: list[float] = []
    busy: list[float] = []
    floors: list[float] = []
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        walls = {}
        alone_cpu = 0.0
        for org in order:
            before = _busy_cpu_s()
            [done] = _wait(stack, instance, [_launch(stack, org, assets[org], days)])
            alone_cpu += _busy_cpu_s() - before
            walls[org] = done.ended - done.started
            alone[org].append(walls[org])
            runs.append(_describe(done, instance, sampler, "alone"))
        before = _busy_cpu_s()
        launched = [_launch(stack, org, assets[org], days) for org in names]
        finished = _wait(stack, instance, launched)
        together_cpu = _busy_cpu_s() - before
        wall = max(d.ended for d in finished) - min(d.started for d in finished)
        together.append(wall)
        ratios.append(wall / max(walls.values()))
        cpu_alone.append(alone_cpu)
        cpu_together.append(together_cpu)
        busy.append(together_cpu / (wall * CORES))
        floors.append(together_cpu / CORES / max(walls.values()))
        runs += [_describe(d, instance, sampler, "together") for d in finished]
        print(
            f"   rep {rep + 1}: together {wall:.1f} s, alone "
            + ", ".join(f"{o} {w:.1f} s" for o, w in walls.items())
            + f": {ratios[-1]:.2f}x; CPU {together_cpu:.0f} core-s together, "
            + f"{alone_cpu:.0f} core-s alone, cores {busy[-1]:.0%} busy together",
            flush=True,
        )
    failed = [r for r in runs if r["status"] != "SUCCESS"]
    throttled = sum(region.org(o).stats()["throttled"] for o in names)
    result.add(
        Figure(
            f"{len(names)} orgs at once / the slowest org alone (wall time)",
            "x",
            ratios,
            target=f"<= {TARGET}x",
            met=median(ratios) <= TARGET,
        )
    )
    result.add(Figure("all orgs at once, wall time", "s", together, digits=1))
    result.add(
        Figure(
            "CPU of the whole machine, all orgs at once",
            "core-s",
            cpu_together,
            digits=0,
            note="the four orgs alone, added up: "
            + ", ".join(f"{c:.0f}" for c in cpu_alone)
            + " core-s, repetition by repetition",
        )
    )
    result.add(
        Figure(
            f"all orgs at once: share of the {CORES} cores busy over its wall time",
            "%",
            [b * 100 for b in busy],
            digits=0,
        )
    )
    result.add(
        Figure(
            f"the CPU floor (its core-seconds / {CORES} cores) / the slowest org alone",
            "x",
            floors,
            note="a wall time no scheduler can beat on this machine, as a ratio like the target's",
        )
    )
    for org in names:
        result.add(Figure(f"{org} alone, wall time", "s", alone[org], digits=1))
    peaks = [r["peak_pss_mb"] for r in runs if r["peak_pss_mb"] is not None]
    result.add(Figure("peak memory of one run (summed PSS of its tree)", "MB", peaks, digits=0))
    largest = [r["peak_rss_mb"] for r in runs if r["peak_rss_mb"] is not None]
    result.add(Figure("peak RSS of a run's largest process", "MB", largest, digits=0))
    result.add(
        Figure(
            "429s served to the runs, runs failed",
            "count",
            [float(throttled + len(failed))],
            target="0",
            met=not failed,
            note=f"{throttled} 429s (retried by the client), {len(failed)} runs failed",
        )
    )
    result.details["runs"] = runs
    result.details["requests"] = {o: region.org(o).stats()["requests"] for o in names}


def _busy_cpu_s() -> float:
    """Seconds of CPU the whole machine has spent busy (every core, not idle or waiting)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _org_assets(raw: dict[str, Any]) -> dict[str, list[list[str]]]:
    """Each org's assets as a backfill of its days selects them in the UI: its datasets' raw
    pages, Parquet and tables, and its dimensions (key paths)."""
    from genesys_assets.datasets import DIMENSION_ASSETS

    return {
        org: [
            *(
                [org, f"{name}{suffix}"]
                for name in raw["datasets"]
                for suffix in ("_raw_pages", "_parquet", "")
            ),
            *([org, name] for name in DIMENSION_ASSETS),
        ]
        for org in raw["orgs"]
    }


def _launch(stack: Any, org: str, paths: list[list[str]], days: Sequence[date]) -> Launched:
    started = time.perf_counter()
    backfill_id = stack.launch_backfill(paths, [d.isoformat() for d in days], {"genesys/org": org})
    return Launched(org, backfill_id, started)


def _wait(stack: Any, instance: Any, launched: Sequence[Launched]) -> list[Launched]:
    """Each backfill's runs, once all of them have finished; `ended` when its last did."""
    from dagster import RunsFilter

    pending = list(launched)
    deadline = time.monotonic() + 1800
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"backfills still running: {[p.org for p in pending]}")
        for item in list(pending):
            backfill = instance.get_backfill(item.backfill_id)
            runs = list(instance.get_runs(filters=RunsFilter.for_backfill(item.backfill_id)))
            done = backfill is not None and backfill.status.value.startswith(("COMPLETED", "FAIL"))
            if done and runs and all(r.is_finished for r in runs):
                item.run_ids = [r.run_id for r in runs]
                item.ended = time.perf_counter()
                pending.remove(item)
        time.sleep(0.25)
    return list(launched)


def _describe(done: Launched, instance: Any, sampler: Sampler, how: str) -> dict[str, Any]:
    statuses = [instance.get_run_by_id(r).status.value for r in done.run_ids]
    known = [sampler.peak_mb[r] for r in done.run_ids if r in sampler.peak_mb]
    rss = [sampler.peak_rss_mb[r] for r in done.run_ids if r in sampler.peak_rss_mb]
    return {
        "org": done.org,
        "how": how,
        "runs": len(done.run_ids),
        "status": "SUCCESS" if set(statuses) == {"SUCCESS"} else ",".join(statuses),
        "wall_s": round(done.ended - done.started, 2),
        "peak_pss_mb": round(max(known), 1) if known else None,
        "peak_rss_mb": round(max(rss), 1) if rss else None,
    }


class Sampler:
    """Every run's peak memory, sampled: the summed PSS of its worker's process tree (what the
    run costs the machine; RSS would count the forked processes' shared pages once each) and
    the RSS of its largest process."""

    def __init__(self, instance: Any) -> None:
        self.instance = instance
        self.peak_mb: dict[str, float] = {}  # summed PSS of the run's process tree
        self.peak_rss_mb: dict[str, float] = {}  # RSS of its largest process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-memory", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        from dagster import DagsterRunStatus, RunsFilter

        from genesys_assets.deploy.launcher import WORKER_TAG

        while not self._stop.wait(SAMPLE_S):
            with suppress(Exception):  # a run that ends mid-sample: the next sample decides
                running = self.instance.get_runs(
                    filters=RunsFilter(statuses=[DagsterRunStatus.STARTED])
                )
                children = process_tree.children_by_parent()
                for run in running:
                    raw = run.tags.get(WORKER_TAG)
                    if not raw:
                        continue
                    worker = int(json.loads(raw)["pid"])
                    tree = [worker, *process_tree.descendants(worker, children)]
                    pss = sum(process_tree.kib(p, "smaps_rollup", "Pss:") for p in tree) / 1024
                    rss = max(process_tree.kib(p, "smaps_rollup", "Rss:") for p in tree) / 1024
                    self.peak_mb[run.run_id] = max(self.peak_mb.get(run.run_id, 0.0), pss)
                    self.peak_rss_mb[run.run_id] = max(self.peak_rss_mb.get(run.run_id, 0.0), rss)
