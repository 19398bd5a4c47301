"""Which real part stands behind each resource, decided by the environment.

Each part switches on its own:
- Genesys: GENESYS_CLIENT_ID set -> the real API (GENESYS_REGION or GENESYS_API_HOST), else the
  built-in simulator started in-process;
- stage: S3_BUCKET set -> S3, else a folder under GENESYS_ASSETS_HOME;
- warehouse: SNOWFLAKE_ACCOUNT set -> Snowflake, else DuckDB (DUCKDB_DATABASE or a file under
  GENESYS_ASSETS_HOME).
Settings that cannot work together fail here, when the code location loads, with the variable to
fix, before any run can write anything. Secrets are passed as `EnvVar`s: Dagster resolves them
when a run starts, so their values never appear in the definitions or the UI.
"""

import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dagster import EnvVar

from genesys_assets.pipeline.io_managers import ParquetIOManager, RawPagesIOManager
from genesys_assets.pipeline.resources import (
    DuckDBWarehouseResource,
    GenesysResource,
    LocalStageResource,
    S3StageResource,
    SnowflakeWarehouseResource,
    StageResource,
    WarehouseResource,
)

T = TypeVar("T", int, float)


class SettingsError(ValueError):
    """Environment variables that cannot work; the message names them."""


def project_root() -> Path:
    """The checkout this package runs from (where pyproject.toml is), else the working folder."""
    here = Path(__file__).resolve().parent.parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def home(env: Mapping[str, str]) -> Path:
    """The local state folder: stage and DuckDB file of the embedded defaults."""
    return Path(env.get("GENESYS_ASSETS_HOME") or project_root() / ".genesys_assets")


def _number(
    env: Mapping[str, str],
    name: str,
    default: T,
    kind: Callable[[str], T],
    *,
    maximum: float | None = None,
) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    what = "whole" if kind is int else "decimal"
    try:
        value = kind(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a {what} number, got '{raw}'") from None
    # float() takes nan and inf; a timeout or rate of either only fails deep inside a run.
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, got '{raw}'")
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got '{raw}'")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum:g}, got '{raw}'")
    return value


# What DuckDB's memory_limit accepts (checked against DuckDB 2.0.1 in the tests): a number and
# a unit, or a percentage of the machine's memory.
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)\s*$", re.IGNORECASE)


def _memory(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    if not _MEMORY.match(raw):
        raise SettingsError(
            f"{name} must be an amount of memory such as 128MB, 2GB or 50%, got '{raw}'"
        )
    return raw.strip()


def _url(env: Mapping[str, str], name: str) -> str | None:
    """A URL setting, refused if it carries credentials (which would reach every log line that
    names the host). The message never repeats the value."""
    raw = env.get(name)
    if not raw:
        return None
    parts = urlsplit(raw.strip())
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise SettingsError(
            f"{name} must not carry a user or password (the '...@' part): credentials go in "
            "their own variables, never in a URL that logs and metadata show"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http(s) URL such as https://host:port")
    if parts.query or parts.fragment:
        raise SettingsError(f"{name} must not have a query string or fragment")
    return raw.strip()


def _require(env: Mapping[str, str], because: str, *names: str) -> None:
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise SettingsError(f"{because}, so set {', '.join(missing)}")


def genesys_resource(env: Mapping[str, str]) -> GenesysResource:
    tuning: dict[str, Any] = {
        "requests_per_minute": _number(env, "GENESYS_REQUESTS_PER_MINUTE", 250.0, float),
        "max_concurrency": _number(env, "GENESYS_MAX_CONCURRENCY", 8, int),
        "chunk_days": _number(env, "GENESYS_CHUNK_DAYS", 7, int),
        "connect_timeout_s": _number(env, "GENESYS_CONNECT_TIMEOUT", 10.0, float),
        "read_timeout_s": _number(env, "GENESYS_READ_TIMEOUT", 120.0, float),
        "max_attempts": _number(env, "GENESYS_MAX_ATTEMPTS", 8, int),
        "max_retry_wait_s": _number(env, "GENESYS_MAX_RETRY_WAIT", 60.0, float),
        "job_timeout_s": _number(env, "GENESYS_JOB_TIMEOUT", 1800.0, float),
        "query_mode": env.get("GENESYS_QUERY_MODE") or "auto",
    }
    api_url = _url(env, "GENESYS_API_HOST")
    if tuning["query_mode"] not in ("auto", "sync", "jobs"):
        raise SettingsError(
            f"GENESYS_QUERY_MODE must be auto, sync or jobs, got '{tuning['query_mode']}'"
        )
    if not env.get("GENESYS_CLIENT_ID"):
        seed = int(_number(env, "GENESYS_SIMULATOR_SEED", 42, int))
        return GenesysResource(simulator_seed=seed, **tuning)
    _require(env, "GENESYS_CLIENT_ID is set", "GENESYS_CLIENT_SECRET")
    if not env.get("GENESYS_REGION") and not env.get("GENESYS_API_HOST"):
        raise SettingsError(
            "GENESYS_CLIENT_ID is set, so set GENESYS_REGION (e.g. mypurecloud.ie) or "
            "GENESYS_API_HOST (an explicit base URL)"
        )
    from genesys_assets.genesys.regions import api_host

    api_host(region=env.get("GENESYS_REGION"), base_url=api_url)
    return GenesysResource(
        client_id=EnvVar("GENESYS_CLIENT_ID"),
        client_secret=EnvVar("GENESYS_CLIENT_SECRET"),
        region=env.get("GENESYS_REGION") or None,
        api_host=api_url,
        **tuning,
    )


def stage_resource(env: Mapping[str, str]) -> StageResource:
    grace = _number(env, "GENESYS_STAGE_GRACE_HOURS", 24.0, float)
    if not env.get("S3_BUCKET"):
        root = home(env) / "stage"
        if root.exists() and not root.is_dir():
            raise SettingsError(f"GENESYS_ASSETS_HOME: {root} is a file, the stage needs a folder")
        return LocalStageResource(root=str(root), grace_hours=grace)
    sse = env.get("S3_SSE") or ("aws:kms" if env.get("S3_KMS_KEY_ID") else "AES256")
    if sse not in ("AES256", "aws:kms"):
        raise SettingsError(f"S3_SSE must be AES256 or aws:kms, got '{sse}'")
    if env.get("S3_KMS_KEY_ID") and sse != "aws:kms":
        raise SettingsError("S3_KMS_KEY_ID is set, so S3_SSE must be aws:kms (or unset)")
    return S3StageResource(
        bucket=env["S3_BUCKET"],
        prefix=(env.get("S3_PREFIX") or "genesys").strip("/"),
        sse=sse,
        kms_key_id=env.get("S3_KMS_KEY_ID") or None,
        endpoint_url=_url(env, "AWS_ENDPOINT_URL_S3") or _url(env, "AWS_ENDPOINT_URL"),
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        grace_hours=grace,
    )


def warehouse_resource(env: Mapping[str, str], stage: StageResource) -> WarehouseResource:
    max_shrink = _number(env, "GENESYS_DIMENSION_MAX_SHRINK", 0.5, float, maximum=1.0)
    if not env.get("SNOWFLAKE_ACCOUNT"):
        path = env.get("DUCKDB_DATABASE") or str(home(env) / "warehouse.duckdb")
        if Path(path).is_dir():
            raise SettingsError(
                f"DUCKDB_DATABASE names a folder ({path}); give the path of a database file, "
                "e.g. .../warehouse.duckdb"
            )
        if Path(path).parent.exists() and not Path(path).parent.is_dir():
            raise SettingsError(f"DUCKDB_DATABASE: {Path(path).parent} is a file, not a folder")
        return DuckDBWarehouseResource(
            path=path,
            stage=stage,
            memory_limit=_memory(env, "DUCKDB_MEMORY_LIMIT", "128MB"),
            lock_timeout_s=_number(env, "DUCKDB_LOCK_TIMEOUT", 300.0, float),
            max_shrink=max_shrink,
        )
    if not isinstance(stage, S3StageResource):
        raise SettingsError(
            "SNOWFLAKE_ACCOUNT is set: Snowflake loads with COPY INTO from the S3 stage "
            "through an external stage, so set S3_BUCKET (and SNOWFLAKE_STAGE)"
        )
    _require(
        env,
        "SNOWFLAKE_ACCOUNT is set",
        "SNOWFLAKE_USER",
        "SNOWFLAKE_DATABASE",
        "SNOWFLAKE_STAGE",
    )
    if not any(
        env.get(n)
        for n in ("SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PRIVATE_KEY_PATH")
    ):
        raise SettingsError(
            "SNOWFLAKE_ACCOUNT is set, so set SNOWFLAKE_PASSWORD, SNOWFLAKE_PRIVATE_KEY or "
            "SNOWFLAKE_PRIVATE_KEY_PATH"
        )

    def secret(name: str) -> Any:
        return EnvVar(name) if env.get(name) else None

    return SnowflakeWarehouseResource(
        stage=stage,
        account=env["SNOWFLAKE_ACCOUNT"],
        user=env["SNOWFLAKE_USER"],
        password=secret("SNOWFLAKE_PASSWORD"),
        private_key=secret("SNOWFLAKE_PRIVATE_KEY"),
        private_key_path=env.get("SNOWFLAKE_PRIVATE_KEY_PATH") or None,
        private_key_password=secret("SNOWFLAKE_PRIVATE_KEY_PASSWORD"),
        role=env.get("SNOWFLAKE_ROLE") or None,
        warehouse=env.get("SNOWFLAKE_WAREHOUSE") or None,
        database=env["SNOWFLAKE_DATABASE"],
        schema_name=env.get("SNOWFLAKE_SCHEMA") or "GENESYS",
        stage_name=env["SNOWFLAKE_STAGE"],
        host=_host(env, "SNOWFLAKE_HOST"),
        port=_number(env, "SNOWFLAKE_PORT", 0, int, maximum=65535) or None,
        protocol=_protocol(env),
        network_timeout_s=_number(env, "SNOWFLAKE_NETWORK_TIMEOUT", 600, int),
        max_shrink=max_shrink,
    )


def _host(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    if "@" in raw or "/" in raw or ":" in raw:
        raise SettingsError(
            f"{name} must be a bare host name (no scheme, port, path or user), e.g. "
            "acme-xy12345.snowflakecomputing.com"
        )
    return raw.strip()


def _protocol(env: Mapping[str, str]) -> str | None:
    raw = env.get("SNOWFLAKE_PROTOCOL")
    if not raw:
        return None
    if raw not in ("http", "https"):
        raise SettingsError(f"SNOWFLAKE_PROTOCOL must be http or https, got '{raw}'")
    return raw


def resources(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The resource set the environment asks for."""
    env = os.environ if env is None else env
    stage = stage_resource(env)
    return {
        "genesys": genesys_resource(env),
        "stage": stage,
        "warehouse": warehouse_resource(env, stage),
        "raw_pages_io_manager": RawPagesIOManager(stage=stage),
        "parquet_io_manager": ParquetIOManager(stage=stage),
    }
