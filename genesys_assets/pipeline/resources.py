"""Dagster resources around the pure core: Genesys, the stage and the warehouse.

Each resource is configuration plus a `get_*()` that hands out the core object. Heavy imports
(the Genesys SDK, boto3 through dagster-aws, the Snowflake connector through dagster-snowflake)
happen when a run first uses a resource, never when the code location loads: loading the
definitions is paid by the UI, every run and every sensor tick.
"""

import logging
from abc import abstractmethod
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import Config, ConfigurableResource, InitResourceContext, ResourceDependency
from dagster import get_dagster_logger as dagster_logger
from pydantic import Field, PrivateAttr

from genesys_assets.long_table import DEFAULT_ORG

if TYPE_CHECKING:
    from genesys_assets.genesys.auth import ClientCredentials
    from genesys_assets.genesys.client import ClientSettings, GenesysClient
    from genesys_assets.stage import Stage
    from genesys_assets.warehouse import Warehouse


RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


class RunRangeError(ValueError):
    """A run's partition range that cannot be right; raised before any step writes."""


def refuse_reversed_range(tags: Mapping[str, str]) -> None:
    """A range whose end is before its start covers no day: say so before anything runs.

    Dagster accepts `--partition-range 2024-11-07...2024-11-01` and runs the unpartitioned
    assets (the queue names) before the partitioned ones find no day to work on.
    """
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if start and end and end < start:
        raise RunRangeError(
            f"the partition range {start}...{end} ends before it starts: nothing was run or "
            f"written; did you mean {end}...{start}?"
        )


class GenesysResource(ConfigurableResource):
    """Where the Genesys Cloud Analytics API answers come from, for each org, and how the
    client behaves.

    Two kinds stand behind the resource key `genesys`: `GenesysCloudResource`, real orgs, and
    `GenesysSimulatorResource`, the built-in simulator (simulated data, local deployments only).
    Assets and sensors take this base class and ask it for the client of their dataset's org
    (`get_client(org)`); `environment.resources()` decides which kind runs. Each org has a
    client of its own: its own OAuth client, token and rate limit.
    """

    requests_per_minute: float = Field(default=250.0, description="client-side ceiling")
    max_concurrency: int = 8
    chunk_days: int = 7
    memory_budget_bytes: int = Field(
        default=512 * 2**20,
        description="GENESYS_MEMORY_BUDGET: fetched and flattened data a run may hold at once",
    )
    parallel_fetches: int = Field(
        default=1,
        description=(
            "how many fetch steps of a run may run at once (one per dataset, each its own "
            "process): each gets this share of the request ceiling and the memory budget"
        ),
    )
    query_mode: str = Field(default="auto", description="auto, sync or jobs")
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0
    max_attempts: int = 8
    max_retry_wait_s: float = 60.0
    job_timeout_s: float = 1800.0
    job_page_size: int = Field(default=500, description="result containers per async-job page")
    user_emails: bool = Field(
        default=False,
        description=(
            "GENESYS_USER_EMAILS: keep users' e-mail addresses in genesys_users (personal "
            "data: off unless you need them)"
        ),
    )

    # Typed Any: pydantic evaluates these annotations, and the types live in modules that are
    # only imported once a run needs them. Clients by org id, made when first asked for.
    _clients: dict[str, Any] = PrivateAttr(default_factory=dict)
    _hosts: dict[str, tuple[str, Any]] = PrivateAttr(default_factory=dict)

    @property
    def embedded(self) -> bool:
        """Whether the answers are simulated (the built-in simulator)."""
        return False

    def client_settings(self) -> "ClientSettings":
        from genesys_assets.genesys.client import ClientSettings

        return ClientSettings(
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            max_attempts=self.max_attempts,
            max_retry_wait_s=self.max_retry_wait_s,
            # Steps of one run fetch in parallel processes, each with its own client: together
            # they stay within the org's limit and the run's budget.
            requests_per_minute=self.requests_per_minute / self.parallel_fetches,
            max_concurrency=self.max_concurrency,
            chunk_days=self.chunk_days,
            memory_budget_bytes=self.memory_budget_bytes // self.parallel_fetches,
            mode=self.query_mode,
            job_timeout_s=self.job_timeout_s,
            job_page_size=self.job_page_size,
        )

    @abstractmethod
    def _open(self, log: logging.Logger) -> dict[str, tuple[str, "ClientCredentials"]]:
        """Per org id, the API host and the credentials to log in with; starts what must run
        first (the simulator)."""

    def _close(self) -> None:
        """Stops what `_open` started, once the clients are closed."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if context.run is not None:
            refuse_reversed_range(context.run.tags)
        self._hosts = self._open(dagster_logger("genesys_assets.genesys"))

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        for client in self._clients.values():
            client.close()
        self._clients = {}
        self._hosts = {}
        self._close()

    def get_client(self, org: str) -> "GenesysClient":
        """The client of `org` (its id in the datasets file), made on first use."""
        if org not in self._clients:
            if org not in self._hosts:
                known = ", ".join(sorted(self._hosts)) or "none (used outside a run?)"
                raise RuntimeError(f"the Genesys resource has no org '{org}'; it has {known}")
            from genesys_assets.genesys.client import GenesysClient

            host, credentials = self._hosts[org]
            log = dagster_logger("genesys_assets.genesys")
            self._clients[org] = GenesysClient(
                host, credentials, self.client_settings(), logger=log
            )
        return self._clients[org]

    @abstractmethod
    def describe(self, org: str) -> str:
        """Where an org's data comes from, for log lines."""


class OrgConnection(Config):
    """How one real org is reached: its OAuth client (secrets as EnvVars, resolved when a run
    starts, never shown) and its region or API host."""

    client_id: str = Field(description="the org's client id variable (GENESYS_CLIENT_ID)")
    client_secret: str = Field(description="its client secret variable (GENESYS_CLIENT_SECRET)")
    region: str | None = Field(default=None, description="GENESYS_REGION, e.g. mypurecloud.ie")
    api_host: str | None = Field(default=None, description="GENESYS_API_HOST, an explicit URL")


class GenesysCloudResource(GenesysResource):
    """Real Genesys Cloud orgs, each reached with its own OAuth client credentials."""

    orgs: dict[str, OrgConnection] = Field(description="per org id, how it is reached")

    def _open(self, log: logging.Logger) -> dict[str, tuple[str, "ClientCredentials"]]:
        from genesys_assets.genesys.auth import ClientCredentials
        from genesys_assets.genesys.regions import api_host

        opened = {}
        for org, connection in self.orgs.items():
            host = api_host(region=connection.region, base_url=connection.api_host)
            log.info(f"Genesys Cloud org {org} at {host} as client id {connection.client_id}")
            opened[org] = (host, ClientCredentials(connection.client_id, connection.client_secret))
        return opened

    def describe(self, org: str) -> str:
        which = "" if org == DEFAULT_ORG else f" org {org}"
        if org not in self._hosts:
            return f"Genesys Cloud{which} (not connected)"
        return f"Genesys Cloud{which} at {self._hosts[org][0]}"


class SimulatedOrgConfig(Config):
    """How the simulator plays one org: its seed, time zone and size (None: the defaults)."""

    seed: int
    time_zone: str
    queues: int | None = None
    agents: int | None = None
    conversations_per_day: int | None = None


class GenesysSimulatorResource(GenesysResource):
    """The built-in Genesys Cloud simulator, started on loopback for each run: SIMULATED data.
    Several orgs are served by one simulated region, each org logging in with its own client.

    Only ever chosen for a local deployment (local stage and DuckDB), never beside S3 or
    Snowflake, where its days would replace real ones.
    """

    simulator_seed: int = Field(default=42, description="GENESYS_SIMULATOR_SEED: the simulated org")
    orgs: dict[str, SimulatedOrgConfig] = Field(
        default_factory=dict, description="per org id, how it is simulated (one org if empty)"
    )

    _simulator: Any = PrivateAttr(default=None)

    @property
    def embedded(self) -> bool:
        return True

    def _open(self, log: logging.Logger) -> dict[str, tuple[str, "ClientCredentials"]]:
        from genesys_assets.genesys.auth import ClientCredentials
        from genesys_assets.simulator import SimulatedRegion, Simulator, SimulatorConfig

        if not self.orgs:  # a one-org file: the simulator as it always ran
            self._simulator = Simulator(SimulatorConfig(seed=self.simulator_seed)).start()
            served = {DEFAULT_ORG: self._simulator}
        else:
            configs = {}
            for org, spec in self.orgs.items():
                sizes: dict[str, Any] = {
                    key: value
                    for key, value in (
                        ("queues", spec.queues),
                        ("agents", spec.agents),
                        ("conversations_per_day", spec.conversations_per_day),
                    )
                    if value is not None
                }
                configs[org] = SimulatorConfig(
                    seed=spec.seed,
                    time_zone=spec.time_zone,
                    client_id=f"simulator-{org}",
                    client_secret=f"simulator-{org}-secret",
                    **sizes,
                )
            self._simulator = SimulatedRegion(list(configs.items())).start()
            served = {org: self._simulator.org(org) for org in configs}
        host = self._simulator.base_url
        if not self.orgs:
            log.warning(
                "SIMULATED DATA: the Genesys data of this run comes from the built-in Genesys "
                f"Cloud simulator at {host} (seed {self.simulator_seed}), not from a real org. "
                "To load your org, set GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and "
                "GENESYS_REGION (with GENESYS_ASSETS_DEPLOYMENT=local to keep the local stage "
                "and DuckDB)."
            )
        else:
            played = ", ".join(f"{org} (seed {spec.seed})" for org, spec in self.orgs.items())
            log.warning(
                "SIMULATED DATA: the Genesys data of this run comes from the built-in Genesys "
                f"Cloud simulator at {host}, playing the orgs {played}, not from real orgs. To "
                "load your orgs, set the credential variables each org names in the datasets "
                "file (with GENESYS_ASSETS_DEPLOYMENT=local to keep the local stage and DuckDB)."
            )
        return {
            org: (host, ClientCredentials(found.client_id, found.client_secret))
            for org, found in served.items()
        }

    def _close(self) -> None:
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None

    def describe(self, org: str) -> str:
        where = "not started" if org not in self._hosts else f"at {self._hosts[org][0]}"
        if org not in self.orgs:  # the one org of a one-org file
            played = f"seed {self.simulator_seed}"
        else:
            played = f"org {org}, seed {self.orgs[org].seed}"
        return f"the built-in Genesys Cloud simulator {where} (SIMULATED data, {played})"


class StageResource(ConfigurableResource):
    """Where raw pages and Parquet files are staged."""

    grace_hours: float = Field(
        default=24.0,
        description="GENESYS_STAGE_GRACE_HOURS: how long superseded files stay (see retention)",
    )

    @abstractmethod
    def get_stage(self) -> "Stage": ...

    def grace(self) -> timedelta:
        return timedelta(hours=self.grace_hours)


class LocalStageResource(StageResource):
    """A local folder (the embedded default, under GENESYS_ASSETS_HOME)."""

    root: str

    def get_stage(self) -> "Stage":
        from genesys_assets.stage import LocalStage

        return LocalStage(self.root)


class S3StageResource(StageResource):
    """s3://bucket/prefix/, through dagster-aws' S3Resource, server-side encrypted."""

    bucket: str = Field(description="S3_BUCKET")
    prefix: str = Field(default="genesys", description="S3_PREFIX")
    sse: str = Field(default="AES256", description="S3_SSE: AES256 or aws:kms")
    kms_key_id: str | None = Field(default=None, description="S3_KMS_KEY_ID (with aws:kms)")
    endpoint_url: str | None = Field(default=None, description="AWS_ENDPOINT_URL(_S3)")
    region_name: str | None = Field(default=None, description="AWS_REGION")

    _stage: Any = PrivateAttr(default=None)

    def get_stage(self) -> "Stage":
        if self._stage is None:
            from dagster_aws.s3 import S3Resource

            from genesys_assets.stage.s3 import S3Stage

            client = S3Resource(region_name=self.region_name, endpoint_url=self.endpoint_url)
            self._stage = S3Stage(
                client.get_client(),
                self.bucket,
                self.prefix,
                sse=self.sse,
                kms_key_id=self.kms_key_id,
            )
        return self._stage


class WarehouseResource(ConfigurableResource):
    """The warehouse the tables live in; loads read the staged files."""

    stage: ResourceDependency[StageResource]
    max_shrink: float = Field(
        default=0.5,
        description=(
            "GENESYS_DIMENSION_MAX_SHRINK: the share of a dimension table's rows a new listing "
            "may lose before the replace is refused (1 allows anything)"
        ),
    )

    @abstractmethod
    def get_warehouse(self) -> "Warehouse": ...


class DuckDBWarehouseResource(WarehouseResource):
    """A DuckDB file (the embedded default), tables in one schema."""

    path: str = Field(description="DUCKDB_DATABASE")
    schema_name: str = "genesys"
    memory_limit: str = Field(default="128MB", description="DUCKDB_MEMORY_LIMIT")
    lock_timeout_s: float = Field(default=300.0, description="DUCKDB_LOCK_TIMEOUT")

    def get_warehouse(self) -> "Warehouse":
        from genesys_assets.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(
            Path(self.path),
            self.stage.get_stage(),
            schema=self.schema_name,
            memory_limit=self.memory_limit,
            lock_timeout_s=self.lock_timeout_s,
        )


class SnowflakeWarehouseResource(WarehouseResource):
    """Snowflake through dagster-snowflake's SnowflakeResource; COPY INTO from the S3 stage."""

    account: str = Field(description="SNOWFLAKE_ACCOUNT")
    user: str = Field(description="SNOWFLAKE_USER")
    password: str | None = Field(default=None, description="SNOWFLAKE_PASSWORD")
    private_key: str | None = Field(default=None, description="SNOWFLAKE_PRIVATE_KEY")
    private_key_path: str | None = Field(default=None, description="SNOWFLAKE_PRIVATE_KEY_PATH")
    private_key_password: str | None = Field(
        default=None, description="SNOWFLAKE_PRIVATE_KEY_PASSWORD"
    )
    role: str | None = None
    warehouse: str | None = None
    database: str = Field(description="SNOWFLAKE_DATABASE")
    schema_name: str = Field(default="GENESYS", description="SNOWFLAKE_SCHEMA")
    stage_name: str = Field(description="SNOWFLAKE_STAGE, an external stage over the S3 stage")
    host: str | None = None
    port: int | None = None
    protocol: str | None = None
    network_timeout_s: int = Field(default=600, description="SNOWFLAKE_NETWORK_TIMEOUT")

    _warehouse: Any = PrivateAttr(default=None)

    def get_warehouse(self) -> "Warehouse":
        if self._warehouse is None:
            from dagster_snowflake import SnowflakeResource

            from genesys_assets.warehouse.snowflake import SnowflakeWarehouse

            extra: dict[str, Any] = {
                k: v
                for k, v in {
                    "host": self.host,
                    "port": self.port,
                    "protocol": self.protocol,
                }.items()
                if v is not None
            }
            resource = SnowflakeResource(
                account=self.account,
                user=self.user,
                password=self.password,
                private_key=self.private_key,
                private_key_path=self.private_key_path,
                private_key_password=self.private_key_password,
                role=self.role,
                warehouse=self.warehouse,
                database=self.database,
                schema=self.schema_name,
                paramstyle="qmark",
                # UTC sessions: TIMESTAMP_TZ values are written and read without a local shift.
                timezone="UTC",
                # Bounded waits: without a network timeout the connector retries a server
                # error indefinitely, and a stuck COPY would hold the run forever.
                login_timeout=60,
                network_timeout=self.network_timeout_s,
                additional_snowflake_connection_args=extra or None,
            )
            self._warehouse = SnowflakeWarehouse(
                resource.get_connection,
                database=self.database,
                schema=self.schema_name,
                stage=self.stage_name,
                account=self.account,
            )
        return self._warehouse

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None
