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

from dagster import ConfigurableResource, InitResourceContext, ResourceDependency
from dagster import get_dagster_logger as dagster_logger
from pydantic import Field, PrivateAttr

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
    """Where the Genesys Cloud Analytics API answers come from, and how the client behaves.

    Two kinds stand behind the resource key `genesys`: `GenesysCloudResource`, a real org, and
    `GenesysSimulatorResource`, the built-in simulator (simulated data, local deployments only).
    Assets and sensors take this base class; `environment.resources()` decides which one runs.
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
    # only imported once a run needs them.
    _client: Any = PrivateAttr(default=None)

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
    def _open(self, log: logging.Logger) -> tuple[str, "ClientCredentials"]:
        """The API host and the credentials to log in with; starts what must run first."""

    def _close(self) -> None:
        """Stops what `_open` started, once the client is closed."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if context.run is not None:
            refuse_reversed_range(context.run.tags)
        from genesys_assets.genesys.client import GenesysClient

        log = dagster_logger("genesys_assets.genesys")
        settings = self.client_settings()
        host, credentials = self._open(log)
        try:
            self._client = GenesysClient(host, credentials, settings, logger=log)
        except BaseException:
            self._close()
            raise

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._close()

    def get_client(self) -> "GenesysClient":
        if self._client is None:
            raise RuntimeError("the Genesys resource was not set up (used outside a run?)")
        return self._client

    @abstractmethod
    def describe(self) -> str:
        """Where the data comes from, for log lines."""


class GenesysCloudResource(GenesysResource):
    """A real Genesys Cloud org, reached with OAuth client credentials."""

    client_id: str = Field(description="GENESYS_CLIENT_ID")
    client_secret: str = Field(description="GENESYS_CLIENT_SECRET")
    region: str | None = Field(default=None, description="GENESYS_REGION, e.g. mypurecloud.ie")
    api_host: str | None = Field(default=None, description="GENESYS_API_HOST, an explicit URL")

    def _open(self, log: logging.Logger) -> tuple[str, "ClientCredentials"]:
        from genesys_assets.genesys.auth import ClientCredentials
        from genesys_assets.genesys.regions import api_host

        host = api_host(region=self.region, base_url=self.api_host)
        log.info(f"Genesys Cloud at {host} as client id {self.client_id}")
        return host, ClientCredentials(self.client_id, self.client_secret)

    def describe(self) -> str:
        if self._client is None:
            return "Genesys Cloud (not connected)"
        return f"Genesys Cloud at {self._client.host}"


class GenesysSimulatorResource(GenesysResource):
    """The built-in Genesys Cloud simulator, started on loopback for each run: SIMULATED data.

    Only ever chosen for a local deployment (local stage and DuckDB), never beside S3 or
    Snowflake, where its days would replace real ones.
    """

    simulator_seed: int = Field(default=42, description="GENESYS_SIMULATOR_SEED: the simulated org")

    _simulator: Any = PrivateAttr(default=None)

    @property
    def embedded(self) -> bool:
        return True

    def _open(self, log: logging.Logger) -> tuple[str, "ClientCredentials"]:
        from genesys_assets.genesys.auth import ClientCredentials
        from genesys_assets.simulator import Simulator, SimulatorConfig

        self._simulator = Simulator(SimulatorConfig(seed=self.simulator_seed)).start()
        host = self._simulator.base_url
        log.warning(
            f"SIMULATED DATA: the Genesys data of this run comes from the built-in Genesys Cloud "
            f"simulator at {host} (seed {self.simulator_seed}), not from a real org. To load "
            "your org, set GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and GENESYS_REGION (with "
            "GENESYS_ASSETS_DEPLOYMENT=local to keep the local stage and DuckDB)."
        )
        return host, ClientCredentials(self._simulator.client_id, self._simulator.client_secret)

    def _close(self) -> None:
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None

    def describe(self) -> str:
        where = "not started" if self._client is None else f"at {self._client.host}"
        return (
            f"the built-in Genesys Cloud simulator {where} "
            f"(SIMULATED data, seed {self.simulator_seed})"
        )


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
