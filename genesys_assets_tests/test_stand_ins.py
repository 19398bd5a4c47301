"""The S3 and Snowflake stand-ins: moto records SSE, fakesnow COPYs Parquet from the moto bucket."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pyarrow as pa
import pytest
import snowflake.connector
from snowflake.connector.errors import ProgrammingError

from genesys_assets import long_table
from genesys_assets.datasets import PLAIN_ORG
from genesys_assets.stage.parquet_files import ParquetStore
from genesys_assets.stage.s3 import S3Stage
from genesys_assets.warehouse.base import WarehouseError
from genesys_assets.warehouse.snowflake import SnowflakeWarehouse

if TYPE_CHECKING:
    from genesys_assets_tests.stand_ins import MotoS3Server, S3Bucket, SnowflakeStandIn

# The fixtures moto_s3, s3_bucket, fakesnow_snowflake and snowflake_stand_in. Imported only this
# way (not also with `from ... import`), so that pytest rewrites the module's asserts.
pytest_plugins = ["genesys_assets_tests.stand_ins"]

pytestmark = [
    pytest.mark.production,
    # fakesnow's own server code, on every result set it returns.
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
]

DAY = date(2024, 11, 1)
KEY = "calls/year=2024/month=11/day=01/data.parquet"
FOLDER = "calls/year=2024/month=11/day=01/"


def small_table(rows: int = 3, day: date = DAY) -> pa.Table:
    """Lower-case names, date32, timestamp[ms, UTC], int64, float64 and nulls."""
    return pa.table(
        {
            "partition_date": pa.array([day] * rows, pa.date32()),
            "interval_start": pa.array(
                [datetime(2024, 11, 1, 4 + i, 30, 0, 125000, tzinfo=UTC) for i in range(rows)],
                pa.timestamp("ms", tz="UTC"),
            ),
            "queue_id": pa.array([None if i == 1 else f"q{i}" for i in range(rows)], pa.string()),
            "stat_count": pa.array(
                [None if i == 1 else 10**15 + i for i in range(rows)], pa.int64()
            ),
            "stat_sum": pa.array(
                [None if i == 1 else i + 0.125 for i in range(rows)], pa.float64()
            ),
        }
    )


def create_table(cursor: Any, table: str) -> None:
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {table} ("
        '"PARTITION_DATE" DATE NOT NULL, "INTERVAL_START" TIMESTAMP_TZ NOT NULL, '
        '"QUEUE_ID" VARCHAR, "STAT_COUNT" NUMBER(38,0), "STAT_SUM" FLOAT'
        ') CLUSTER BY ("PARTITION_DATE")'
    )


def copy_sql(sf: SnowflakeStandIn, table: str, folder: str = FOLDER) -> str:
    return (
        f'COPY INTO {table} FROM @"{sf.database}"."{sf.schema}"."{sf.stage}"/{folder} '
        "FILES = ('data.parquet') FILE_FORMAT = (TYPE = PARQUET) "
        "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE"
    )


def test_s3_records_sse_does_multipart_and_reads_credentials_from_the_environment(
    s3_bucket: S3Bucket,
) -> None:
    assert os.environ["AWS_ACCESS_KEY_ID"] == s3_bucket.server.access_key_id
    # No endpoint, no keys: the environment alone must lead boto3 to moto.
    client = boto3.client("s3")
    aes = S3Stage(client, s3_bucket.name, s3_bucket.prefix, sse="AES256")
    aes.put("a/small.bin", b"x" * 100)
    kms = S3Stage(
        client,
        s3_bucket.name,
        s3_bucket.prefix,
        sse="aws:kms",
        kms_key_id="alias/genesys",
        multipart_threshold=5 * 1024 * 1024,
    )
    big = bytes(range(256)) * (11 * 4096)  # 11 MiB: three parts of at most 5 MiB
    kms.put("a/big.bin", big)

    small = client.head_object(Bucket=s3_bucket.name, Key="genesys/a/small.bin")
    assert small["ServerSideEncryption"] == "AES256"
    head = client.head_object(Bucket=s3_bucket.name, Key="genesys/a/big.bin")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == "alias/genesys"
    assert head["ETag"].strip('"').endswith("-3")  # completed as a three-part upload
    with kms.open("a/big.bin") as handle:  # ranged GETs
        handle.seek(6 * 1024 * 1024)
        assert handle.read(512) == big[6 * 1024 * 1024 : 6 * 1024 * 1024 + 512]
    assert kms.list("a/") == ["a/big.bin", "a/small.bin"]
    kms.delete(["a/big.bin", "a/small.bin"])
    assert s3_bucket.keys() == []


def test_moto_reset_forgets_every_bucket(moto_s3: MotoS3Server) -> None:
    client = moto_s3.client()
    client.create_bucket(Bucket="standin-reset-check")
    moto_s3.reset()
    assert "standin-reset-check" not in [b["Name"] for b in client.list_buckets()["Buckets"]]


def test_copy_into_reads_parquet_from_the_moto_bucket_through_the_external_stage(
    snowflake_stand_in: SnowflakeStandIn,
) -> None:
    sf = snowflake_stand_in
    sf.server.unhandled.clear()  # the server is the session's: earlier tests broke COPYs on purpose
    stage = S3Stage(sf.bucket.client, sf.bucket.name, sf.bucket.prefix, sse="AES256")
    staged = ParquetStore(stage).write(KEY, small_table())
    table = f'"{sf.database}"."{sf.schema}"."CALLS"'
    with sf.connect() as connection:
        cursor = connection.cursor()
        create_table(cursor, table)
        cursor.execute(
            f'SELECT COLUMN_NAME FROM "{sf.database}".INFORMATION_SCHEMA.COLUMNS '
            "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            [sf.schema, "CALLS"],
        )
        assert [r[0] for r in cursor.fetchall()] == [
            "PARTITION_DATE", "INTERVAL_START", "QUEUE_ID", "STAT_COUNT", "STAT_SUM"
        ]  # fmt: skip
        cursor.execute(f'ALTER TABLE {table} ADD COLUMN "MEDIA_TYPE" VARCHAR')

        cursor.execute("BEGIN")
        cursor.execute(f"DELETE FROM {table} WHERE partition_date = ?", [DAY])
        assert cursor.fetchone() == (0,)
        cursor.execute(copy_sql(sf, table))
        result = cursor.fetchall()
        assert [d[0] for d in cursor.description] == [
            "file", "status", "rows_parsed", "rows_loaded", "error_limit", "errors_seen",
            "first_error", "first_error_line", "first_error_character", "first_error_column_name",
        ]  # fmt: skip
        assert result == [(f"{sf.stage_url}{KEY}", "LOADED", 3, 3, 1, 0, None, None, None, None)]
        cursor.execute("COMMIT")

        cursor.execute(f'SELECT * FROM {table} ORDER BY "INTERVAL_START"')
        rows = cursor.fetchall()
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE partition_date = ?", [DAY])
        assert cursor.fetchone() == (staged.rows,)
    assert rows == [
        (DAY, datetime(2024, 11, 1, 4, 30, 0, 125000, tzinfo=UTC), "q0", 10**15, 0.125, None),
        (DAY, datetime(2024, 11, 1, 5, 30, 0, 125000, tzinfo=UTC), None, None, None, None),
        (DAY, datetime(2024, 11, 1, 6, 30, 0, 125000, tzinfo=UTC), "q2", 10**15 + 2, 2.125, None),
    ]
    assert rows[0][1].utcoffset().total_seconds() == 0
    assert sf.server.unhandled == []


def test_a_failed_copy_rolls_back_to_the_previous_rows(
    snowflake_stand_in: SnowflakeStandIn,
) -> None:
    sf = snowflake_stand_in
    stage = S3Stage(sf.bucket.client, sf.bucket.name, sf.bucket.prefix, sse="AES256")
    ParquetStore(stage).write(KEY, small_table())
    stage.put("calls/year=2024/month=11/day=02/data.parquet", b"PAR1 not parquet")
    table = f'"{sf.database}"."{sf.schema}"."CALLS"'
    with sf.connect() as connection:
        cursor = connection.cursor()
        create_table(cursor, table)
        cursor.execute(copy_sql(sf, table))
        cursor.execute("BEGIN")
        cursor.execute(f"DELETE FROM {table} WHERE partition_date = ?", [DAY])
        assert cursor.fetchone() == (3,)
        with pytest.raises(ProgrammingError, match="No magic bytes found") as failed:
            cursor.execute(copy_sql(sf, table, "calls/year=2024/month=11/day=02/"))
        assert failed.value.errno == 603  # fakesnow's unhandled 500, answered as a SQL error
        cursor.execute("ROLLBACK")
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone() == (3,)
    assert "No magic bytes found" in sf.server.unhandled[-1]
    sf.server.unhandled.clear()


def test_stage_folders_become_hive_columns_in_fakesnow_only(
    snowflake_stand_in: SnowflakeStandIn,
) -> None:
    """DuckDB's read_parquet reads year=/month=/day= folders as columns; Snowflake never does."""
    sf = snowflake_stand_in
    stage = S3Stage(sf.bucket.client, sf.bucket.name, sf.bucket.prefix)
    ParquetStore(stage).write(KEY, small_table(1))
    table = f'"{sf.database}"."{sf.schema}"."WITH_DAY"'
    with sf.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(f'CREATE TABLE {table} ("PARTITION_DATE" DATE, "DAY" VARCHAR)')
        cursor.execute(copy_sql(sf, table))
        cursor.execute(f"SELECT * FROM {table}")
        assert cursor.fetchall() == [(DAY, "01")]  # Snowflake would load NULL into DAY


def test_sql_capture_sees_the_exact_text_and_the_stage_forms_fakesnow_accepts(
    snowflake_stand_in: SnowflakeStandIn,
) -> None:
    sf = snowflake_stand_in
    assert [s.sql for s in sf.statements[: len(sf.setup)]] == sf.setup
    key_id, secret, password = sf.secrets
    leaky = (
        f'CREATE STAGE "{sf.database}"."{sf.schema}"."LEAKY" URL = \'{sf.stage_url}\' '
        f"CREDENTIALS = (AWS_KEY_ID = '{key_id}' AWS_SECRET_KEY = '{secret}')"
    )
    with snowflake.connector.connect(**sf.server.connection_args()) as connection:
        cursor = connection.cursor()
        cursor.execute(leaky)  # accepted; the credentials are ignored, not stored
        cursor.execute(
            f'CREATE STAGE "{sf.database}"."{sf.schema}"."BARE" URL = \'{sf.stage_url}\''
        )
        cursor.execute(f'SHOW STAGES IN SCHEMA "{sf.database}"."{sf.schema}"')
        names = [d[0] for d in cursor.description]
        stages = {
            row[names.index("name")]: (
                row[names.index("url")],
                row[names.index("has_credentials")],
                row[names.index("storage_integration")],
            )
            for row in cursor.fetchall()
        }
        cursor.execute("SELECT ? AS probe", ["bound-value"])
    assert stages == {
        "BARE": (sf.stage_url, "N", None),
        "GENESYS_STAGE": (sf.stage_url, "N", None),  # created WITH STORAGE_INTEGRATION
        "LEAKY": (sf.stage_url, "N", None),
    }
    texts = [s.text() for s in sf.statements]
    # The connector's own log masks secrets; the server-side capture sees the text verbatim.
    assert [t for t in texts if secret in t] == [leaky]
    assert any(
        s.sql == "SELECT ? AS probe" and s.bindings == ("bound-value",) for s in sf.statements
    )
    assert not any(password in t for t in texts)


def test_snowflake_warehouse_replace_partition_runs_as_written(
    snowflake_stand_in: SnowflakeStandIn,
) -> None:
    sf = snowflake_stand_in
    schema = long_table.schema(["queueId", "mediaType"])
    stage = S3Stage(
        sf.bucket.client, sf.bucket.name, sf.bucket.prefix, sse="aws:kms", kms_key_id="alias/k"
    )
    rows = [
        {
            "partition_date": DAY,
            "org": PLAIN_ORG.id,
            "interval_start": datetime(2024, 11, 1, 5, tzinfo=UTC),
            "interval_end": datetime(2024, 11, 1, 6, tzinfo=UTC),
            "queue_id": "q1",
            "media_type": None,
            "metric": metric,
            "stat_count": count,
            "stat_sum": total,
            "source_file": "raw/x.json.zst",
            "loaded_at": datetime(2024, 11, 2, 1, 2, 3, 456789, tzinfo=UTC),
        }
        for metric, count, total in [("nOffered", 17, None), ("tHandle", 14, 3010000.0)]
    ]
    staged = ParquetStore(stage).write_day("calls", DAY, pa.Table.from_pylist(rows, schema))
    warehouse = SnowflakeWarehouse(
        sf.connect, database=sf.database, schema=sf.schema, stage=sf.stage
    )
    try:
        first = warehouse.replace_partition("calls", schema, DAY, staged, PLAIN_ORG)
        again = warehouse.replace_partition("calls", schema, DAY, staged, PLAIN_ORG)
        assert (first.rows_deleted, first.rows_loaded) == (0, 2)
        assert (again.rows_deleted, again.rows_loaded) == (2, 2)
        assert warehouse.partition_row_count("calls", PLAIN_ORG.id, DAY) == 2
        assert warehouse.partition_totals_by_day("calls", PLAIN_ORG.id, [DAY])[DAY] == {
            "nOffered": (17, 0.0),
            "tHandle": (14, 3010000.0),
        }
        wider = long_table.schema(["queueId", "mediaType", "direction"])
        added = warehouse.replace_partition("calls", wider, DAY, staged, PLAIN_ORG)
        assert added.columns_added == ("direction",)

        stage.put(staged.key, b"corrupt")
        with pytest.raises(WarehouseError, match="rolled back, the previous rows are kept"):
            warehouse.replace_partition("calls", wider, DAY, staged, PLAIN_ORG)
        assert warehouse.partition_row_count("calls", PLAIN_ORG.id, DAY) == 2
    finally:
        warehouse.close()
    sf.server.unhandled.clear()
    for statement in sf.statements:
        for secret in sf.secrets:
            assert secret not in statement.text()
