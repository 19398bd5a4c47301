"""The long table in the stage: one snappy Parquet file per dataset and day.

The file name is fixed, so a day's file is replaced as a whole (an atomic put) and a warehouse
load addresses exactly one file. What a staged file holds is read from its own footer, never
from what a writer said it wrote: that is the number the row-count check compares with the
warehouse.

pyarrow is imported where it is used: the Dagster definitions import this module for its types,
and loading them is paid by the UI and every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
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

    def write_day(self, dataset: str, day: date, table: pa.Table) -> StagedParquet:
        return self.write(layout.parquet(dataset, day), table)

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
        return self.staged(
            layout.parquet(dataset, day),
            f"materialize {dataset}_parquet for partition {day} first",
        )

    def read(self, key: str, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        with self.stage.open(key) as handle:
            return pq.read_table(handle, columns=columns)
