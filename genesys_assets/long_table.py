"""The long table: one row per (bucket, group, metric), whatever the metrics.

A dataset's metrics come and go without a schema change: a new metric adds rows. A new group-by
dimension adds one nullable column, which the warehouse loaders add with ALTER TABLE. The Arrow
schema here is the single definition that the flattener writes, the Parquet files carry and the
warehouse DDL is derived from.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from genesys_assets.genesys import catalog

PARTITION_COLUMN = "partition_date"
TIMESTAMP = pa.timestamp("ms", tz="UTC")

# stat_count, stat_sum, ... in the order of the SDK's StatisticalSummary.
STAT_COLUMNS: tuple[tuple[str, str, pa.DataType], ...] = tuple(
    (
        stat,
        f"stat_{catalog.snake_case(stat)}",
        pa.int64() if stat in catalog.INTEGER_STATS else pa.float64(),
    )
    for stat in catalog.STAT_FIELDS
)


def dimension_column(dimension: str) -> str:
    """queueId -> queue_id."""
    return catalog.snake_case(dimension)


def schema(group_by: Sequence[str]) -> pa.Schema:
    """The long table's columns for a dataset grouped by `group_by`."""
    fields = [
        pa.field(PARTITION_COLUMN, pa.date32(), nullable=False),
        pa.field("interval_start", TIMESTAMP, nullable=False),
        pa.field("interval_end", TIMESTAMP, nullable=False),
        *(pa.field(dimension_column(d), pa.string()) for d in group_by),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("qualifier", pa.string()),
        *(pa.field(column, dtype) for _, column, dtype in STAT_COLUMNS),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
    return pa.schema(fields)
