"""Every setting is checked when the code location loads, naming the variable, before any write;
what fails later says which setting to change."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
import traceback
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
import urllib3
from dagster import EnvVar, build_resources

from genesys_assets import datasets
from genesys_assets.definitions import build_definitions
from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import ClientSettings, GenesysClient
from genesys_assets.genesys.errors import GenesysConfigError, GenesysRetriesExhausted
from genesys_assets.genesys.query import AggregateQuery, day_interval
from genesys_assets.genesys.ratelimit import RateLimiter
from genesys_assets.genesys.regions import api_host
from genesys_assets.genesys.transport import RetryPolicy, Transport
from genesys_assets.long_table import DEFAULT_ORG
from genesys_assets.pipeline.environment import SettingsError, choose, resources
from genesys_assets.pipeline.resources import (
    DuckDBWarehouseResource,
    GenesysCloudResource,
    GenesysResource,
    GenesysSimulatorResource,
    LocalStageResource,
    S3StageResource,
    SnowflakeWarehouseResource,
)
from genesys_assets.stage import LocalStage
from genesys_assets.warehouse import WarehouseError
from genesys_assets.warehouse.duckdb import DuckDBWarehouse

# urllib3's exceptions as its pool raises them; their messages never read the pool.
NO_POOL: Any = None

GENESYS = {
    "GENESYS_CLIENT_ID": "id",
    "GENESYS_CLIENT_SECRET": "secret",
    "GENESYS_REGION": "mypurecloud.ie",
}
# A real org into the local stage and DuckDB: a deployment that must be asked for by name.
LOCAL_GENESYS = {**GENESYS, "GENESYS_ASSETS_DEPLOYMENT": "local"}


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
    if name.startswith("AWS"):
        env = snowflake(clean_env, **{name: value})
    else:
        env = {**clean_env, **LOCAL_GENESYS, name: value}
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
    with pytest.raises(SettingsError, match=message):
        resources(snowflake(clean_env, **{name: value}))


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


# -- what the first round left to fail late, or told wrong -----------------------------------

# Distinctive enough that finding them anywhere in an error means they leaked.
USER = "alice7f3q"
PASSWORD = "hunter2x9zq"
SECONDS_SETTINGS = (
    "GENESYS_CONNECT_TIMEOUT",
    "GENESYS_READ_TIMEOUT",
    "GENESYS_MAX_RETRY_WAIT",
    "GENESYS_JOB_TIMEOUT",
    "DUCKDB_LOCK_TIMEOUT",
    "SNOWFLAKE_NETWORK_TIMEOUT",
)


REMOTE = {
    "S3_BUCKET": "b",
    "SNOWFLAKE_ACCOUNT": "a",
    "SNOWFLAKE_USER": "u",
    "SNOWFLAKE_PASSWORD": "p",
    "SNOWFLAKE_DATABASE": "d",
    "SNOWFLAKE_STAGE": "s",
}


def snowflake(env: dict[str, str], **more: str) -> dict[str, str]:
    """A complete production setup: S3, Snowflake and a real Genesys org."""
    return {**env, **REMOTE, **GENESYS, **more}


def leaks(exc: BaseException) -> list[str]:
    """The secrets found in an exception's message, repr or printed traceback."""
    shown = str(exc) + repr(exc) + "".join(traceback.format_exception(exc))
    return [secret for secret in (USER, PASSWORD) if secret in shown]


@pytest.mark.parametrize(
    "value", ["128MB", "1GB", "512MiB", "2.5GB", "80%", "1%", "100%", "1TiB", "256 mb", " 2GB "]
)
def test_every_memory_limit_accepted_is_one_duckdb_takes(clean_env, value):
    limit = resources({**clean_env, "DUCKDB_MEMORY_LIMIT": value})["warehouse"].memory_limit
    with duckdb.connect(config={"memory_limit": limit}) as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


@pytest.mark.parametrize(
    "value", ["1B", "1KB", "0MB", "0%", "150%", "1PB", "+1GB", "1,5GB", "1.5.5GB"]
)
def test_a_memory_limit_duckdb_refuses_at_connect_fails_at_load(clean_env, value):
    # DuckDB refuses these only once a run uses the file: too small for its first allocation,
    # more than all of the machine's memory, or an unknown unit.
    with pytest.raises(duckdb.Error), duckdb.connect(config={"memory_limit": value}) as con:
        con.execute("SELECT current_setting('memory_limit')").fetchone()
    with pytest.raises(SettingsError, match=r"^DUCKDB_MEMORY_LIMIT must be "):
        resources({**clean_env, "DUCKDB_MEMORY_LIMIT": value})


def test_a_duckdb_database_below_a_file_fails_at_load_however_deep(clean_env, tmp_path):
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(SettingsError, match=r"^DUCKDB_DATABASE: .*notes\.txt is a file"):
        resources({**clean_env, "DUCKDB_DATABASE": str(tmp_path / "notes.txt" / "a" / "w.duckdb")})


def test_an_in_memory_duckdb_database_is_refused(clean_env):
    # Every operation opens the file anew: in memory, each load would vanish when it closes.
    with pytest.raises(SettingsError, match=r"^DUCKDB_DATABASE must be a file"):
        resources({**clean_env, "DUCKDB_DATABASE": ":memory:"})


def test_a_home_that_is_a_file_names_genesys_assets_home(tmp_path):
    (tmp_path / "home").write_text("")
    with pytest.raises(SettingsError, match=r"^GENESYS_ASSETS_HOME: .*home is a file"):
        resources({"GENESYS_ASSETS_HOME": str(tmp_path / "home")})


def test_a_new_database_in_new_folders_is_fine_and_loading_creates_nothing(clean_env, tmp_path):
    path = tmp_path / "new" / "folder" / "w.duckdb"
    assert resources({**clean_env, "DUCKDB_DATABASE": str(path)})["warehouse"].path == str(path)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("name", SECONDS_SETTINGS)
def test_a_wait_longer_than_python_can_wait_is_refused(clean_env, name):
    # socket timeouts, time.sleep and Event.wait overflow a little past 9e9 s.
    env = snowflake(clean_env) if name.startswith("SNOWFLAKE_") else clean_env
    with pytest.raises(
        SettingsError, match=rf"^{name} must be at most 1000000000 seconds, got '10000000000'$"
    ):
        resources({**env, name: "10000000000"})


def test_the_port_limit_reads_as_a_number(clean_env):
    with pytest.raises(SettingsError, match=r"^SNOWFLAKE_PORT must be at most 65535, got"):
        resources(snowflake(clean_env, SNOWFLAKE_PORT="70000"))


class Failing(Transport):
    """A transport whose every request fails with the given exception before the wire."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(
            RetryPolicy(max_attempts=2, backoff_base_s=0.0, connect_timeout_s=3.0),
            RateLimiter(6000),
        )
        self.exc = exc

    def _request(self, *args: object, **kwargs: object) -> urllib3.BaseHTTPResponse:
        raise self.exc


def _connect_timeout() -> Exception:
    return urllib3.exceptions.ConnectTimeoutError(NO_POOL, "timed out (connect timeout=3)")


def _read_timeout() -> Exception:
    return urllib3.exceptions.ReadTimeoutError(NO_POOL, "/", "Read timed out.")


@pytest.mark.parametrize(
    ("exc", "advice"),
    [
        (_connect_timeout(), "GENESYS_CONNECT_TIMEOUT (3 s)"),
        (
            urllib3.exceptions.MaxRetryError(NO_POOL, "/", _connect_timeout()),
            "CONNECT_TIMEOUT (3 s)",
        ),
        (urllib3.exceptions.MaxRetryError(NO_POOL, "/", _read_timeout()), "READ_TIMEOUT (120 s)"),
        (
            urllib3.exceptions.ProtocolError("Connection aborted.", _read_timeout()),
            "GENESYS_READ_TIMEOUT (120 s)",
        ),
        (TimeoutError("timed out"), "GENESYS_READ_TIMEOUT (120 s)"),
    ],
)
def test_the_kind_of_timeout_is_found_however_urllib3_wraps_it(exc, advice):
    with pytest.raises(GenesysRetriesExhausted) as caught:
        Failing(exc).send("GET", "http://127.0.0.1:9/api/v2/x")
    assert advice in str(caught.value)


@pytest.mark.parametrize(
    "exc",
    [
        # urllib3 makes NewConnectionError a ConnectTimeoutError, but a refusal is no timeout.
        urllib3.exceptions.NewConnectionError(NO_POOL, "Connection refused"),
        urllib3.exceptions.MaxRetryError(
            NO_POOL, "/", urllib3.exceptions.NewConnectionError(NO_POOL, "Connection refused")
        ),
        ConnectionResetError("reset by peer"),
    ],
)
def test_a_failure_that_is_no_timeout_keeps_the_old_advice(exc):
    with pytest.raises(GenesysRetriesExhausted) as caught:
        Failing(exc).send("GET", "http://127.0.0.1:9/api/v2/x")
    assert str(caught.value).endswith("Raise GENESYS_MAX_ATTEMPTS or check the API status.")
    assert "_TIMEOUT" not in str(caught.value)


def test_a_read_timeout_on_a_job_fetch_names_the_setting_quickly(start_simulator):
    simulator = start_simulator(slow_rate=1.0, slow_ms=1500.0)
    settings = ClientSettings(
        read_timeout_s=0.2, max_attempts=2, backoff_base_s=0.01, max_retry_wait_s=0.05
    )
    query = AggregateQuery(metrics=("nOffered",), time_zone="UTC")
    credentials = ClientCredentials(simulator.client_id, simulator.client_secret)
    with GenesysClient(simulator.base_url, credentials, settings) as client:
        client._sdk_apis()  # the SDK's import (2 s) is not what is measured
        started = time.monotonic()
        with pytest.raises(GenesysRetriesExhausted) as caught:
            client.fetch(query, day_interval(date(2024, 11, 1), "UTC"), mode="jobs")
        assert time.monotonic() - started < 2
    assert "GENESYS_READ_TIMEOUT (0.2 s)" in str(caught.value)


URL_SETTINGS = [
    ("GENESYS_API_HOST", lambda env, url: {**env, **LOCAL_GENESYS, "GENESYS_API_HOST": url}),
    ("AWS_ENDPOINT_URL", lambda env, url: snowflake(env, AWS_ENDPOINT_URL=url)),
    ("AWS_ENDPOINT_URL_S3", lambda env, url: snowflake(env, AWS_ENDPOINT_URL_S3=url)),
    ("SNOWFLAKE_HOST", lambda env, url: snowflake(env, SNOWFLAKE_HOST=url)),
]


@pytest.mark.parametrize(("name", "make_env"), URL_SETTINGS)
@pytest.mark.parametrize(
    "url",
    [
        f"https://{USER}:{PASSWORD}@host.example.com/path",
        f"https://{PASSWORD}@host.example.com",
        f"{USER}:{PASSWORD}@host.example.com",
        f"htp://{USER}:{PASSWORD}@host.example.com",
        f"http://{USER}:{PASSWORD}@[::1",  # urlsplit itself refuses this one
    ],
)
def test_credentials_in_any_url_setting_fail_at_load_unrepeated(clean_env, name, make_env, url):
    with pytest.raises(SettingsError, match=rf"^{name} ") as caught:
        resources(make_env(clean_env, url))
    assert leaks(caught.value) == []


def test_the_generic_endpoint_is_checked_even_when_the_s3_one_wins(clean_env):
    with pytest.raises(SettingsError, match=r"^AWS_ENDPOINT_URL must not carry") as caught:
        resources(
            snowflake(
                clean_env,
                AWS_ENDPOINT_URL_S3="http://127.0.0.1:9000",
                AWS_ENDPOINT_URL=f"http://{USER}:{PASSWORD}@127.0.0.1:9000",
            )
        )
    assert leaks(caught.value) == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:notaport", "http://127.0.0.1:99999", "http://[::1"]
)
def test_an_api_host_that_cannot_be_reached_as_written_fails_at_load(clean_env, url):
    with pytest.raises(SettingsError, match=r"^GENESYS_API_HOST "):
        resources({**clean_env, **LOCAL_GENESYS, "GENESYS_API_HOST": url})


def test_the_client_never_echoes_a_url_it_cannot_parse_nor_a_region_with_a_password():
    with pytest.raises(GenesysConfigError, match="GENESYS_API_HOST") as caught:
        api_host(base_url=f"http://{USER}:{PASSWORD}@[::1")
    assert leaks(caught.value) == []
    with pytest.raises(GenesysConfigError, match="GENESYS_REGION") as caught:
        api_host(region=f"https://{USER}:{PASSWORD}@api.mypurecloud.ie")
    assert leaks(caught.value) == []


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({"S3_BUCKET": "s3://bucket/prefix"}, "S3_BUCKET must be a bucket name"),
        ({"SNOWFLAKE_ACCOUNT": "https://acme.snowflakecomputing.com"}, "SNOWFLAKE_ACCOUNT must"),
    ],
)
def test_a_url_where_a_name_belongs_fails_at_load(clean_env, more, message):
    with pytest.raises(SettingsError, match=f"^{message}"):
        resources(snowflake(clean_env, **more))


def test_a_region_the_client_refuses_is_a_settings_error(clean_env):
    with pytest.raises(SettingsError, match=r"GENESYS_REGION 'mypurecloud\.iee'"):
        resources({**clean_env, **LOCAL_GENESYS, "GENESYS_REGION": "mypurecloud.iee"})


def test_a_password_in_the_api_host_never_reaches_the_command_line(clean_env):
    home = Path(clean_env["GENESYS_ASSETS_HOME"])
    home.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **clean_env,
        **LOCAL_GENESYS,
        "GENESYS_API_HOST": f"http://{USER}:{PASSWORD}@127.0.0.1:9",
        "GENESYS_MAX_ATTEMPTS": "1",
        "PYTHONWARNINGS": "ignore",
    }
    dagster = str(Path(sys.executable).with_name("dagster"))
    partition = ("--partition", "2024-11-01")
    done = subprocess.run(
        [dagster, "asset", "materialize", "-m", "genesys_assets", "--select", "*", *partition],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home.parent,
    )
    assert done.returncode != 0
    assert "GENESYS_API_HOST must not carry a user or password" in done.stderr
    assert USER not in done.stdout + done.stderr and PASSWORD not in done.stdout + done.stderr
    assert not home.exists()


def test_the_grace_period_is_bounded(clean_env):
    with pytest.raises(
        SettingsError, match="GENESYS_STAGE_GRACE_HOURS must be at most 87600 hours"
    ):
        resources({**clean_env, "GENESYS_STAGE_GRACE_HOURS": "1e12"})
    assert resources({**clean_env, "GENESYS_STAGE_GRACE_HOURS": "2"})["stage"].grace_hours == 2


# -- which deployment, which Genesys: never simulated data beside real data -------------------

# The variables this round added; conftest's clean_env does not know them yet.
NEW_SWITCHES = (
    "GENESYS_ASSETS_DEPLOYMENT",
    "GENESYS_SOURCE",
    "GENESYS_ENVIRONMENT",
    "GENESYS_MEMORY_BUDGET",
)
GENESYS_NAMES = ("GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET", "GENESYS_REGION", "GENESYS_API_HOST")
WHY_NO_SIMULATOR = "simulated days would replace real days in the stage and the warehouse"


@pytest.fixture(autouse=True)
def _no_new_switches(monkeypatch):
    """Runs before clean_env copies the environment: a developer's own value must not leak in."""
    for name in NEW_SWITCHES:
        monkeypatch.delenv(name, raising=False)


def local(**more: str) -> dict[str, str]:
    return {"GENESYS_ASSETS_DEPLOYMENT": "local", **more}


def production(**more: str) -> dict[str, str]:
    return {"GENESYS_ASSETS_DEPLOYMENT": "production", **more}


def kinds(found: dict) -> tuple[type, type, type]:
    return type(found["genesys"]), type(found["stage"]), type(found["warehouse"])


EMBEDDED = (GenesysSimulatorResource, LocalStageResource, DuckDBWarehouseResource)
REAL_INTO_DUCKDB = (GenesysCloudResource, LocalStageResource, DuckDBWarehouseResource)
PRODUCTION = (GenesysCloudResource, S3StageResource, SnowflakeWarehouseResource)


@pytest.mark.parametrize(
    ("more", "deployment", "expected"),
    [
        pytest.param({}, "local", EMBEDDED, id="nothing-set-embedded-defaults"),
        pytest.param(local(), "local", EMBEDDED, id="local-by-name"),
        pytest.param({"GENESYS_SOURCE": "simulator"}, "local", EMBEDDED, id="simulator-by-name"),
        pytest.param(
            {**GENESYS, "GENESYS_SOURCE": "simulator"},
            "local",
            EMBEDDED,
            id="simulator-by-name-over-credentials",
        ),
        pytest.param(
            local(GENESYS_SOURCE="Simulator"), "local", EMBEDDED, id="local-simulator-any-case"
        ),
        pytest.param(local(**GENESYS), "local", REAL_INTO_DUCKDB, id="real-genesys-into-duckdb"),
        pytest.param(
            local(**GENESYS, GENESYS_SOURCE="cloud"), "local", REAL_INTO_DUCKDB, id="local-cloud"
        ),
        pytest.param(
            local(
                GENESYS_CLIENT_ID="id",
                GENESYS_CLIENT_SECRET="secret",
                GENESYS_API_HOST="http://127.0.0.1:9",
            ),
            "local",
            REAL_INTO_DUCKDB,
            id="local-real-by-api-host",
        ),
        pytest.param({**REMOTE, **GENESYS}, "production", PRODUCTION, id="production-by-default"),
        pytest.param(production(**REMOTE, **GENESYS), "production", PRODUCTION, id="by-name"),
        pytest.param(
            {**REMOTE, **GENESYS, "GENESYS_ASSETS_DEPLOYMENT": " Production "},
            "production",
            PRODUCTION,
            id="production-any-case",
        ),
        pytest.param(
            production(**REMOTE, **GENESYS, GENESYS_SOURCE="cloud"),
            "production",
            PRODUCTION,
            id="production-cloud",
        ),
        pytest.param(
            {**REMOTE, **GENESYS, "GENESYS_ASSETS_DEPLOYMENT": ""},
            "production",
            PRODUCTION,
            id="empty-deployment-is-unset",
        ),
    ],
)
def test_each_allowed_combination_gives_its_resource_classes(clean_env, more, deployment, expected):
    env = {**clean_env, **more}
    assert choose(env).deployment == deployment
    found = resources(env)
    assert kinds(found) == expected
    assert isinstance(found["genesys"], GenesysResource)


def test_the_genesys_secret_stays_an_env_var_in_every_real_setup(clean_env):
    for env in ({**clean_env, **local(**GENESYS)}, snowflake(clean_env)):
        genesys = resources({**env, "GENESYS_CLIENT_SECRET": PASSWORD})["genesys"]
        assert isinstance(genesys, GenesysCloudResource)
        connection = genesys.orgs[DEFAULT_ORG]
        assert isinstance(connection.client_secret, EnvVar)
        assert connection.client_secret == "GENESYS_CLIENT_SECRET", "the name, not the value"
        assert isinstance(connection.client_id, EnvVar)
        assert PASSWORD not in repr(genesys) and PASSWORD not in genesys.describe(DEFAULT_ORG)


def test_the_simulator_needs_no_credentials_and_has_none(clean_env):
    genesys = resources({**clean_env, "GENESYS_SIMULATOR_SEED": "7"})["genesys"]
    assert isinstance(genesys, GenesysSimulatorResource) and genesys.simulator_seed == 7
    assert genesys.embedded
    assert not hasattr(genesys, "client_secret") and not genesys.orgs, "one org, no credentials"


@pytest.mark.parametrize(
    "more",
    [
        pytest.param(REMOTE, id="s3-and-snowflake"),
        pytest.param({"S3_BUCKET": "b"}, id="s3-only"),
        pytest.param({"SNOWFLAKE_ACCOUNT": "a"}, id="snowflake-only"),
        pytest.param(production(**REMOTE), id="production-by-name"),
        pytest.param(
            {**REMOTE, "GENESYS_CLIENT_ID": "", "GENESYS_CLIENT_SECRET": ""},
            id="secrets-mounted-empty",
        ),
    ],
)
def test_s3_or_snowflake_without_genesys_credentials_fails_naming_them_and_why(clean_env, more):
    with pytest.raises(SettingsError) as caught:
        resources({**clean_env, **more})
    message = str(caught.value)
    assert message.startswith("GENESYS_ASSETS_DEPLOYMENT is production")
    assert (
        "GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and GENESYS_REGION (or GENESYS_API_HOST)"
        in message
    )
    assert WHY_NO_SIMULATOR in message and "never falls back to the built-in simulator" in message


def test_loading_the_definitions_refuses_s3_and_snowflake_without_genesys(clean_env):
    with pytest.raises(SettingsError, match="GENESYS_CLIENT_ID"):
        build_definitions(datasets.load(), {**clean_env, **REMOTE})
    assert not Path(clean_env["GENESYS_ASSETS_HOME"]).exists(), "nothing written"


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("GENESYS_CLIENT_ID", "GENESYS_CLIENT_ID"),
        ("GENESYS_CLIENT_SECRET", "GENESYS_CLIENT_SECRET"),
        ("GENESYS_REGION", "GENESYS_REGION (or GENESYS_API_HOST)"),
    ],
)
def test_one_missing_genesys_setting_in_production_is_the_one_named(clean_env, missing, named):
    env = snowflake(clean_env)
    del env[missing]
    with pytest.raises(SettingsError) as caught:
        resources(env)
    message = str(caught.value)
    assert message.split(", so set ")[1].split(". ")[0] == named
    # Only a missing client id would have meant the simulator before.
    assert ("never falls back" in message) == (missing == "GENESYS_CLIENT_ID")


def test_production_by_name_names_everything_missing(clean_env):
    with pytest.raises(SettingsError) as caught:
        resources({**clean_env, **production()})
    message = str(caught.value)
    assert message.startswith("GENESYS_ASSETS_DEPLOYMENT is production, so set S3_BUCKET, ")
    for name in (
        "S3_BUCKET",
        "SNOWFLAKE_ACCOUNT",
        "SNOWFLAKE_USER",
        "SNOWFLAKE_DATABASE",
        "SNOWFLAKE_STAGE",
        "SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY or SNOWFLAKE_PRIVATE_KEY_PATH)",
        *GENESYS_NAMES,
    ):
        assert name in message
    assert "Production stages in S3 and loads into Snowflake" in message


def test_production_with_genesys_only_names_the_stage_and_warehouse(clean_env):
    with pytest.raises(SettingsError) as caught:
        resources({**clean_env, **production(**GENESYS)})
    message = str(caught.value)
    assert "S3_BUCKET" in message and "SNOWFLAKE_ACCOUNT" in message
    assert not any(name in message for name in GENESYS_NAMES)


@pytest.mark.parametrize("key", ["SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PRIVATE_KEY_PATH"])
def test_production_takes_a_key_pair_instead_of_a_password(clean_env, key, tmp_path):
    env = snowflake(clean_env, **{key: str(tmp_path / "key.p8")})
    del env["SNOWFLAKE_PASSWORD"]
    assert kinds(resources(env)) == PRODUCTION


def test_a_client_id_alone_means_production_and_says_how_to_stay_local(clean_env):
    with pytest.raises(SettingsError) as caught:
        resources({**clean_env, **GENESYS})
    message = str(caught.value)
    assert message.startswith(
        "GENESYS_ASSETS_DEPLOYMENT is production (by default, since GENESYS_CLIENT_ID is set), "
        "so set S3_BUCKET, "
    )
    assert "set GENESYS_ASSETS_DEPLOYMENT=local" in message
    assert not any(name in message for name in ("GENESYS_CLIENT_SECRET", "GENESYS_REGION"))


@pytest.mark.parametrize(
    ("more", "named"),
    [
        pytest.param({"S3_BUCKET": "b"}, "but S3_BUCKET is set", id="s3"),
        pytest.param({"SNOWFLAKE_ACCOUNT": "a"}, "but SNOWFLAKE_ACCOUNT is set", id="snowflake"),
        pytest.param(REMOTE, "but S3_BUCKET and SNOWFLAKE_ACCOUNT are set", id="both"),
    ],
)
def test_local_beside_s3_or_snowflake_is_a_contradiction(clean_env, more, named):
    for genesys in ({}, GENESYS):
        with pytest.raises(SettingsError) as caught:
            resources({**clean_env, **local(**more, **genesys)})
        message = str(caught.value)
        assert message.startswith(f"GENESYS_ASSETS_DEPLOYMENT is local, {named}")
        assert "or set GENESYS_ASSETS_DEPLOYMENT=production" in message


@pytest.mark.parametrize(
    "more",
    [
        pytest.param({**REMOTE, **GENESYS}, id="complete-production-setup"),
        pytest.param(REMOTE, id="no-genesys"),
        pytest.param({"S3_BUCKET": "b"}, id="s3-only"),
        pytest.param({"SNOWFLAKE_ACCOUNT": "a"}, id="snowflake-only"),
        pytest.param(production(**REMOTE, **GENESYS), id="production-by-name"),
        pytest.param(local(**REMOTE), id="local-by-name"),
    ],
)
def test_the_simulator_by_name_is_refused_beside_s3_or_snowflake(clean_env, more):
    with pytest.raises(SettingsError) as caught:
        resources({**clean_env, **more, "GENESYS_SOURCE": "simulator"})
    message = str(caught.value)
    assert message.startswith("GENESYS_SOURCE is simulator, but ")
    assert "never beside S3 or Snowflake" in message and "would replace real ones" in message


def test_production_by_name_refuses_the_simulator_by_name(clean_env):
    with pytest.raises(
        SettingsError,
        match=r"^GENESYS_ASSETS_DEPLOYMENT is production, so GENESYS_SOURCE cannot be simulator",
    ):
        resources({**clean_env, **production(GENESYS_SOURCE="simulator")})


def test_genesys_cloud_by_name_never_falls_back_to_the_simulator(clean_env):
    with pytest.raises(SettingsError) as caught:
        resources({**clean_env, "GENESYS_SOURCE": "cloud"})
    assert str(caught.value).startswith(
        "GENESYS_SOURCE is cloud, so set GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and "
        "GENESYS_REGION (or GENESYS_API_HOST)"
    )
    partly = local(GENESYS_CLIENT_ID="id", GENESYS_CLIENT_SECRET="s", GENESYS_SOURCE="cloud")
    with pytest.raises(SettingsError, match=r"^GENESYS_SOURCE is cloud, so set GENESYS_REGION"):
        resources({**clean_env, **partly})


def test_real_genesys_into_duckdb_still_checks_its_own_settings(clean_env):
    with pytest.raises(
        SettingsError, match=r"^GENESYS_CLIENT_ID is set, so set GENESYS_CLIENT_SECRET"
    ):
        resources({**clean_env, **local(GENESYS_CLIENT_ID="id")})
    with pytest.raises(SettingsError, match=r"^GENESYS_CLIENT_ID is set, so set GENESYS_REGION"):
        resources({**clean_env, **local(GENESYS_CLIENT_ID="id", GENESYS_CLIENT_SECRET="s")})


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("GENESYS_ASSETS_DEPLOYMENT", "prod", "local or production"),
        ("GENESYS_ASSETS_DEPLOYMENT", "staging", "local or production"),
        ("GENESYS_SOURCE", "genesys", "simulator or cloud"),
        ("GENESYS_SOURCE", "sim", "simulator or cloud"),
    ],
)
def test_an_unknown_deployment_or_source_names_the_choices(clean_env, name, value, allowed):
    with pytest.raises(SettingsError, match=rf"^{name} must be {allowed}"):
        resources({**clean_env, name: value})


def test_genesys_environment_is_refused_because_genesys_means_the_region_by_it(clean_env):
    # Genesys' own tools: GENESYSCLOUD_ENVIRONMENT=mypurecloud.com. Read neither way, silently.
    for value in ("prd-eu", "mypurecloud.ie"):
        with pytest.raises(SettingsError) as caught:
            resources({**clean_env, **REMOTE, **GENESYS, "GENESYS_ENVIRONMENT": value})
        message = str(caught.value)
        assert message.startswith("GENESYS_ENVIRONMENT is not a setting of genesys_assets")
        assert "GENESYS_ASSETS_DEPLOYMENT" in message and "GENESYS_REGION" in message
        assert value not in message


SECRETS = {
    "GENESYS_CLIENT_ID": USER,
    "GENESYS_CLIENT_SECRET": PASSWORD,
    "SNOWFLAKE_USER": USER,
    "SNOWFLAKE_PASSWORD": PASSWORD,
    "SNOWFLAKE_PRIVATE_KEY_PASSWORD": PASSWORD,
}


def _with_secrets(env: dict[str, str]) -> dict[str, str]:
    return {**env, **{k: v for k, v in SECRETS.items() if k in env}}


@pytest.mark.parametrize(
    "more",
    [
        {**REMOTE, "GENESYS_CLIENT_SECRET": "x", "GENESYS_REGION": "mypurecloud.ie"},
        {**REMOTE, "GENESYS_CLIENT_ID": "x"},
        production(GENESYS_CLIENT_SECRET="x", SNOWFLAKE_PASSWORD="x"),
        {**GENESYS},
        local(**REMOTE, **GENESYS),
        {**REMOTE, **GENESYS, "GENESYS_SOURCE": "simulator"},
        production(GENESYS_SOURCE="simulator", **GENESYS),
        local(GENESYS_SOURCE="cloud", GENESYS_CLIENT_SECRET="x"),
        {**REMOTE, **GENESYS, "GENESYS_ENVIRONMENT": PASSWORD},
        {**REMOTE, **GENESYS, "GENESYS_ASSETS_DEPLOYMENT": PASSWORD},
        {**REMOTE, **GENESYS, "GENESYS_SOURCE": PASSWORD},
        {**REMOTE, **GENESYS, "SNOWFLAKE_PRIVATE_KEY_PASSWORD": "x", "GENESYS_REGION": ""},
    ],
)
def test_no_refusal_repeats_a_secret_or_a_user(clean_env, more):
    with pytest.raises(SettingsError) as caught:
        resources(_with_secrets({**clean_env, **more}))
    assert leaks(caught.value) == []


# -- GENESYS_MEMORY_BUDGET --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 512 * 2**20),
        ("", 512 * 2**20),
        ("512MiB", 512 * 2**20),
        ("512MB", 512_000_000),
        ("1GB", 1_000_000_000),
        ("1GiB", 2**30),
        ("2.5GB", 2_500_000_000),
        (" 1gb ", 1_000_000_000),
        ("64MB", 64_000_000),
        ("65536KB", 65_536_000),
        ("1TB", 10**12),
    ],
)
def test_the_memory_budget_reaches_the_client_settings_in_bytes(clean_env, value, expected):
    more = {} if value is None else {"GENESYS_MEMORY_BUDGET": value}
    for env in ({**clean_env, **more}, {**clean_env, **local(**GENESYS, **more)}):
        genesys = resources(env)["genesys"]
        assert genesys.memory_budget_bytes == expected
        assert genesys.client_settings().memory_budget_bytes == expected
    assert ClientSettings().memory_budget_bytes == 512 * 2**20, "unset is the client's default"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("50%", "not a share of the machine's memory, got '50%'"),
        ("100%", "not a share of the machine's memory"),
        ("63MB", "at least 64MB, got '63MB'"),
        ("61MiB", "at least 64MB"),
        ("0GB", "at least 64MB"),
        ("1024", "an amount of memory such as 512MB, 512MiB or 1GB, got '1024'"),
        ("1PB", "an amount of memory such as 512MB, 512MiB or 1GB"),
        ("-1GB", "an amount of memory such as 512MB, 512MiB or 1GB"),
        ("lots", "an amount of memory such as 512MB, 512MiB or 1GB"),
        ("1" * 400 + "TB", "at most 1000TB"),
        ("2000TB", "at most 1000TB"),
    ],
)
def test_a_memory_budget_that_cannot_work_fails_at_load(clean_env, value, message):
    with pytest.raises(
        SettingsError, match=rf"^GENESYS_MEMORY_BUDGET must be .*{re.escape(message)}"
    ):
        resources({**clean_env, "GENESYS_MEMORY_BUDGET": value})


# -- the two Genesys resources at run time ----------------------------------------------------


def test_the_base_resource_cannot_be_built_on_its_own():
    with pytest.raises(TypeError):
        GenesysResource()
    assert issubclass(GenesysCloudResource, GenesysResource)
    assert issubclass(GenesysSimulatorResource, GenesysResource)


def test_the_simulator_resource_says_its_data_is_simulated_and_stops(clean_env, caplog):
    genesys = resources({**clean_env, "GENESYS_SIMULATOR_SEED": "5"})["genesys"]
    assert "SIMULATED" in genesys.describe(DEFAULT_ORG)
    assert "not started" in genesys.describe(DEFAULT_ORG)
    with caplog.at_level(logging.WARNING), build_resources({"genesys": genesys}) as built:
        live = built.genesys
        described = live.describe(DEFAULT_ORG)
        assert described.startswith("the built-in Genesys Cloud simulator at http://127.0.0.1:")
        assert "SIMULATED data, seed 5" in described
        assert live.get_client(DEFAULT_ORG).host in described
        simulator = live._simulator
        assert simulator.running
        assert live.get_client(DEFAULT_ORG).list_queues(), "it answers"
    assert not simulator.running, "stopped after the run"
    assert any("SIMULATED DATA" in r.getMessage() for r in caplog.records)


def test_the_cloud_resource_reaches_the_org_it_is_given(clean_env, start_simulator, monkeypatch):
    simulator = start_simulator()
    monkeypatch.setenv("GENESYS_CLIENT_ID", simulator.client_id)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", simulator.client_secret)
    env = {
        **clean_env,
        **local(
            GENESYS_CLIENT_ID=simulator.client_id,
            GENESYS_CLIENT_SECRET=simulator.client_secret,
            GENESYS_API_HOST=simulator.base_url,
            GENESYS_MEMORY_BUDGET="128MB",
        ),
    }
    genesys = resources(env)["genesys"]
    assert genesys.describe(DEFAULT_ORG) == "Genesys Cloud (not connected)"
    with build_resources({"genesys": genesys}) as built:
        live = built.genesys
        assert live.describe(DEFAULT_ORG) == f"Genesys Cloud at {simulator.base_url}"
        assert not live.embedded and "SIMULATED" not in live.describe(DEFAULT_ORG)
        assert live.get_client(DEFAULT_ORG).list_queues(), "it answers"
        assert live.client_settings().memory_budget_bytes == 128_000_000
