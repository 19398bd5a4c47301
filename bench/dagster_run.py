"""The pipeline as a user runs it: `dagster asset materialize` in a child process.

Each run gets a fresh DAGSTER_HOME (so its event log is its own) and a fresh GENESYS_ASSETS_HOME
(stage folder and DuckDB file: nothing left from a previous repetition makes it cheaper), and
the simulator's three variables. The child's wall time includes what every user pays: the
interpreter, Dagster, loading the definitions, creating the run. Its peak RSS is its own
(`getrusage(RUSAGE_CHILDREN)` in a wrapper process, see `bench.procs`). Once it exited, its
event log is read by `bench.dagster_events` in another child.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs

DAGSTER_YAML = "telemetry:\n  enabled: false\n"


@dataclass
class DagsterRun:
    finished: procs.Finished
    run: dict[str, Any]  # what bench.dagster_events says about it
    counts: dict[str, Any] = field(default_factory=dict)  # the simulator's, filled by callers

    @property
    def wall_s(self) -> float:
        return self.finished.wall_s

    @property
    def peak_rss_mb(self) -> float:
        return self.finished.peak_rss_mb

    @property
    def succeeded(self) -> bool:
        return self.finished.returncode == 0 and self.run.get("status") == "SUCCESS"

    @property
    def checks_passed(self) -> bool:
        checks = self.run.get("checks", [])
        return bool(checks) and all(c["passed"] for c in checks)

    def metadata_sum(self, key: str, asset_suffix: str = "") -> float:
        """Sum over assets of one numeric metadata entry.

        A run over a range records one materialization per asset and partition, each carrying
        the whole output's metadata: counted once per asset, not once per day.
        """
        per_asset: dict[str, float] = {}
        for m in self.run.get("materializations", []):
            if m["asset"].endswith(asset_suffix):
                per_asset.setdefault(m["asset"], float(m["metadata"].get(key, 0) or 0))
        return sum(per_asset.values())

    def startup_s(self) -> float:
        """From starting the child to the run's RUN_START event: imports, definitions, run."""
        start = self.run.get("marks", {}).get("RUN_START")
        return start - self.finished.started_at if start else float("nan")

    def step_seconds(self) -> dict[str, float]:
        return {
            key: round(step["seconds"], 3)
            for key, step in self.run.get("steps", {}).items()
            if "seconds" in step
        }

    def summary(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "returncode": self.finished.returncode,
            "status": self.run.get("status"),
            "checks_passed": self.checks_passed,
            "startup_s": round(self.startup_s(), 3),
            "api_seconds": round(self.metadata_sum("api_seconds", "_raw_pages"), 3),
            "api_requests_reported": self.metadata_sum("api_requests", "_raw_pages"),
            "steps": self.step_seconds(),
            "counts": self.counts,
        }


def materialize(partition_args: list[str], simulator_env: dict[str, str]) -> DagsterRun:
    """`dagster asset materialize -m genesys_assets --select '*' <partition_args>`, measured."""
    workdir = Path(tempfile.mkdtemp(prefix="genesys-bench-"))
    try:
        dagster_home = workdir / "dagster_home"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
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


def breakdown(runs: list[DagsterRun]) -> dict[str, float]:
    """Median seconds of each phase over runs: startup, each step, shutdown after the run."""
    phases: dict[str, list[float]] = {}
    for run in runs:
        marks = run.run.get("marks", {})
        phases.setdefault("startup (interpreter, Dagster, definitions, run creation)", []).append(
            run.startup_s()
        )
        for step, seconds in run.step_seconds().items():
            phases.setdefault(f"step {step}", []).append(seconds)
        end = marks.get("RUN_SUCCESS") or marks.get("RUN_FAILURE")
        if end:
            shutdown = run.finished.started_at + run.wall_s - end
            phases.setdefault("after the run (process exit)", []).append(shutdown)
    return {k: round(statistics.median(v), 3) for k, v in phases.items()}
