"""Every setting is checked when the code location loads, naming the variable, before any write;
what fails later says which setting to change."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from genesys_assets import datasets
from genesys_assets.definitions import build_definitions
from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import ClientSettings, GenesysClient
from genesys_assets.genesys.errors import GenesysConfigError, GenesysRetriesExhausted
from genesys_assets.genesys.query import AggregateQuery
from genesys_assets.genesys.regions import api_host
from genesys_assets.pipeline.environment import SettingsError, resources
from genesys_assets.stage import LocalStage
from genesys_assets.warehouse import WarehouseError
from genesys_assets.warehouse.duckdb import DuckDBWarehouse

GENESYS = {
    "GENESYS_CLIENT_ID": "id",
    "GENESYS_CLIENT_SECRET": "secret",
    "GENESYS_REGION": "mypurecloud.ie",
}


@pytest.mark.parametrize(
    "name",
    [
        "GENESYS_READ_TIMEOUT",
        "GENESYS_CONNECT_TIMEOUT",
        "GENESYS_REQUESTS_PER_MINUTE",
        "GENESYS_MAX_RETRY_WAIT",
        "GENESYS_JOB_TIMEOUT",
        "GENESYS_STAGE_GRACE_HOURS",
        "DUCKDB_LOCK_TIMEOUT",
    ],
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "NaN"])
def test_a_number_that_is_not_finite_names_its_variable(clean_env, name, value):
    with pytest.raises(SettingsError, match=f"{name} must be a finite number, got '{value}'"):
        resources({**clean_env, name: value})


def test_a_whole_number_setting_refuses_a_fraction(clean_env):
    with pytest.raises(SettingsError, match="GENESYS_MAX_CONCURRENCY must be a whole number"):
        resources({**clean_env, "GENESYS_MAX_CONCURRENCY": "8.5"})


@pytest.mark.parametrize("value", ["abc", "128", "12 parsecs", "MB", "-1GB"])
def test_a_memory_limit_duckdb_would_refuse_fails_at_load(clean_env, value):
    with pytest.raises(SettingsError, match="DUCKDB_MEMORY_LIMIT must be an amount of memory"):
        resources({**clean_env, "DUCKDB_MEMORY_LIMIT": value})


@pytest.mark.parametrize("value", ["128MB", "1GB", "2.5GB", "512MiB", "1gb", "80%", "1024KB"])
def test_the_memory_limits_accepted_are_ones_duckdb_takes(clean_env, value):
    found = resources({**clean_env, "DUCKDB_MEMORY_LIMIT": value})
    assert found["warehouse"].memory_limit == value
    duckdb.connect(config={"memory_limit": value}).close()  # DuckDB agrees


def test_a_duckdb_database_that_is_a_folder_fails_at_load(clean_env, tmp_path):
    with pytest.raises(SettingsError, match="DUCKDB_DATABASE names a folder"):
        resources({**clean_env, "DUCKDB_DATABASE": str(tmp_path)})
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SettingsError, match=r"DUCKDB_DATABASE: .* is a file, not a folder"):
        resources({**clean_env, "DUCKDB_DATABASE": str(blocker / "wh.duckdb")})


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan"])
def test_the_dimension_shrink_share_is_checked(clean_env, value):
    with pytest.raises(SettingsError, match="GENESYS_DIMENSION_MAX_SHRINK"):
        resources({**clean_env, "GENESYS_DIMENSION_MAX_SHRINK": value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GENESYS_API_HOST", "http://user:hunter2-secret@127.0.0.1:8080"),
        ("GENESYS_API_HOST", "https://:hunter2-secret@api.mypurecloud.ie"),
        ("AWS_ENDPOINT_URL_S3", "http://key:hunter2-secret@127.0.0.1:9000"),
        ("AWS_ENDPOINT_URL", "http://key:hunter2-secret@127.0.0.1:9000"),
    ],
)
def test_credentials_in_a_url_are_refused_without_repeating_them(clean_env, name, value):
    env = {**clean_env, **GENESYS, name: value}
    if name.startswith("AWS"):
        env["S3_BUCKET"] = "b"
    with pytest.raises(SettingsError) as caught:
        resources(env)
    assert name in str(caught.value) and "user or password" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(caught.value)
    assert "user" not in str(caught.value).split("must")[0]


def test_the_client_refuses_credentials_in_its_url_too():
    with pytest.raises(GenesysConfigError) as caught:
        api_host(base_url="http://user:hunter2-secret@127.0.0.1:1")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(GenesysConfigError) as caught:
        api_host(base_url="ftp://hunter2-secret")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(GenesysConfigError, match="query string"):
        api_host(base_url="https://api.mypurecloud.ie/?token=x")


def test_loading_the_definitions_fails_on_a_bad_setting_before_anything_exists(clean_env):
    env = {**clean_env, "DUCKDB_MEMORY_LIMIT": "abc"}
    with pytest.raises(SettingsError, match="DUCKDB_MEMORY_LIMIT"):
        build_definitions(datasets.load(), env)
    assert not Path(clean_env["GENESYS_ASSETS_HOME"]).exists(), "nothing written"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SNOWFLAKE_PROTOCOL", "gopher", "SNOWFLAKE_PROTOCOL must be http or https"),
        ("SNOWFLAKE_PORT", "http", "SNOWFLAKE_PORT must be a whole number"),
        ("SNOWFLAKE_PORT", "70000", "SNOWFLAKE_PORT must be at most 65535"),
        ("SNOWFLAKE_HOST", "user:pw@acme.snowflakecomputing.com", "SNOWFLAKE_HOST must be a bare"),
    ],
)
def test_snowflake_endpoint_settings_are_checked(clean_env, name, value, message):
    env = {
        **clean_env,
        "S3_BUCKET": "b",
        "SNOWFLAKE_ACCOUNT": "a",
        "SNOWFLAKE_USER": "u",
        "SNOWFLAKE_PASSWORD": "p",
        "SNOWFLAKE_DATABASE": "d",
        "SNOWFLAKE_STAGE": "s",
        name: value,
    }
    with pytest.raises(SettingsError, match=message):
        resources(env)


def test_a_read_timeout_that_uses_up_the_attempts_names_genesys_read_timeout(start_simulator):
    simulator = start_simulator(slow_rate=1.0, slow_ms=2000.0)
    settings = ClientSettings(read_timeout_s=0.3, max_attempts=2, backoff_base_s=0.01, mode="sync")
    query = AggregateQuery(metrics=("nOffered",), time_zone="UTC")
    from datetime import date

    with (
        GenesysClient(
            simulator.base_url,
            ClientCredentials(simulator.client_id, simulator.client_secret),
            settings,
        ) as client,
        pytest.raises(GenesysRetriesExhausted) as caught,
    ):
        list(client.fetch_days(query, [date(2024, 11, 1)]))
    assert "GENESYS_READ_TIMEOUT (0.3 s): raise it" in str(caught.value)


def test_the_duckdb_lock_wait_is_a_setting_and_its_error_names_it(clean_env, tmp_path):
    path = tmp_path / "wh.duckdb"
    duckdb.connect(str(path)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True);"
            " time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        found = resources({**clean_env, "DUCKDB_LOCK_TIMEOUT": "0.5"})
        assert found["warehouse"].lock_timeout_s == 0.5
        warehouse = DuckDBWarehouse(path, LocalStage(tmp_path / "stage"), lock_timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(WarehouseError, match="DUCKDB_LOCK_TIMEOUT"):
            warehouse.has_table("anything")
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait(10)
