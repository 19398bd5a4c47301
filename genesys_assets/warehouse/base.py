"""What every warehouse does with the long table, and the SQL the checks share.

Loading is always the same two steps in one transaction: delete the rows of the days being
loaded, copy each day's staged Parquet file in. If a copy fails, or any day ends up with a row
count other than its file's footer, the transaction rolls back and the previous rows stay. A run
over a range of days loads them all in one transaction: Dagster records a range run's partitions
as materialized only if the whole step succeeds, and the warehouse then agrees with it (all of
the days, or none), at one commit instead of one per day. The row-count and totals queries are
the same text on every warehouse, so a check means the same thing in DuckDB as in Snowflake.

Every table holds every org's rows side by side: a load replaces one org's days (the `org`
column and `partition_date` are its key), a dimension one org's rows, and every query of the
checks is about one org. A table made before orgs were declared gets the column on its next
load, its rows claimed by the org of a one-org file (a file of several orgs cannot tell whose
they are, and refuses until they are assigned).

In the same transaction the load log (`genesys_loads`) records, per dataset, org and day, the
staged file the rows came from and the raw fetch that file was made from. The checks compare
the table with that file, the one actually loaded, not with whatever the stage holds now (a
later run may have staged a newer file and failed before loading it); and stage retention keeps
every file and raw page the log names.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from genesys_assets.datasets import LOADS_TABLE, Org
from genesys_assets.long_table import ORG_COLUMN, PARTITION_COLUMN, measure
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
    rows_by_day: Mapping[date, int] = field(default_factory=dict)  # empty for a whole table


@dataclass(frozen=True)
class LoadedFile:
    """What the load log says a day of a table holds."""

    day: date
    staged_file: str
    raw_fetch: str | None  # the raw fetch folder the file was flattened from
    rows: int
    loaded_at: datetime | None


def loads_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("dataset", pa.string(), nullable=False),
            pa.field(ORG_COLUMN, pa.string(), nullable=False),
            pa.field(PARTITION_COLUMN, pa.date32(), nullable=False),
            pa.field("staged_file", pa.string(), nullable=False),
            pa.field("raw_fetch", pa.string()),
            pa.field("row_count", pa.int64(), nullable=False),
            pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        ]
    )


def identifier(name: str, what: str) -> str:
    """A validated identifier (no quoting games: letters, digits, _ and $ only)."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise WarehouseError(
            f"{what} '{name}' is not a plain identifier (letters, digits, _ and $, "
            "not starting with a digit)"
        )
    return name


def days_filter(count: int) -> str:
    """`org = ? AND partition_date IN (?, ..., ?)`: one org's `count` days, all bound (the org
    first, then the days: see `scope`)."""
    return f"{ORG_COLUMN} = ? AND {PARTITION_COLUMN} IN ({', '.join('?' * count)})"


def scope(org: str, days: Sequence[date]) -> list[Any]:
    """The values `days_filter` binds, in its order."""
    return [org, *days]


def row_counts_sql(table: str, days: int) -> str:
    return (
        f"SELECT {PARTITION_COLUMN}, COUNT(*) FROM {table} WHERE {days_filter(days)} "
        f"GROUP BY {PARTITION_COLUMN}"
    )


def day_bounds_sql(table: str, days: int) -> str:
    """Per day: rows, the earliest bucket start and the latest bucket end."""
    return (
        f"SELECT {PARTITION_COLUMN}, COUNT(*), MIN(interval_start), MAX(interval_end) "
        f"FROM {table} WHERE {days_filter(days)} GROUP BY {PARTITION_COLUMN}"
    )


def preview_sql(table: str, columns: Sequence[str], rows: int) -> str:
    """The first `rows` rows of one org's day (by bucket, then metric).

    One day per query: a top-N of one day stays small whatever the range, where a window over
    every day of a 90-day run sorts them all (and ran DuckDB out of its memory limit).
    """
    return (
        f"SELECT {', '.join(columns)} FROM {table} WHERE {days_filter(1)} "
        f"ORDER BY interval_start, metric LIMIT {int(rows)}"
    )


def log_delete_sql(log: str, days: int) -> str:
    return f"DELETE FROM {log} WHERE dataset = ? AND {days_filter(days)}"


def log_insert_sql(log: str, days: int) -> str:
    row = "(?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)"
    return (
        f"INSERT INTO {log} (dataset, {ORG_COLUMN}, {PARTITION_COLUMN}, staged_file, raw_fetch, "
        "row_count, loaded_at) "
        f"VALUES {', '.join([row] * days)}"
    )


def log_insert_params(dataset: str, org: str, files: Mapping[date, StagedParquet]) -> list[Any]:
    params: list[Any] = []
    for day, file in files.items():
        params.extend([dataset, org, day, file.key, file.source, file.rows])
    return params


def log_select_sql(log: str, days: int | None) -> str:
    where = f" AND {days_filter(days)}" if days is not None else f" AND {ORG_COLUMN} = ?"
    return (
        f"SELECT {PARTITION_COLUMN}, staged_file, raw_fetch, row_count, loaded_at FROM {log} "
        f"WHERE dataset = ?{where}"
    )


def claim_legacy_rows(table: str, org: Org, rows_without_org: int) -> None:
    """Whose are the rows of a table made before orgs were declared (its `org` column NULL in
    them, whichever load added the column): a one-org file's org; with several, nobody can
    tell, and the load is refused before it changes anything."""
    if rows_without_org and org.prefixed:
        raise WarehouseError(
            f"{table} holds {rows_without_org} rows from before orgs were declared (no org): "
            "with several orgs in the datasets file nobody can tell whose they are. Assign "
            f"them (UPDATE {table} SET org = '<org id>' WHERE org IS NULL, in the table and in "
            f"{LOADS_TABLE}), then run again"
        )


def verify_bounds(
    qualified: str,
    files: Mapping[date, StagedParquet],
    counted: Sequence[tuple[Any, ...]],
    time_zone: str,
) -> dict[date, int]:
    """Each day holds its file's footer row count, every bucket inside the day's local interval.

    Counted in the table, inside the load's transaction: a file holding another day's rows, or
    a bucket longer than a day filed under its first day, must roll the load back.
    """
    zone = ZoneInfo(time_zone)
    by_day: dict[date, int] = {}
    outside = []
    for raw_day, count, first_start, last_end in counted:
        day = as_date(raw_day)
        by_day[day] = int(count)
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        if as_timestamp(first_start) < start or as_timestamp(last_end) > end:
            outside.append(
                f"{day}: buckets from {as_timestamp(first_start).isoformat()} to "
                f"{as_timestamp(last_end).isoformat()}, outside the day's "
                f"{start.isoformat()}..{end.isoformat()}"
            )
    if outside:
        more = f" (and {len(outside) - 5} more days)" if len(outside) > 5 else ""
        raise WarehouseError(
            f"loading {qualified}: {'; '.join(outside[:5])}{more}; rolled back, the previous "
            "rows are kept"
        )
    verify_loaded(qualified, dict(files), dict(by_day))
    return by_day


def as_timestamp(value: Any) -> datetime:
    """A timestamp as the driver returns it, made aware (a naive one is UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The statistics that add up over buckets and groups (a minimum, a ratio or a target does not),
# as the API names them; their columns are stat_<name>.
ADDITIVE_STATS: tuple[str, ...] = ("count", "sum", "numerator", "denominator")


def legacy_sql(table: str) -> tuple[str, str]:
    """The count of a table's rows without an org, and the statement that gives them one."""
    return (
        f"SELECT COUNT(*) FROM {table} WHERE {ORG_COLUMN} IS NULL",
        f"UPDATE {table} SET {ORG_COLUMN} = ? WHERE {ORG_COLUMN} IS NULL",
    )


def totals_sql(table: str, days: int) -> str:
    sums = ", ".join(f"SUM(stat_{stat})" for stat in ADDITIVE_STATS)
    return (
        f"SELECT {PARTITION_COLUMN}, metric, qualifier, {sums} FROM {table} "
        f"WHERE {days_filter(days)} GROUP BY {PARTITION_COLUMN}, metric, qualifier "
        f"ORDER BY {PARTITION_COLUMN}, metric, qualifier"
    )


def answered_count(row: Sequence[Any] | None, statement: str) -> int:
    """The row count a DELETE, INSERT or COPY answers with. A driver that answered none is an
    error naming the statement, not a crash on `None` mid-transaction."""
    if row is None:
        raise WarehouseError(f"the warehouse answered {statement} without its row count")
    return int(row[0])


# What a load is verified by: its days, or WHOLE_TABLE for a table replaced whole.
Key = TypeVar("Key", bound=date | str)


def verify_loaded(
    qualified: str, files: Mapping[Key, StagedParquet], loaded: Mapping[Key, int]
) -> None:
    """Each day (or "all rows", for a whole table) holds exactly its file's footer row count,
    or the load must roll back."""
    wrong = [
        f"{what}: {loaded.get(what, 0)} rows loaded from {file.key}, whose footer says {file.rows}"
        for what, file in files.items()
        if loaded.get(what, 0) != file.rows
    ]
    if wrong:
        more = f" (and {len(wrong) - 5} more days)" if len(wrong) > 5 else ""
        raise WarehouseError(
            f"loading {qualified}: {'; '.join(wrong[:5])}{more}; rolled back, the previous rows "
            "are kept"
        )


WHOLE_TABLE = "all rows"


class Warehouse(ABC):
    """A SQL warehouse holding one table per dataset and per dimension, every org's rows in it."""

    @property
    @abstractmethod
    def description(self) -> str:
        """Which warehouse and where, for logs and metadata (never credentials)."""

    @abstractmethod
    def qualified(self, table: str) -> str:
        """The table's fully qualified, quoted name."""

    @abstractmethod
    def _replace(
        self,
        table: str,
        schema: pa.Schema,
        org: Org,
        files: Mapping[date, StagedParquet],
        whole: StagedParquet | None = None,
    ) -> LoadResult:
        """In one transaction: delete `org`'s rows of the days in `files` and copy their files
        in, recording each day's file in the load log (or, with `whole`, delete every row of
        `org` and copy that file in), and roll back unless each day (or the org's rows) holds
        exactly its file's footer row count, every bucket inside the day's local interval in
        the org's time zone.

        Creates the table if missing and adds columns the schema has and the table lacks (the
        org column of a table made before orgs: see `claim_legacy_rows`).
        """

    @abstractmethod
    def _query(self, table: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one of the check queries with `params` bound to its `?`s."""

    @contextmanager
    def connected(self) -> Iterator[None]:
        """One connection for every operation in the block (a caller's loop over single days).

        A warehouse that keeps its connection anyway (Snowflake) has nothing to do.
        """
        yield

    def replace_partitions(
        self,
        table: str,
        schema: pa.Schema,
        files: Mapping[date, StagedParquet],
        org: Org,
    ) -> LoadResult:
        """Make the org's rows of the table for each day exactly those of its staged file, all
        at once."""
        if not files:
            raise WarehouseError(f"nothing to load into {self.qualified(table)}: no days given")
        return self._replace(table, schema, org, dict(sorted(files.items())))

    def replace_partition(
        self, table: str, schema: pa.Schema, day: date, staged: StagedParquet, org: Org
    ) -> LoadResult:
        """Make the org's rows of the table for `day` exactly those of the file, atomically."""
        return self.replace_partitions(table, schema, {day: staged}, org)

    def loaded_files(
        self, table: str, org: str, days: Sequence[date] | None = None
    ) -> dict[date, LoadedFile]:
        """What the load log says each day of `org` in `table` holds (all days, or these)."""
        if days is not None and not days:
            return {}
        sql = log_select_sql(self.qualified(LOADS_TABLE), None if days is None else len(days))
        params: list[Any] = [table, org, *(days or [])]
        try:
            rows = self._query(LOADS_TABLE, sql, params)
        except WarehouseError:
            if not self.has_table(LOADS_TABLE):
                return {}  # nothing was ever loaded
            raise
        return {
            as_date(day): LoadedFile(as_date(day), staged, source, int(rows_), loaded_at)
            for day, staged, source, rows_, loaded_at in rows
        }

    @abstractmethod
    def columns_of(self, table: str) -> set[str]:
        """The names of a table's (or view's) columns, lower case; empty if there is none."""

    def has_table(self, table: str) -> bool:
        return bool(self.columns_of(table))

    def table_row_count(self, table: str, org: str) -> int | None:
        """An org's rows of a table (a dimension), None if the table does not exist yet. Rows
        from before orgs (no org column, or NULL in it) count as the org's: its next replace
        claims them or refuses (`claim_legacy_rows`)."""
        columns = self.columns_of(table)
        if not columns:
            return None
        qualified = self.qualified(table)
        if ORG_COLUMN not in columns:
            return int(self._query(table, f"SELECT COUNT(*) FROM {qualified}", [])[0][0])
        sql = f"SELECT COUNT(*) FROM {qualified} WHERE {ORG_COLUMN} = ? OR {ORG_COLUMN} IS NULL"
        return int(self._query(table, sql, [org])[0][0])

    def replace_org_rows(
        self, table: str, schema: pa.Schema, staged: StagedParquet, org: Org
    ) -> LoadResult:
        """Make the org's rows of the table exactly the staged file, atomically (a dimension,
        listed whole for one org)."""
        return self._replace(table, schema, org, {}, whole=staged)

    def select(self, table: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query about `table` (named in the error if it does not exist)."""
        return self._query(table, sql, list(params))

    @abstractmethod
    def replace_view(self, view: str, select_sql: str) -> None:
        """Create the view, or replace its definition, in the tables' schema."""

    def distinct_values(self, table: str, column: str, org: str) -> set[str]:
        """The non-NULL values of `column` in an org's rows (a dimension's ids)."""
        name = identifier(column, "column")
        sql = (
            f"SELECT DISTINCT {name} FROM {self.qualified(table)} "
            f"WHERE {name} IS NOT NULL AND {ORG_COLUMN} = ?"
        )
        return {str(value) for (value,) in self._query(table, sql, [org])}

    def distinct_values_by_day(
        self,
        table: str,
        column: str,
        org: str,
        days: Sequence[date],
        *,
        metric: str | None = None,
    ) -> dict[date, set[str]]:
        """Per day of `org`, the non-NULL values of `column` (one query for all the days); with
        `metric`, in that metric's rows only."""
        found: dict[date, set[str]] = {day: set() for day in days}
        if days:
            name = identifier(column, "column")
            sql = (
                f"SELECT DISTINCT {PARTITION_COLUMN}, {name} FROM {self.qualified(table)} "
                f"WHERE {name} IS NOT NULL AND {days_filter(len(days))}"
            )
            params: list[Any] = scope(org, days)
            if metric is not None:
                sql += " AND metric = ?"
                params.append(metric)
            for day, value in self._query(table, sql, params):
                found[as_date(day)].add(str(value))
        return found

    def partition_row_counts(self, table: str, org: str, days: Sequence[date]) -> dict[date, int]:
        """An org's rows per day, for these days only (0 for a day with none)."""
        counts = {day: 0 for day in days}
        if days:
            sql = row_counts_sql(self.qualified(table), len(days))
            for day, count in self._query(table, sql, scope(org, days)):
                counts[as_date(day)] = int(count)
        return counts

    def preview_rows(
        self,
        table: str,
        columns: Sequence[str],
        org: str,
        days: Sequence[date],
        rows: int = 5,
    ) -> dict[date, list[dict[str, Any]]]:
        """What the table holds now: the first rows of each of the org's days, to show beside
        its count."""
        names = [identifier(c, "column") for c in columns]
        sql = preview_sql(self.qualified(table), names, rows)
        with self.connected():
            return {
                day: [
                    dict(zip(columns, row, strict=True))
                    for row in self._query(table, sql, scope(org, [day]))
                ]
                for day in days
            }

    def partition_row_count(self, table: str, org: str, day: date) -> int:
        return self.partition_row_counts(table, org, [day])[day]

    def partition_totals_by_day(
        self, table: str, org: str, days: Sequence[date]
    ) -> dict[date, dict[str, tuple[int, float]]]:
        """Per day and measure (`long_table.measure`): (sum of stat_count, sum of stat_sum)."""
        return {
            day: {
                metric: (int(stats.get("count", 0)), float(stats.get("sum", 0.0)))
                for metric, stats in metrics.items()
            }
            for day, metrics in self.partition_stat_totals(table, org, days).items()
        }

    def partition_stat_totals(
        self, table: str, org: str, days: Sequence[date]
    ) -> dict[date, dict[str, dict[str, float]]]:
        """Per day and measure (the metric, and its qualifier if it has one: see
        `long_table.measure`), the sum of each additive statistic it has (a statistic that is
        NULL in every row of it is left out)."""
        totals: dict[date, dict[str, dict[str, float]]] = {day: {} for day in days}
        if days:
            sql = totals_sql(self.qualified(table), len(days))
            for day, metric, qualifier, *sums in self._query(table, sql, scope(org, days)):
                totals[as_date(day)][measure(metric, qualifier)] = {
                    stat: float(value)
                    for stat, value in zip(ADDITIVE_STATS, sums, strict=True)
                    if value is not None
                }
        return totals

    @abstractmethod
    def close(self) -> None:
        """Release any connection held between calls."""


def as_date(value: Any) -> date:
    """A DATE as the driver returns it (a date; a datetime from some drivers)."""
    return value.date() if hasattr(value, "date") and callable(value.date) else value
