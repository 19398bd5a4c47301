"""The checks on each warehouse table: one evaluation per day, blocking.

They run after the table in the same run (a failure fails the run) and on their own from the
checks job (`build_checks_job`), for a day or a backfill of days, e.g. after someone touched
the table. Both compare the warehouse's rows for a day's `partition_date` with the staged
Parquet file that the warehouse's load log says the day was loaded from (see
`genesys_assets.parity`).

Dagster ties an `AssetCheckResult` to a partition only in a single-partition run, so a range
run would record one result for no day, and every day's planned evaluation would stay Skipped.
Each check therefore logs one `AssetCheckEvaluation` per day, carrying that day's partition and
figures, and then completes its step with a plain output; a failed day fails the step, as a
blocking check's result does.
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetChecksDefinition,
    AssetCheckSeverity,
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
    asset_check,
    job,
    op,
)

# Not exported by `dagster`, and the only way to say which materialization a day's evaluation
# checked: without it the UI counts the day's check as not current ("Missing") even though it
# passed. AssetCheckResult fills it the same way, but only in a single-partition run.
# test_day_records asserts the per-day status the UI shows, so an upgrade that moves it fails.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from genesys_assets.datasets import Dataset
from genesys_assets.parity import Parity, row_count_parity, totals_parity
from genesys_assets.pipeline.assets import table_key
from genesys_assets.pipeline.resources import StageResource, WarehouseResource
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.warehouse import Warehouse

# Materialization records per instance read when the checks look up what each day checked.
_RECORDS_PAGE = 1000

Comparison = Callable[[Warehouse, ParquetStore, str, Sequence[date]], list[Parity]]

CHECKS: dict[str, tuple[Comparison, str]] = {
    "row_count_parity": (
        row_count_parity,
        "The day's rows in the warehouse equal the row count in the footer of the staged "
        "Parquet file it was loaded from.",
    ),
    "totals_parity": (
        totals_parity,
        "Per metric, the day's sums of stat_count and stat_sum agree between the staged "
        "Parquet file it was loaded from and the warehouse.",
    ),
}


def build_checks(
    dataset: Dataset, partitions: DailyPartitionsDefinition
) -> list[AssetChecksDefinition]:
    return [
        _build_check(dataset, partitions, name, compare, description)
        for name, (compare, description) in CHECKS.items()
    ]


def _build_check(
    dataset: Dataset,
    partitions: DailyPartitionsDefinition,
    name: str,
    compare: Comparison,
    description: str,
) -> AssetChecksDefinition:
    @asset_check(
        asset=table_key(dataset),
        name=name,
        blocking=True,
        partitions_def=partitions,
        description=description,
    )
    def check(
        context: AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        stage: StageResource,
    ) -> Iterator[AssetCheckEvaluation | Output[None]]:
        yield from verify(context, dataset, name, compare, warehouse, stage)

    return check


def build_checks_job(
    datasets: Sequence[Dataset], partitions: DailyPartitionsDefinition, name: str
) -> JobDefinition:
    """Every dataset's checks for a day (or a backfill of days), nothing reloaded.

    A job of ops rather than an asset job: an asset job that selects only checks cannot take a
    partitions definition without a deprecated argument, and without one the Launchpad offers
    no day. The ops run the checks' own code and log the same per-day evaluations, which the UI
    shows on each check.
    """
    ops = [
        _check_op(dataset, check_name, compare, description)
        for dataset in datasets
        for check_name, (compare, description) in CHECKS.items()
    ]

    @job(
        name=name,
        partitions_def=partitions,
        description=(
            "Every dataset's checks for a day, nothing reloaded: is the warehouse still what "
            "was staged? Pick a day in the Launchpad, or backfill a range."
        ),
    )
    def checks_job() -> None:
        for check_op in ops:
            check_op()

    return checks_job


def _check_op(
    dataset: Dataset, check_name: str, compare: Comparison, description: str
) -> OpDefinition:
    @op(name=f"verify_{dataset.name}_{check_name}", description=description)
    def check_op(
        context: OpExecutionContext, warehouse: WarehouseResource, stage: StageResource
    ) -> Iterator[AssetCheckEvaluation | Output[None]]:
        yield from verify(context, dataset, check_name, compare, warehouse, stage)

    return check_op


def verify(
    context: AssetCheckExecutionContext | OpExecutionContext,
    dataset: Dataset,
    check_name: str,
    compare: Comparison,
    warehouse: WarehouseResource,
    stage: StageResource,
) -> Iterator[AssetCheckEvaluation | Output[None]]:
    """One evaluation per day of the run; a failed day fails the step after all are logged."""
    days = [date.fromisoformat(key) for key in context.partition_keys]
    store = ParquetStore(stage.get_stage())
    results = compare(warehouse.get_warehouse(), store, dataset.name, days)
    targets = checked_materializations(context.instance, table_key(dataset), days)
    for result in results:
        yield evaluation(table_key(dataset), check_name, result, targets.get(result.day))
    failed = [r for r in results if not r.passed]
    if failed:
        raise Failure(
            description=f"{dataset.name} {check_name} failed for {len(failed)} of "
            f"{len(results)} days: " + "; ".join(r.summary for r in failed[:5]),
            metadata={"days_failed": MetadataValue.json([r.day.isoformat() for r in failed])},
        )
    context.log.info(f"{check_name}: all {len(results)} days of {dataset.name} agree")
    yield Output(None)


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
) -> AssetCheckEvaluation:
    """The day's own evaluation: its partition, its verdict, its figures."""
    return AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=check_name,
        passed=result.passed,
        partition=result.day.isoformat(),
        target_materialization_data=target,
        severity=AssetCheckSeverity.ERROR,
        blocking=True,
        description=result.summary,
        metadata={k: _value(v) for k, v in result.details.items()},
    )


def _value(value: Any) -> Any:
    return MetadataValue.json(value) if isinstance(value, list | dict) else value
