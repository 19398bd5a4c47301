"""`dg` (dagster-dg-cli) runs on this project as [tool.dg] in pyproject.toml declares it.

`make ui` runs `dg dev`, which loads the code location `dg check defs` checks and `dg list defs`
lists; `dagster dev -w workspace.yaml` loads the same Definitions through the package.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DG = str(BIN / "dg")
DAGSTER = str(BIN / "dagster")

PROJECT_VARIABLES = ("GENESYS_", "S3_", "SNOWFLAKE_", "DUCKDB_", "AWS_", "DAGSTER_")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict[str, str]:
    """The embedded defaults, state and Dagster instance under the test's folder (here and in
    the subprocess), this virtualenv the active one (else dg warns that it is not)."""
    for name in list(os.environ):
        if name.startswith(PROJECT_VARIABLES):
            monkeypatch.delenv(name)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("GENESYS_ASSETS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    return dict(os.environ)


def run(env: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_dg_reads_the_project_configuration(env):
    from dagster_dg_core.context import DgContext

    context = DgContext.for_project_environment(ROOT, {})
    assert context.root_module_name == "genesys_assets"
    assert context.code_location_target_module_name == "genesys_assets.definitions"
    assert context.code_location_name == "genesys_assets"
    # No components folder: dg's defs module is the definitions module itself.
    assert context.defs_module_name == "genesys_assets.definitions"
    assert not (ROOT / "genesys_assets" / "defs").exists()


def test_dg_check_defs(env):
    done = run(env, DG, "check", "defs")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "All definitions loaded successfully." in done.stdout
    assert "SupersessionWarning" not in output
    assert "does not match the virtual environment" not in output


def test_dg_list_defs_lists_every_asset_check_and_job(env):
    from genesys_assets.definitions import defs

    done = run(env, DG, "list", "defs", "--json")
    assert done.returncode == 0, done.stderr[-4000:]
    assert "SupersessionWarning" not in done.stdout + done.stderr
    listed = json.loads(done.stdout)

    repository = defs.get_repository_def()
    assert "genesys_queues" in {asset["asset_key"] for asset in listed["assets"]}
    assert {asset["asset_key"] for asset in listed["assets"]} == {
        key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()
    }
    assert {check["key"] for check in listed["asset_checks"]} == {
        f"{key.asset_key.to_user_string()}:{key.name}"
        for key in repository.asset_graph.asset_check_keys
    }
    assert {job["name"] for job in listed["jobs"]} >= {"genesys_job", "genesys_checks_job"}


def test_the_workspace_file_loads_the_same_location(env):
    done = run(env, DAGSTER, "definitions", "validate", "-w", "workspace.yaml")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "genesys_assets" in done.stdout + done.stderr
