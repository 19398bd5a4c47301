"""Which real part stands behind each resource, decided by the environment.

First the deployment, GENESYS_ASSETS_DEPLOYMENT (see `choose`):
- `local`: stage in a folder under GENESYS_ASSETS_HOME, warehouse in DuckDB (DUCKDB_DATABASE or
  a file under GENESYS_ASSETS_HOME); Genesys is the real API when GENESYS_CLIENT_ID is set
  (GENESYS_REGION or GENESYS_API_HOST), else the built-in simulator started in-process;
- `production`: stage in S3 (S3_BUCKET), warehouse in Snowflake (SNOWFLAKE_*), Genesys the real
  API; anything missing fails, the simulator never runs.
Unset, it is `local` when none of GENESYS_CLIENT_ID, S3_BUCKET, SNOWFLAKE_ACCOUNT is set, else
`production`: a Genesys secret that failed to mount fails the load instead of turning production
runs into simulated ones. GENESYS_SOURCE (`simulator` or `cloud`) asks for one kind of Genesys
by name; `simulator` is a local run (refused beside S3_BUCKET or SNOWFLAKE_ACCOUNT), `cloud`
never falls back to the simulator.

Settings that cannot work together fail here, when the code location loads, with the variable to
fix, before any run can write anything. Secrets are passed as `EnvVar`s: Dagster resolves them
when a run starts, so their values never appear in the definitions or the UI.
"""

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dagster import EnvVar

from genesys_assets.datasets import PLAIN_ORG, Org
from genesys_assets.pipeline.io_managers import ParquetIOManager, RawPagesIOManager
from genesys_assets.pipeline.resources import (
    DuckDBWarehouseResource,
    GenesysCloudResource,
    GenesysResource,
    GenesysSimulatorResource,
    LocalStageResource,
    OrgConnection,
    S3StageResource,
    SimulatedOrgConfig,
    SnowflakeWarehouseResource,
    StageResource,
    WarehouseResource,
)

T = TypeVar("T", int, float)

# Longest wait a setting may ask for: socket timeouts, time.sleep and Event.wait overflow a
# little past 9e9 s, deep inside a run.
MAX_WAIT_S = 1e9


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
    unit: str = "",
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
        limit = int(maximum) if maximum == int(maximum) else maximum
        raise SettingsError(f"{name} must be at most {limit}{unit}, got '{raw}'")
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str) -> bool:
    """A yes/no switch, off unless set to one of the words for yes."""
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", *_FALSE):
        return False
    if raw in _TRUE:
        return True
    raise SettingsError(f"{name} must be one of {', '.join(_TRUE + _FALSE)}, got '{env[name]}'")


def _seconds(env: Mapping[str, str], name: str, default: T, kind: Callable[[str], T]) -> T:
    return _number(env, name, default, kind, maximum=MAX_WAIT_S, unit=" seconds")


# What DuckDB's memory_limit accepts (checked against DuckDB 2.0.1 in the tests): a number and
# a unit, or a percentage of the machine's memory. DuckDB parses the value only when a run opens
# the file, and also refuses there what is too small for its first allocation and a share over
# 100%: both are checked here too.
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)\s*$", re.I)
_MEMORY_UNITS = {
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "tb": 1e12,
    "kib": 2.0**10,
    "mib": 2.0**20,
    "gib": 2.0**30,
    "tib": 2.0**40,
}


def _memory(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    match = _MEMORY.match(raw)
    if not match:
        raise SettingsError(
            f"{name} must be an amount of memory such as 128MB, 2GB or 50%, got '{raw}'"
        )
    amount, unit = float(match.group(1)), match.group(2).lower()
    if unit == "%":
        if not 1 <= amount <= 100:
            raise SettingsError(f"{name} must be a share of memory from 1% to 100%, got '{raw}'")
    elif amount * _MEMORY_UNITS[unit] < 1e6:
        raise SettingsError(f"{name} must be at least 1MB, got '{raw}'")
    return raw.strip()


GENESYS_MEMORY_BUDGET = "GENESYS_MEMORY_BUDGET"
DEFAULT_MEMORY_BUDGET = "512MiB"  # = ClientSettings' own default
MIN_MEMORY_BUDGET = 64e6  # 64MB
MAX_MEMORY_BUDGET = 1e15  # 1000TB: beyond any machine; keeps the figure an ordinary number


def _memory_bytes(env: Mapping[str, str], name: str, default: str) -> int:
    """An amount of memory in the units DUCKDB_MEMORY_LIMIT takes, as bytes; no share (%)."""
    raw = env.get(name) or default
    match = _MEMORY.match(raw)
    if not match:
        raise SettingsError(
            f"{name} must be an amount of memory such as 512MB, 512MiB or 1GB, got '{raw}'"
        )
    amount, unit = float(match.group(1)), match.group(2).lower()
    if unit == "%":
        raise SettingsError(
            f"{name} must be an amount of memory such as 512MB, 512MiB or 1GB, not a share of the "
            f"machine's memory, got '{raw}'"
        )
    value = amount * _MEMORY_UNITS[unit]
    if value < MIN_MEMORY_BUDGET:
        raise SettingsError(f"{name} must be at least 64MB, got '{raw}'")
    if not value <= MAX_MEMORY_BUDGET:
        raise SettingsError(f"{name} must be at most 1000TB, got '{raw}'")
    return int(value)


def _database_file(env: Mapping[str, str]) -> str:
    """The DuckDB file, checked without creating anything: a folder where the file goes, or a
    file where a folder goes, fails in a run only after the stage was written."""
    if env.get("DUCKDB_DATABASE"):
        name, path = "DUCKDB_DATABASE", env["DUCKDB_DATABASE"]
    else:
        name, path = "GENESYS_ASSETS_HOME", str(home(env) / "warehouse.duckdb")
    if path.strip().startswith(":memory:"):
        # The warehouse opens the file for each operation: in memory, each load vanishes.
        raise SettingsError(f"{name} must be a file: an in-memory database keeps nothing")
    if Path(path).is_dir():
        if name == "DUCKDB_DATABASE":
            raise SettingsError(
                f"DUCKDB_DATABASE names a folder ({path}); give the path of a database file, "
                "e.g. .../warehouse.duckdb"
            )
        raise SettingsError(
            f"GENESYS_ASSETS_HOME: {path} is a folder where the DuckDB file goes; remove it or "
            "set DUCKDB_DATABASE"
        )
    _folders_can_exist(name, Path(path).parent)
    return path


def _folders_can_exist(name: str, folder: Path) -> None:
    """The nearest existing one of `folder` and its parents must be a folder."""
    for existing in (folder, *folder.parents):
        if existing.exists():
            if not existing.is_dir():
                raise SettingsError(f"{name}: {existing} is a file, not a folder")
            return


def _authority(url: str) -> str:
    """What precedes the path: the only place a user or password can sit, even in a URL too
    broken for urlsplit."""
    return re.split(r"[/?#]", url.split("://", 1)[-1], maxsplit=1)[0]


def _url(env: Mapping[str, str], name: str) -> str | None:
    """A URL setting, refused if it carries credentials (which would reach every log line that
    names the host). The message never repeats the value."""
    raw = env.get(name)
    if not raw:
        return None
    if "@" in _authority(raw.strip()):
        raise SettingsError(
            f"{name} must not carry a user or password (the '...@' part): credentials go in "
            "their own variables, never in a URL that logs and metadata show"
        )
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 (raises on a port that is not a number up to 65535)
    except ValueError:
        raise SettingsError(
            f"{name} must be an http(s) URL such as https://host:port; its host or port "
            "cannot be read"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http(s) URL such as https://host:port")
    if parts.query or parts.fragment:
        raise SettingsError(f"{name} must not have a query string or fragment")
    return raw.strip()


# botocore's own rule for a bucket name (an access point ARN is also accepted); it checks only
# when the first request goes out.
_BUCKET = re.compile(r"^[a-zA-Z0-9.\-_]{1,255}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_.-]+$")


def _require(env: Mapping[str, str], because: str, *names: str) -> None:
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise SettingsError(f"{because}, so set {', '.join(missing)}")


DEPLOYMENT = "GENESYS_ASSETS_DEPLOYMENT"
LOCAL, PRODUCTION = "local", "production"
SOURCE = "GENESYS_SOURCE"
SIMULATOR, CLOUD = "simulator", "cloud"
# The variables that put the stage and the warehouse on shared, real services.
REMOTE = ("S3_BUCKET", "SNOWFLAKE_ACCOUNT")


@dataclass(frozen=True)
class Setup:
    """What the environment asks for, before any resource is built."""

    deployment: str  # LOCAL or PRODUCTION
    genesys: str  # SIMULATOR or CLOUD
    deployment_given: bool  # GENESYS_ASSETS_DEPLOYMENT set, not inferred


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if raw.lower() not in allowed:
        # Not repeated: a value pasted into the wrong variable might be a secret.
        raise SettingsError(f"{name} must be {' or '.join(allowed)} (in any case)")
    return raw.lower()


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _are(names: list[str]) -> str:
    return f"{_listed(names)} {'is' if len(names) == 1 else 'are'} set"


# The org of a datasets file that declares one: its credentials and region come from the
# environment, as they always have.
ONE_ORG: tuple[Org, ...] = (PLAIN_ORG,)


def _client_id_names(orgs: Sequence[Org]) -> list[str]:
    """The variables whose presence says a real org is meant (GENESYS_CLIENT_ID for one)."""
    return [org.client_id_env for org in orgs]


def _genesys_missing(env: Mapping[str, str], orgs: Sequence[Org] = ONE_ORG) -> list[str]:
    missing = []
    for org in orgs:
        missing += [n for n in (org.client_id_env, org.client_secret_env) if not env.get(n)]
        # An org of a file of several names its region or host in the file.
        if not org.prefixed and not env.get("GENESYS_REGION") and not env.get("GENESYS_API_HOST"):
            missing.append("GENESYS_REGION (or GENESYS_API_HOST)")
    return missing


def _production_missing(env: Mapping[str, str]) -> list[str]:
    names = ("S3_BUCKET", "SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_DATABASE")
    missing = [n for n in (*names, "SNOWFLAKE_STAGE") if not env.get(n)]
    keys = ("SNOWFLAKE_PASSWORD", "SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PRIVATE_KEY_PATH")
    if not any(env.get(n) for n in keys):
        missing.append(
            "SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY or SNOWFLAKE_PRIVATE_KEY_PATH)"
        )
    return missing


def choose(env: Mapping[str, str], orgs: Sequence[Org] = ONE_ORG) -> Setup:
    """The deployment and the kind of Genesys, or a SettingsError naming what to set or unset.

    The simulator runs only in a local deployment (local stage and DuckDB): beside S3 or
    Snowflake its simulated days would replace real ones, with every check passing.
    """
    if env.get("GENESYS_ENVIRONMENT"):
        # Genesys' own tools call the org's region its "environment" (GENESYSCLOUD_ENVIRONMENT=
        # mypurecloud.com): a variable of that name would be misread either way, so none is read.
        raise SettingsError(
            "GENESYS_ENVIRONMENT is not a setting of genesys_assets (Genesys calls an org's "
            f"region its environment): choose the deployment with {DEPLOYMENT} ({LOCAL} or "
            f"{PRODUCTION}) and the org's region with GENESYS_REGION, then unset it"
        )
    deployment = _choice(env, DEPLOYMENT, (LOCAL, PRODUCTION))
    source = _choice(env, SOURCE, (SIMULATOR, CLOUD))
    remote = [n for n in REMOTE if env.get(n)]
    if source == SIMULATOR and remote:
        raise SettingsError(
            f"{SOURCE} is {SIMULATOR}, but {_are(remote)}: the simulator runs only with the "
            "local stage and DuckDB, never beside S3 or Snowflake, where its simulated days "
            f"would replace real ones. Unset {SOURCE} and set GENESYS_CLIENT_ID, "
            "GENESYS_CLIENT_SECRET and GENESYS_REGION (or GENESYS_API_HOST) to load your org, or "
            f"unset {_listed(remote)} to simulate on this machine"
        )
    if deployment == LOCAL and remote:
        raise SettingsError(
            f"{DEPLOYMENT} is {LOCAL}, but {_are(remote)}: a local deployment stages under "
            f"GENESYS_ASSETS_HOME and loads into DuckDB. Unset {_listed(remote)}, or set "
            f"{DEPLOYMENT}={PRODUCTION}"
        )
    if deployment == PRODUCTION and source == SIMULATOR:
        raise SettingsError(
            f"{DEPLOYMENT} is {PRODUCTION}, so {SOURCE} cannot be {SIMULATOR}: production loads "
            f"a real Genesys Cloud org, never simulated data. Unset {SOURCE}, or set "
            f"{DEPLOYMENT}={LOCAL}"
        )
    given = deployment is not None
    if deployment is None:
        # Asking for the simulator by name is asking for a local run (nothing remote is set,
        # or the check above refused it).
        real_genesys = any(env.get(n) for n in _client_id_names(orgs)) and source != SIMULATOR
        deployment = PRODUCTION if remote or real_genesys else LOCAL
    if deployment == PRODUCTION:
        _require_production(env, given, orgs)
        return Setup(PRODUCTION, CLOUD, given)
    if source is None and any(env.get(n) for n in _client_id_names(orgs)):
        genesys = CLOUD
    else:
        genesys = source or SIMULATOR
    if source == CLOUD and (missing := _genesys_missing(env, orgs)):
        raise SettingsError(
            f"{SOURCE} is {CLOUD}, so set {_listed(missing)} (nothing falls back to the "
            "simulator once Genesys Cloud is asked for)"
        )
    return Setup(LOCAL, genesys, given)


def _require_production(env: Mapping[str, str], given: bool, orgs: Sequence[Org]) -> None:
    genesys = _genesys_missing(env, orgs)
    missing = _production_missing(env) + genesys
    if not missing:
        return
    switched = [n for n in (*_client_id_names(orgs), *REMOTE) if env.get(n)]
    why = "" if given else f" (by default, since {_are(switched)})"
    sentences = [f"{DEPLOYMENT} is {PRODUCTION}{why}, so set {_listed(missing)}"]
    if any(name in genesys for name in _client_id_names(orgs)):
        # The failure this guards against: a Genesys secret that did not mount.
        sentences.append(
            "Production never falls back to the built-in simulator: its simulated days would "
            "replace real days in the stage and the warehouse, and every check would pass"
        )
    if len(genesys) < len(missing):
        sentences.append("Production stages in S3 and loads into Snowflake")
    remote = [n for n in REMOTE if env.get(n)]
    if not given and remote:
        sentences.append(f"For a trial on this machine, unset {_listed(remote)}")
    elif not given:
        sentences.append(
            f"To load your org into the local stage and DuckDB, set {DEPLOYMENT}={LOCAL}"
        )
    raise SettingsError(". ".join(sentences))


def genesys_resource(
    env: Mapping[str, str],
    genesys: str | None = None,
    parallel_fetches: int = 1,
    orgs: Sequence[Org] = ONE_ORG,
) -> GenesysResource:
    """The simulator or the real orgs (`genesys`, SIMULATOR or CLOUD; by default as `choose`
    decides), with the client's tuning."""
    if genesys is None:
        genesys = choose(env, orgs).genesys
    tuning: dict[str, Any] = {
        "parallel_fetches": parallel_fetches,
        "requests_per_minute": _number(env, "GENESYS_REQUESTS_PER_MINUTE", 250.0, float),
        "max_concurrency": _number(env, "GENESYS_MAX_CONCURRENCY", 8, int),
        "chunk_days": _number(env, "GENESYS_CHUNK_DAYS", 7, int),
        "memory_budget_bytes": _memory_bytes(env, GENESYS_MEMORY_BUDGET, DEFAULT_MEMORY_BUDGET),
        "connect_timeout_s": _seconds(env, "GENESYS_CONNECT_TIMEOUT", 10.0, float),
        "read_timeout_s": _seconds(env, "GENESYS_READ_TIMEOUT", 120.0, float),
        "max_attempts": _number(env, "GENESYS_MAX_ATTEMPTS", 8, int),
        "max_retry_wait_s": _seconds(env, "GENESYS_MAX_RETRY_WAIT", 60.0, float),
        "job_timeout_s": _seconds(env, "GENESYS_JOB_TIMEOUT", 1800.0, float),
        "job_page_size": _number(env, "GENESYS_JOB_PAGE_SIZE", 500, int),
        "user_emails": _flag(env, "GENESYS_USER_EMAILS"),
        "query_mode": env.get("GENESYS_QUERY_MODE") or "auto",
    }
    api_url = _url(env, "GENESYS_API_HOST")
    if tuning["query_mode"] not in ("auto", "sync", "jobs"):
        raise SettingsError(
            f"GENESYS_QUERY_MODE must be auto, sync or jobs, got '{tuning['query_mode']}'"
        )
    if genesys == SIMULATOR:
        seed = int(_number(env, "GENESYS_SIMULATOR_SEED", 42, int))
        return GenesysSimulatorResource(
            simulator_seed=seed, orgs=_simulated_orgs(orgs, seed), **tuning
        )
    connections = {org.id: _connection(env, org, api_url) for org in orgs}
    return GenesysCloudResource(orgs=connections, **tuning)


def _connection(env: Mapping[str, str], org: Org, env_api_url: str | None) -> OrgConnection:
    """How a real org is reached; its secrets as EnvVars (their names, never their values)."""
    from genesys_assets.genesys.errors import GenesysConfigError
    from genesys_assets.genesys.regions import api_host

    whose = "" if not org.prefixed else f" (org {org.id} in the datasets file)"
    _require(env, f"{org.client_id_env} is set{whose}", org.client_secret_env)
    if org.prefixed:
        # The file names the org's region or host; a URL there is checked like the variable.
        region, url = org.region, _url({"api_host": org.api_host or ""}, "api_host")
    else:
        region, url = env.get("GENESYS_REGION") or None, env_api_url
        if not region and not url:
            raise SettingsError(
                "GENESYS_CLIENT_ID is set, so set GENESYS_REGION (e.g. mypurecloud.ie) or "
                "GENESYS_API_HOST (an explicit base URL)"
            )
    try:
        api_host(region=region, base_url=url)
    except GenesysConfigError as exc:
        raise SettingsError(f"{exc}{whose}") from None
    return OrgConnection(
        client_id=EnvVar(org.client_id_env),
        client_secret=EnvVar(org.client_secret_env),
        region=region,
        api_host=url,
    )


def _simulated_orgs(orgs: Sequence[Org], seed: int) -> dict[str, SimulatedOrgConfig]:
    """A file of several orgs gets one simulated org each (its own seed and time zone, its
    size as the file says); a one-org file the simulator as it always ran (empty)."""
    if len(orgs) == 1 and not orgs[0].prefixed:
        return {}
    return {
        org.id: SimulatedOrgConfig(
            seed=org.simulated.seed if org.simulated.seed is not None else seed + index,
            time_zone=org.time_zone,
            queues=org.simulated.queues,
            agents=org.simulated.agents,
            conversations_per_day=org.simulated.conversations_per_day,
        )
        for index, org in enumerate(orgs)
    }


def stage_resource(env: Mapping[str, str]) -> StageResource:
    # At most ten years: a longer span overflows once turned into a time span in a run.
    grace = _number(env, "GENESYS_STAGE_GRACE_HOURS", 24.0, float, maximum=87_600, unit=" hours")
    if not env.get("S3_BUCKET"):
        root = home(env) / "stage"
        if root.exists() and not root.is_dir():
            raise SettingsError(f"GENESYS_ASSETS_HOME: {root} is a file, the stage needs a folder")
        _folders_can_exist("GENESYS_ASSETS_HOME", root.parent)
        return LocalStageResource(root=str(root), grace_hours=grace)
    bucket = env["S3_BUCKET"].strip()
    if not (_BUCKET.match(bucket) or bucket.startswith("arn:")):
        shown = f", got '{bucket}'" if "@" not in bucket else ""
        raise SettingsError(
            "S3_BUCKET must be a bucket name such as my-bucket (the folder goes in S3_PREFIX)"
            + shown
        )
    sse = env.get("S3_SSE") or ("aws:kms" if env.get("S3_KMS_KEY_ID") else "AES256")
    if sse not in ("AES256", "aws:kms"):
        raise SettingsError(f"S3_SSE must be AES256 or aws:kms, got '{sse}'")
    if env.get("S3_KMS_KEY_ID") and sse != "aws:kms":
        raise SettingsError("S3_KMS_KEY_ID is set, so S3_SSE must be aws:kms (or unset)")
    generic_endpoint = _url(env, "AWS_ENDPOINT_URL")
    return S3StageResource(
        bucket=bucket,
        prefix=(env.get("S3_PREFIX") or "genesys").strip("/"),
        sse=sse,
        kms_key_id=env.get("S3_KMS_KEY_ID") or None,
        # Both checked: the generic one may sit in the environment unused, and still be shown.
        endpoint_url=_url(env, "AWS_ENDPOINT_URL_S3") or generic_endpoint,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        grace_hours=grace,
    )


def warehouse_resource(env: Mapping[str, str], stage: StageResource) -> WarehouseResource:
    max_shrink = _number(env, "GENESYS_DIMENSION_MAX_SHRINK", 0.5, float, maximum=1.0)
    if not env.get("SNOWFLAKE_ACCOUNT"):
        return DuckDBWarehouseResource(
            path=_database_file(env),
            stage=stage,
            memory_limit=_memory(env, "DUCKDB_MEMORY_LIMIT", "128MB"),
            lock_timeout_s=_seconds(env, "DUCKDB_LOCK_TIMEOUT", 300.0, float),
            max_shrink=max_shrink,
        )
    if not _ACCOUNT.match(env["SNOWFLAKE_ACCOUNT"]):
        # A URL here makes the connector fail on its first login, after the stage was written.
        raise SettingsError(
            "SNOWFLAKE_ACCOUNT must be an account identifier such as myorg-myaccount or "
            "xy12345.eu-west-1, not a URL (a custom endpoint goes in SNOWFLAKE_HOST)"
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
        network_timeout_s=_seconds(env, "SNOWFLAKE_NETWORK_TIMEOUT", 600, int),
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


def resources(
    env: Mapping[str, str] | None = None,
    parallel_fetches: int = 1,
    orgs: Sequence[Org] | None = None,
) -> dict[str, Any]:
    """The resource set the environment asks for (see `choose` for which kinds), for the orgs
    of the datasets file (by default, the one it loads from the environment);
    `parallel_fetches` says how many fetch steps a run may have at once."""
    env = os.environ if env is None else env
    if orgs is None:
        from genesys_assets import datasets

        orgs = datasets.load().orgs
    setup = choose(env, orgs)
    stage = stage_resource(env)
    return {
        "genesys": genesys_resource(env, setup.genesys, parallel_fetches, orgs),
        "stage": stage,
        "warehouse": warehouse_resource(env, stage),
        "raw_pages_io_manager": RawPagesIOManager(stage=stage),
        "parquet_io_manager": ParquetIOManager(stage=stage),
    }
