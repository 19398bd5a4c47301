"""The assets: three per dataset (raw pages -> Parquet -> warehouse table) and the queue names.

Every dataset asset is daily-partitioned in the org's time zone and has a single-run backfill
policy: a backfill of 90 days is one run that fetches multi-day chunks, instead of 90 runs that
each pay for a process, a login and a query. The functions here stay thin: they hand work to the
core (client, flattener, loaders) and report what happened. The core's Arrow-heavy modules are
imported inside the functions: loading the definitions must not pay for pyarrow.
"""

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from genesys_assets.datasets import QUEUES_ASSET, Dataset
from genesys_assets.pipeline.io_managers import (
    PARQUET_SUFFIX,
    RAW_SUFFIX,
    DayTable,
    DayTables,
    FetchedDays,
    RawDays,
)
from genesys_assets.pipeline.metadata import preview
from genesys_assets.pipeline.resources import GenesysResource, StageResource, WarehouseResource
from genesys_assets.stage import layout
from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet

RAW_PAGES_IO_MANAGER = "raw_pages_io_manager"
PARQUET_IO_MANAGER = "parquet_io_manager"


def raw_pages_key(dataset: Dataset) -> AssetKey:
    return AssetKey(f"{dataset.name}{RAW_SUFFIX}")


def parquet_key(dataset: Dataset) -> AssetKey:
    return AssetKey(f"{dataset.name}{PARQUET_SUFFIX}")


def table_key(dataset: Dataset) -> AssetKey:
    return AssetKey(dataset.name)


def run_days(context: AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def describe_days(days: list[date]) -> str:
    """`2024-11-01`, or `90 days 2024-06-03..2024-08-31`, for log lines."""
    return str(days[0]) if len(days) == 1 else f"{len(days)} days {days[0]}..{days[-1]}"


def build_dataset_assets(
    dataset: Dataset, partitions: DailyPartitionsDefinition
) -> list[AssetsDefinition]:
    """The three assets of one dataset."""
    common = {
        "partitions_def": partitions,
        "backfill_policy": BackfillPolicy.single_run(),
        "group_name": dataset.name,
    }
    query_text = MetadataValue.json(dataset.query.definition())

    @asset(
        name=raw_pages_key(dataset).path[-1],
        io_manager_key=RAW_PAGES_IO_MANAGER,
        kinds={"genesys"},
        description=(
            f"{dataset.description}\n\nThe day's Genesys Cloud aggregates pages, byte for byte, "
            "zstd-compressed in the stage with a manifest (query, pages, sha256)."
        ),
        metadata={"dataset": dataset.name, "query": query_text},
        **common,
    )
    def raw_pages(context: AssetExecutionContext, genesys: GenesysResource) -> FetchedDays:
        days = run_days(context)
        client = genesys.get_client()
        context.log.info(
            f"fetching {dataset.name} for {describe_days(days)} from {genesys.describe()}"
        )
        return FetchedDays(
            dataset.name, tuple(days), client.fetch_days(dataset.query, days, mode=dataset.mode)
        )

    @asset(
        name=parquet_key(dataset).path[-1],
        ins={"raw_pages": AssetIn(key=raw_pages_key(dataset))},
        io_manager_key=PARQUET_IO_MANAGER,
        kinds={"parquet"},
        description=(
            f"{dataset.name} as the long table (one row per bucket, group and metric), one "
            "snappy Parquet file per day under year=/month=/day=."
        ),
        metadata={"dataset": dataset.name},
        **common,
    )
    def parquet(context: AssetExecutionContext, raw_pages: RawDays) -> DayTables:
        seconds: list[float] = []  # filled as the IO manager consumes the tables
        tables = _flatten_days(dataset, raw_pages, datetime.now(UTC), seconds)
        return DayTables(dataset.name, tables, seconds)

    @asset(
        name=table_key(dataset).path[-1],
        ins={"staged": AssetIn(key=parquet_key(dataset))},
        kinds={"sql"},
        description=(
            f"The warehouse table {dataset.name}: the run's days replaced in one transaction, "
            "each by its day's staged Parquet file."
        ),
        metadata={"dataset": dataset.name},
        **common,
    )
    def table(
        context: AssetExecutionContext,
        staged: dict[date, StagedParquet],
        warehouse: WarehouseResource,
        stage: StageResource,
    ) -> MaterializeResult:
        from genesys_assets import long_table
        from genesys_assets.stage import retention

        target = warehouse.get_warehouse()
        # Dimensions the API grouped by unasked are columns of the files: the table gets them.
        found = {c for file in staged.values() for c in file.columns}
        schema = long_table.schema(
            dataset.group_by, long_table.extra_columns(dataset.group_by, sorted(found))
        )
        # Every day of the run in one transaction: Dagster marks a range run's partitions
        # materialized only if the whole step succeeds, and the table then agrees with it.
        result = target.replace_partitions(
            dataset.name, schema, staged, time_zone=dataset.query.time_zone
        )
        days = sorted(staged)
        # Only now may superseded files go: the load log names what the table holds.
        collected = retention.collect(
            stage.get_stage(),
            dataset.name,
            target.loaded_files(dataset.name),
            grace=stage.grace(),
        )
        context.log.info(
            f"{result.table}: {describe_days(days)}, {result.rows_deleted} "
            f"rows replaced by {result.rows_loaded} in one transaction "
            f"({result.elapsed_s:.1f} s)"
        )
        metadata = {
            "dagster/row_count": result.rows_loaded,
            "rows_by_day": MetadataValue.json(
                {day.isoformat(): rows for day, rows in result.rows_by_day.items()}
            ),
            "rows_replaced": result.rows_deleted,
            "table": result.table,
            "warehouse": target.description,
            "elapsed_seconds": round(result.elapsed_s, 3),
            "stage_objects_removed": len(collected.deleted),
        }
        added = result.columns_added
        if added:
            metadata["columns_added"] = MetadataValue.json(list(added))
        return MaterializeResult(metadata=metadata)

    return [raw_pages, parquet, table]


def _flatten_days(
    dataset: Dataset, raw: RawDays, loaded_at: datetime, seconds: list[float]
) -> Iterator[DayTable]:
    """Flatten each fetch once and cut it into the run's days."""
    import pyarrow as pa

    from genesys_assets.flatten import flatten_pages

    wanted = set(raw.days)
    for manifests in raw.by_fetch():
        started = time.monotonic()
        fetch_days = list(manifests[0].fetch_days)
        flat = flatten_pages(
            raw.pages(manifests[0]),
            dataset.group_by,
            dataset.query.time_zone,
            loaded_at,
            metrics=dataset.metrics,
        )
        tables = flat.split_days(fetch_days)
        pages, unknown, extra = flat.pages, flat.unknown_fields, flat.extra_dimensions
        del flat
        seconds.append(time.monotonic() - started)
        for i, manifest in enumerate(m for m in manifests if m.day in wanted):
            yield DayTable(
                manifest.day,
                tables[manifest.day],
                pages if i == 0 else 0,
                unknown,
                source=manifest.folder,
                extra_dimensions=extra,
            )
        del tables
        # Hand the fetch's Arrow memory back: without it the allocator keeps each fetch's peak
        # and a long range ratchets the process up.
        pa.default_memory_pool().release_unused()


@asset(
    name=QUEUES_ASSET,
    group_name="genesys_dimensions",
    # Not partitioned; the policy lets `dagster asset materialize --select '*'
    # --partition-range A...B` run everything as one run (the CLI demands it of every asset).
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"genesys", "sql"},
    description=(
        "Every routing queue (id, name, division), replaced on each run, to join the dataset "
        "tables' queue_id to queue names."
    ),
)
def genesys_queues(
    context: AssetExecutionContext,
    genesys: GenesysResource,
    stage: StageResource,
    warehouse: WarehouseResource,
) -> MaterializeResult:
    from genesys_assets.queue_table import SCHEMA, queue_table, refuse_shrink

    table = queue_table(genesys.get_client().list_queues(), datetime.now(UTC))
    target = warehouse.get_warehouse()
    refuse_shrink(
        QUEUES_ASSET, target.table_row_count(QUEUES_ASSET), table.num_rows, warehouse.max_shrink
    )
    store = ParquetStore(stage.get_stage())
    staged = store.write(layout.dimension(QUEUES_ASSET), table)
    result = target.replace_table(QUEUES_ASSET, SCHEMA, staged)
    context.log.info(f"{result.table}: {result.rows_loaded} queues")
    return MaterializeResult(
        metadata={
            "dagster/row_count": result.rows_loaded,
            "table": result.table,
            "file": MetadataValue.path(store.stage.uri(staged.key)),
            "warehouse": target.description,
            "preview": preview(table),
        }
    )
