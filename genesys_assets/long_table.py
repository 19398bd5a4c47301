"""The long table: one row per (bucket, group, metric), whatever the metrics.

A dataset's metrics come and go without a schema change: a new metric adds rows. A new group-by
dimension adds one nullable column, which the warehouse loaders add with ALTER TABLE. The Arrow
schema here is the single definition that the flattener writes, the Parquet files carry and the
warehouse DDL is derived from. Arrow types are built inside the functions: the column names are
needed when the Dagster definitions load, pyarrow only when a run writes or reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from genesys_assets.genesys import catalog

if TYPE_CHECKING:
    import pyarrow as pa

PARTITION_COLUMN = "partition_date"
# The org a row belongs to (its id in the datasets file): with the partition date, the key a
# load replaces by, so that one table holds every org's days side by side.
ORG_COLUMN = "org"
DEFAULT_ORG = "default"  # the org of a datasets file that declares one and gives it no id

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


def measure(metric: str, qualifier: str | None) -> str:
    """What the totals checks compare by: the metric, and the status for the metrics that
    carry one (`tAgentRoutingStatus[IDLE]`), so that time moved from one status to another
    cannot hide in an unchanged sum."""
    return metric if qualifier is None else f"{metric}[{qualifier}]"


def measures(count: int, keys: Sequence[str]) -> str:
    """ "N metrics", or "N metrics and statuses" where some measures are a metric's status."""
    return f"{count} metrics" + (" and statuses" if any("[" in k for k in keys) else "")


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
    ORG_COLUMN,
    "interval_start",
    "interval_end",
    "metric",
    "qualifier",
    *(column for _, column in STAT_COLUMNS),
    "source_file",
    "loaded_at",
)


@dataclass(frozen=True)
class Column:
    """A column as the catalog shows it and the Arrow schema builds it (no pyarrow needed)."""

    name: str
    type: str  # one of ARROW_TYPES' keys
    nullable: bool
    description: str


def _stat_description(stat: str) -> str:
    return f"the bucket's `{stat}` statistic of the metric (NULL when the metric has none)"


def columns(group_by: Sequence[str], extra_columns: Sequence[str] = ()) -> list[Column]:
    """The long table's columns for a dataset grouped by `group_by`.

    `extra_columns` are dimension columns (already snake_case) for group keys the API sent
    without being asked (real answers carry `mediaType` in every group): each is a column of
    its own, after the declared ones, so that rows of different values are never merged.
    """
    declared = [(dimension_column(d), d) for d in group_by]
    extra = sorted(set(extra_columns) - {name for name, _ in declared})
    return [
        Column(
            PARTITION_COLUMN,
            "date",
            False,
            "the org's local day the bucket belongs to (the Dagster partition)",
        ),
        Column(ORG_COLUMN, "string", False, "the org the row is of (its id in the datasets file)"),
        Column("interval_start", "timestamp_ms", False, "start of the bucket, UTC"),
        Column("interval_end", "timestamp_ms", False, "end of the bucket (exclusive), UTC"),
        *(
            Column(name, "string", True, f"group-by dimension `{dimension}` of the query")
            for name, dimension in declared
        ),
        *(
            Column(name, "string", True, "a dimension the API grouped by without being asked")
            for name in extra
        ),
        Column("metric", "string", False, "the Genesys metric, e.g. tHandle, nOffered"),
        Column("qualifier", "string", True, "the metric's qualifier, if it has one"),
        *(
            Column(
                column, "int64" if stat in catalog.INTEGER_STATS else "float64", True,
                _stat_description(stat),
            )
            for stat, column in STAT_COLUMNS
        ),
        Column("source_file", "string", False, "the raw page in the stage the row came from"),
        Column("loaded_at", "timestamp_us", False, "when the row was flattened, UTC"),
    ]  # fmt: skip


def arrow_type(name: str) -> pa.DataType:
    import pyarrow as pa

    types = {
        "date": pa.date32(),
        "timestamp_ms": interval_type(),
        "timestamp_us": pa.timestamp("us", tz="UTC"),
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
    }
    return types[name]


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in columns])


def schema(group_by: Sequence[str], extra_columns: Sequence[str] = ()) -> pa.Schema:
    """The long table's Arrow schema: what the flattener writes, Parquet carries and the
    warehouse DDL is derived from."""
    return arrow_schema(columns(group_by, extra_columns))
