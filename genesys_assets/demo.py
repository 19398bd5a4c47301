"""`make demo`: the main job for one day on the embedded defaults, then what it produced.

    python -m genesys_assets.demo [YYYY-MM-DD]

Runs through the Dagster instance in DAGSTER_HOME when it is set (so `make ui` shows the run
afterwards), else an ephemeral one.
"""

import os
import sys
from datetime import date

from dagster import DagsterEventType, DagsterInstance

DEFAULT_DAY = "2024-11-01"


def main(argv: list[str]) -> int:
    from genesys_assets import datasets
    from genesys_assets.definitions import MAIN_JOB, defs

    day = argv[0] if argv else DEFAULT_DAY
    try:
        date.fromisoformat(day)
    except ValueError:
        print(f"usage: python -m genesys_assets.demo [YYYY-MM-DD], got '{day}'", file=sys.stderr)
        return 2
    instance = (
        DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    )
    job = defs.resolve_job_def(MAIN_JOB)
    print(f"Running {MAIN_JOB} for {day} ...", flush=True)
    result = job.execute_in_process(
        partition_key=day,
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )

    resources = defs.resources or {}
    stage = resources["stage"].get_stage()
    warehouse = resources["warehouse"].get_warehouse()
    print()
    print(f"Run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    print(f"Stage:     {stage.description}")
    print(f"Warehouse: {warehouse.description}")
    print()
    print("Rows per table for this day:")
    for dataset in datasets.load().datasets:
        try:
            rows = warehouse.partition_row_count(dataset.name, date.fromisoformat(day))
        except Exception as exc:  # the report goes on with what it can show
            rows = f"unavailable ({exc})"
        print(f"  {warehouse.qualified(dataset.name)}: {rows}")
    print()
    print("Checks:")
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            status = "passed" if evaluation.passed else "FAILED"
            print(
                f"  {evaluation.asset_key.to_user_string()}.{evaluation.check_name}: {status}"
                f" - {evaluation.description or ''}"
            )
    if not result.success:
        for event in result.all_events:
            if event.event_type == DagsterEventType.STEP_FAILURE:
                error = event.step_failure_data.error
                print(f"\nStep {event.step_key} failed: {error.message if error else '(no error)'}")
        return 1
    print("\nOpen the Dagster UI with `make ui` to browse the assets, runs and checks.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
