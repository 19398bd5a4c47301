"""Small helpers for what a materialization shows in the Dagster UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def preview_rows(rows: list[dict[str, Any]]) -> MetadataValue:
    """Rows as the warehouse returned them, as a Markdown table without all-empty columns."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame = frame.loc[:, frame.notna().any()] if len(frame) else frame
    return MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "(no rows)")


def png_markdown(png: bytes, caption: object) -> str:
    """A PNG as a Markdown image the UI shows inline (a data URI: nothing to host)."""
    import base64

    return f"![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})"
