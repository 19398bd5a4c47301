"""What every warehouse does with the long table, and the SQL the checks share.

Loading a day is always the same two steps in one transaction: delete the day's rows, copy the
day's staged Parquet file in. If the copy fails, or loads a different number of rows than the
file's footer holds, the transaction rolls back and the previous rows stay. The row-count and
totals queries are the same text on every warehouse, so a check means the same thing in DuckDB
as in Snowflake.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from genesys_assets.long_table import PARTITION_COLUMN
from genesys_assets.stage.parquet_files import StagedParquet

if TYPE_CHECKING:
    import pyarrow as pa

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")


class WarehouseError(RuntimeError):
    """A load or query that failed; the message names the table and the day."""


@dataclass(frozen=True)
class LoadResult:
    table: str  # fully qualified, as the warehouse names it
    rows_deleted: int
    rows_loaded: int
    elapsed_s: float
    columns_added: tuple[str, ...] = ()


def identifier(name: str, what: str) -> str:
    """A validated identifier (no quoting games: letters, digits, _ and $ only)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise WarehouseError(
            f"{what} '{name}' is not a plain identifier (letters, digits, _ and $, "
            "not starting with a digit)"
        )
    return name


def row_count_sql(table: str) -> str:
    return f"SELECT COUNT(*) FROM {table} WHERE {PARTITION_COLUMN} = ?"


def totals_sql(table: str) -> str:
    return (
        f"SELECT metric, SUM(stat_count), SUM(stat_sum) FROM {table} "
        f"WHERE {PARTITION_COLUMN} = ? GROUP BY metric ORDER BY metric"
    )


class Warehouse(ABC):
    """A SQL warehouse holding one table per dataset (plus the queue dimension)."""

    @property
    @abstractmethod
    def description(self) -> str:
        """Which warehouse and where, for logs and metadata (never credentials)."""

    @abstractmethod
    def qualified(self, table: str) -> str:
        """The table's fully qualified, quoted name."""

    @abstractmethod
    def _replace(
        self, table: str, schema: pa.Schema, staged: StagedParquet, day: date | None
    ) -> LoadResult:
        """In one transaction: delete the day's rows (every row when `day` is None), copy the
        staged file in, and roll back unless exactly the footer's row count was loaded.

        Creates the table if missing and adds columns the schema has and the table lacks.
        """

    @abstractmethod
    def _query_day(self, table: str, sql: str, day: date) -> list[tuple[Any, ...]]:
        """Run one of the check queries with the day bound to its `?`."""

    @contextmanager
    def connected(self) -> Iterator[None]:
        """One connection for every operation in the block (a loop over days).

        A warehouse that keeps its connection anyway (Snowflake) has nothing to do.
        """
        yield

    def replace_partition(
        self, table: str, schema: pa.Schema, day: date, staged: StagedParquet
    ) -> LoadResult:
        """Make the table's rows for `day` exactly those of the staged file, atomically."""
        return self._replace(table, schema, staged, day)

    def replace_table(self, table: str, schema: pa.Schema, staged: StagedParquet) -> LoadResult:
        """Make the whole table exactly the staged file, atomically."""
        return self._replace(table, schema, staged, None)

    def partition_row_count(self, table: str, day: date) -> int:
        return int(self._query_day(table, row_count_sql(self.qualified(table)), day)[0][0])

    def partition_totals(self, table: str, day: date) -> dict[str, tuple[int, float]]:
        """Per metric: (sum of stat_count, sum of stat_sum) over the day's rows."""
        rows = self._query_day(table, totals_sql(self.qualified(table)), day)
        return {metric: (int(count or 0), float(total or 0.0)) for metric, count, total in rows}

    @abstractmethod
    def close(self) -> None:
        """Release any connection held between calls."""
