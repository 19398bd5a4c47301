"""`python -m bench.dagster_events`: what a finished Dagster run recorded, as one JSON line.

Run in a child process with the run's DAGSTER_HOME, after `dagster asset materialize` exited,
so that the benchmark process never imports Dagster (it serves the simulator and should stay
light). The run's own event log is the most honest account of where its time went: when each
step started and ended, and the metadata its materializations reported (`api_seconds`,
`api_requests`, `throttled_429`, ... on `<dataset>_raw_pages`), and whether every check passed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from dagster import DagsterEventType, DagsterInstance


def _plain(value: Any) -> Any:
    raw = getattr(value, "value", value)
    if isinstance(raw, bool | int | float | str) or raw is None:
        return raw
    return None  # JSON blobs, Markdown, paths: not figures


def describe_runs() -> list[dict[str, Any]]:
    instance = DagsterInstance.get()
    runs = []
    for run in reversed(instance.get_runs()):  # oldest first
        steps: dict[str, dict[str, Any]] = {}
        materializations: list[dict[str, Any]] = []
        checks: list[dict[str, Any]] = []
        marks: dict[str, float] = {}
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type
            if kind == DagsterEventType.RUN_START:
                marks["RUN_START"] = entry.timestamp
            elif kind == DagsterEventType.RUN_SUCCESS:
                marks["RUN_SUCCESS"] = entry.timestamp
            elif kind == DagsterEventType.RUN_FAILURE:
                marks["RUN_FAILURE"] = entry.timestamp
            elif kind == DagsterEventType.STEP_START and event.step_key:
                steps.setdefault(event.step_key, {})["start"] = entry.timestamp
            elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                step = steps.setdefault(event.step_key or "?", {})
                step["end"] = entry.timestamp
                step["status"] = "success" if kind == DagsterEventType.STEP_SUCCESS else "failure"
            elif kind == DagsterEventType.ASSET_MATERIALIZATION:
                materialization = event.event_specific_data.materialization
                metadata = {k: _plain(v) for k, v in materialization.metadata.items()}
                materializations.append(
                    {
                        "asset": materialization.asset_key.to_user_string(),
                        "partition": materialization.partition,
                        "step": event.step_key,
                        "metadata": {k: v for k, v in metadata.items() if v is not None},
                    }
                )
            elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                checks.append(
                    {
                        "asset": evaluation.asset_key.to_user_string(),
                        "check": evaluation.check_name,
                        "passed": bool(evaluation.passed),
                    }
                )
        for step in steps.values():
            if "start" in step and "end" in step:
                step["seconds"] = step["end"] - step["start"]
        runs.append(
            {
                "run_id": run.run_id,
                "status": run.status.value,
                "tags": dict(run.tags),
                "marks": marks,
                "steps": steps,
                "materializations": materializations,
                "checks": checks,
            }
        )
    return runs


if __name__ == "__main__":
    json.dump(describe_runs(), sys.stdout)
    sys.stdout.write("\n")
