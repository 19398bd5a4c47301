"""IO managers: how raw pages and day tables reach the stage and come back.

A run can cover one day or a range (a backfill with a single-run policy). For a range, the
assets do not return everything at once: they return an iterator, and the IO manager writes each
day as it comes. Memory stays one fetch deep whatever the length of the range, and each day is
written as one unit (its own manifest, its own Parquet file).

What is handed on is light: `<dataset>_parquet` receives `RawDays` (manifests, pages read on
demand), the warehouse table and its checks receive the staged files as their footers describe
them.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from dagster import (
    ConfigurableIOManager,
    InputContext,
    MetadataValue,
    OutputContext,
    ResourceDependency,
)

from genesys_assets.genesys.pages import Fetch
from genesys_assets.pipeline.metadata import preview, rate
from genesys_assets.pipeline.resources import StageResource
from genesys_assets.stage import layout
from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet
from genesys_assets.stage.raw_pages import DayManifest, RawPageStore

if TYPE_CHECKING:
    import pyarrow as pa

    from genesys_assets.flatten import PageInput

RAW_SUFFIX = "_raw_pages"
PARQUET_SUFFIX = "_parquet"


def partition_days(context: InputContext | OutputContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.asset_partition_keys]


def _dataset(asset_name: str, suffix: str) -> str:
    if not asset_name.endswith(suffix):
        raise ValueError(f"asset {asset_name} does not end with {suffix}")
    return asset_name.removesuffix(suffix)


@dataclass
class FetchedDays:
    """What `<dataset>_raw_pages` returns: its days' fetches, made as they are consumed."""

    dataset: str
    days: tuple[date, ...]
    fetches: Iterator[Fetch]


@dataclass
class RawDays:
    """What `<dataset>_parquet` receives: the staged raw pages of its days."""

    store: RawPageStore
    dataset: str
    days: tuple[date, ...]

    def by_fetch(self) -> Iterator[list[DayManifest]]:
        """The days' manifests, grouped by the fetch that holds their pages, in day order.

        Days that came in one multi-day fetch share its pages; flattening them together parses
        each page once.
        """
        group: list[DayManifest] = []
        for day in self.days:
            manifest = self.store.require_manifest(self.dataset, day)
            if group and group[-1].fetch_id != manifest.fetch_id:
                yield group
                group = []
            group.append(manifest)
        if group:
            yield group

    def pages(self, manifest: DayManifest) -> Iterator["PageInput"]:
        from genesys_assets.flatten import PageInput

        for entry, body in self.store.read_pages(manifest):
            yield PageInput(body, entry.key)


@dataclass
class DayTable:
    day: date
    table: "pa.Table"
    # Pages parsed to make it: counted on the first day of a multi-day fetch only, so that
    # summing over days counts each page once.
    pages_parsed: int
    unknown_fields: tuple[str, ...] = ()
    source: str | None = None  # the raw fetch folder it was flattened from
    extra_dimensions: tuple[str, ...] = ()  # group keys the answer had that nobody asked for


@dataclass
class DayTables:
    """What `<dataset>_parquet` returns: one long table per day, made as they are consumed."""

    dataset: str
    tables: Iterator[DayTable]
    flatten_seconds: list[float] = field(default_factory=list)


class RawPagesIOManager(ConfigurableIOManager):
    """Raw pages to `raw/<dataset>/year=/month=/day=/`, with a manifest per day."""

    stage: ResourceDependency[StageResource]

    def handle_output(self, context: OutputContext, obj: FetchedDays) -> None:
        store = RawPageStore(self.stage.get_stage())
        started = time.monotonic()
        totals = {
            "pages": 0,
            "bytes": 0,
            "stored_bytes": 0,
            "requests": 0,
            "retries": 0,
            "throttled": 0,
        }
        per_day: dict[str, dict[str, Any]] = {}
        modes: set[str] = set()
        query: dict[str, Any] = {}
        api_seconds = 0.0
        for fetch in obj.fetches:
            manifests = store.write_fetch(obj.dataset, fetch)
            totals["pages"] += len(fetch.pages)
            totals["bytes"] += fetch.bytes
            totals["stored_bytes"] += sum(p.stored_bytes for p in manifests[0].pages)
            totals["requests"] += fetch.requests
            totals["retries"] += fetch.retries
            totals["throttled"] += fetch.throttled
            api_seconds += fetch.elapsed_s
            modes.add(fetch.mode)
            query = fetch.request
            for manifest in manifests:
                per_day[manifest.day.isoformat()] = {
                    "pages": len(manifest.pages),
                    "fetch": manifest.fetch_id,
                    "manifest": store.stage.uri(layout.manifest(obj.dataset, manifest.day)),
                }
        context.add_output_metadata(
            {
                "days": len(per_day),
                "pages": totals["pages"],
                "bytes": MetadataValue.int(totals["bytes"]),
                "stored_bytes": MetadataValue.int(totals["stored_bytes"]),
                "api_requests": totals["requests"],
                "retries": totals["retries"],
                "throttled_429": totals["throttled"],
                "api_seconds": round(api_seconds, 3),
                "elapsed_seconds": round(time.monotonic() - started, 3),
                "mode": ", ".join(sorted(modes)),
                "query": MetadataValue.json(query),
                "stage": store.stage.description,
                "manifests": MetadataValue.json(per_day),
            }
        )

    def load_input(self, context: InputContext) -> RawDays:
        return RawDays(
            RawPageStore(self.stage.get_stage()),
            _dataset(context.asset_key.path[-1], RAW_SUFFIX),
            tuple(partition_days(context)),
        )


class ParquetIOManager(ConfigurableIOManager):
    """Day tables to `<dataset>/year=/month=/day=/data.parquet`, snappy, one file per day."""

    stage: ResourceDependency[StageResource]

    def handle_output(self, context: OutputContext, obj: DayTables) -> None:
        store = ParquetStore(self.stage.get_stage())
        started = time.monotonic()
        rows: dict[str, int] = {}
        total_bytes = pages = 0
        unknown: set[str] = set()
        extra: set[str] = set()
        first: tuple[DayTable, str] | None = None
        for day_table in obj.tables:
            staged = store.write_day(
                obj.dataset, day_table.day, day_table.table, source=day_table.source
            )
            rows[day_table.day.isoformat()] = staged.rows
            total_bytes += staged.bytes
            pages += day_table.pages_parsed
            unknown.update(day_table.unknown_fields)
            extra.update(day_table.extra_dimensions)
            if first is None:
                first = (day_table, store.stage.uri(staged.key))
        elapsed = time.monotonic() - started
        total_rows = sum(rows.values())
        metadata: dict[str, Any] = {
            "dagster/row_count": total_rows,
            "rows_by_day": MetadataValue.json(rows),
            "bytes": MetadataValue.int(total_bytes),
            "pages_parsed": pages,
            "elapsed_seconds": round(elapsed, 3),
            "rows_per_second": rate(total_rows, sum(obj.flatten_seconds)),
            "stage": store.stage.description,
        }
        if first is not None:
            metadata["file" if len(rows) == 1 else "first_file"] = MetadataValue.path(first[1])
            metadata["preview"] = preview(first[0].table)
        if extra:
            metadata["unrequested_dimensions"] = MetadataValue.json(sorted(extra))
            context.log.warning(
                f"{obj.dataset}: the API grouped by dimensions the dataset does not name "
                f"({', '.join(sorted(extra))}); each is a column of its own, so rows are never "
                "merged across their values. Add them to group_by to make that explicit."
            )
        if unknown:
            metadata["unknown_fields"] = MetadataValue.json(sorted(unknown))
            context.log.warning(
                f"{obj.dataset}: the API sent fields the long table does not map (kept in the raw "
                f"pages, not in Parquet): {', '.join(sorted(unknown))}"
            )
        context.add_output_metadata(metadata)

    def load_input(self, context: InputContext) -> dict[date, StagedParquet]:
        store = ParquetStore(self.stage.get_stage())
        dataset = _dataset(context.asset_key.path[-1], PARQUET_SUFFIX)
        return {day: store.staged_day(dataset, day) for day in partition_days(context)}
