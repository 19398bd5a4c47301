"""The assets: three per dataset (raw pages -> Parquet -> warehouse table) and the dimensions.

Raw pages and Parquet are one step (`<dataset>_fetch_and_flatten`, a multi-asset): each fetch
is flattened as it arrives, while the client's later chunks are still in flight, so a range
costs one process and no second read of its pages. Each of the two stays an asset of its own,
with its own IO manager and its own record per day, and each can be materialized alone.

Every dataset asset is daily-partitioned in the org's time zone and has a single-run backfill
policy: a backfill of 90 days is one run that fetches multi-day chunks, instead of 90 runs that
each pay for a process, a login and a query. Each body reads as what it does, through the core
(`genesys_assets.daily`) and the resources, and records each day's own figures with
`add_asset_metadata(partition_key=day)`: whatever the range, a day's materialization shows that
day, never the range. What the run did as a whole goes to the log. The IO managers only make the
staged days current and hand them on. Arrow-heavy modules are imported inside the functions:
loading the definitions must not pay for pyarrow.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from genesys_assets import daily, kpi_views
from genesys_assets.datasets import Dataset, Org
from genesys_assets.dimensions import Dimension
from genesys_assets.kpi_charts import offered_vs_answered_png
from genesys_assets.kpi_views import KpiView
from genesys_assets.pipeline import catalog
from genesys_assets.pipeline.failures import reported
from genesys_assets.pipeline.keys import (
    dimension_key,
    parquet_key,
    raw_pages_key,
    step_name,
    table_key,
)
from genesys_assets.pipeline.metadata import png_markdown, preview, preview_rows
from genesys_assets.pipeline.resources import GenesysResource, StageResource, WarehouseResource
from genesys_assets.stage import layout
from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet
from genesys_assets.stage.raw_pages import RawPageStore
from genesys_assets.warehouse import Warehouse

RAW_PAGES_IO_MANAGER = "raw_pages_io_manager"
PARQUET_IO_MANAGER = "parquet_io_manager"
# Loads into the warehouse, across every run of the deployment: DuckDB lets one writer in at a
# time (dagster.yaml gives every pool one slot); Snowflake takes more (`dagster instance
# concurrency set genesys_warehouse 4`).
WAREHOUSE_POOL = "genesys_warehouse"


def run_days(context: AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def record_days(
    context: AssetExecutionContext, key: AssetKey, per_day: dict[date, dict[str, Any]]
) -> None:
    """Each day's own metadata on its own materialization of `key`."""
    for day, metadata in per_day.items():
        context.add_asset_metadata(metadata, asset_key=key, partition_key=day.isoformat())


def build_dataset_assets(
    dataset: Dataset, partitions: DailyPartitionsDefinition, naming: catalog.WarehouseNaming
) -> list[AssetsDefinition]:
    """The three assets of one dataset."""
    common: dict[str, Any] = {
        "partitions_def": partitions,
        "backfill_policy": BackfillPolicy.single_run(),
        "group_name": dataset.name,
    }
    org = dataset.org
    stored_as = {
        "dataset": dataset.name,
        "org": org.id,
        "stage_folder": daily.stage_folder(dataset),
    }

    @multi_asset(
        name=step_name(org, f"{dataset.name}_fetch_and_flatten"),
        outs={
            "raw_pages": AssetOut(
                key=raw_pages_key(dataset),
                io_manager_key=RAW_PAGES_IO_MANAGER,
                kinds={"genesys"},
                description=catalog.raw_pages_description(dataset),
                metadata={**catalog.raw_pages_metadata(dataset), **stored_as},
                is_required=False,
            ),
            "parquet": AssetOut(
                key=parquet_key(dataset),
                io_manager_key=PARQUET_IO_MANAGER,
                kinds={"parquet"},
                description=catalog.parquet_description(dataset),
                metadata=stored_as,
                is_required=False,
            ),
        },
        internal_asset_deps={"raw_pages": set(), "parquet": {raw_pages_key(dataset)}},
        can_subset=True,
        # The org's Genesys API: its fetch steps across all runs share its pool's slots.
        pool=org.api_pool,
        **common,
    )
    def fetch_and_flatten(
        context: AssetExecutionContext, genesys: GenesysResource, stage: StageResource
    ) -> Iterator[Output[Any]]:
        """Both assets in one step: each fetch is flattened while the next ones are in flight.

        Selected alone, the raw pages are fetched and staged, nothing flattened; the Parquet
        files alone are flattened again from the days' current raw pages, nothing fetched.
        """
        days = run_days(context)
        selected = context.selected_asset_keys
        raw_store = RawPageStore(stage.get_stage())
        parquet_store = ParquetStore(stage.get_stage())
        flattening = parquet_key(dataset) in selected
        parquet: daily.ParquetStaging | None = None
        source = genesys.describe(org.id)
        if raw_pages_key(dataset) in selected:
            what = "fetching and flattening" if flattening else "fetching"
            context.log.info(
                f"{what} {dataset.label} for {daily.describe_days(days)} from {source}"
            )
            with reported(f"{dataset.label}: {what} {daily.describe_days(days)}"):
                staged = daily.fetch_and_stage(
                    genesys.get_client(org.id),
                    raw_store,
                    dataset,
                    days,
                    parquet_store if flattening else None,
                )
            record_raw_pages(context, dataset, staged.raw, raw_store, source)
            parquet = staged.parquet
        elif flattening:
            with reported(f"{dataset.label}: flattening {daily.describe_days(days)}"):
                parquet = daily.stage_parquet(
                    daily.RawDays.read(raw_store, daily.stage_folder(dataset), days),
                    parquet_store,
                    dataset,
                )
        if parquet is not None:
            record_parquet(context, dataset, parquet, parquet_store)
        # Stored (made current) by the IO managers in this order, once both are staged.
        if raw_pages_key(dataset) in selected:
            yield Output(staged.raw, output_name="raw_pages")
        if parquet is not None:
            yield Output(
                parquet, output_name="parquet", metadata=_field_notes(context, dataset, parquet)
            )

    @asset(
        key=table_key(dataset),
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
        return load_table(context, dataset, naming, staged, warehouse.get_warehouse(), stage)

    return [fetch_and_flatten, table]


def load_table(
    context: AssetExecutionContext,
    dataset: Dataset,
    naming: catalog.WarehouseNaming,
    staged: dict[date, StagedParquet],
    target: Warehouse,
    stage: StageResource,
) -> MaterializeResult:
    """Replace the days in the warehouse; each day's rows, file and preview on its record."""
    days = sorted(staged)
    with reported(f"{dataset.label}: loading {daily.describe_days(days)}"):
        loaded = daily.load_days(target, stage.get_stage(), dataset, staged, stage.grace())
        shown = target.preview_rows(dataset.name, loaded.columns, dataset.org.id, days)
    result = loaded.result
    uri = stage.get_stage().uri
    record_days(
        context,
        table_key(dataset),
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
        metadata["dagster/column_schema"] = catalog.column_schema(dataset, naming, loaded.columns)
    return MaterializeResult(asset_key=table_key(dataset), metadata=metadata)


def record_raw_pages(
    context: AssetExecutionContext,
    dataset: Dataset,
    staging: daily.RawStaging,
    store: RawPageStore,
    source: str,
) -> None:
    """Each day's manifest and fetch figures; the run's totals to the log."""
    record_days(
        context,
        raw_pages_key(dataset),
        {
            day: {
                "manifest": MetadataValue.path(
                    store.stage.uri(layout.manifest(daily.stage_folder(dataset), day))
                ),
                "fetch": MetadataValue.json(staging.fetch_of[day].as_json()),
                # The request of the fetch the day came in (its interval covers the day).
                "query": MetadataValue.json(manifest.query),
                "source": source,
            }
            for day, manifest in staging.manifests.items()
        },
    )
    fetches = staging.fetches
    context.log.info(
        f"{dataset.label}: {len(fetches)} fetches, {sum(f.pages for f in fetches)} pages, "
        f"{sum(f.bytes for f in fetches)} bytes, {sum(f.requests for f in fetches)} "
        f"requests ({sum(f.retries for f in fetches)} retried, "
        f"{sum(f.throttled for f in fetches)} throttled)"
    )


def record_parquet(
    context: AssetExecutionContext,
    dataset: Dataset,
    staging: daily.ParquetStaging,
    store: ParquetStore,
) -> None:
    """Each day's rows, file and preview; the run's totals to the log."""
    record_days(
        context,
        parquet_key(dataset),
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
        f"{dataset.label}: {staging.pages_parsed} pages flattened into {rows} rows in "
        f"{staging.flatten_seconds:.1f} s"
    )


def _field_notes(
    context: AssetExecutionContext, dataset: Dataset, staging: daily.ParquetStaging
) -> dict[str, Any]:
    """Warn about what the answers had beyond the dataset's declaration, and list it."""
    notes: dict[str, Any] = {}
    if staging.extra_dimensions:
        extra = sorted(staging.extra_dimensions)
        notes["unrequested_dimensions"] = MetadataValue.json(extra)
        context.log.warning(
            f"{dataset.label}: the API grouped by dimensions the dataset does not name "
            f"({', '.join(extra)}); each is a column of its own, so rows are never merged "
            "across their values. Add them to group_by to make that explicit."
        )
    if staging.unknown_fields:
        unknown = sorted(staging.unknown_fields)
        notes["unknown_fields"] = MetadataValue.json(unknown)
        context.log.warning(
            f"{dataset.label}: the API sent fields the long table does not map (kept in the raw "
            f"pages, not in Parquet): {', '.join(unknown)}"
        )
    return notes


def build_dimensions_asset(
    dimensions: Sequence[Dimension], naming: catalog.WarehouseNaming, org: Org
) -> AssetsDefinition:
    """An org's dimension tables, each an asset, all listed and replaced in one step: seven
    small listings do not need seven processes and seven turns at the warehouse pool (the
    step start and the pool's hand-over cost more than a listing); the listings go out at
    once. A listing that fails leaves the other tables replaced and fails the step, naming
    it. Each table holds every org's listing; a run replaces this org's rows whole."""
    by_key = {dimension_key(d.name, org): d for d in dimensions}

    @multi_asset(
        name=step_name(org, "genesys_dimensions"),
        specs=[
            AssetSpec(
                key,
                group_name="genesys_dimensions",
                kinds={"genesys", naming.kind, "table"},
                description=dimension.description,
                metadata=catalog.dimension_metadata(dimension, naming),
                skippable=True,
            )
            for key, dimension in by_key.items()
        ],
        can_subset=True,
        # Not partitioned; the policy lets `dagster asset materialize --select '*'
        # --partition-range A...B` run everything as one run (the CLI demands it of every asset).
        backfill_policy=BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )
    def dimension_tables(
        context: AssetExecutionContext,
        genesys: GenesysResource,
        stage: StageResource,
        warehouse: WarehouseResource,
    ) -> Iterator[MaterializeResult]:
        from concurrent.futures import ThreadPoolExecutor

        chosen = [d for key, d in by_key.items() if key in context.selected_asset_keys]
        client = genesys.get_client(org.id)
        listed_at = datetime.now(UTC)
        with ThreadPoolExecutor(len(chosen), thread_name_prefix="dimension") as pool:
            listings = {d.name: pool.submit(d.listed, client, listed_at, org.id) for d in chosen}
        target = warehouse.get_warehouse()
        store = ParquetStore(stage.get_stage())
        failed: list[str] = []
        with target.connected():
            for dimension in chosen:
                label = f"{org.id}/{dimension.name}" if org.prefixed else dimension.name
                try:
                    with reported(label):
                        result = _replace_dimension(
                            dimension, listings[dimension.name].result(), org, store, target,
                            warehouse.max_shrink,
                        )  # fmt: skip
                except Failure as exc:
                    context.log.error(exc.description or label)
                    failed.append(exc.description or label)
                    continue
                context.log.info(f"{label}: {result['dagster/row_count']} rows of org {org.id}")
                yield MaterializeResult(
                    asset_key=dimension_key(dimension.name, org),
                    metadata={
                        **result,
                        "dagster/table_name": naming.table_name(dimension.name),
                        "source": genesys.describe(org.id),
                    },
                )
        if failed:
            raise Failure(
                description="; ".join(failed),
                metadata={"failed": MetadataValue.json(failed)},
            )

    return dimension_tables


def _replace_dimension(
    dimension: Dimension,
    table: Any,
    org: Org,
    store: ParquetStore,
    target: Warehouse,
    max_shrink: float,
) -> dict[str, Any]:
    """A dimension's listing, staged and put in place of the org's rows; its metadata."""
    from genesys_assets.dimension_tables import refuse_shrink

    label = f"{org.id}/{dimension.name}" if org.prefixed else dimension.name
    folder = layout.dataset_folder(dimension.name, org.id if org.prefixed else None)
    refuse_shrink(label, target.table_row_count(dimension.name, org.id), table.num_rows, max_shrink)
    staged = store.write(layout.dimension(folder), table)
    loaded = target.replace_org_rows(dimension.name, dimension.schema(), staged, org)
    return {
        "dagster/row_count": loaded.rows_loaded,
        "staged_file": MetadataValue.path(store.stage.uri(staged.key)),
        "warehouse": target.description,
        "preview": preview(table),
    }


def build_kpi_view_asset(
    view: KpiView, naming: catalog.WarehouseNaming, orgs: Sequence[Org]
) -> AssetsDefinition:
    """A KPI view over the tables (and views) its SQL reads, every org's rows, replaced from
    its SQL file; with its preview, and its picture of each org's newest day where it has
    one."""
    views = {v.name for v in kpi_views.KPI_VIEWS}
    deps = [
        AssetKey(name) if name in views else dimension_key(name, org)
        for name in view.reads
        for org in (orgs[:1] if name in views else orgs)
    ]

    @asset(
        name=view.name,
        group_name="genesys_kpis",
        deps=deps,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={naming.kind, "view"},
        pool=WAREHOUSE_POOL,
        description=f"{view.description}\n\nThe formulas are in {view.path.name}.",
        metadata={
            "dagster/table_name": naming.table_name(view.name),
            "sql_file": MetadataValue.path(str(view.path)),
        },
    )
    def kpi_view(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        target = warehouse.get_warehouse()
        sql = view.sql(target)
        with reported(view.name):
            target.replace_view(view.name, sql)
            shown = kpi_views.preview(target, view)
            charts = {
                org: kpi_views.newest_day_half_hours(target, view, org.id)
                for org in (orgs if view.chart else ())
            }
        context.log.info(f"{target.qualified(view.name)}: view replaced from {view.path.name}")
        metadata: dict[str, Any] = {
            "sql": MetadataValue.md(f"```sql\n{sql.strip()}\n```"),
            "preview": preview_rows(shown),
        }
        for org, chart in charts.items():
            if chart is None:
                continue
            day, half_hours = chart
            png = offered_vs_answered_png(day, org.time_zone, half_hours)
            # One org: the plain names; several: each org's picture named after it.
            key = f"_{org.id}" if org.prefixed else ""
            whose = f"{org.id}, " if org.prefixed else ""
            metadata[f"chart_day{key}"] = day.isoformat()
            metadata[f"offered_vs_answered{key}"] = MetadataValue.md(
                png_markdown(png, f"offered vs answered per half hour, {whose}{day}")
            )
        return MaterializeResult(metadata=metadata)

    return kpi_view
