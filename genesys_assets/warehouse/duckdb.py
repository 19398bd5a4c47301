"""DuckDB as the warehouse (the embedded default): one file, a `genesys` schema.

DuckDB lets one process at a time open a file for writing. Runs can overlap (a backfill and the
UI's check, two runs of a backfill), so the file is held only as long as needed: one operation,
or one `connected()` scope (an asset's loop over its days), then released; an operation waits its
turn while another process holds the lock. Opening the file costs tens of milliseconds, which a
90-day backfill would otherwise pay a thousand times.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from genesys_assets.long_table import PARTITION_COLUMN
from genesys_assets.stage.base import Stage
from genesys_assets.stage.parquet_files import ParquetStore, StagedParquet
from genesys_assets.warehouse.base import (
    LoadResult,
    Warehouse,
    WarehouseError,
    identifier,
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
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"cannot open {self.path}: {exc}") from None
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
        self, table: str, schema: pa.Schema, staged: StagedParquet, day: date | None
    ) -> LoadResult:
        started = time.monotonic()
        qualified = self.qualified(table)
        with self._connect() as con:
            added = self._ensure(con, table, schema)
            con.begin()
            try:
                if day is None:
                    deleted = con.execute(f"DELETE FROM {qualified}").fetchone()[0]
                else:
                    deleted = con.execute(
                        f"DELETE FROM {qualified} WHERE {PARTITION_COLUMN} = ?", [day]
                    ).fetchone()[0]
                loaded = self._insert(con, qualified, staged)
                if loaded != staged.rows:
                    raise WarehouseError(
                        f"loading {staged.key} into {qualified} inserted {loaded} rows but the "
                        f"file holds {staged.rows}; rolled back, the previous rows are kept"
                    )
                con.commit()
            except BaseException:
                con.rollback()
                raise
        return LoadResult(qualified, deleted, loaded, time.monotonic() - started, tuple(added))

    def _insert(self, con: duckdb.DuckDBPyConnection, qualified: str, staged: StagedParquet) -> int:
        path = self.stage.local_path(staged.key)
        try:
            if path is not None:
                # The day folders look like Hive partitions; DuckDB would add year/month/day.
                cursor = con.execute(
                    f"INSERT INTO {qualified} BY NAME "
                    "SELECT * FROM read_parquet(?, hive_partitioning = false)",
                    [str(path)],
                )
            else:
                # A remote stage: read it through the stage (DuckDB's own S3 support downloads
                # an extension at run time, which offline machines cannot).
                con.register("staged_file", ParquetStore(self.stage).read(staged.key))
                cursor = con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM staged_file")
            return int(cursor.fetchone()[0])
        except duckdb.Error as exc:
            raise WarehouseError(
                f"loading {staged.key} into {qualified} failed, rolled back, the previous rows "
                f"are kept: {exc}"
            ) from None

    def close(self) -> None:
        """Nothing to do: every operation opens and closes the file (see the module docstring)."""

    def _query_day(self, table: str, sql: str, day: date) -> list[tuple[object, ...]]:
        with self._connect() as con:
            try:
                return con.execute(sql, [day]).fetchall()
            except duckdb.CatalogException:
                raise WarehouseError(
                    f"{self.qualified(table)} does not exist in {self.description}: "
                    f"materialize {table} first"
                ) from None
