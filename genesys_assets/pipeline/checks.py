"""The checks on each warehouse table: per partition, blocking.

They run after the table in the same run (a failure fails the run) and can be run on their own
from the UI or the CLI at any time, e.g. after someone touched the table. Both compare the
warehouse's rows for the partition's `partition_date` with the staged Parquet file, read by
itself (see `genesys_assets.parity`).
"""

from collections.abc import Sequence
from datetime import date

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetIn,
    DailyPartitionsDefinition,
    MetadataValue,
    asset_check,
)

from genesys_assets.datasets import Dataset
from genesys_assets.parity import Parity, row_count_parity, totals_parity
from genesys_assets.pipeline.assets import parquet_key, table_key
from genesys_assets.pipeline.resources import StageResource, WarehouseResource
from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet


def build_checks(
    dataset: Dataset, partitions: DailyPartitionsDefinition
) -> list[AssetChecksDefinition]:
    staged_in = {"staged": AssetIn(key=parquet_key(dataset))}

    @asset_check(
        asset=table_key(dataset),
        name="row_count_parity",
        blocking=True,
        partitions_def=partitions,
        additional_ins=staged_in,
        description=(
            "The day's rows in the warehouse equal the row count in the staged Parquet file's "
            "own footer."
        ),
    )
    def row_count(
        context: AssetCheckExecutionContext,
        staged: dict[date, StagedParquet],
        warehouse: WarehouseResource,
    ) -> AssetCheckResult:
        return _result(row_count_parity(warehouse.get_warehouse(), dataset.name, staged))

    @asset_check(
        asset=table_key(dataset),
        name="totals_parity",
        blocking=True,
        partitions_def=partitions,
        additional_ins=staged_in,
        description=(
            "Per metric, the day's sums of stat_count and stat_sum agree between the staged "
            "Parquet file and the warehouse."
        ),
    )
    def totals(
        context: AssetCheckExecutionContext,
        staged: dict[date, StagedParquet],
        warehouse: WarehouseResource,
        stage: StageResource,
    ) -> AssetCheckResult:
        store = ParquetStore(stage.get_stage())
        return _result(totals_parity(warehouse.get_warehouse(), store, dataset.name, staged))

    return [row_count, totals]


def _result(results: Sequence[Parity]) -> AssetCheckResult:
    """One result for the run's days: passed only if every day passed.

    A single-day run (the usual case) shows that day's figures as they are; a range run shows
    the failing days first.
    """
    failed = [r for r in results if not r.passed]
    if len(results) == 1:
        only = results[0]
        return AssetCheckResult(
            passed=only.passed,
            description=only.summary,
            metadata={k: _value(v) for k, v in only.details.items()},
        )
    lines = [r.summary for r in failed] or [f"all {len(results)} days agree"]
    return AssetCheckResult(
        passed=not failed,
        description=f"{len(failed)} of {len(results)} days differ" if failed else lines[0],
        metadata={
            "days_checked": len(results),
            "days_failed": MetadataValue.json([r.day.isoformat() for r in failed]),
            "details": MetadataValue.md("\n".join(f"- {line}" for line in lines[:100])),
        },
    )


def _value(value: object) -> object:
    return MetadataValue.json(value) if isinstance(value, list | dict) else value
