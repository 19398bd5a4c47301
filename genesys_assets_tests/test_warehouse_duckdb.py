"""DuckDB loads: a day is replaced atomically, re-runs never double, failures keep the old rows."""

import json
import subprocess
import sys
import time
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa
import pytest

from genesys_assets import long_table
from genesys_assets.flatten import PageInput, flatten_pages
from genesys_assets.parity import row_count_parity, totals_parity
from genesys_assets.stage import LocalStage
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.warehouse.base import WarehouseError
from genesys_assets.warehouse.duckdb import DuckDBWarehouse

from .test_flatten import PAGE

DAY = date(2024, 11, 1)
GROUP_BY = ["queueId", "mediaType"]
SCHEMA = long_table.schema(GROUP_BY)


@pytest.fixture
def parts(tmp_path):
    stage = LocalStage(tmp_path / "stage")
    return stage, ParquetStore(stage), DuckDBWarehouse(tmp_path / "wh.duckdb", stage)


def day_table(multiplier: int = 1) -> pa.Table:
    page = PageInput(json.dumps(PAGE).encode(), "raw/p1")
    table = flatten_pages(
        [page] * multiplier, GROUP_BY, "America/New_York", datetime.now(UTC)
    ).table
    return table


def rows(warehouse: DuckDBWarehouse, day: date = DAY) -> list[tuple]:
    with duckdb.connect(str(warehouse.path)) as con:
        return con.execute(
            'SELECT metric, queue_id, stat_count FROM genesys."ds" WHERE partition_date = ? '
            "ORDER BY ALL",
            [day],
        ).fetchall()


def test_load_rerun_and_other_days(parts):
    _, store, warehouse = parts
    staged = store.write_day("ds", DAY, day_table())
    first = warehouse.replace_partition("ds", SCHEMA, DAY, staged)
    assert (first.rows_deleted, first.rows_loaded, first.table) == (0, 5, '"genesys"."ds"')
    before = rows(warehouse)
    again = warehouse.replace_partition("ds", SCHEMA, DAY, staged)
    assert (again.rows_deleted, again.rows_loaded) == (5, 5)
    assert rows(warehouse) == before
    other = date(2024, 11, 2)
    shifted = day_table().set_column(
        0, long_table.PARTITION_COLUMN, pa.array([other] * 5, pa.date32())
    )
    warehouse.replace_partition("ds", SCHEMA, other, store.write_day("ds", other, shifted))
    assert rows(warehouse) == before, "loading another day leaves this one alone"
    assert warehouse.partition_row_count("ds", other) == 5


def test_a_failed_copy_keeps_the_previous_rows(parts):
    stage, store, warehouse = parts
    staged = store.write_day("ds", DAY, day_table())
    warehouse.replace_partition("ds", SCHEMA, DAY, staged)
    before = rows(warehouse)
    bigger = store.write_day("ds", DAY, day_table(multiplier=2))
    stage.put(bigger.key, b"PAR1 this is not parquet PAR1")
    with pytest.raises(WarehouseError, match="rolled back, the previous rows are kept"):
        warehouse.replace_partition("ds", SCHEMA, DAY, bigger)
    assert rows(warehouse) == before


def test_a_count_that_differs_from_the_footer_rolls_back(parts):
    _, store, warehouse = parts
    staged = store.write_day("ds", DAY, day_table())
    warehouse.replace_partition("ds", SCHEMA, DAY, staged)
    lying = type(staged)(staged.key, staged.rows + 1, staged.bytes, staged.columns)
    with pytest.raises(WarehouseError, match="inserted 5 rows but the file holds 6"):
        warehouse.replace_partition("ds", SCHEMA, DAY, lying)
    assert warehouse.partition_row_count("ds", DAY) == 5


def test_a_new_group_by_dimension_adds_a_nullable_column(parts):
    _, store, warehouse = parts
    warehouse.replace_partition("ds", SCHEMA, DAY, store.write_day("ds", DAY, day_table()))
    wider_schema = long_table.schema([*GROUP_BY, "direction"])
    wider = day_table().append_column("direction", pa.array(["inbound"] * 5))
    wider = wider.select(wider_schema.names)
    result = warehouse.replace_partition("ds", wider_schema, DAY, store.write_day("ds", DAY, wider))
    assert result.columns_added == ("direction",)
    with duckdb.connect(str(warehouse.path)) as con:
        assert con.execute('SELECT DISTINCT direction FROM genesys."ds"').fetchall() == [
            ("inbound",)
        ]


def test_parity_passes_then_fails_when_a_row_is_deleted_behind_our_back(parts):
    _, store, warehouse = parts
    staged = store.write_day("ds", DAY, day_table())
    warehouse.replace_partition("ds", SCHEMA, DAY, staged)
    assert row_count_parity(warehouse, "ds", DAY, staged).passed
    assert totals_parity(warehouse, store, "ds", DAY, staged).passed
    with duckdb.connect(str(warehouse.path)) as con:
        con.execute("DELETE FROM genesys.\"ds\" WHERE metric = 'tHandle'")
    counted = row_count_parity(warehouse, "ds", DAY, staged)
    assert not counted.passed
    assert counted.details == {"warehouse_rows": 4, "staged_rows": 5, "staged_file": staged.key}
    totals = totals_parity(warehouse, store, "ds", DAY, staged)
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


def test_queries_on_a_missing_table_say_what_to_do(parts):
    _, _, warehouse = parts
    with pytest.raises(
        WarehouseError, match=r'"genesys"."nope" does not exist .*materialize nope first'
    ):
        warehouse.partition_row_count("nope", DAY)


def test_a_lock_held_by_another_process_is_waited_for(parts):
    _, store, warehouse = parts
    staged = store.write_day("ds", DAY, day_table())
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
    result = warehouse.replace_partition("ds", SCHEMA, DAY, staged)
    holder.wait()
    assert result.rows_loaded == 5
    assert time.monotonic() - started > 0.5
