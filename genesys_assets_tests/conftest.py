"""Fixtures shared by the suite: simulators on loopback, an isolated environment per test."""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from genesys_assets.simulator import Simulator, SimulatorConfig

from .rewriting_proxy import RewritingProxy

# A small org answers in milliseconds; tests that need size or time ask for it.
SMALL_ORG: dict[str, Any] = {
    "seed": 11,
    "queues": 4,
    "agents": 12,
    "conversations_per_day": 400,
    "job_delay_s": 0.2,
}

# Variables that switch a part of the pipeline to a real service: a test starts from none.
SWITCHES = (
    "GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET", "GENESYS_REGION", "GENESYS_API_HOST",
    "S3_BUCKET", "S3_PREFIX", "S3_SSE", "S3_KMS_KEY_ID", "SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER",
    "SNOWFLAKE_PASSWORD", "SNOWFLAKE_DATABASE", "SNOWFLAKE_SCHEMA", "SNOWFLAKE_STAGE",
    "DUCKDB_DATABASE", "GENESYS_ASSETS_HOME", "GENESYS_DATASETS_FILE", "DAGSTER_HOME",
    "GENESYS_ASSETS_DEPLOYMENT", "GENESYS_SOURCE", "GENESYS_ENVIRONMENT", "GENESYS_MEMORY_BUDGET",
    "GENESYS_CHUNK_DAYS",
)  # fmt: skip


@pytest.fixture
def start_simulator() -> Iterator[Callable[..., Simulator]]:
    """Start simulators with SMALL_ORG settings plus overrides; all stopped after the test."""
    started: list[Simulator] = []

    def start(**overrides: Any) -> Simulator:
        simulator = Simulator(SimulatorConfig(**{**SMALL_ORG, **overrides})).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict[str, str]:
    """No switch set, local state under the test's own folder."""
    for name in SWITCHES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENESYS_ASSETS_HOME", str(tmp_path / "home"))
    return dict(os.environ)


@pytest.fixture
def proxy(start_simulator, clean_env, monkeypatch) -> Iterator[RewritingProxy]:
    """A local deployment whose Genesys is the simulator behind a rewriting proxy."""
    simulator = start_simulator()
    with RewritingProxy(simulator.base_url) as proxy:
        monkeypatch.setenv("GENESYS_ASSETS_DEPLOYMENT", "local")
        monkeypatch.setenv("GENESYS_CLIENT_ID", simulator.client_id)
        monkeypatch.setenv("GENESYS_CLIENT_SECRET", simulator.client_secret)
        monkeypatch.setenv("GENESYS_API_HOST", proxy.base_url)
        # One synchronous query per day: every page of the answer passes the rewritten route.
        monkeypatch.setenv("GENESYS_QUERY_MODE", "sync")
        yield proxy
