"""The checks on each warehouse table: one evaluation per day and check.

The checks of a table are one step (a multi-asset check). They run after the table in the
same run (a failed day fails the run) and on their own from the checks job (`build_checks_job`),
for a day or a backfill of days, e.g. after someone touched the table.
- `row_count_parity` and `totals_parity` compare the warehouse's rows for a day's
  `partition_date` with the staged Parquet file that the warehouse's load log says the day was
  loaded from (see `genesys_assets.parity`): is the warehouse what was staged?
- `source_parity` compares the warehouse's totals with Genesys' own day totals (see
  `genesys_assets.source_parity`): is it what Genesys has? On a day still settling a
  difference is a warning (the settling sensor re-loads the day), later an error.
- `ids_resolve` (not blocking) lists the ids of a day's rows that are in no dimension table
  (see `genesys_assets.id_resolution`).

Dagster ties an `AssetCheckResult` to a partition only in a single-partition run, so a range
run would record one result for no day, and every day's planned evaluation would stay Skipped.
The checks therefore log one `AssetCheckEvaluation` per day and check, carrying that day's
partition, figures and the materialization it checked, and then complete each check with a
plain output.
"""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DailyPartitionsDefinition,
    Failure,
    JobDefinition,
    MetadataValue,
    OpDefinition,
    OpExecutionContext,
    Output,
    job,
    multi_asset_check,
    op,
)

# Not exported by `dagster`, and the only way to say which materialization a day's evaluation
# checked: without it the UI counts the day's check as not current ("Missing") even though it
# passed. AssetCheckResult fills it the same way, but only in a single-partition run.
# test_day_records asserts the per-day status the UI shows, so an upgrade that moves it fails.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from genesys_assets.daily import describe_days
from genesys_assets.datasets import Dataset, Org, Settling
from genesys_assets.id_resolution import resolutions, resolve_days
from genesys_assets.kpi_views import KpiView, ViewCheck, days_complete, ratios_in_range
from genesys_assets.parity import (
    LoadedFiles,
    Parity,
    loaded_staged_files,
    row_count_parity,
    totals_parity,
)
from genesys_assets.pipeline.failures import reported
from genesys_assets.pipeline.keys import dimension_key, step_name, table_key
from genesys_assets.pipeline.resources import GenesysResource, StageResource, WarehouseResource
from genesys_assets.settling import settling_since
from genesys_assets.source_parity import compare_with_source, not_comparable
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.warehouse import Warehouse

# Materialization records per instance read when the checks look up what each day checked.
_RECORDS_PAGE = 1000


@dataclass
class DayInputs:
    """What a check of a dataset's days reads; the load log's files are read once for all."""

    dataset: Dataset
    days: list[date]
    warehouse: Warehouse
    store: ParquetStore
    genesys: GenesysResource
    settling: Settling

    @cached_property
    def files(self) -> LoadedFiles:
        return loaded_staged_files(
            self.warehouse, self.store, self.dataset.name, self.dataset.org.id, self.days
        )


@dataclass(frozen=True)
class DayCheck:
    name: str
    description: str
    run: Callable[[DayInputs], list[Parity]]
    blocking: bool = True  # a failure fails the step and stops what follows
    applies: Callable[[Dataset], bool] = lambda dataset: True
    # The tables it reads besides the dataset's: in a run that loads them, it runs after them.
    reads: Callable[[Dataset], list[AssetKey]] = lambda dataset: []


def _source(inputs: DayInputs) -> list[Parity]:
    dataset, days = inputs.dataset, inputs.days
    today = datetime.now(ZoneInfo(dataset.query.time_zone)).date()
    with reported(f"{dataset.label}: {SOURCE_CHECK} for {describe_days(days)}"):
        return compare_with_source(
            inputs.genesys.get_client(dataset.org.id),
            inputs.warehouse,
            dataset,
            days,
            settling_since(today, inputs.settling),
        ).verdicts


SOURCE_CHECK = "source_parity"
CHECKS: tuple[DayCheck, ...] = (
    DayCheck(
        "row_count_parity",
        "The day's rows in the warehouse equal the row count in the footer of the staged "
        "Parquet file it was loaded from.",
        lambda i: row_count_parity(
            i.warehouse, i.store, i.dataset.name, i.dataset.org.id, i.days, i.files
        ),
    ),
    DayCheck(
        "totals_parity",
        "Per metric (and status, for time in a status), the day's sums of stat_count and "
        "stat_sum agree between the staged Parquet file it was loaded from and the warehouse.",
        lambda i: totals_parity(
            i.warehouse, i.store, i.dataset.name, i.dataset.org.id, i.days, i.files
        ),
    ),
    DayCheck(
        SOURCE_CHECK,
        "Per metric (and status, for time in a status), the day's sums of stat_count, stat_sum "
        "and oServiceLevel's numerator and denominator in the warehouse equal Genesys' own day "
        "totals (the dataset's metrics and filter, by day, no group-by). A difference on a day "
        "still settling is a warning.",
        _source,
        # Only where the dataset's groups add up to the day.
        applies=lambda dataset: not_comparable(dataset) is None,
    ),
    DayCheck(
        "ids_resolve",
        "Every id of the day's rows (queue, user, wrap-up code, division, skill, language, as "
        "the dataset groups by them; a status dataset's organization presences) is in its "
        "org's dimension table; those that are not are listed. Not blocking: the rows are "
        "right, only their names are missing.",
        lambda i: resolve_days(i.warehouse, i.dataset, i.days),
        blocking=False,
        applies=lambda dataset: bool(resolutions(dataset)),
        reads=lambda dataset: [dimension_key(r.table, dataset.org) for r in resolutions(dataset)],
    ),
)
_BY_NAME = {check.name: check for check in CHECKS}


def checks_of(dataset: Dataset) -> list[DayCheck]:
    return [check for check in CHECKS if check.applies(dataset)]


def check_names(dataset: Dataset) -> list[str]:
    return [check.name for check in checks_of(dataset)]


def check_keys(dataset: Dataset) -> list[AssetCheckKey]:
    return [AssetCheckKey(table_key(dataset), name) for name in check_names(dataset)]


def build_checks(
    dataset: Dataset, partitions: DailyPartitionsDefinition, settling: Settling
) -> AssetChecksDefinition:
    """The checks of a dataset's table as one step: they read the same load log, the same
    staged files and the same warehouse, and a range pays for one process, not three.

    Not part of the table's own step, which holds the warehouse pool: the checks only read,
    and the other dataset's load must not wait for them.
    """

    @multi_asset_check(
        name=step_name(dataset.org, f"{dataset.name}_checks"),
        specs=[
            AssetCheckSpec(
                check.name,
                asset=table_key(dataset),
                blocking=check.blocking,
                partitions_def=partitions,
                description=check.description,
                additional_deps=check.reads(dataset),
            )
            for check in checks_of(dataset)
        ],
        can_subset=True,
    )
    def checks(
        context: AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        stage: StageResource,
        genesys: GenesysResource,
    ) -> Iterator[AssetCheckEvaluation | Output[None]]:
        selected = [k for k in check_keys(dataset) if k in context.selected_asset_check_keys]
        names = [k.name for k in selected]
        target = warehouse.get_warehouse()
        yield from verify(context, dataset, names, target, stage, genesys, settling)
        # What completes each check in Dagster's plan; the evaluations above carry the verdicts.
        assets_def = context.op_execution_context.assets_def
        for key in selected:
            yield Output(None, output_name=assets_def.get_output_name_for_asset_check_key(key))

    return checks


def build_checks_job(
    datasets: Sequence[Dataset],
    partitions: DailyPartitionsDefinition,
    settling: Settling,
    name: str,
    org: Org,
) -> JobDefinition:
    """Every dataset's checks of an org for a day (or a backfill of days), nothing reloaded.

    A job of ops rather than an asset job: an asset job that selects only checks cannot take a
    partitions definition without a deprecated argument, and without one the Launchpad offers
    no day. The ops run the checks' own code and log the same per-day evaluations, which the UI
    shows on each check.
    """
    ops = [_check_op(dataset, settling) for dataset in datasets]

    @job(
        name=name,
        partitions_def=partitions,
        tags={"genesys/org": org.id},
        description=(
            "Every dataset's checks for a day, nothing reloaded: is the warehouse still what "
            "was staged, and what Genesys has? Pick a day in the Launchpad, or backfill a range."
        ),
    )
    def checks_job() -> None:
        for check_op in ops:
            check_op()

    return checks_job


def _check_op(dataset: Dataset, settling: Settling) -> OpDefinition:
    @op(
        name=step_name(dataset.org, f"verify_{dataset.name}"),
        description=" ".join(check.description for check in checks_of(dataset)),
    )
    def check_op(
        context: OpExecutionContext,
        warehouse: WarehouseResource,
        stage: StageResource,
        genesys: GenesysResource,
    ) -> Iterator[AssetCheckEvaluation | Output[None]]:
        target = warehouse.get_warehouse()
        names = check_names(dataset)
        yield from verify(context, dataset, names, target, stage, genesys, settling)
        yield Output(None)

    return check_op


def verify(
    context: AssetCheckExecutionContext | OpExecutionContext,
    dataset: Dataset,
    check_names: Sequence[str],
    warehouse: Warehouse,
    stage: StageResource,
    genesys: GenesysResource,
    settling: Settling,
) -> Iterator[AssetCheckEvaluation]:
    """One evaluation per day and check; a failed day fails the step after all are logged (a
    warning, on a day still settling, does not)."""
    days = [date.fromisoformat(key) for key in context.partition_keys]
    # Each warehouse query opens its own short connection: DuckDB lets one process in at a time,
    # and a connection held while the staged files are read would hold up the other dataset's
    # load for seconds.
    inputs = DayInputs(dataset, days, warehouse, ParquetStore(stage.get_stage()), genesys, settling)
    checks = [_BY_NAME[name] for name in check_names]
    results = {check.name: check.run(inputs) for check in checks}
    targets = checked_materializations(context.instance, table_key(dataset), days)
    for check in checks:
        for result in results[check.name]:
            yield evaluation(
                table_key(dataset), check.name, result, targets.get(result.day), check.blocking
            )
    warned = [
        r
        for check in checks
        for r in results[check.name]
        if not r.passed and (r.warn_only or not check.blocking)
    ]
    for result in warned:
        context.log.warning(f"{dataset.label}: {result.summary}")
    failed = {
        check.name: [r for r in results[check.name] if not r.passed and not r.warn_only]
        for check in checks
        if check.blocking
    }
    if any(failed.values()):
        raise Failure(
            description=f"{dataset.label}: "
            + "; ".join(
                f"{name} failed for {len(bad)} of {len(days)} days: "
                + "; ".join(r.summary for r in bad[:5])
                for name, bad in failed.items()
                if bad
            ),
            metadata={
                "days_failed": MetadataValue.json(
                    {name: [r.day.isoformat() for r in bad] for name, bad in failed.items() if bad}
                )
            },
        )
    agree = "agree" if not warned else f"agree but for {len(warned)} day(s) still settling"
    context.log.info(f"{', '.join(check_names)}: all {len(days)} days of {dataset.label} {agree}")


def checked_materializations(
    instance: DagsterInstance, asset_key: AssetKey, days: Sequence[date]
) -> dict[date, AssetCheckEvaluationTargetMaterializationData]:
    """Each day's latest materialization: what its evaluation checked.

    One query for all the days, newest first, paged until every day has its latest (a day
    re-materialized many times may take more than a page), rather than one query per day,
    which cost a 90-day check step seconds of instance reads.
    """
    wanted = {day.isoformat(): day for day in days}
    found: dict[date, AssetCheckEvaluationTargetMaterializationData] = {}
    cursor: str | None = None
    while len(found) < len(wanted):
        page = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, asset_partitions=list(wanted)),
            limit=_RECORDS_PAGE,
            cursor=cursor,
        )
        for record in page.records:
            day = wanted.get(record.partition_key or "")
            if day is not None and day not in found:
                found[day] = AssetCheckEvaluationTargetMaterializationData(
                    storage_id=record.storage_id,
                    run_id=record.run_id,
                    timestamp=record.timestamp,
                )
        if not page.has_more:
            break
        cursor = page.cursor
    return found


def evaluation(
    asset_key: AssetKey,
    check_name: str,
    result: Parity,
    target: AssetCheckEvaluationTargetMaterializationData | None = None,
    blocking: bool = True,
) -> AssetCheckEvaluation:
    """The day's own evaluation: its partition, its verdict, its figures."""
    return AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=check_name,
        passed=result.passed,
        partition=result.day.isoformat(),
        target_materialization_data=target,
        severity=AssetCheckSeverity.WARN if result.warn_only else AssetCheckSeverity.ERROR,
        blocking=blocking,
        description=result.summary,
        metadata={k: _value(k, v) for k, v in result.details.items()},
    )


# Details that are Markdown text (the source check's table of both sides per metric).
_MARKDOWN = frozenset({"both_sides"})


def _value(key: str, value: Any) -> Any:
    if key in _MARKDOWN:
        return MetadataValue.md(value)
    return MetadataValue.json(value) if isinstance(value, list | dict) else value


VIEW_CHECKS: dict[str, tuple[Callable[[Warehouse, KpiView], ViewCheck], str]] = {
    "ratios_in_range": (
        ratios_in_range,
        "Every ratio of the view that is a share (abandon rate, service level, and the day "
        "views' transfer rate, occupancy) lies within [0, 1]; the first offending rows are listed.",
    ),
    "days_complete": (
        days_complete,
        "The view has every day its dataset tables have: no join loses a day.",
    ),
}


def build_view_checks(view: KpiView) -> AssetChecksDefinition:
    """Both checks of a KPI view as one step, after the view is replaced."""

    @multi_asset_check(
        name=f"{view.name}_checks",
        specs=[
            AssetCheckSpec(name, asset=AssetKey(view.name), description=description)
            for name, (_, description) in VIEW_CHECKS.items()
        ],
        can_subset=True,
    )
    def view_checks(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[AssetCheckResult]:
        target = warehouse.get_warehouse()
        for key in context.selected_asset_check_keys:
            found = VIEW_CHECKS[key.name][0](target, view)
            yield AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=found.passed,
                description=found.summary,
                metadata={k: _value(k, v) for k, v in found.details.items()},
            )

    return view_checks
