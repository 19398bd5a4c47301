"""The day-by-day work of one dataset, without Dagster: what each asset does for its days, and
what the benchmark's sequential loop does one day at a time.

    fetch_and_stage    fetch the days (chunks of consecutive days, in order), stage each
                       fetch's pages under a new folder and, while later chunks are still on
                       their way, flatten it from memory and stage each day's Parquet file;
                       nothing is made current
    publish_raw_pages  make the staged pages the days' current pages (one manifest per day)
    RawDays            a range's current pages, read back and sha256-verified
    stage_parquet      the same flattening from the current pages in the stage (a re-flatten
                       without a fetch)
    publish_parquet    make the staged files the days' current files (one pointer per day)
    load_days          replace the days in the warehouse table in one transaction, then let
                       retention remove what nothing names any more

Staging and publishing are separate so that a step that fails on its fifth chunk leaves all of
its days as they were: Dagster records nothing for them, and the stage agrees. Every step
returns what it did per day, which is what Dagster records for each day whatever the range.
Memory stays one fetch deep: a fetch is staged or flattened as it arrives and then dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from genesys_assets.datasets import Dataset
from genesys_assets.stage import layout
from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet
from genesys_assets.stage.raw_pages import DayManifest, RawPageStore

if TYPE_CHECKING:
    import pyarrow as pa

    from genesys_assets.flatten import PageInput
    from genesys_assets.genesys.client import GenesysClient
    from genesys_assets.stage import Stage
    from genesys_assets.stage.retention import Collected
    from genesys_assets.warehouse import Warehouse
    from genesys_assets.warehouse.base import LoadResult

PREVIEW_ROWS = 10


def stage_folder(dataset: Dataset) -> str:
    """The folder of the dataset's files in the stage, for its org (see `layout.dataset_folder`):
    what the raw page and Parquet stores call the dataset."""
    return layout.dataset_folder(dataset.name, dataset.org.id if dataset.org.prefixed else None)


def describe_days(days: Sequence[date]) -> str:
    """`2024-11-01`, or `90 days 2024-06-03..2024-08-31`, for log lines and errors."""
    return str(days[0]) if len(days) == 1 else f"{len(days)} days {days[0]}..{days[-1]}"


# -- raw pages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchFigures:
    """One fetch (one query over a chunk of consecutive days) as the API answered it."""

    fetch_id: str
    days: tuple[date, ...]
    mode: str
    pages: int
    bytes: int
    stored_bytes: int
    requests: int
    retries: int
    throttled: int
    api_seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "fetch_id": self.fetch_id,
            "days": [d.isoformat() for d in self.days],
            "mode": self.mode,
            "pages": self.pages,
            "bytes": self.bytes,
            "stored_bytes": self.stored_bytes,
            "requests": self.requests,
            "retries": self.retries,
            "throttled_429": self.throttled,
            "api_seconds": round(self.api_seconds, 3),
        }


@dataclass
class RawStaging:
    """A range's fetches, staged and not yet current: a day's manifest and the fetch it is in."""

    dataset: str
    manifests: dict[date, DayManifest] = field(default_factory=dict)
    fetch_of: dict[date, FetchFigures] = field(default_factory=dict)

    @property
    def fetches(self) -> list[FetchFigures]:
        return list({f.fetch_id: f for f in self.fetch_of.values()}.values())


@dataclass
class StagedDays:
    """What `fetch_and_stage` staged: the raw pages, and the Parquet files if it flattened."""

    raw: RawStaging
    parquet: ParquetStaging | None


def fetch_and_stage(
    client: GenesysClient,
    raw_store: RawPageStore,
    dataset: Dataset,
    days: Sequence[date],
    parquet_store: ParquetStore | None = None,
) -> StagedDays:
    """Fetch the days, stage every page byte for byte and, given a Parquet store, each day's file.

    Each fetch is flattened as soon as it is staged, from the bytes in memory (the same bytes the
    stage now holds), while the client's later chunks are still in flight: flattening costs no
    second read of the stage and no time of its own on the run's critical path. Nothing is made
    current.
    """
    folder = stage_folder(dataset)
    raw = RawStaging(folder)
    parquet = ParquetStaging(folder) if parquet_store is not None else None
    loaded_at = datetime.now(UTC)
    for fetch in client.fetch_days(dataset.query, days, mode=dataset.mode):
        manifests = raw_store.stage_fetch(folder, fetch)
        figures = FetchFigures(
            fetch_id=manifests[0].fetch_id,
            days=tuple(fetch.days),
            mode=fetch.mode,
            pages=len(fetch.pages),
            bytes=fetch.bytes,
            stored_bytes=sum(p.stored_bytes for p in manifests[0].pages),
            requests=fetch.requests,
            retries=fetch.retries,
            throttled=fetch.throttled,
            api_seconds=fetch.elapsed_s,
        )
        for manifest in manifests:
            raw.manifests[manifest.day] = manifest
            raw.fetch_of[manifest.day] = figures
        if parquet_store is not None and parquet is not None:
            pages = [
                _page_input(page.body, entry.key)
                for page, entry in zip(fetch.pages, manifests[0].pages, strict=True)
            ]
            del fetch  # the pages' bytes now live only in `pages`, dropped after flattening
            _flatten_fetch(parquet, pages, manifests, parquet_store, dataset, loaded_at)
    missing = sorted(set(days) - set(raw.manifests))
    if missing:
        raise RuntimeError(
            f"{dataset.name}: the client returned no fetch for {describe_days(missing)}"
        )
    return StagedDays(raw, parquet)


def _page_input(body: bytes, key: str) -> PageInput:
    from genesys_assets.flatten import PageInput

    return PageInput(body, key)


def publish_raw_pages(store: RawPageStore, staging: RawStaging, days: Sequence[date]) -> None:
    """Make the staged fetches the current pages of exactly `days`."""
    if set(staging.manifests) != set(days):
        raise ValueError(
            f"{staging.dataset}: staged {describe_days(sorted(staging.manifests))} but the run "
            f"is for {describe_days(sorted(days))}"
        )
    store.publish(staging.manifests[day] for day in sorted(days))


@dataclass(frozen=True)
class RawDays:
    """A range's current raw pages: manifests read now, pages on demand."""

    store: RawPageStore
    dataset: str
    manifests: tuple[DayManifest, ...]

    @classmethod
    def read(cls, store: RawPageStore, dataset: str, days: Sequence[date]) -> RawDays:
        """Every day's manifest, or an error naming the first day that has none."""
        return cls(store, dataset, tuple(store.require_manifest(dataset, d) for d in days))

    @property
    def days(self) -> list[date]:
        return [m.day for m in self.manifests]

    def by_fetch(self) -> Iterator[list[DayManifest]]:
        """The days' manifests, grouped by the fetch that holds their pages, in day order.

        Days that came in one multi-day fetch share its pages; flattening them together parses
        each page once.
        """
        group: list[DayManifest] = []
        for manifest in self.manifests:
            if group and group[-1].fetch_id != manifest.fetch_id:
                yield group
                group = []
            group.append(manifest)
        if group:
            yield group

    def pages(self, manifest: DayManifest) -> Iterator[PageInput]:
        from genesys_assets.flatten import PageInput

        for entry, body in self.store.read_pages(manifest):
            yield PageInput(body, entry.key)


# -- Parquet ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParquetDay:
    """A day's long table, staged as a new file version, not yet current."""

    day: date
    staged: StagedParquet
    head: pa.Table  # its first rows, copied (they do not hold the fetch's memory)
    source: str  # the raw fetch folder it was flattened from


@dataclass
class ParquetStaging:
    dataset: str
    days: dict[date, ParquetDay] = field(default_factory=dict)
    pages_parsed: int = 0
    flatten_seconds: float = 0.0
    unknown_fields: set[str] = field(default_factory=set)
    extra_dimensions: set[str] = field(default_factory=set)


def stage_parquet(
    raw: RawDays, store: ParquetStore, dataset: Dataset, loaded_at: datetime | None = None
) -> ParquetStaging:
    """Flatten each fetch of the current pages once, cut it into the run's days, stage each."""
    loaded_at = loaded_at or datetime.now(UTC)
    staging = ParquetStaging(stage_folder(dataset))
    for manifests in raw.by_fetch():
        _flatten_fetch(staging, raw.pages(manifests[0]), manifests, store, dataset, loaded_at)
    return staging


def _flatten_fetch(
    staging: ParquetStaging,
    pages: Iterable[PageInput],
    manifests: Sequence[DayManifest],
    store: ParquetStore,
    dataset: Dataset,
    loaded_at: datetime,
) -> None:
    """One fetch's pages as the long table, cut into `manifests`' days, each staged as a file."""
    import pyarrow as pa

    from genesys_assets.flatten import flatten_pages

    started = time.monotonic()
    flat = flatten_pages(
        pages,
        dataset.group_by,
        dataset.query.time_zone,
        loaded_at,
        metrics=dataset.metrics,
        org=dataset.org.id,
    )
    tables = flat.split_days(list(manifests[0].fetch_days))
    staging.pages_parsed += flat.pages
    staging.unknown_fields.update(flat.unknown_fields)
    staging.extra_dimensions.update(flat.extra_dimensions)
    del flat
    staging.flatten_seconds += time.monotonic() - started
    for manifest in manifests:
        table = tables[manifest.day]
        staged = store.write_version(staging.dataset, manifest.day, table, source=manifest.folder)
        head = pa.Table.from_pylist(table.slice(0, PREVIEW_ROWS).to_pylist(), table.schema)
        staging.days[manifest.day] = ParquetDay(manifest.day, staged, head, manifest.folder)
    del tables
    # Hand the fetch's Arrow memory back: without it the allocator keeps each fetch's peak and a
    # long range ratchets the process up.
    pa.default_memory_pool().release_unused()


def publish_parquet(
    store: ParquetStore, dataset: str, files: Mapping[date, StagedParquet]
) -> dict[date, StagedParquet]:
    """Make the staged files the current files of their days."""
    return {day: store.publish(dataset, day, staged) for day, staged in sorted(files.items())}


def current_parquet(
    store: ParquetStore, dataset: str, days: Sequence[date]
) -> dict[date, StagedParquet]:
    """Each day's current file, as its pointer names it and its footer describes it."""
    return {day: store.staged_day(dataset, day) for day in days}


# -- warehouse -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    result: LoadResult
    collected: Collected
    columns: tuple[str, ...]  # the table's columns after the load


def load_days(
    warehouse: Warehouse,
    stage: Stage,
    dataset: Dataset,
    files: Mapping[date, StagedParquet],
    grace: timedelta,
) -> Loaded:
    """Replace the days in one transaction, then collect what nothing names any more.

    One transaction for every day of the run: Dagster records a range's days only if the whole
    step succeeds, and the table then agrees with it.
    """
    from genesys_assets import long_table
    from genesys_assets.stage import retention

    # Dimensions the API grouped by unasked are columns of the files: the table gets them.
    found = sorted({c for file in files.values() for c in file.columns})
    schema = long_table.schema(dataset.group_by, long_table.extra_columns(dataset.group_by, found))
    result = warehouse.replace_partitions(dataset.name, schema, files, dataset.org)
    # Only now may superseded files go: the load log names what the table holds.
    collected = retention.collect(
        stage,
        stage_folder(dataset),
        warehouse.loaded_files(dataset.name, dataset.org.id),
        grace=grace,
    )
    return Loaded(result, collected, tuple(schema.names))
