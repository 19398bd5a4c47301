"""`make demo`: the main job for one day on the embedded defaults, then what it produced.

    python -m genesys_assets.demo [YYYY-MM-DD]

Runs through the Dagster instance in DAGSTER_HOME when it is set (so `make ui` shows the run
afterwards), else an ephemeral one.
"""

import os
import sys
from datetime import date
from typing import TYPE_CHECKING

from dagster import DagsterEventType, DagsterInstance

from genesys_assets.long_table import DEFAULT_ORG

if TYPE_CHECKING:
    from genesys_assets.warehouse import Warehouse

DEFAULT_DAY = "2024-11-01"


def main(argv: list[str]) -> int:
    from genesys_assets import datasets
    from genesys_assets.definitions import MAIN_JOB, defs
    from genesys_assets.pipeline.keys import step_name

    day = argv[0] if argv else DEFAULT_DAY
    try:
        date.fromisoformat(day)
    except ValueError:
        print(f"usage: python -m genesys_assets.demo [YYYY-MM-DD], got '{day}'", file=sys.stderr)
        return 2
    instance = (
        DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    )
    config = datasets.load()
    resources = defs.resources or {}
    stage = resources["stage"].get_stage()
    warehouse = resources["warehouse"].get_warehouse()
    failed = 0
    # One run per org (a one-org file: one run of genesys_job), each with its report.
    for org in config.orgs:
        name = step_name(org, MAIN_JOB)
        print(f"Running {name} for {day} ...", flush=True)
        result = defs.resolve_job_def(name).execute_in_process(
            partition_key=day,
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        print()
        print(f"Run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
        print(f"Stage:     {stage.description}")
        print(f"Warehouse: {warehouse.description}")
        print()
        print(f"Rows per table for this day{'' if not org.prefixed else f' of org {org.id}'}:")
        for dataset in config.datasets_of(org):
            try:
                rows: object = warehouse.partition_row_count(
                    dataset.name, org.id, date.fromisoformat(day)
                )
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
                    f"  {evaluation.asset_key.to_user_string()}.{evaluation.check_name}: "
                    f"{status} - {evaluation.description or ''}"
                )
        if result.success:
            print_kpis(warehouse, date.fromisoformat(day), org.id)
            continue
        failed += 1
        for event in result.all_events:
            if event.event_type == DagsterEventType.STEP_FAILURE:
                error = event.step_failure_data.error
                print(f"\nStep {event.step_key} failed: {error.message if error else '(no error)'}")
    if failed:
        return 1
    print("\nOpen the Dagster UI with `make ui` to browse the assets, runs and checks.")
    return 0


def print_kpis(warehouse: "Warehouse", day: date, org: str) -> None:
    """The org's day per queue, from the kpi_queue_day view (formulas in
    genesys_assets/kpis/)."""
    if not warehouse.has_table("kpi_queue_day"):
        return
    rows = warehouse.select(
        "kpi_queue_day",
        "SELECT queue_name, offered, answered, abandon_rate, service_level, asa_s, aht_s "
        f"FROM {warehouse.qualified('kpi_queue_day')} WHERE partition_date = ? AND org = ? "
        "ORDER BY offered DESC, queue_name",
        [day, org],
    )
    whose = "" if org == DEFAULT_ORG else f", org {org}"
    print(f"\nKPIs for {day}{whose} (kpi_queue_day):")
    header = ("queue", "offered", "answered", "abandon", "service lvl", "ASA s", "AHT s")
    print("  {:<28} {:>8} {:>8} {:>8} {:>11} {:>7} {:>7}".format(*header))
    for name, offered, answered, abandon, level, asa, aht in rows:
        print(
            f"  {(name or '(no name)')[:28]:<28} {offered:>8.0f} {answered:>8.0f} "
            f"{_pct(abandon):>8} {_pct(level):>11} {_num(asa):>7} {_num(aht):>7}"
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
