"""What the Dagster catalog says about each asset: what the data means, where it lives, its
columns. Built when the definitions load, so nothing here imports pyarrow or a warehouse driver.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dagster import MetadataValue, TableColumn, TableSchema

from genesys_assets import long_table
from genesys_assets.datasets import Dataset
from genesys_assets.dimensions import Dimension
from genesys_assets.pipeline.resources import (
    DuckDBWarehouseResource,
    SnowflakeWarehouseResource,
    WarehouseResource,
)

# Arrow type names as a reader of the warehouse sees them.
_SQL_TYPES = {
    "date": "DATE",
    "timestamp_ms": "TIMESTAMP WITH TIME ZONE",
    "timestamp_us": "TIMESTAMP WITH TIME ZONE",
    "string": "VARCHAR",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
}


@dataclass(frozen=True)
class WarehouseNaming:
    """Which warehouse the tables are in, as the catalog names it (kind, table names)."""

    kind: str  # "duckdb" or "snowflake": the asset kind the UI shows as an icon
    prefix: str  # schema (DuckDB) or database.schema (Snowflake)
    upper: bool  # Snowflake folds unquoted names to upper case

    def table_name(self, table: str) -> str:
        return f"{self.prefix}.{table.upper() if self.upper else table}"


def warehouse_naming(warehouse: WarehouseResource) -> WarehouseNaming:
    if isinstance(warehouse, SnowflakeWarehouseResource):
        prefix = f"{warehouse.database.upper()}.{warehouse.schema_name.upper()}"
        return WarehouseNaming("snowflake", prefix, upper=True)
    if isinstance(warehouse, DuckDBWarehouseResource):
        return WarehouseNaming("duckdb", warehouse.schema_name, upper=False)
    raise TypeError(f"no catalog naming for {type(warehouse).__name__}")


def _schema(columns: Sequence[long_table.Column], upper: bool = False) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=c.name.upper() if upper else c.name,
                type=_SQL_TYPES[c.type],
                description=c.description,
                constraints=None,
            )
            for c in columns
        ]
    )


def column_schema(
    dataset: Dataset, naming: WarehouseNaming, names: Sequence[str] = ()
) -> TableSchema:
    """The table's columns; with `names`, those it has after a load (unasked dimensions too)."""
    extra = long_table.extra_columns(dataset.group_by, names)
    return _schema(long_table.columns(dataset.group_by, extra), upper=naming.upper)


def raw_pages_description(dataset: Dataset) -> str:
    return (
        f"{dataset.description}\n\nThe day's Genesys Cloud aggregates answers, byte for byte: "
        "zstd-compressed pages in the stage with a manifest per day (query, pages, sha256)."
    )


def raw_pages_metadata(dataset: Dataset) -> dict[str, Any]:
    return {"dataset": dataset.name, "query": MetadataValue.json(dataset.query.definition())}


def parquet_description(dataset: Dataset) -> str:
    return (
        f"{dataset.name} as the long table (one row per bucket, group and metric), one snappy "
        "Parquet file per day under year=/month=/day=, the file the warehouse loads."
    )


def table_description(dataset: Dataset) -> str:
    granularity = dataset.query.granularity or "the whole day"
    return (
        f"{dataset.description}\n\nOne row per {granularity} bucket, group "
        f"({', '.join(dataset.group_by) or 'none'}) and metric "
        f"({', '.join(dataset.metrics)}), in the org's day ({dataset.query.time_zone}): "
        "partition_date is the Dagster partition. Each day is replaced whole by its staged "
        "Parquet file and checked against it."
    )


def table_metadata(dataset: Dataset, naming: WarehouseNaming) -> dict[str, Any]:
    return {
        "dataset": dataset.name,
        "dagster/table_name": naming.table_name(dataset.name),
        "dagster/column_schema": column_schema(dataset, naming),
        "query": MetadataValue.json(dataset.query.definition()),
    }


def dimension_metadata(dimension: Dimension, naming: WarehouseNaming) -> dict[str, Any]:
    return {
        "dagster/table_name": naming.table_name(dimension.name),
        "dagster/column_schema": _schema(dimension.columns, upper=naming.upper),
        "permission": dimension.permission or "none (any valid token)",
    }
