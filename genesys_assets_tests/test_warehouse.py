"""Warehouse loads, on DuckDB and on Snowflake (fakesnow over HTTP, reading the moto bucket).

The same tests for both: a day is replaced atomically, re-runs never double, a failed COPY and a
row count that differs from the file's footer keep the previous rows, a new group-by dimension
adds a column, and the parity checks see a row deleted behind the pipeline's back.
"""

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from genesys_assets import long_table
from genesys_assets.datasets import PLAIN_ORG
from genesys_assets.flatten import PageInput, flatten_pages
from genesys_assets.parity import row_count_parity, totals_parity
from genesys_assets.stage import LocalStage, Stage
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.stage.s3 import S3Stage
from genesys_assets.warehouse.base import Warehouse, WarehouseError
from genesys_assets.warehouse.duckdb import DuckDBWarehouse
from genesys_assets.warehouse.snowflake import SnowflakeWarehouse

from .test_flatten import PAGE

pytest_plugins = ["genesys_assets_tests.stand_ins"]

DAY = date(2024, 11, 1)
GROUP_BY = ["queueId", "mediaType"]
SCHEMA = long_table.schema(GROUP_BY)
# The loads below are of one org; its days are UTC days unless the test says otherwise.
ORG = PLAIN_ORG
NY_ORG = dataclasses.replace(PLAIN_ORG, time_zone="America/New_York")


@dataclass
class Parts:
    stage: Stage
    store: ParquetStore
    warehouse: Warehouse
    query: Callable[[str, list], list[tuple]]  # SQL of the test's own, straight to the warehouse


@pytest.fixture(params=["duckdb", "snowflake"])
def parts(request, tmp_path):
    if request.param == "duckdb":
        stage = LocalStage(tmp_path / "stage")
        warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", stage)

        def query(sql: str, params: list) -> list[tuple]:
            with duckdb.connect(str(warehouse.path)) as con:
                return con.execute(sql, params).fetchall()

        yield Parts(stage, ParquetStore(stage), warehouse, query)
        return
    sf = request.getfixturevalue("snowflake_stand_in")
    stage = S3Stage(sf.bucket.client, sf.bucket.name, sf.bucket.prefix)
    warehouse = SnowflakeWarehouse(
        sf.connect, database=sf.database, schema=sf.schema, stage=sf.stage
    )
    yield Parts(stage, ParquetStore(stage), warehouse, sf.query)
    warehouse.close()


def day_table(multiplier: int = 1) -> pa.Table:
    page = PageInput(json.dumps(PAGE).encode(), "raw/p1")
    return flatten_pages([page] * multiplier, GROUP_BY, "America/New_York", datetime.now(UTC)).table


def rows(parts: Parts, day: date = DAY) -> list[tuple]:
    table = parts.warehouse.qualified("ds")
    return parts.query(
        f"SELECT metric, queue_id, media_type, stat_count, interval_start FROM {table} "
        "WHERE partition_date = ? ORDER BY 1, 2, 3, 4",
        [day],
    )


def test_load_rerun_and_other_days(parts):
    staged = parts.store.write_day("ds", DAY, day_table())
    first = parts.warehouse.replace_partition("ds", SCHEMA, DAY, staged, ORG)
    assert (first.rows_deleted, first.rows_loaded) == (0, 5)
    before = rows(parts)
    assert len(before) == 5
    instants = {row[4] for row in before}
    assert instants == {
        datetime(2024, 11, 1, 4, 0, tzinfo=UTC),
        datetime(2024, 11, 1, 4, 30, tzinfo=UTC),
    }
    again = parts.warehouse.replace_partition("ds", SCHEMA, DAY, staged, ORG)
    assert (again.rows_deleted, again.rows_loaded) == (5, 5)
    assert rows(parts) == before
    other = date(2024, 11, 2)
    parts.warehouse.replace_partition(
        "ds", SCHEMA, other, parts.store.write_day("ds", other, on_day(other)), ORG
    )
    assert rows(parts) == before, "loading another day leaves this one alone"
    assert parts.warehouse.partition_row_count("ds", ORG.id, other) == 5


def on_day(day: date, multiplier: int = 1) -> pa.Table:
    """The day's table moved to another day: its date and its buckets (by whole UTC days)."""
    table = day_table(multiplier)
    shift = pa.scalar(timedelta(days=(day - DAY).days), pa.duration("ms"))
    table = table.set_column(
        0, long_table.PARTITION_COLUMN, pa.array([day] * table.num_rows, pa.date32())
    )
    for name in ("interval_start", "interval_end"):
        index = table.schema.get_field_index(name)
        moved = pc.add(table.column(name), shift).cast(table.schema.field(name).type)
        table = table.set_column(index, table.schema.field(name), moved)
    return table


def test_the_preview_shows_each_days_own_first_rows(parts):
    days = [date(2024, 11, d) for d in (1, 2, 3)]
    files = {d: parts.store.write_day("ds", d, on_day(d)) for d in days}
    parts.warehouse.replace_partitions("ds", SCHEMA, files, ORG)
    columns = ["partition_date", "interval_start", "metric", "stat_count"]
    shown = parts.warehouse.preview_rows("ds", columns, ORG.id, [*days, date(2024, 11, 4)], rows=3)
    for day in days:
        assert len(shown[day]) == 3
        assert {row["partition_date"] for row in shown[day]} == {day}
        starts = [(row["interval_start"], row["metric"]) for row in shown[day]]
        assert starts == sorted(starts), "by bucket, then metric"
    assert shown[date(2024, 11, 4)] == [], "a day the table does not hold shows no rows"


def test_a_range_of_days_is_replaced_in_one_go(parts):
    days = [date(2024, 11, d) for d in (1, 2, 3)]
    files = {d: parts.store.write_day("ds", d, on_day(d)) for d in days}
    first = parts.warehouse.replace_partitions("ds", SCHEMA, files, ORG)
    assert (first.rows_deleted, first.rows_loaded) == (0, 15)
    assert first.rows_by_day == {d: 5 for d in days}
    files[days[1]] = parts.store.write_day("ds", days[1], on_day(days[1], multiplier=2))
    again = parts.warehouse.replace_partitions("ds", SCHEMA, files, ORG)
    assert (again.rows_deleted, again.rows_loaded) == (15, 20)
    assert parts.warehouse.partition_row_counts("ds", ORG.id, [*days, date(2024, 11, 4)]) == {
        days[0]: 5,
        days[1]: 10,
        days[2]: 5,
        date(2024, 11, 4): 0,
    }
    by_day = parts.warehouse.partition_totals_by_day("ds", ORG.id, days)
    assert by_day[days[1]]["tHandle"] == (28, 6020000.0)
    assert by_day[days[0]]["tHandle"] == (14, 3010000.0)


def test_one_bad_day_in_a_range_keeps_every_previous_day(parts):
    days = [date(2024, 11, d) for d in (1, 2, 3)]
    files = {d: parts.store.write_day("ds", d, on_day(d)) for d in days}
    parts.warehouse.replace_partitions("ds", SCHEMA, files, ORG)
    before = {d: rows(parts, d) for d in days}
    # Day 2's file holds day 3's rows: the total is right, the days are not.
    files = {d: parts.store.write_day("ds", d, on_day(d, multiplier=2)) for d in days}
    files[days[1]] = parts.store.write_day("ds", days[1], on_day(days[2], multiplier=2))
    with pytest.raises(WarehouseError, match=r"2024-11-02: .* rolled back, the previous rows"):
        parts.warehouse.replace_partitions("ds", SCHEMA, files, ORG)
    assert {d: rows(parts, d) for d in days} == before


def test_a_failed_copy_keeps_the_previous_rows(parts):
    staged = parts.store.write_day("ds", DAY, day_table())
    parts.warehouse.replace_partition("ds", SCHEMA, DAY, staged, ORG)
    before = rows(parts)
    bigger = parts.store.write_day("ds", DAY, day_table(multiplier=2))
    parts.stage.put(bigger.key, b"PAR1 this is not parquet PAR1")
    with pytest.raises(WarehouseError, match="rolled back, the previous rows are kept"):
        parts.warehouse.replace_partition("ds", SCHEMA, DAY, bigger, ORG)
    assert rows(parts) == before


def test_a_count_that_differs_from_the_footer_rolls_back(parts):
    staged = parts.store.write_day("ds", DAY, day_table())
    parts.warehouse.replace_partition("ds", SCHEMA, DAY, staged, ORG)
    lying = type(staged)(staged.key, staged.rows + 1, staged.bytes, staged.columns)
    with pytest.raises(
        WarehouseError, match=r"2024-11-01: 5 rows loaded from .*, whose footer says 6; rolled back"
    ):
        parts.warehouse.replace_partition("ds", SCHEMA, DAY, lying, ORG)
    assert parts.warehouse.partition_row_count("ds", ORG.id, DAY) == 5


def test_a_new_group_by_dimension_adds_a_nullable_column(parts):
    parts.warehouse.replace_partition(
        "ds", SCHEMA, DAY, parts.store.write_day("ds", DAY, day_table()), ORG
    )
    wider_schema = long_table.schema([*GROUP_BY, "direction"])
    wider = (
        day_table().append_column("direction", pa.array(["inbound"] * 5)).select(wider_schema.names)
    )
    result = parts.warehouse.replace_partition(
        "ds", wider_schema, DAY, parts.store.write_day("ds", DAY, wider), ORG
    )
    assert result.columns_added == ("direction",)
    table = parts.warehouse.qualified("ds")
    assert parts.query(f"SELECT DISTINCT direction FROM {table}", []) == [("inbound",)]


def test_parity_passes_then_fails_when_a_row_is_deleted_behind_our_back(parts):
    staged = parts.store.write_day("ds", DAY, day_table())
    parts.warehouse.replace_partition("ds", SCHEMA, DAY, staged, ORG)
    ((counted,),) = [row_count_parity(parts.warehouse, parts.store, "ds", ORG.id, [DAY])]
    ((totals,),) = [totals_parity(parts.warehouse, parts.store, "ds", ORG.id, [DAY])]
    assert counted.passed and totals.passed
    parts.query(f"DELETE FROM {parts.warehouse.qualified('ds')} WHERE metric = 'tHandle'", [])
    ((counted,),) = [row_count_parity(parts.warehouse, parts.store, "ds", ORG.id, [DAY])]
    assert not counted.passed
    assert counted.details == {"warehouse_rows": 4, "staged_rows": 5, "staged_file": staged.key}
    ((totals,),) = [totals_parity(parts.warehouse, parts.store, "ds", ORG.id, [DAY])]
    assert not totals.passed
    assert totals.details["mismatches"] == [
        {
            "metric": "tHandle",
            "staged_count": 14,
            "warehouse_count": 0,
            "staged_sum": 3010000.0,
            "warehouse_sum": 0.0,
        }
    ]


def test_an_orgs_rows_of_a_dimension_are_replaced_and_the_other_orgs_kept(parts):
    schema = pa.schema(
        [("org", pa.string(), False), ("queue_id", pa.string()), ("name", pa.string())]
    )
    other = dataclasses.replace(ORG, id="other")

    def listing(org: str, ids: list[str]) -> pa.Table:
        return pa.table(
            {"org": [org] * len(ids), "queue_id": ids, "name": [i.upper() for i in ids]},
            schema=schema,
        )

    first = parts.store.write("dim/data.parquet", listing(ORG.id, ["a", "b"]))
    parts.warehouse.replace_org_rows("dim", schema, first, ORG)
    theirs = parts.store.write("dim/org=other/data.parquet", listing("other", ["x"]))
    parts.warehouse.replace_org_rows("dim", schema, theirs, other)
    second = parts.store.write("dim/data.parquet", listing(ORG.id, ["c"]))
    result = parts.warehouse.replace_org_rows("dim", schema, second, ORG)
    assert (result.rows_deleted, result.rows_loaded) == (2, 1)
    table = parts.warehouse.qualified("dim")
    assert parts.query(f"SELECT org, queue_id, name FROM {table} ORDER BY 1, 2", []) == [
        ("default", "c", "C"),
        ("other", "x", "X"),
    ]
    assert parts.warehouse.table_row_count("dim", "other") == 1


def test_identifiers_are_validated(parts):
    with pytest.raises(WarehouseError, match="table 'ds; DROP TABLE x' is not a plain identifier"):
        parts.warehouse.qualified("ds; DROP TABLE x")


def test_snowflake_copies_from_the_external_stage_with_bound_values_only(snowflake_stand_in):
    sf = snowflake_stand_in
    stage = S3Stage(sf.bucket.client, sf.bucket.name, sf.bucket.prefix)
    warehouse = SnowflakeWarehouse(
        sf.connect, database=sf.database, schema=sf.schema, stage=sf.stage
    )
    staged = ParquetStore(stage).write_day("ds", DAY, day_table())
    seen = len(sf.statements)
    warehouse.replace_partition("ds", SCHEMA, DAY, staged, ORG)
    warehouse.close()
    sent = [s.sql for s in sf.statements[seen:]]
    [copy] = [s for s in sent if s.startswith("COPY INTO")]
    assert copy == (
        f'COPY INTO "{sf.database}"."GENESYS"."DS" FROM @"{sf.database}"."GENESYS"."GENESYS_STAGE"'
        f"/ds/year=2024/month=11/day=01/ FILES = ('{staged.key.rpartition('/')[2]}') FILE_FORMAT = (TYPE = PARQUET "
        "USE_LOGICAL_TYPE = TRUE) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE"
    )
    deletes = [s for s in sf.statements[seen:] if s.sql.startswith("DELETE")]
    assert len(deletes) == 2, "the day's rows and its entry in the load log"
    for delete in deletes:
        assert "2024" not in delete.sql and delete.bindings, "the day is bound, not formatted in"
    [logged] = warehouse.loaded_files("ds", ORG.id, [DAY]).values()
    assert (logged.staged_file, logged.rows) == (staged.key, 5)
    assert any(
        s.startswith("CREATE TABLE IF NOT EXISTS") and 'CLUSTER BY ("PARTITION_DATE", "ORG")' in s
        for s in sent
    )


def test_a_duckdb_lock_held_by_another_process_is_waited_for(tmp_path):
    stage = LocalStage(tmp_path / "stage")
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", stage)
    staged = ParquetStore(stage).write_day("ds", DAY, day_table())
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(warehouse.path)!r}); print('held', flush=True); time.sleep(1.5)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    result = warehouse.replace_partition("ds", SCHEMA, DAY, staged, ORG)
    holder.wait()
    assert result.rows_loaded == 5
    assert time.monotonic() - started > 0.5


def test_a_missing_table_says_what_to_materialize(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", LocalStage(tmp_path / "stage"))
    with pytest.raises(
        WarehouseError, match=r'"genesys"."nope" does not exist .*materialize nope first'
    ):
        warehouse.partition_row_count("nope", ORG.id, DAY)


def test_a_connected_block_opens_the_duckdb_file_once_and_releases_it(tmp_path, monkeypatch):
    stage = LocalStage(tmp_path / "stage")
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", stage)
    store = ParquetStore(stage)
    days = [date(2024, 11, d) for d in (1, 2, 3)]
    files = {d: store.write_day("ds", d, on_day(d)) for d in days}
    opened = []
    real_connect = duckdb.connect
    monkeypatch.setattr(
        duckdb, "connect", lambda *a, **k: opened.append(a) or real_connect(*a, **k)
    )
    with warehouse.connected():
        for d in days:
            warehouse.replace_partition("ds", SCHEMA, d, files[d], ORG)
        assert [warehouse.partition_row_count("ds", ORG.id, d) for d in days] == [5, 5, 5]
    assert len(opened) == 1
    probe = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(warehouse.path)!r}).close()"],
        capture_output=True,
    )
    assert probe.returncode == 0, "released at the end of the block"
    warehouse.replace_partition("ds", SCHEMA, days[0], files[days[0]], ORG)
    warehouse.partition_row_count("ds", ORG.id, days[0])
    assert len(opened) == 3, "outside a block, one connection per operation"


def test_a_file_whose_buckets_leave_its_day_rolls_the_load_back(parts):
    """A week's bucket filed under its first day passes a row count; the load refuses it."""
    staged = parts.store.write_day("ds", DAY, day_table())
    parts.warehouse.replace_partition("ds", SCHEMA, DAY, staged, NY_ORG)
    before = rows(parts)
    week = day_table()
    end = week.schema.get_field_index("interval_end")
    longer = pc.add(week.column("interval_end"), pa.scalar(timedelta(days=6), pa.duration("ms")))
    week = week.set_column(end, week.schema.field(end), longer.cast(week.schema.field(end).type))
    bad = parts.store.write_day("ds", DAY, week)
    with pytest.raises(WarehouseError, match=r"2024-11-01: buckets from .* outside the day's"):
        parts.warehouse.replace_partition("ds", SCHEMA, DAY, bad, NY_ORG)
    assert rows(parts) == before
    [logged] = parts.warehouse.loaded_files("ds", ORG.id, [DAY]).values()
    assert logged.staged_file == staged.key, "the load log still names the good file"


def test_a_statement_that_answers_no_row_count_is_an_error_that_says_so():
    from genesys_assets.warehouse.base import answered_count

    con = duckdb.connect()
    assert answered_count(con.execute("SELECT 42").fetchone(), "INSERT") == 42
    with pytest.raises(WarehouseError, match="answered DELETE without its row count"):
        answered_count(con.execute("SELECT 1 WHERE false").fetchone(), "DELETE")
