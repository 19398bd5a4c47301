"""The pipeline as a user runs it: `dagster asset materialize` in a child process.

Each run gets a fresh DAGSTER_HOME (so its event log is its own) and a fresh GENESYS_ASSETS_HOME
(stage folder and DuckDB file: nothing left from a previous repetition makes it cheaper), and
the simulator's variables. The DAGSTER_HOME's `dagster.yaml` has the project's `concurrency`
section (the `genesys_warehouse` pool of one slot: DuckDB lets one writer in at a time), as a
user's `make` run gets from the project's own `dagster.yaml`, without its storage paths. The
child's wall time includes what every user pays: the interpreter, Dagster, loading the
definitions, creating the run, the multiprocess executor's forkserver and step processes. Its
peak memory is the whole process tree's (`bench.procs`: summed PSS, sampled). Once it exited,
its event log is read by `bench.dagster_events` in another child.

Figures of the fetches come from the raw pages' per-day `fetch` metadata: every day of a
multi-day fetch carries the same fetch's figures, so they are summed once per `fetch_id`.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench import procs

RAW_PAGES = "_raw_pages"
FETCH_FIGURES = ("api_seconds", "requests", "retries", "throttled_429", "pages", "bytes")


def _dagster_yaml() -> str:
    """Telemetry off, and the project's `concurrency` section (its pools), nothing else."""
    project = yaml.safe_load((procs.PROJECT / "dagster.yaml").read_text()) or {}
    settings: dict[str, Any] = {"telemetry": {"enabled": False}}
    if "concurrency" in project:
        settings["concurrency"] = project["concurrency"]
    return yaml.safe_dump(settings, sort_keys=False)


DAGSTER_YAML = _dagster_yaml()


def new_instance(dagster_home: Path, env: dict[str, str]) -> None:
    """A DAGSTER_HOME as a user's `make` gives it: the project's pools, each pool's limit set
    as `python -m genesys_assets.deploy.pools` sets it (one DuckDB writer, each org's fetch
    slots), since an instance's per-pool limits live in its database, not in dagster.yaml."""
    dagster_home.mkdir(exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    done = procs.run(
        [procs.PYTHON, "-m", "genesys_assets.deploy.pools"],
        env={**env, "DAGSTER_HOME": str(dagster_home)},
        cwd=dagster_home,
    )
    done.check("python -m genesys_assets.deploy.pools")


@dataclass
class DagsterRun:
    finished: procs.Finished
    run: dict[str, Any]  # what bench.dagster_events says about it
    counts: dict[str, Any] = field(default_factory=dict)  # the simulator's, filled by callers

    @property
    def wall_s(self) -> float:
        return self.finished.wall_s

    @property
    def peak_mb(self) -> float:
        """Peak memory of the run's whole process tree (summed PSS, see `bench.procs`)."""
        return self.finished.tree_pss_mb

    @property
    def succeeded(self) -> bool:
        return self.finished.returncode == 0 and self.run.get("status") == "SUCCESS"

    @property
    def checks_passed(self) -> bool:
        checks = self.run.get("checks", [])
        return bool(checks) and all(c["passed"] for c in checks)

    # -- what the run fetched -----------------------------------------------------------------

    def fetches(self, asset_suffix: str = RAW_PAGES) -> dict[str, list[dict[str, Any]]]:
        """Each raw-pages asset's fetches, once each (by `fetch_id`), in the order first seen."""
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for m in self.run.get("materializations", []):
            fetch = m["metadata"].get("fetch")
            if m["asset"].endswith(asset_suffix) and isinstance(fetch, dict):
                found.setdefault(m["asset"], {}).setdefault(fetch["fetch_id"], fetch)
        return {asset: list(by_id.values()) for asset, by_id in found.items()}

    def fetch_sum(self, key: str, asset_suffix: str = RAW_PAGES) -> float:
        """One figure of the fetches (`api_seconds`, `requests`, ...) summed once per fetch."""
        return sum(
            float(f.get(key, 0) or 0) for fs in self.fetches(asset_suffix).values() for f in fs
        )

    def fetch_days(self, asset_suffix: str = RAW_PAGES) -> dict[str, int]:
        """Days each asset's fetches covered (each day of the run exactly once if all is well)."""
        return {
            asset: sum(len(f.get("days", [])) for f in fs)
            for asset, fs in self.fetches(asset_suffix).items()
        }

    def step_of_asset(self) -> dict[str, str]:
        """The step each asset was materialized by (a multi-asset's step has its own name)."""
        return {m["asset"]: m["step"] for m in self.run.get("materializations", []) if m["step"]}

    def api_seconds_by_asset(self) -> dict[str, float]:
        return {
            asset: sum(float(f.get("api_seconds", 0) or 0) for f in fs)
            for asset, fs in self.fetches().items()
        }

    # -- where the time went ------------------------------------------------------------------

    def _since_start(self, mark: str) -> float:
        at = self.run.get("marks", {}).get(mark)
        return at - self.finished.started_at if at else float("nan")

    def startup_s(self) -> float:
        """From starting the child to the run's RUN_START event: imports, definitions, run."""
        return self._since_start("RUN_START")

    def first_step_s(self) -> float:
        """From starting the child to the first STEP_START: what the run pays before any work."""
        return self._since_start("FIRST_STEP_START")

    def phases(self) -> dict[str, float]:
        """The run's wall time cut at its marks, in order (they add up to `wall_s`)."""
        marks = self.run.get("marks", {})
        end = marks.get("RUN_SUCCESS") or marks.get("RUN_FAILURE")
        cuts = [
            ("before the first event (interpreter, Dagster, definitions, run creation)", "FIRST_EVENT"),  # noqa: E501
            ("planned materializations and checks (event writes)", "RUN_START"),
            ("executor and first step process", "FIRST_STEP_START"),
            ("steps (first start to last end)", "LAST_STEP_END"),
        ]  # fmt: skip
        out: dict[str, float] = {}
        previous = self.finished.started_at
        for name, mark in cuts:
            at = marks.get(mark)
            if at is None:
                continue
            out[name] = at - previous
            previous = at
        if end:
            out["run end (after the last step)"] = end - previous
            out["after the run (process exit)"] = self.finished.started_at + self.wall_s - end
        return out

    def step_seconds(self) -> dict[str, float]:
        return {
            key: round(step["seconds"], 3)
            for key, step in self.run.get("steps", {}).items()
            if "seconds" in step
        }

    def step_detail(self) -> dict[str, dict[str, Any]]:
        """Per step: its times from the child's start, and its phases.

        blocked: waiting on a pool's slot; process: from its process launched to STEP_START
        (fork, instance, definitions, resources); body: STEP_START to its first output (the
        work: fetch, flatten, load, compare); events: from that output to STEP_SUCCESS (the IO
        manager's publish and one materialization event per day, or the rest of a check's
        evaluations).
        """
        t0 = self.finished.started_at
        out: dict[str, dict[str, Any]] = {}
        for key, step in self.run.get("steps", {}).items():
            detail: dict[str, Any] = {}
            for mark in ("blocked", "worker_starting", "start", "output", "end"):
                if mark in step:
                    detail[f"{mark}_at"] = round(step[mark] - t0, 3)
            if "blocked" in step and "worker_starting" in step:
                detail["blocked_s"] = round(step["worker_starting"] - step["blocked"], 3)
            if "worker_starting" in step and "start" in step:
                detail["process_s"] = round(step["start"] - step["worker_starting"], 3)
            if "start" in step and "output" in step:
                detail["body_s"] = round(step["output"] - step["start"], 3)
            if "output" in step and "end" in step:
                detail["events_s"] = round(step["end"] - step["output"], 3)
            for what in ("materializations", "evaluations"):
                if step.get(what):
                    detail[what] = step[what]
                    detail[f"{what}_span_s"] = round(
                        step[f"last_{what}"] - step[f"first_{what}"], 3
                    )
            out[key] = detail
        return out

    def summary(self) -> dict[str, Any]:
        f = self.finished
        return {
            "wall_s": round(self.wall_s, 3),
            "peak_mb": round(self.peak_mb, 1),
            "tree_rss_mb": round(f.tree_rss_mb, 1),
            "largest_process_mb": round(f.largest_process_mb, 1),
            "ru_maxrss_mb": round(f.peak_rss_mb, 1),
            "tree_processes_at_peak": f.tree_processes_at_peak,
            "tree_peak_at_s": round(f.tree_peak_at_s, 2),
            "memory_samples": f.samples,
            "returncode": f.returncode,
            "status": self.run.get("status"),
            "checks": len(self.run.get("checks", [])),
            "checks_passed": self.checks_passed,
            "materializations": len(self.run.get("materializations", [])),
            "planned_events": self.run.get("planned_events"),
            "startup_s": round(self.startup_s(), 3),
            "first_step_s": round(self.first_step_s(), 3),
            "phases": {k: round(v, 3) for k, v in self.phases().items()},
            "fetches": {asset: len(fs) for asset, fs in self.fetches().items()},
            "fetch_days": self.fetch_days(),
            **{f"fetch_{key}": round(self.fetch_sum(key), 3) for key in FETCH_FIGURES},
            "api_seconds_by_asset": {
                k: round(v, 3) for k, v in self.api_seconds_by_asset().items()
            },
            "steps": self.step_seconds(),
            "step_detail": self.step_detail(),
            "counts": self.counts,
        }


def materialize(partition_args: list[str], simulator_env: dict[str, str]) -> DagsterRun:
    """`dagster asset materialize -m genesys_assets --select '*' <partition_args>`, measured."""
    workdir = Path(tempfile.mkdtemp(prefix="genesys-bench-"))
    try:
        dagster_home = workdir / "dagster_home"
        new_instance(dagster_home, procs.clean_env(**simulator_env))
        env = procs.clean_env(
            **simulator_env,
            DAGSTER_HOME=str(dagster_home),
            GENESYS_ASSETS_HOME=str(workdir / "home"),
        )
        command = [procs.DAGSTER, "asset", "materialize", "-m", "genesys_assets", "--select", "*"]
        finished = procs.run(
            [*command, *partition_args],
            env=env,
            cwd=workdir,
        )
        finished.check("dagster asset materialize " + " ".join(partition_args))
        events = procs.run(
            [procs.PYTHON, "-m", "bench.dagster_events"],
            env=procs.clean_env(DAGSTER_HOME=str(dagster_home), PYTHONPATH=str(procs.PROJECT)),
            cwd=procs.PROJECT,
        ).check("reading the run's event log")
        runs = json.loads(events.stdout)
        if len(runs) != 1:
            raise RuntimeError(f"expected one run in {dagster_home}, found {len(runs)}")
        return DagsterRun(finished, runs[0])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def breakdown(runs: list[DagsterRun]) -> dict[str, float]:
    """Median seconds of each phase over runs: the run's phases, then each step's duration."""
    phases: dict[str, list[float]] = {}
    for run in runs:
        for name, seconds in run.phases().items():
            phases.setdefault(name, []).append(seconds)
        phases.setdefault("time before the first step starts", []).append(run.first_step_s())
        for step, seconds in run.step_seconds().items():
            phases.setdefault(f"step {step}", []).append(seconds)
    return {k: _median(v) for k, v in phases.items()}


def step_breakdown(runs: list[DagsterRun]) -> dict[str, dict[str, float]]:
    """Median of each step's phases (blocked, process, body, events) and times, over runs."""
    values: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for step, detail in run.step_detail().items():
            for key, value in detail.items():
                values.setdefault(step, {}).setdefault(key, []).append(float(value))
    return {step: {k: _median(v) for k, v in d.items()} for step, d in values.items()}


def describe_steps(steps: dict[str, dict[str, float]]) -> str:
    """`step: body 9.1 s, events 6.2 s (90 materializations), process 2.1 s; ...` for notes."""
    parts = []
    for step, d in sorted(steps.items(), key=lambda kv: kv[1].get("start_at", 0.0)):
        bits = [
            f"{label} {d[key]:.1f} s"
            for key, label in (
                ("blocked_s", "blocked on the pool"),
                ("process_s", "process start"),
                ("body_s", "body"),
                ("events_s", "output + events"),
            )
            if key in d
        ]
        counted = d.get("materializations") or d.get("evaluations")
        if counted:
            bits.append(f"{counted:.0f} events")
        parts.append(f"{step} (at {d.get('start_at', float('nan')):.1f} s): " + ", ".join(bits))
    return "; ".join(parts)
