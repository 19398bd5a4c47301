"""Snowflake as the warehouse: COPY INTO from a named external stage over the S3 stage.

The stage (`SNOWFLAKE_STAGE`) is created once by an administrator with a storage integration, so
no AWS key ever appears in SQL; files are addressed relative to it, exactly as the S3 stage lays
them out. The file format is spelled out in every COPY (a stage's own format is not relied on),
every COPY forces the load (Snowflake skips files it loaded in the last 64 days, and after the
DELETE that would leave the day empty), and reads Parquet's logical types so that the files' UTC
timestamps land in TIMESTAMP_TZ as UTC whatever the session's time zone.

Identifiers follow Snowflake's rule for unquoted names (upper case), then are quoted, so a user's
`SNOWFLAKE_DATABASE=analytics` is the database ANALYTICS. Values are always bound (qmark), never
formatted into SQL; the only literal in a COPY is a stage path built from validated names.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from datetime import date
from typing import Any

import pyarrow as pa

from genesys_assets.datasets import Org
from genesys_assets.long_table import ORG_COLUMN, PARTITION_COLUMN
from genesys_assets.stage.parquet_files import StagedParquet
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

_STAGE_PATH = re.compile(r"^[A-Za-z0-9_=./\-]+$")


def sql_type(dtype: pa.DataType) -> str:
    if pa.types.is_date32(dtype):
        return "DATE"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP_TZ" if dtype.tz else "TIMESTAMP_NTZ"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "VARCHAR"
    if pa.types.is_integer(dtype):
        return "NUMBER(38,0)"
    if pa.types.is_floating(dtype):
        return "FLOAT"
    if pa.types.is_boolean(dtype):
        return "BOOLEAN"
    raise WarehouseError(f"no Snowflake type for Arrow type {dtype}")


def _name(value: str, what: str) -> str:
    return identifier(value, what).upper()


class SnowflakeWarehouse(Warehouse):
    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[Any]],
        *,
        database: str,
        schema: str,
        stage: str,
        account: str = "",
    ) -> None:
        """`connect` opens a DB-API connection with paramstyle qmark (SnowflakeResource's)."""
        self._connect = connect
        self.database = _name(database, "SNOWFLAKE_DATABASE")
        self.schema = _name(schema, "SNOWFLAKE_SCHEMA")
        self.stage = _name(stage, "SNOWFLAKE_STAGE")
        self.account = account
        self._exit = ExitStack()
        self._connection: Any = None

    @property
    def description(self) -> str:
        where = f"account {self.account}, " if self.account else ""
        return f"Snowflake ({where}{self.database}.{self.schema}, stage @{self.stage})"

    def qualified(self, table: str) -> str:
        return f'"{self.database}"."{self.schema}"."{_name(table, "table")}"'

    def stage_reference(self) -> str:
        return f'@"{self.database}"."{self.schema}"."{self.stage}"'

    def _cursor(self) -> Any:
        if self._connection is None:
            self._connection = self._exit.enter_context(self._connect())
        return self._connection.cursor()

    def close(self) -> None:
        self._connection = None
        self._exit.close()

    def _ensure(self, cursor: Any, table: str, schema: pa.Schema) -> list[str]:
        qualified = self.qualified(table)
        columns = ", ".join(
            f'"{_name(f.name, "column")}" {sql_type(f.type)}' + ("" if f.nullable else " NOT NULL")
            for f in schema
        )
        cluster = (
            f' CLUSTER BY ("{PARTITION_COLUMN.upper()}", "{ORG_COLUMN.upper()}")'
            if PARTITION_COLUMN in schema.names and ORG_COLUMN in schema.names
            else ""
        )
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {qualified} ({columns}){cluster}")
        cursor.execute(
            f'SELECT COLUMN_NAME FROM "{self.database}".INFORMATION_SCHEMA.COLUMNS '
            "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            [self.schema, _name(table, "table")],
        )
        existing = {row[0].upper() for row in cursor.fetchall()}
        added = []
        for f in schema:
            column = _name(f.name, "column")
            if column not in existing:
                cursor.execute(f'ALTER TABLE {qualified} ADD COLUMN "{column}" {sql_type(f.type)}')
                added.append(f.name)
        return added

    def copy_sql(self, table: str, staged: StagedParquet) -> str:
        """The COPY for one staged file; the file's path is the only literal in it."""
        if not _STAGE_PATH.match(staged.key) or ".." in staged.key:
            raise WarehouseError(f"refusing to COPY from an unexpected stage path '{staged.key}'")
        folder, _, name = staged.key.rpartition("/")
        return (
            f"COPY INTO {self.qualified(table)} FROM {self.stage_reference()}/{folder}/ "
            f"FILES = ('{name}') FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE) "
            "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE"
        )

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
        cursor = self._cursor()
        loaded: dict[date | str, int] = {}
        by_day: dict[date, int] = {}
        current = f"{len(days)} day(s) from {days[0]}" if days else "the table"  # for errors
        try:
            added = self._ensure(cursor, table, schema)  # DDL commits on its own: before BEGIN
            if days:
                self._ensure(cursor, LOADS_TABLE, loads_schema())
            cursor.execute("BEGIN")
            try:
                # Rows from before orgs (the column was added by this load or an earlier one
                # that refused them): they become the org's, or the load stops here.
                for name in (qualified, log) if days else (qualified,):
                    count_sql, update_sql = legacy_sql(name)
                    cursor.execute(count_sql)
                    found = cursor.fetchone()
                    if found and found[0]:
                        claim_legacy_rows(name, org, int(found[0]))
                        cursor.execute(update_sql, [org.id])
                if whole is not None:
                    cursor.execute(f"DELETE FROM {qualified} WHERE {ORG_COLUMN} = ?", [org.id])
                else:
                    cursor.execute(
                        f"DELETE FROM {qualified} WHERE {days_filter(len(days))}",
                        scope(org.id, days),
                    )
                deleted = answered_count(cursor.fetchone(), "DELETE")
                # One COPY per file, each checked against its own footer (the result says
                # rows_loaded per file, so a short load names its file), then the days counted
                # again in the table: a file holding another day's rows passes the first check.
                expected: dict[date | str, StagedParquet] = (
                    {WHOLE_TABLE: whole} if whole is not None else {d: f for d, f in files.items()}
                )
                for what, file in expected.items():
                    current = file.key
                    cursor.execute(self.copy_sql(table, file))
                    loaded[what] = _rows_loaded(cursor.fetchall(), cursor.description)
                verify_loaded(qualified, expected, loaded)
                if days:
                    cursor.execute(day_bounds_sql(qualified, len(days)), scope(org.id, days))
                    by_day = verify_bounds(qualified, files, cursor.fetchall(), org.time_zone)
                    cursor.execute(log_delete_sql(log, len(days)), [table, *scope(org.id, days)])
                    cursor.execute(
                        log_insert_sql(log, len(days)), log_insert_params(table, org.id, files)
                    )
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        except WarehouseError:
            raise
        except Exception as exc:
            raise WarehouseError(
                f"loading {current} into {qualified} failed, rolled back, the previous rows "
                f"are kept: {exc}"
            ) from None
        finally:
            cursor.close()
        return LoadResult(
            qualified,
            deleted,
            sum(loaded.values()),
            time.monotonic() - started,
            tuple(added),
            by_day,
        )

    def replace_view(self, view: str, select_sql: str) -> None:
        qualified = self.qualified(view)
        cursor = self._cursor()
        try:
            cursor.execute(f"CREATE OR REPLACE VIEW {qualified} AS {select_sql}")
        except Exception as exc:
            raise WarehouseError(f"creating the view {qualified} failed: {exc}") from None
        finally:
            cursor.close()

    def columns_of(self, table: str) -> set[str]:
        cursor = self._cursor()
        try:
            cursor.execute(
                f'SELECT COLUMN_NAME FROM "{self.database}".INFORMATION_SCHEMA.COLUMNS '
                "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                [self.schema, _name(table, "table")],
            )
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return {str(row[0]).lower() for row in rows}

    def _query(self, table: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor = self._cursor()
        try:
            cursor.execute(sql, list(params))
            return cursor.fetchall()
        except Exception as exc:
            raise WarehouseError(f"query on {self.qualified(table)} failed: {exc}") from None
        finally:
            cursor.close()


def _rows_loaded(rows: list[tuple[Any, ...]], description: Any) -> int:
    """Sum `rows_loaded` over COPY's result (one row per file, 10 columns)."""
    names = [d[0].lower() for d in description or []]
    if "rows_loaded" not in names:
        return 0  # "Copy executed with 0 files processed."
    index = names.index("rows_loaded")
    return sum(int(row[index] or 0) for row in rows)
