"""Small helpers for what a materialization shows in the Dagster UI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import MetadataValue

if TYPE_CHECKING:
    import pyarrow as pa

PREVIEW_ROWS = 10


def preview(table: pa.Table, rows: int = PREVIEW_ROWS) -> MetadataValue:
    """The first rows as a Markdown table, leaving out columns that are empty in them."""
    head = table.slice(0, rows)
    keep = [name for name in head.column_names if head.column(name).null_count < head.num_rows]
    frame = head.select(keep).to_pandas()
    return MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "(no rows)")


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0
