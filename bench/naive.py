"""The naive flattener: the reference the real one must beat by 5x.

What anyone would write first: `json.loads` the page, walk results -> buckets -> metrics in
Python, build one dict per metric row with exactly the long table's columns, and hand the list
to `pyarrow.Table.from_pylist`. It is not made deliberately slow: interval strings are parsed
once per bucket (not once per metric row) and the dimension values once per group, and the
result is the same table as `genesys_assets.flatten.flatten_pages` produces (checked by the
flattening benchmark), so the two are compared on the same work.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import pyarrow as pa

from genesys_assets import long_table
from genesys_assets.flatten import PageInput
from genesys_assets.genesys import catalog
from genesys_assets.long_table import PARTITION_COLUMN


def flatten_naive(
    pages: Iterable[PageInput], group_by: Sequence[str], time_zone: str, loaded_at: datetime
) -> pa.Table:
    schema = long_table.schema(group_by)
    zone = ZoneInfo(time_zone)
    columns = [(d, long_table.dimension_column(d)) for d in group_by]
    # Every statistic the API can send, under the column the long table gives it.
    stats_columns = [
        (stat, column)
        for stat in catalog.STAT_FIELDS
        if (column := f"stat_{catalog.snake_case(stat)}") in schema.names
    ]
    rows: list[dict[str, object]] = []
    for page in pages:
        document = json.loads(page.body)
        for result in document.get("results") or []:
            group = result.get("group") or {}
            dimensions = {column: group.get(d) for d, column in columns}
            for bucket in result.get("data") or []:
                start_text, end_text = bucket["interval"].split("/")
                start = datetime.fromisoformat(start_text)
                end = datetime.fromisoformat(end_text)
                day = start.astimezone(zone).date()
                for entry in bucket.get("metrics") or []:
                    stats = entry.get("stats") or {}
                    row: dict[str, object] = {
                        PARTITION_COLUMN: day,
                        "interval_start": start,
                        "interval_end": end,
                        **dimensions,
                        "metric": entry["metric"],
                        "qualifier": entry.get("qualifier"),
                    }
                    for stat, column in stats_columns:
                        row[column] = stats.get(stat)
                    row["source_file"] = page.source_file
                    row["loaded_at"] = loaded_at
                    rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema)
