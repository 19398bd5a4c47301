"""DuckDB as the warehouse (the embedded default): one file, a `genesys` schema.

DuckDB lets one process at a time open a file for writing. Runs can overlap (a backfill and the
UI's check, two runs of a backfill), so the file is held only as long as needed: one operation
(a range run's load is one operation, one statement reading all of its files), or one
`connected()` scope, then released; an operation waits its turn while another process holds the
lock. Opening the file costs tens of milliseconds: a caller that loops over days one operation
at a time holds it open with `connected()`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from genesys_assets.datasets import Org
from genesys_assets.long_table import ORG_COLUMN
from genesys_assets.stage.base import Stage
from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet
from genesys_assets.warehouse.base import (
    LOADS_TABLE,
    WHOLE_TABLE,
    LoadResult,
    Warehouse,
    WarehouseError,
    answered_count,
    claim_legacy_rows,
    day_bounds_sql,
    days_filter,
    identifier,
    legacy_sql,
    loads_schema,
    log_delete_sql,
    log_insert_params,
    log_insert_sql,
    scope,
    verify_bounds,
    verify_loaded,
)


def sql_type(dtype: pa.DataType) -> str:
    if pa.types.is_date32(dtype):
        return "DATE"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ" if dtype.tz else "TIMESTAMP"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "VARCHAR"
    if pa.types.is_integer(dtype):
        return "BIGINT"
    if pa.types.is_floating(dtype):
        return "DOUBLE"
    if pa.types.is_boolean(dtype):
        return "BOOLEAN"
    raise WarehouseError(f"no DuckDB type for Arrow type {dtype}")


class DuckDBWarehouse(Warehouse):
    def __init__(
        self,
        path: str | Path,
        stage: Stage,
        *,
        schema: str = "genesys",
        lock_timeout_s: float = 300.0,
        memory_limit: str = "128MB",
    ) -> None:
        self.path = Path(path)
        self.stage = stage
        self.schema = identifier(schema, "DuckDB schema")
        self.lock_timeout_s = lock_timeout_s
        # DuckDB's buffer pool keeps what a connection touched, up to 80% of RAM by default: over
        # a long backfill that is the whole table. A day's load needs little; the cap keeps the
        # pipeline's memory flat whatever the number of days (DuckDB spills beyond it).
        self.memory_limit = memory_limit
        self._held: duckdb.DuckDBPyConnection | None = None
        self._ensured: set[tuple[str, tuple[str, ...]]] = set()

    @property
    def description(self) -> str:
        return f"DuckDB {self.path} (schema {self.schema})"

    def qualified(self, table: str) -> str:
        return f'"{self.schema}"."{identifier(table, "table")}"'

    @contextmanager
    def connected(self) -> Iterator[None]:
        """Keep one connection open for every operation inside the block."""
        if self._held is not None:
            yield
            return
        with self._open() as con:
            self._held = con
            try:
                yield
            finally:
                self._held = None
                self._ensured.clear()

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._held is not None:
            yield self._held
            return
        with self._open() as con:
            try:
                yield con
            finally:
                self._ensured.clear()

    @contextmanager
    def _open(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), config={"memory_limit": self.memory_limit})
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise WarehouseError(f"cannot open {self.path}: {exc}") from None
                if time.monotonic() > deadline:
                    raise WarehouseError(
                        f"cannot open {self.path}: another process has held it for "
                        f"{self.lock_timeout_s:g} s (DUCKDB_LOCK_TIMEOUT); close that connection "
                        f"(an analyst's session?) or raise DUCKDB_LOCK_TIMEOUT: {exc}"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        try:
            yield con
        finally:
            con.close()

    def _ensure(self, con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> list[str]:
        key = (table, tuple(schema.names))
        if key in self._ensured:
            return []  # checked on this connection already
        self._ensured.add(key)
        qualified = self.qualified(table)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        columns = ", ".join(
            f'"{identifier(f.name, "column")}" {sql_type(f.type)}'
            + ("" if f.nullable else " NOT NULL")
            for f in schema
        )
        con.execute(f"CREATE TABLE IF NOT EXISTS {qualified} ({columns})")
        existing = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                [self.schema, table],
            ).fetchall()
        }
        added = []
        for f in schema:
            if f.name not in existing:
                # Nullable whatever the schema says: the rows already there have no value.
                con.execute(f'ALTER TABLE {qualified} ADD COLUMN "{f.name}" {sql_type(f.type)}')
                added.append(f.name)
        return added

    def _replace(
        self,
        table: str,
        schema: pa.Schema,
        org: Org,
        files: Mapping[date, StagedParquet],
        whole: StagedParquet | None = None,
    ) -> LoadResult:
        started = time.monotonic()
        qualified = self.qualified(table)
        log = self.qualified(LOADS_TABLE)
        days = list(files)
        by_day: dict[date, int] = {}
        with self._connect() as con:
            added = self._ensure(con, table, schema)
            if days:
                self._ensure(con, LOADS_TABLE, loads_schema())
            con.begin()
            try:
                # Rows from before orgs (the column was added by this load or an earlier one
                # that refused them): they become the org's, or the load stops here.
                for name in (qualified, log) if days else (qualified,):
                    self._claim(con, name, org)
                if whole is not None:
                    deleted = answered_count(
                        con.execute(
                            f"DELETE FROM {qualified} WHERE {ORG_COLUMN} = ?", [org.id]
                        ).fetchone(),
                        "DELETE",
                    )
                    loaded = self._insert(con, qualified, [whole])
                    verify_loaded(qualified, {WHOLE_TABLE: whole}, {WHOLE_TABLE: loaded})
                else:
                    deleted = answered_count(
                        con.execute(
                            f"DELETE FROM {qualified} WHERE {days_filter(len(days))}",
                            scope(org.id, days),
                        ).fetchone(),
                        "DELETE",
                    )
                    loaded = self._insert(con, qualified, list(files.values()))
                    # Counted again in the table, day by day: a file holding rows of another
                    # day (or org) would pass a check of the total alone.
                    counted = con.execute(
                        day_bounds_sql(qualified, len(days)), scope(org.id, days)
                    ).fetchall()
                    by_day = verify_bounds(qualified, files, counted, org.time_zone)
                    con.execute(log_delete_sql(log, len(days)), [table, *scope(org.id, days)])
                    con.execute(
                        log_insert_sql(log, len(days)), log_insert_params(table, org.id, files)
                    )
                con.commit()
            except BaseException:
                con.rollback()
                raise
        return LoadResult(
            qualified, deleted, loaded, time.monotonic() - started, tuple(added), by_day
        )

    def _claim(self, con: duckdb.DuckDBPyConnection, qualified: str, org: Org) -> None:
        count_sql, update_sql = legacy_sql(qualified)
        found = con.execute(count_sql).fetchone()
        if found and found[0]:
            claim_legacy_rows(qualified, org, int(found[0]))
            con.execute(update_sql, [org.id])

    def _insert(
        self, con: duckdb.DuckDBPyConnection, qualified: str, staged: Sequence[StagedParquet]
    ) -> int:
        paths = [self.stage.local_path(file.key) for file in staged]
        try:
            if all(path is not None for path in paths):
                # One statement for every file: DuckDB reads them in parallel. The day folders
                # look like Hive partitions; DuckDB would add year/month/day columns.
                cursor = con.execute(
                    f"INSERT INTO {qualified} BY NAME "
                    "SELECT * FROM read_parquet(?, hive_partitioning = false)",
                    [[str(path) for path in paths]],
                )
                return answered_count(cursor.fetchone(), "INSERT")
            # A remote stage: read each file through the stage (DuckDB's own S3 support
            # downloads an extension at run time, which offline machines cannot).
            inserted = 0
            for file in staged:
                con.register("staged_file", ParquetStore(self.stage).read(file.key))
                cursor = con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM staged_file")
                inserted += answered_count(cursor.fetchone(), "INSERT")
                con.unregister("staged_file")
            return inserted
        except duckdb.Error as exc:
            keys = staged[0].key if len(staged) == 1 else f"{len(staged)} files"
            raise WarehouseError(
                f"loading {keys} into {qualified} failed, rolled back, the previous rows "
                f"are kept: {exc}"
            ) from None

    def close(self) -> None:
        """Nothing to do: every operation opens and closes the file (see the module docstring)."""

    def replace_view(self, view: str, select_sql: str) -> None:
        qualified = self.qualified(view)
        with self._connect() as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            try:
                con.execute(f"CREATE OR REPLACE VIEW {qualified} AS {select_sql}")
            except duckdb.Error as exc:
                raise WarehouseError(f"creating the view {qualified} failed: {exc}") from None

    def columns_of(self, table: str) -> set[str]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                [self.schema, identifier(table, "table")],
            ).fetchall()
        return {str(row[0]).lower() for row in rows}

    def _query(self, table: str, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self._connect() as con:
            try:
                return con.execute(sql, list(params)).fetchall()
            except duckdb.CatalogException:
                raise WarehouseError(
                    f"{self.qualified(table)} does not exist in {self.description}: "
                    f"materialize {table} first"
                ) from None
