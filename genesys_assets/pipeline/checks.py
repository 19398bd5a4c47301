"""The checks on each warehouse table: per partition, blocking.

They run after the table in the same run (a failure fails the run) and can be run on their own
from the UI or the CLI at any time, e.g. after someone touched the table. Both compare the
warehouse's rows for the partition's `partition_date` with the staged Parquet file that the
warehouse's load log says the day was loaded from, read by itself (see `genesys_assets.parity`).
"""

from collections.abc import Sequence
from datetime import date

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    DailyPartitionsDefinition,
    MetadataValue,
    asset_check,
)

from genesys_assets.datasets import Dataset
from genesys_assets.parity import Parity, row_count_parity, totals_parity
from genesys_assets.pipeline.assets import table_key
from genesys_assets.pipeline.resources import StageResource, WarehouseResource
from genesys_assets.stage.parquet_files import ParquetStore


def _days(context: AssetCheckExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def build_checks(
    dataset: Dataset, partitions: DailyPartitionsDefinition
) -> list[AssetChecksDefinition]:

    @asset_check(
        asset=table_key(dataset),
        name="row_count_parity",
        blocking=True,
        partitions_def=partitions,
        description=(
            "The day's rows in the warehouse equal the row count in the footer of the staged "
            "Parquet file it was loaded from."
        ),
    )
    def row_count(
        context: AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        stage: StageResource,
    ) -> AssetCheckResult:
        store = ParquetStore(stage.get_stage())
        return _result(
            row_count_parity(warehouse.get_warehouse(), store, dataset.name, _days(context))
        )

    @asset_check(
        asset=table_key(dataset),
        name="totals_parity",
        blocking=True,
        partitions_def=partitions,
        description=(
            "Per metric, the day's sums of stat_count and stat_sum agree between the staged "
            "Parquet file it was loaded from and the warehouse."
        ),
    )
    def totals(
        context: AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        stage: StageResource,
    ) -> AssetCheckResult:
        store = ParquetStore(stage.get_stage())
        return _result(
            totals_parity(warehouse.get_warehouse(), store, dataset.name, _days(context))
        )

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
