"""The production path end to end: S3 stage and Snowflake COPY INTO, configured from the
environment as a user configures it, through dagster-aws' S3Resource and dagster-snowflake's
SnowflakeResource, against a moto S3 server, a fakesnow server reading that bucket through an
external stage, and the Genesys simulator reached as a real org is (GENESYS_API_HOST).
"""

import io
import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterEventType, DagsterInstance

from genesys_assets import datasets
from genesys_assets.definitions import MAIN_JOB, build_definitions
from genesys_assets.pipeline.resources import S3StageResource, SnowflakeWarehouseResource
from genesys_assets.stage import layout

if TYPE_CHECKING:
    # For the annotation only: the module is a pytest plugin (pytest_plugins below), which
    # pytest must import first to rewrite its asserts.
    from .stand_ins import SnowflakeStandIn

pytest_plugins = ["genesys_assets_tests.stand_ins"]

GENESYS_SECRET = "genesys-secret-c0ffee-42"
RANGE = {
    "dagster/asset_partition_range_start": "2024-11-04",
    "dagster/asset_partition_range_end": "2024-11-06",
}
DAYS = [date(2024, 11, 4), date(2024, 11, 5), date(2024, 11, 6)]
DATASETS = ("queue_performance", "agent_performance", "agent_status")


@dataclass
class Production:
    defs: object
    instance: DagsterInstance
    sf: "SnowflakeStandIn"
    simulator: object

    def run(self, **kwargs):
        job = self.defs.resolve_job_def(MAIN_JOB)
        return job.execute_in_process(instance=self.instance, raise_on_error=False, **kwargs)

    def table(self, dataset: str) -> str:
        return f'"{self.sf.database}"."{self.sf.schema}"."{dataset.upper()}"'

    def parquet_key(self, dataset: str, day: date) -> str:
        """The bucket key of the day's current file, as its pointer names it."""
        pointer = f"{self.sf.bucket.prefix}/{layout.staged_pointer(dataset, day)}"
        body = self.sf.bucket.client.get_object(Bucket=self.sf.bucket.name, Key=pointer)["Body"]
        return f"{self.sf.bucket.prefix}/{json.loads(body.read())['file']}"

    def parquet(self, dataset: str, day: date) -> pa.Table:
        key = self.parquet_key(dataset, day)
        body = self.sf.bucket.client.get_object(Bucket=self.sf.bucket.name, Key=key)["Body"].read()
        return pq.read_table(io.BytesIO(body))

    def rows(self, dataset: str, day: date) -> list[tuple]:
        return self.sf.query(
            f"SELECT metric, interval_start, stat_count, stat_sum, stat_ratio FROM {self.table(dataset)} "
            "WHERE partition_date = ? ORDER BY 1, 2, 3, 4",
            [day],
        )


@pytest.fixture
def production(clean_env, snowflake_stand_in, start_simulator, monkeypatch) -> Production:
    simulator = start_simulator(client_secret=GENESYS_SECRET)
    env = {
        **snowflake_stand_in.env(),
        "GENESYS_CLIENT_ID": simulator.client_id,
        "GENESYS_CLIENT_SECRET": GENESYS_SECRET,
        "GENESYS_API_HOST": simulator.base_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    defs = build_definitions(datasets.load())
    assert defs.resources is not None
    assert isinstance(defs.resources["stage"], S3StageResource)
    assert isinstance(defs.resources["warehouse"], SnowflakeWarehouseResource)
    return Production(defs, DagsterInstance.ephemeral(), snowflake_stand_in, simulator)


def checks_of(result) -> dict[str, bool]:
    return {
        f"{e.asset_check_evaluation_data.asset_key.to_user_string()}.{e.asset_check_evaluation_data.check_name}": e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    }


def test_several_days_land_in_snowflake_with_rows_and_totals_matching_the_stage(production):
    result = production.run(tags=RANGE)
    assert result.success
    assert checks_of(result) and all(checks_of(result).values())
    single = production.run(partition_key="2024-11-07")
    assert single.success and len(checks_of(single)) == 18 and all(checks_of(single).values())

    for dataset in DATASETS:
        for day in [*DAYS, date(2024, 11, 7)]:
            staged = production.parquet(dataset, day)
            [(count,)] = production.sf.query(
                f"SELECT COUNT(*) FROM {production.table(dataset)} WHERE partition_date = ?", [day]
            )
            assert count == staged.num_rows > 0, (dataset, day)
            totals = staged.group_by("metric").aggregate(
                [("stat_count", "sum"), ("stat_sum", "sum")]
            )
            expected = {
                r["metric"]: (r["stat_count_sum"] or 0, r["stat_sum_sum"] or 0.0)
                for r in totals.to_pylist()
            }
            got = production.sf.query(
                f"SELECT metric, SUM(stat_count), SUM(stat_sum) FROM {production.table(dataset)} "
                "WHERE partition_date = ? GROUP BY metric",
                [day],
            )
            assert {m: (int(c or 0), pytest.approx(float(s or 0.0))) for m, c, s in got} == expected
    [(queues,)] = production.sf.query(f"SELECT COUNT(*) FROM {production.table('genesys_queues')}")
    assert queues == len(production.simulator.org.queues)


def test_a_rerun_of_a_day_gives_the_same_rows(production):
    assert production.run(partition_key="2024-11-04").success
    before = production.rows("agent_performance", DAYS[0])
    assert production.run(partition_key="2024-11-04").success
    assert production.rows("agent_performance", DAYS[0]) == before


def test_a_failed_copy_keeps_the_previous_rows_and_says_why(production):
    assert production.run(partition_key="2024-11-04").success
    before = production.rows("queue_performance", DAYS[0])
    # A file that reads as Parquet but cannot be copied into the table (a date that is not one).
    staged = production.parquet("queue_performance", DAYS[0])
    broken = staged.set_column(0, "partition_date", pa.array(["not-a-date"] * staged.num_rows))
    sink = io.BytesIO()
    pq.write_table(broken, sink)
    bucket = production.sf.bucket
    key = production.parquet_key("queue_performance", DAYS[0])
    bucket.client.put_object(
        Bucket=bucket.name, Key=key, Body=sink.getvalue(), ServerSideEncryption="AES256"
    )

    table_only = production.defs.resolve_job_def("queue_performance_job")
    job = table_only.get_subset(
        asset_selection={production.defs.resolve_assets_def("queue_performance").key}
    )
    result = job.execute_in_process(
        partition_key="2024-11-04", instance=production.instance, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    message = str(failure.step_failure_data.error)
    assert key.removeprefix(f"{bucket.prefix}/") in message
    assert "rolled back, the previous rows are kept" in message
    assert production.rows("queue_performance", DAYS[0]) == before


def test_a_corrupt_file_fails_before_any_load(production):
    assert production.run(partition_key="2024-11-04").success
    before = production.rows("queue_performance", DAYS[0])
    bucket = production.sf.bucket
    key = production.parquet_key("queue_performance", DAYS[0])
    bucket.client.put_object(
        Bucket=bucket.name, Key=key, Body=b"PAR1 garbage", ServerSideEncryption="AES256"
    )
    job = production.defs.resolve_job_def("queue_performance_job").get_subset(
        asset_selection={production.defs.resolve_assets_def("queue_performance").key}
    )
    result = job.execute_in_process(
        partition_key="2024-11-04", instance=production.instance, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert "is not a readable Parquet file" in str(failure.step_failure_data.error)
    assert "materialize queue_performance_parquet for partition 2024-11-04 again" in str(
        failure.step_failure_data.error
    )
    assert production.rows("queue_performance", DAYS[0]) == before


def test_every_object_is_encrypted_and_no_secret_leaks_anywhere(production):
    seen = len(production.sf.statements)
    result = production.run(partition_key="2024-11-04")
    assert result.success
    bucket = production.sf.bucket
    secrets = (*production.sf.secrets, GENESYS_SECRET)

    keys = bucket.keys()
    assert any(k.endswith(".json.zst") for k in keys) and any(k.endswith(".parquet") for k in keys)
    for key in keys:
        head = bucket.client.head_object(Bucket=bucket.name, Key=key)
        assert head["ServerSideEncryption"] == "AES256", key
        body = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()
        if key.endswith(".zst"):
            body = pa.CompressedInputStream(pa.BufferReader(body), "zstd").read()
        for secret in secrets:
            assert secret.encode() not in body, f"{secret[:4]}... in {key}"

    sql = [s.text() for s in production.sf.statements[seen:]]
    assert any(s.startswith("COPY INTO") for s in sql)
    for text in sql:
        for secret in secrets:
            assert secret not in text, f"{secret[:4]}... in SQL"

    records = production.instance.all_logs(result.run_id)
    assert len(records) > 50
    for record in records:
        text = str(record)
        for secret in secrets:
            assert secret not in text, f"{secret[:4]}... in the event log"


def test_kms_encryption_from_the_environment(production, monkeypatch):
    monkeypatch.setenv("S3_SSE", "aws:kms")
    monkeypatch.setenv("S3_KMS_KEY_ID", "alias/genesys-stage")
    production.defs = build_definitions(datasets.load())
    assert production.run(partition_key="2024-11-04").success
    bucket = production.sf.bucket
    keys = bucket.keys()
    assert keys
    for key in keys:
        head = bucket.client.head_object(Bucket=bucket.name, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert head["SSEKMSKeyId"].endswith("alias/genesys-stage")
