"""A large org's backfill through Dagster: does memory stay bounded when the org is big?

The other benchmarks use a small or mid-size org. Here the simulated org has 300 queues, 3,000
agents and 100,000 conversations a day: one day of `agent_performance` is about 50 MB of JSON
and 600,000 metric rows, of `queue_performance` about 20 MB and 240,000 rows. 90 days of both
datasets go through `dagster asset materialize -m genesys_assets --select '*'
--partition-range A...B` in a child process, at the default settings (no GENESYS_* tuning
variable is passed on: chunks, window and memory budget are the client's defaults), against a
simulator served from this process at Genesys' default rate limit (300 requests a minute) and
300 ms a request.

Peak memory is measured twice:

- the whole process tree's: the run's step processes (the multiprocess executor runs up to
  four at once, forked from a server) are sampled every quarter second, and their proportional
  set sizes (PSS, from `/proc/PID/smaps_rollup`: shared pages counted once, split between the
  processes that share them) are summed; the peak of that sum is what the machine must have.
  The target applies to it;
- the largest single process's: its `VmHWM` (the kernel's peak RSS of the process), read by
  the same sampler. `ru_maxrss` through the `bench.procs` wrapper, what the other benchmarks
  report, sees only the `dagster` process itself under the multiprocess executor (the step
  processes are forked by a forkserver it does not wait for); it is kept in the details.

Rows loaded are counted in the warehouse (DuckDB) after the run: what the run really loaded,
not what it said. Rows per second = rows loaded / the child's wall time (interpreter, Dagster,
every step and the checks included). The client's own account of how it sized its chunks
(`chunks of N day(s), up to M in flight`) and its over-budget warnings are read from the run's
log.

One repetition at the full size (a run takes tens of minutes, bound by the rate limit: a
large org's agent dataset goes by async jobs, about 30 requests a day); `--quick` runs a
smaller org (60 queues, 600 agents, 20,000 conversations a day) for 5 days.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench import dagster_run, process_tree, procs, simulation
from bench.report import BenchResult, Figure, median
from genesys_assets import datasets

LARGE_ORG = {"queues": 300, "agents": 3000, "conversations_per_day": 100_000}
QUICK_ORG = {"queues": 60, "agents": 600, "conversations_per_day": 20_000}
FIRST = date(2024, 6, 3)
DAYS = 90
QUICK_DAYS = 5
LATENCY_MS = 300.0
RATE_PER_MINUTE = 300  # Genesys' default
RSS_TARGET_MB = 1.5 * 1024
SAMPLE_S = 0.25

# The client's log lines (see `GenesysClient._log_plan` and `_check_budget`).
_PLAN = re.compile(r"(aggregates by [\w,()]+): .*?chunks of (\d+) day\(s\), up to (\d+) in flight")
_OVER_BUDGET = "more than the memory budget"

COUNT_ROWS = """
import json, sys
import duckdb
path, names = sys.argv[1], sys.argv[2:]
con = duckdb.connect(path, read_only=True)
found = dict(con.execute(
    "SELECT table_name, table_schema FROM information_schema.tables"
).fetchall())
print(json.dumps({
    name: con.execute(f'SELECT count(*) FROM "{found[name]}"."{name}"').fetchone()[0]
    for name in names if name in found
}))
"""


class TreeSampler:
    """Samples the summed PSS of every descendant of this process until stopped.

    It also keeps the largest high-water mark (`VmHWM`, the kernel's own peak RSS of a
    process) of any descendant it saw: `ru_maxrss` in the `bench.procs` wrapper only covers
    the processes their parents waited for, and Dagster's step processes are forked by a
    forkserver that the wrapper's child does not wait for.
    """

    def __init__(self, every_s: float = SAMPLE_S) -> None:
        self.every_s = every_s
        self.peak_kib = 0
        self.peak_processes = 0
        self.largest_hwm_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.every_s):
            pids = process_tree.descendants(me)
            total = sum(process_tree.kib(pid, "smaps_rollup", "Pss:") for pid in pids)
            hwm = max((process_tree.kib(pid, "status", "VmHWM:") for pid in pids), default=0)
            self.largest_hwm_kib = max(self.largest_hwm_kib, hwm)
            self.samples += 1
            if total > self.peak_kib:
                self.peak_kib, self.peak_processes = total, len(pids)

    @property
    def peak_mb(self) -> float:
        return self.peak_kib / 1024

    @property
    def largest_process_mb(self) -> float:
        return self.largest_hwm_kib / 1024


@dataclass
class LargeRun:
    finished: procs.Finished
    run: dict[str, Any]  # what bench.dagster_events says about it
    tree_peak_mb: float
    tree_processes: int  # processes alive at the tree's peak
    largest_process_mb: float  # the largest VmHWM of any process of the run
    rows: dict[str, int]  # rows in each dataset's warehouse table after the run
    counts: dict[str, Any] = field(default_factory=dict)  # the simulator's

    @property
    def wall_s(self) -> float:
        return self.finished.wall_s

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def succeeded(self) -> bool:
        checks = self.run.get("checks", [])
        return (
            self.finished.returncode == 0
            and self.run.get("status") == "SUCCESS"
            and bool(checks)
            and all(c["passed"] for c in checks)
        )

    def plans(self) -> dict[str, list[str]]:
        """How the client sized each query's chunks, in the order it said so."""
        found: dict[str, list[str]] = {}
        for match in _PLAN.finditer(self.finished.stdout + self.finished.stderr):
            found.setdefault(match.group(1), []).append(
                f"{match.group(2)} day(s) x {match.group(3)}"
            )
        return found

    def over_budget_warnings(self) -> int:
        return (self.finished.stdout + self.finished.stderr).count(_OVER_BUDGET)

    def summary(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 3),
            "tree_peak_pss_mb": round(self.tree_peak_mb, 1),
            "tree_processes_at_peak": self.tree_processes,
            "largest_process_peak_rss_mb": round(self.largest_process_mb, 1),
            "ru_maxrss_mb": round(self.finished.peak_rss_mb, 1),
            "returncode": self.finished.returncode,
            "status": self.run.get("status"),
            "checks": len(self.run.get("checks", [])),
            "checks_passed": all(c["passed"] for c in self.run.get("checks", [])),
            "rows": self.rows,
            "plans": self.plans(),
            "over_budget_warnings": self.over_budget_warnings(),
            "steps": {
                key: round(step["seconds"], 3)
                for key, step in self.run.get("steps", {}).items()
                if "seconds" in step
            },
            "counts": self.counts,
        }


def materialize(first: date, last: date, served: simulation.ServedSimulator) -> LargeRun:
    """One `dagster asset materialize` over the range, measured, its warehouse rows counted."""
    names = [d.name for d in datasets.load().datasets]
    workdir = Path(tempfile.mkdtemp(prefix="genesys-bench-large-"))
    try:
        dagster_home = workdir / "dagster_home"
        dagster_run.new_instance(dagster_home, procs.clean_env(**served.env()))
        home = workdir / "home"
        env = procs.clean_env(
            **served.env(), DAGSTER_HOME=str(dagster_home), GENESYS_ASSETS_HOME=str(home)
        )
        # Default settings: no tuning variable of this shell reaches the run.
        for name in [n for n in env if n.startswith(("GENESYS_", "DUCKDB_"))]:
            if name not in served.env() and name != "GENESYS_ASSETS_HOME":
                del env[name]
        command = [procs.DAGSTER, "asset", "materialize", "-m", "genesys_assets", "--select", "*"]
        served.reset()
        with TreeSampler() as sampler:
            finished = procs.run(
                [*command, "--partition-range", f"{first}...{last}"], env=env, cwd=workdir
            )
        counts = served.counts()
        finished.check(f"dagster asset materialize --partition-range {first}...{last}")
        events = procs.run(
            [procs.PYTHON, "-m", "bench.dagster_events"],
            env=procs.clean_env(DAGSTER_HOME=str(dagster_home), PYTHONPATH=str(procs.PROJECT)),
            cwd=procs.PROJECT,
        ).check("reading the run's event log")
        runs = json.loads(events.stdout)
        if len(runs) != 1:
            raise RuntimeError(f"expected one run in {dagster_home}, found {len(runs)}")
        counted = procs.run(
            [procs.PYTHON, "-c", COUNT_ROWS, str(home / "warehouse.duckdb"), *names],
            env=procs.clean_env(),
            cwd=procs.PROJECT,
        ).check("counting the warehouse's rows")
        rows = {k: int(v) for k, v in json.loads(counted.stdout).items()}
        return LargeRun(
            finished,
            runs[0],
            sampler.peak_mb,
            sampler.peak_processes,
            max(sampler.largest_process_mb, finished.peak_rss_mb),
            rows,
            counts=counts,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(quick: bool = False) -> BenchResult:
    org = QUICK_ORG if quick else LARGE_ORG
    days = QUICK_DAYS if quick else DAYS
    reps = 1
    last = FIRST + timedelta(days=days - 1)
    started = time.perf_counter()
    result = BenchResult(
        name="large_org",
        title="6. A large org's backfill through Dagster",
        method=(
            f"{days} days ({FIRST}...{last}) of both default datasets for a simulated org of "
            f"{org['queues']} queues, {org['agents']:,} agents and "
            f"{org['conversations_per_day']:,} conversations a day: `dagster asset materialize "
            "-m genesys_assets --select '*' --partition-range A...B` in a child process at the "
            "default settings (memory budget, chunks, window, mode), simulator at "
            f"{LATENCY_MS:.0f} ms a request and {RATE_PER_MINUTE} requests/min. Peak memory: "
            f"the summed PSS of the run's process tree, sampled every {SAMPLE_S:g} s (the "
            "target), and the largest single process's peak RSS (VmHWM). Rows loaded counted in "
            "the warehouse after the run; rows/s = rows loaded / the child's wall time. "
            f"{reps} run{'s' if reps > 1 else ''} (a full-size run takes tens of minutes)."
        ),
    )
    served = simulation.ServedSimulator(
        simulation.config(**org, latency_ms=LATENCY_MS, rate_limit_per_minute=RATE_PER_MINUTE)
    )
    runs: list[LargeRun] = []
    with served:
        warmed = served.warm([FIRST + timedelta(days=n) for n in range(days)])
        print(f"  simulator ready, {days} days generated in {warmed:.1f} s", flush=True)
        for rep in range(reps):
            runs.append(materialize(FIRST, last, served))
            r = runs[-1]
            print(
                f"  rep {rep + 1}/{reps}: {r.wall_s:.0f} s, {r.total_rows:,} rows, "
                f"tree peak {r.tree_peak_mb:.0f} MB (largest process "
                f"{r.largest_process_mb:.0f} MB), {r.counts['api_requests']} requests, "
                f"{r.counts['throttled']} 429s, {r.over_budget_warnings()} over-budget warnings",
                flush=True,
            )

    tree = [r.tree_peak_mb for r in runs]
    result.add(
        Figure(
            "peak memory, whole run (summed PSS)",
            "MB",
            tree,
            target=f"< {RSS_TARGET_MB:,.0f} MB",
            met=median(tree) < RSS_TARGET_MB,
            digits=0,
        )
    )
    result.add(
        Figure(
            "peak RSS, largest single process (VmHWM)",
            "MB",
            [r.largest_process_mb for r in runs],
            digits=0,
        )
    )
    result.add(Figure("wall time", "s", [r.wall_s for r in runs], digits=1))
    result.add(Figure("metric rows loaded", "", [float(r.total_rows) for r in runs], digits=0))
    result.add(
        Figure(
            "metric rows / s (rows loaded / wall time)",
            "rows/s",
            [r.total_rows / r.wall_s for r in runs],
            digits=0,
        )
    )
    result.add(
        Figure("API requests", "", [float(r.counts["api_requests"]) for r in runs], digits=0)
    )
    result.add(
        Figure("429s answered (all retried)", "", [float(r.counts["throttled"]) for r in runs])
    )
    failed = [0.0 if r.succeeded else 1.0 for r in runs]
    result.add(
        Figure(
            "runs failed (status, checks)", "", failed, target="0", met=not any(failed), digits=0
        )
    )
    last_run = runs[-1]
    plans = last_run.plans()
    if plans:
        result.notes.append(
            "How the client sized its chunks (from the run's log, in order): "
            + "; ".join(f"{query}: {', '.join(p)}" for query, p in plans.items())
            + "."
        )
    warnings = last_run.over_budget_warnings()
    if warnings:
        result.notes.append(
            f"{warnings} over-budget warning(s) in the run's log: a fetch whose JSON times the "
            "client's cost factor exceeded that client's share of GENESYS_MEMORY_BUDGET."
        )
    result.notes.append(
        "Rows by dataset: "
        + ", ".join(f"{name} {rows:,}" for name, rows in last_run.rows.items())
        + f"; the tree's peak was taken with {last_run.tree_processes} processes alive."
    )
    result.details = {
        "org": org,
        "days": [FIRST.isoformat(), last.isoformat()],
        "latency_ms": LATENCY_MS,
        "rate_limit_per_minute": RATE_PER_MINUTE,
        "warm_s": round(warmed, 1),
        "runs": [r.summary() for r in runs],
    }
    result.seconds = time.perf_counter() - started
    return result
