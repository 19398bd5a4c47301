"""The long table in the stage: snappy Parquet files, one current version per dataset and day.

Each write is a new file under a name of its own, then the day's pointer (`_staged.json`) is
replaced to name it: a reader never sees half a file, a concurrent run's file is never
overwritten under a reader, and the file the warehouse loaded is still there when a later run
stages a newer one (see `stage.retention` for when old versions go). What a staged file holds
is read from its own footer, never from what a writer said it wrote: that is the number the
row-count check compares with the warehouse.

pyarrow is imported where it is used: the Dagster definitions import this module for its types,
and loading them is paid by the UI and every run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from genesys_assets.stage import layout
from genesys_assets.stage.base import Stage, StageError

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class StagedParquet:
    key: str
    rows: int  # from the file's footer
    bytes: int
    columns: tuple[str, ...]
    # The raw fetch folder the rows were flattened from (their pages stay while it is loaded).
    source: str | None = None
    published_at: datetime | None = None  # when the day's pointer was set to this file


class ParquetStore:
    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    def write(self, key: str, table: pa.Table) -> StagedParquet:
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="snappy")
        data = sink.getvalue().to_pybytes()
        self.stage.put(key, data, content_type="application/vnd.apache.parquet")
        return StagedParquet(key, table.num_rows, len(data), tuple(table.column_names))

    def write_day(
        self, dataset: str, day: date, table: pa.Table, *, source: str | None = None
    ) -> StagedParquet:
        """A new version of the day's file, then the day's pointer set to it."""
        return self.publish(dataset, day, self.write_version(dataset, day, table, source=source))

    def write_version(
        self, dataset: str, day: date, table: pa.Table, *, source: str | None = None
    ) -> StagedParquet:
        """A new version of the day's file, not yet current: nothing reads it until `publish`."""
        written = self.write(
            layout.parquet(dataset, day, layout.new_version(datetime.now(UTC))), table
        )
        return replace(written, source=source)

    def publish(self, dataset: str, day: date, staged: StagedParquet) -> StagedParquet:
        """Make a written version the day's current file (its `_staged.json`)."""
        if not self.stage.exists(staged.key):
            raise StageError(
                f"{staged.key} is gone from the stage ({self.stage.description}) before it was "
                f"published for {dataset} on {day}: retention removed it (raise "
                "GENESYS_STAGE_GRACE_HOURS above the longest run) or someone deleted it; "
                "re-materialize the day"
            )
        published_at = datetime.now(UTC)
        pointer = {
            "file": staged.key,
            "rows": staged.rows,
            "bytes": staged.bytes,
            "source": staged.source,
            "published_at": published_at.isoformat(),
        }
        self.stage.put(
            layout.staged_pointer(dataset, day),
            json.dumps(pointer).encode("utf-8"),
            content_type="application/json",
        )
        return replace(staged, published_at=published_at)

    def pointer(self, dataset: str, day: date) -> dict[str, object] | None:
        """The day's `_staged.json`, or None if the day was never staged."""
        key = layout.staged_pointer(dataset, day)
        if not self.stage.exists(key):
            return None
        return dict(json.loads(self.stage.get(key)))

    def staged(self, key: str, what: str) -> StagedParquet:
        """A staged file as its footer describes it; `what` says how to produce it if missing."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.stage.exists(key):
            raise StageError(f"{key} is not in the stage ({self.stage.description}): {what}")
        with self.stage.open(key) as handle:
            size = handle.seek(0, 2)
            try:
                metadata = pq.ParquetFile(handle).metadata
            except (pa.ArrowException, OSError) as exc:
                raise StageError(
                    f"{key} in the stage ({self.stage.description}) is not a readable Parquet "
                    f"file ({exc}): {what.replace(' first', ' again')}"
                ) from None
        return StagedParquet(
            key, metadata.num_rows, size, tuple(metadata.schema.to_arrow_schema().names)
        )

    def staged_day(self, dataset: str, day: date) -> StagedParquet:
        """The day's current file, as its pointer names it and its footer describes it."""
        what = f"materialize {dataset}_parquet for partition {day} first"
        pointer = self.pointer(dataset, day)
        if pointer is None:
            raise StageError(
                f"{dataset} has no staged file for {day} in the stage "
                f"({self.stage.description}): {what}"
            )
        staged = self.staged(str(pointer["file"]), what)
        source = pointer.get("source")
        published = pointer.get("published_at")
        return replace(
            staged,
            source=str(source) if source else None,
            published_at=datetime.fromisoformat(str(published)) if published else None,
        )

    def read(self, key: str, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        with self.stage.open(key) as handle:
            return pq.read_table(handle, columns=columns)
