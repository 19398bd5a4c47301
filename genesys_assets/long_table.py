"""The long table: one row per (bucket, group, metric), whatever the metrics.

A dataset's metrics come and go without a schema change: a new metric adds rows. A new group-by
dimension adds one nullable column, which the warehouse loaders add with ALTER TABLE. The Arrow
schema here is the single definition that the flattener writes, the Parquet files carry and the
warehouse DDL is derived from. Arrow types are built inside the functions: the column names are
needed when the Dagster definitions load, pyarrow only when a run writes or reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from genesys_assets.genesys import catalog

if TYPE_CHECKING:
    import pyarrow as pa

PARTITION_COLUMN = "partition_date"

# (API statistic, column): stat_count, stat_sum, ... in the order of the SDK's StatisticalSummary.
STAT_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (stat, f"stat_{catalog.snake_case(stat)}") for stat in catalog.STAT_FIELDS
)


def stat_type(stat: str) -> pa.DataType:
    """Whole-number statistics are int64 (as in the SDK model), the others float64."""
    import pyarrow as pa

    return pa.int64() if stat in catalog.INTEGER_STATS else pa.float64()


def interval_type() -> pa.DataType:
    import pyarrow as pa

    return pa.timestamp("ms", tz="UTC")


def dimension_column(dimension: str) -> str:
    """queueId -> queue_id."""
    return catalog.snake_case(dimension)


def extra_columns(group_by: Sequence[str], columns: Sequence[str]) -> tuple[str, ...]:
    """The dimension columns among `columns` (a staged file's) that `group_by` does not declare."""
    declared = {dimension_column(d) for d in group_by}
    return tuple(c for c in columns if c not in declared and c not in FIXED_COLUMNS)


# Columns every long table has, whatever its dimensions: a group key of the API that would map
# onto one of these cannot become a column of its own.
FIXED_COLUMNS: tuple[str, ...] = (
    PARTITION_COLUMN,
    "interval_start",
    "interval_end",
    "metric",
    "qualifier",
    *(column for _, column in STAT_COLUMNS),
    "source_file",
    "loaded_at",
)


def schema(group_by: Sequence[str], extra_columns: Sequence[str] = ()) -> pa.Schema:
    """The long table's columns for a dataset grouped by `group_by`.

    `extra_columns` are dimension columns (already snake_case) for group keys the API sent
    without being asked (real answers carry `mediaType` in every group): each is a column of
    its own, after the declared ones, so that rows of different values are never merged.
    """
    import pyarrow as pa

    declared = [dimension_column(d) for d in group_by]
    extra = sorted(set(extra_columns) - set(declared))
    fields = [
        pa.field(PARTITION_COLUMN, pa.date32(), nullable=False),
        pa.field("interval_start", interval_type(), nullable=False),
        pa.field("interval_end", interval_type(), nullable=False),
        *(pa.field(column, pa.string()) for column in [*declared, *extra]),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("qualifier", pa.string()),
        *(pa.field(column, stat_type(stat)) for stat, column in STAT_COLUMNS),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
    return pa.schema(fields)
