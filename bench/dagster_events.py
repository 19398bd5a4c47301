"""`python -m bench.dagster_events`: what a finished Dagster run recorded, as one JSON line.

Run in a child process with the run's DAGSTER_HOME, after `dagster asset materialize` exited,
so that the benchmark process never imports Dagster (it serves the simulator and should stay
light). The run's own event log is the most honest account of where its time went and of what
it did:

- marks: the first event (the run's planned materializations and check evaluations, written
  before it starts), RUN_START, the first step process launched and the first step started,
  the last step ended, RUN_SUCCESS / RUN_FAILURE;
- per step (each a process of its own under the multiprocess executor): when it was blocked by
  a concurrency pool, when its process was launched (STEP_WORKER_STARTING), when it started
  (STEP_START), its first output (STEP_OUTPUT: the body's work done) and its end, and how many
  materializations / check evaluations it logged, with the first and last of their times;
- every materialization, one per asset and day: its partition and its metadata, figures as
  numbers and the JSON entries (`fetch` on `<dataset>_raw_pages`: the fetch the day came in,
  shared by every day of that fetch) as JSON; paths and Markdown are left out;
- every check evaluation, one per check and day: its partition and whether it passed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from dagster import DagsterEventType, DagsterInstance

POOL_BLOCKED = "blocked by limit for pool"
SKIPPED = ("PathMetadataValue", "MarkdownMetadataValue", "TableMetadataValue", "UrlMetadataValue")


def _plain(value: Any) -> Any:
    """A number, string or JSON entry as such; paths, Markdown, tables: None (not figures)."""
    kind = type(value).__name__
    if kind == "JsonMetadataValue":
        return value.data
    if kind in SKIPPED:
        return None
    raw = getattr(value, "value", value)
    if isinstance(raw, bool | int | float | str) or raw is None:
        return raw
    return None


def describe_runs() -> list[dict[str, Any]]:
    instance = DagsterInstance.get()
    return [describe_run(instance, run) for run in reversed(instance.get_runs())]  # oldest first


def describe_run(instance: DagsterInstance, run: Any) -> dict[str, Any]:
    steps: dict[str, dict[str, Any]] = {}
    materializations: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    marks: dict[str, float] = {}
    planned = 0

    def step_of(key: str | None) -> dict[str, Any]:
        return steps.setdefault(key or "?", {})

    def first(mark: str, at: float) -> None:
        marks[mark] = min(marks.get(mark, at), at)

    def count(step: dict[str, Any], what: str, at: float) -> None:
        step[what] = step.get(what, 0) + 1
        step.setdefault(f"first_{what}", at)
        step[f"last_{what}"] = at

    for entry in instance.all_logs(run.run_id):
        at = entry.timestamp
        first("FIRST_EVENT", at)
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == DagsterEventType.RUN_START:
            marks["RUN_START"] = at
        elif kind == DagsterEventType.RUN_SUCCESS:
            marks["RUN_SUCCESS"] = at
        elif kind == DagsterEventType.RUN_FAILURE:
            marks["RUN_FAILURE"] = at
        elif kind in (
            DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
            DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
        ):
            planned += 1
            marks["LAST_PLANNED"] = max(marks.get("LAST_PLANNED", at), at)
        elif kind == DagsterEventType.STEP_WORKER_STARTING and event.step_key:
            step_of(event.step_key).setdefault("worker_starting", at)
            first("FIRST_WORKER_STARTING", at)
        elif kind == DagsterEventType.STEP_WORKER_STARTED and event.step_key:
            step_of(event.step_key).setdefault("worker_started", at)
        elif kind == DagsterEventType.STEP_START and event.step_key:
            step_of(event.step_key)["start"] = at
            first("FIRST_STEP_START", at)
        elif kind == DagsterEventType.STEP_OUTPUT and event.step_key:
            step_of(event.step_key).setdefault("output", at)
        elif kind == DagsterEventType.ENGINE_EVENT and event.step_key:
            if POOL_BLOCKED in (entry.user_message or event.message or ""):
                step_of(event.step_key).setdefault("blocked", at)
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            step = step_of(event.step_key)
            step["end"] = at
            step["status"] = "success" if kind == DagsterEventType.STEP_SUCCESS else "failure"
            marks["LAST_STEP_END"] = max(marks.get("LAST_STEP_END", at), at)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            metadata = {k: _plain(v) for k, v in materialization.metadata.items()}
            materializations.append(
                {
                    "asset": materialization.asset_key.to_user_string(),
                    "partition": materialization.partition,
                    "step": event.step_key,
                    "metadata": {k: v for k, v in metadata.items() if v is not None},
                }
            )
            count(step_of(event.step_key), "materializations", at)
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            checks.append(
                {
                    "asset": evaluation.asset_key.to_user_string(),
                    "check": evaluation.check_name,
                    "partition": evaluation.partition,
                    "passed": bool(evaluation.passed),
                }
            )
            count(step_of(event.step_key), "evaluations", at)
    for step in steps.values():
        if "start" in step and "end" in step:
            step["seconds"] = step["end"] - step["start"]
    return {
        "run_id": run.run_id,
        "status": run.status.value,
        "tags": dict(run.tags),
        "marks": marks,
        "planned_events": planned,
        "steps": steps,
        "materializations": materializations,
        "checks": checks,
    }


if __name__ == "__main__":
    json.dump(describe_runs(), sys.stdout)
    sys.stdout.write("\n")
