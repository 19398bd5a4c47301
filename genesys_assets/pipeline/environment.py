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

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

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


def _number(env: Mapping[str, str], name: str, default: T, kind: Callable[[str], T]) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__} number, got '{raw}'") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got '{raw}'")
    return value


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

    api_host(region=env.get("GENESYS_REGION"), base_url=env.get("GENESYS_API_HOST"))
    return GenesysResource(
        client_id=EnvVar("GENESYS_CLIENT_ID"),
        client_secret=EnvVar("GENESYS_CLIENT_SECRET"),
        region=env.get("GENESYS_REGION") or None,
        api_host=env.get("GENESYS_API_HOST") or None,
        **tuning,
    )


def stage_resource(env: Mapping[str, str]) -> StageResource:
    if not env.get("S3_BUCKET"):
        return LocalStageResource(root=str(home(env) / "stage"))
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
        endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
    )


def warehouse_resource(env: Mapping[str, str], stage: StageResource) -> WarehouseResource:
    if not env.get("SNOWFLAKE_ACCOUNT"):
        path = env.get("DUCKDB_DATABASE") or str(home(env) / "warehouse.duckdb")
        memory_limit = env.get("DUCKDB_MEMORY_LIMIT") or "128MB"
        return DuckDBWarehouseResource(path=path, stage=stage, memory_limit=memory_limit)
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
        host=env.get("SNOWFLAKE_HOST") or None,
        port=_number(env, "SNOWFLAKE_PORT", 0, int) or None,
        protocol=env.get("SNOWFLAKE_PROTOCOL") or None,
        network_timeout_s=_number(env, "SNOWFLAKE_NETWORK_TIMEOUT", 600, int),
    )


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
