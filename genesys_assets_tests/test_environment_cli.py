"""`dagster asset materialize` refuses to load the code location when S3 and Snowflake are set
and Genesys is not: the simulator's days must never replace real ones.

The load fails before anything runs, so no S3, Snowflake or Genesys server is needed; the
Snowflake values are dummies that nothing ever connects with."""

import subprocess
import sys
from pathlib import Path

import pytest

DAGSTER = str(Path(sys.executable).with_name("dagster"))
PARTITION = ("--partition", "2024-11-01")
# Distinctive enough that finding it anywhere in the output means it leaked.
PASSWORD = "hunter2x9zq"
REMOTE = {
    "S3_BUCKET": "some-bucket",
    "SNOWFLAKE_ACCOUNT": "acme-xy12345",
    "SNOWFLAKE_USER": "loader",
    "SNOWFLAKE_PASSWORD": PASSWORD,
    "SNOWFLAKE_DATABASE": "ANALYTICS",
    "SNOWFLAKE_STAGE": "GENESYS_STAGE",
}
# Not yet in conftest's list of switches: a developer's own value must not reach the child.
NEW_SWITCHES = (
    "GENESYS_ASSETS_DEPLOYMENT",
    "GENESYS_SOURCE",
    "GENESYS_ENVIRONMENT",
    "GENESYS_MEMORY_BUDGET",
)


def materialize(env: dict[str, str]) -> subprocess.CompletedProcess:
    home = Path(env["GENESYS_ASSETS_HOME"])
    home.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "genesys_assets", "--select", "*", *PARTITION],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home.parent,
    )


@pytest.fixture
def env(clean_env) -> dict[str, str]:
    base = {k: v for k, v in clean_env.items() if k not in NEW_SWITCHES}
    return {**base, **REMOTE, "PYTHONWARNINGS": "ignore"}


@pytest.mark.parametrize(
    "genesys",
    [
        pytest.param({}, id="genesys-unset"),
        # A secret that failed to mount may arrive as an empty variable.
        pytest.param(
            {"GENESYS_CLIENT_ID": "", "GENESYS_CLIENT_SECRET": "", "GENESYS_REGION": ""},
            id="genesys-empty",
        ),
    ],
)
def test_s3_and_snowflake_without_genesys_refuse_to_load(env, genesys):
    done = materialize({**env, **genesys})
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "SettingsError" in done.stderr
    assert (
        "GENESYS_ASSETS_DEPLOYMENT is production (by default, since S3_BUCKET and "
        "SNOWFLAKE_ACCOUNT are set), so set GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET and "
        "GENESYS_REGION (or GENESYS_API_HOST)"
    ) in done.stderr
    assert "simulated days would replace real days in the stage and the warehouse" in done.stderr
    # Refused while loading: no run started, no simulator, nothing written.
    assert "RUN_START" not in output and "STEP_START" not in output
    assert "SIMULATED DATA" not in output
    assert PASSWORD not in output
    assert not Path(env["GENESYS_ASSETS_HOME"]).exists()


def test_the_simulator_asked_for_by_name_beside_s3_and_snowflake_refuses_to_load(env):
    done = materialize({**env, "GENESYS_SOURCE": "simulator"})
    assert done.returncode != 0
    assert (
        "GENESYS_SOURCE is simulator, but S3_BUCKET and SNOWFLAKE_ACCOUNT are set: the simulator "
        "runs only with the local stage and DuckDB, never beside S3 or Snowflake"
    ) in done.stderr
    assert "RUN_START" not in done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert not Path(env["GENESYS_ASSETS_HOME"]).exists()
