"""The assets: three per dataset (raw pages -> Parquet -> warehouse table) and the queue names.

Every dataset asset is daily-partitioned in the org's time zone and has a single-run backfill
policy: a backfill of 90 days is one run that fetches multi-day chunks, instead of 90 runs that
each pay for a process, a login and a query. Each body reads as what it does, through the core
(`genesys_assets.daily`) and the resources, and records each day's own figures with
`add_asset_metadata(partition_key=day)`: whatever the range, a day's materialization shows that
day, never the range. What the run did as a whole goes to the log. The IO managers only make the
staged days current and hand them on. Arrow-heavy modules are imported inside the functions:
loading the definitions must not pay for pyarrow.
"""

from datetime import UTC, date, datetime
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from genesys_assets import daily
from genesys_assets.datasets import QUEUES_ASSET, Dataset
from genesys_assets.pipeline import catalog
from genesys_assets.pipeline.failures import reported
from genesys_assets.pipeline.metadata import preview, preview_rows
from genesys_assets.pipeline.resources import GenesysResource, StageResource, WarehouseResource
from genesys_assets.stage import layout
from genesys_assets.stage.parquet_files import StagedParquet
from genesys_assets.stage.raw_pages import RawPageStore

RAW_PAGES_IO_MANAGER = "raw_pages_io_manager"
PARQUET_IO_MANAGER = "parquet_io_manager"
# Loads into the warehouse, across every run of the deployment: DuckDB lets one writer in at a
# time (dagster.yaml gives every pool one slot); Snowflake takes more (`dagster instance
# concurrency set genesys_warehouse 4`).
WAREHOUSE_POOL = "genesys_warehouse"


def raw_pages_key(dataset: Dataset) -> AssetKey:
    return AssetKey(f"{dataset.name}_raw_pages")


def parquet_key(dataset: Dataset) -> AssetKey:
    return AssetKey(f"{dataset.name}_parquet")


def table_key(dataset: Dataset) -> AssetKey:
    return AssetKey(dataset.name)


def run_days(context: AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def record_days(context: AssetExecutionContext, per_day: dict[date, dict[str, Any]]) -> None:
    """Each day's own metadata on its own materialization."""
    for day, metadata in per_day.items():
        context.add_asset_metadata(metadata, partition_key=day.isoformat())


def build_dataset_assets(
    dataset: Dataset, partitions: DailyPartitionsDefinition, naming: catalog.WarehouseNaming
) -> list[AssetsDefinition]:
    """The three assets of one dataset."""
    common: dict[str, Any] = {
        "partitions_def": partitions,
        "backfill_policy": BackfillPolicy.single_run(),
        "group_name": dataset.name,
    }

    @asset(
        name=raw_pages_key(dataset).path[-1],
        io_manager_key=RAW_PAGES_IO_MANAGER,
        kinds={"genesys"},
        description=catalog.raw_pages_description(dataset),
        metadata=catalog.raw_pages_metadata(dataset),
        **common,
    )
    def raw_pages(
        context: AssetExecutionContext, genesys: GenesysResource, stage: StageResource
    ) -> Output[daily.RawStaging]:
        days = run_days(context)
        context.log.info(
            f"fetching {dataset.name} for {daily.describe_days(days)} from {genesys.describe()}"
        )
        store = RawPageStore(stage.get_stage())
        with reported(f"{dataset.name}: fetching {daily.describe_days(days)}"):
            staging = daily.stage_raw_pages(genesys.get_client(), store, dataset, days)
        record_days(
            context,
            {
                day: {
                    "manifest": MetadataValue.path(
                        store.stage.uri(layout.manifest(dataset.name, day))
                    ),
                    "fetch": MetadataValue.json(staging.fetch_of[day].as_json()),
                    "source": genesys.describe(),
                }
                for day, manifest in staging.manifests.items()
            },
        )
        fetches = staging.fetches
        context.log.info(
            f"{dataset.name}: {len(fetches)} fetches, {sum(f.pages for f in fetches)} pages, "
            f"{sum(f.bytes for f in fetches)} bytes, {sum(f.requests for f in fetches)} "
            f"requests ({sum(f.retries for f in fetches)} retried, "
            f"{sum(f.throttled for f in fetches)} throttled)"
        )
        return Output(staging, metadata={"query": MetadataValue.json(staging.query)})

    @asset(
        name=parquet_key(dataset).path[-1],
        ins={"raw": AssetIn(key=raw_pages_key(dataset))},
        io_manager_key=PARQUET_IO_MANAGER,
        kinds={"parquet"},
        description=catalog.parquet_description(dataset),
        metadata={"dataset": dataset.name},
        **common,
    )
    def parquet(
        context: AssetExecutionContext, raw: daily.RawDays, stage: StageResource
    ) -> Output[daily.ParquetStaging]:
        from genesys_assets.stage.parquet_files import ParquetStore

        store = ParquetStore(stage.get_stage())
        with reported(f"{dataset.name}: flattening {daily.describe_days(raw.days)}"):
            staging = daily.stage_parquet(raw, store, dataset)
        record_days(
            context,
            {
                day: {
                    "dagster/row_count": staged.staged.rows,
                    "bytes": MetadataValue.int(staged.staged.bytes),
                    "file": MetadataValue.path(store.stage.uri(staged.staged.key)),
                    "raw_fetch": MetadataValue.path(store.stage.uri(staged.source)),
                    "preview": preview(staged.head),
                }
                for day, staged in staging.days.items()
            },
        )
        rows = sum(d.staged.rows for d in staging.days.values())
        context.log.info(
            f"{dataset.name}: {staging.pages_parsed} pages flattened into {rows} rows in "
            f"{staging.flatten_seconds:.1f} s"
        )
        return Output(staging, metadata=_field_notes(context, dataset, staging))

    @asset(
        name=table_key(dataset).path[-1],
        ins={"staged": AssetIn(key=parquet_key(dataset))},
        kinds={naming.kind, "table"},
        pool=WAREHOUSE_POOL,
        description=catalog.table_description(dataset),
        metadata=catalog.table_metadata(dataset, naming),
        **common,
    )
    def table(
        context: AssetExecutionContext,
        staged: dict[date, StagedParquet],
        warehouse: WarehouseResource,
        stage: StageResource,
    ) -> MaterializeResult:
        days = sorted(staged)
        target = warehouse.get_warehouse()
        with reported(f"{dataset.name}: loading {daily.describe_days(days)}"):
            loaded = daily.load_days(target, stage.get_stage(), dataset, staged, stage.grace())
            shown = target.preview_rows(dataset.name, loaded.columns, days)
        result = loaded.result
        uri = stage.get_stage().uri
        record_days(
            context,
            {
                day: {
                    "dagster/row_count": result.rows_by_day[day],
                    "dagster/partition_row_count": result.rows_by_day[day],
                    "staged_file": MetadataValue.path(uri(staged[day].key)),
                    "preview": preview_rows(shown[day]),
                }
                for day in days
            },
        )
        context.log.info(
            f"{result.table}: {daily.describe_days(days)}, {result.rows_deleted} rows replaced "
            f"by {result.rows_loaded} in one transaction ({result.elapsed_s:.1f} s); "
            f"{len(loaded.collected.deleted)} superseded stage objects removed"
        )
        metadata: dict[str, Any] = {
            "dagster/table_name": naming.table_name(dataset.name),
            "warehouse": target.description,
        }
        if result.columns_added:
            metadata["columns_added"] = MetadataValue.json(list(result.columns_added))
            metadata["dagster/column_schema"] = catalog.column_schema(
                dataset, naming, loaded.columns
            )
        return MaterializeResult(metadata=metadata)

    return [raw_pages, parquet, table]


def _field_notes(
    context: AssetExecutionContext, dataset: Dataset, staging: daily.ParquetStaging
) -> dict[str, Any]:
    """Warn about what the answers had beyond the dataset's declaration, and list it."""
    notes: dict[str, Any] = {}
    if staging.extra_dimensions:
        extra = sorted(staging.extra_dimensions)
        notes["unrequested_dimensions"] = MetadataValue.json(extra)
        context.log.warning(
            f"{dataset.name}: the API grouped by dimensions the dataset does not name "
            f"({', '.join(extra)}); each is a column of its own, so rows are never merged "
            "across their values. Add them to group_by to make that explicit."
        )
    if staging.unknown_fields:
        unknown = sorted(staging.unknown_fields)
        notes["unknown_fields"] = MetadataValue.json(unknown)
        context.log.warning(
            f"{dataset.name}: the API sent fields the long table does not map (kept in the raw "
            f"pages, not in Parquet): {', '.join(unknown)}"
        )
    return notes


def build_queues_asset(naming: catalog.WarehouseNaming) -> AssetsDefinition:
    @asset(
        name=QUEUES_ASSET,
        group_name="genesys_dimensions",
        # Not partitioned; the policy lets `dagster asset materialize --select '*'
        # --partition-range A...B` run everything as one run (the CLI demands it of every asset).
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"genesys", naming.kind, "table"},
        pool=WAREHOUSE_POOL,
        description=catalog.QUEUES_DESCRIPTION,
        metadata=catalog.queues_metadata(naming),
    )
    def genesys_queues(
        context: AssetExecutionContext,
        genesys: GenesysResource,
        stage: StageResource,
        warehouse: WarehouseResource,
    ) -> MaterializeResult:
        from genesys_assets.queue_table import queue_table, refuse_shrink, schema
        from genesys_assets.stage.parquet_files import ParquetStore

        target = warehouse.get_warehouse()
        store = ParquetStore(stage.get_stage())
        with reported(QUEUES_ASSET):
            table = queue_table(genesys.get_client().list_queues(), datetime.now(UTC))
            refuse_shrink(
                QUEUES_ASSET,
                target.table_row_count(QUEUES_ASSET),
                table.num_rows,
                warehouse.max_shrink,
            )
            staged = store.write(layout.dimension(QUEUES_ASSET), table)
            result = target.replace_table(QUEUES_ASSET, schema(), staged)
        context.log.info(f"{result.table}: {result.rows_loaded} queues")
        return MaterializeResult(
            metadata={
                "dagster/row_count": result.rows_loaded,
                "dagster/table_name": naming.table_name(QUEUES_ASSET),
                "staged_file": MetadataValue.path(store.stage.uri(staged.key)),
                "warehouse": target.description,
                "source": genesys.describe(),
                "preview": preview(table),
            }
        )

    return genesys_queues
