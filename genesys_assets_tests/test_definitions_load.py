"""Loading the definitions imports none of the heavy libraries.

The UI, every run and every sensor tick load the code location; the Genesys SDK, boto3, the
Snowflake connector, Arrow, DuckDB and pandas belong to the runs that need them. Each check runs
in a fresh interpreter (a module imported by another test would hide one imported at load), with
a meta-path witness that notes who first imports each heavy module, so that a failure names it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "PureCloudPlatformClientV2",
    "boto3",
    "botocore",
    "snowflake.connector",
    "pyarrow",
    "duckdb",
    "pandas",
)

# Prefixes of the variables the project (and the libraries it configures) read: none leaks in
# from the machine running the tests.
PROJECT_VARIABLES = ("GENESYS_", "S3_", "SNOWFLAKE_", "DUCKDB_", "AWS_", "DAGSTER_")

# Production: S3 stage, Snowflake warehouse, the real Genesys API. Dummy values: nothing may
# connect while the definitions load.
S3_AND_SNOWFLAKE = {
    "S3_BUCKET": "b",
    "SNOWFLAKE_ACCOUNT": "acct",
    "SNOWFLAKE_USER": "u",
    "SNOWFLAKE_PASSWORD": "p",
    "SNOWFLAKE_DATABASE": "d",
    "SNOWFLAKE_STAGE": "s",
    "GENESYS_CLIENT_ID": "x",
    "GENESYS_CLIENT_SECRET": "y",
    "GENESYS_REGION": "mypurecloud.ie",
}

# Runs in the fresh interpreter; prints one JSON line. The witness sits first on sys.meta_path:
# it is asked about every module not imported yet, notes the stack of the first import of each
# heavy one and finds nothing itself, so the import goes on as usual.
PROBE = r"""
import json
import sys
import traceback

HEAVY = tuple(json.loads(sys.argv[1]))
FIRST_IMPORT = {}


class Witness:
    def find_spec(self, fullname, path=None, target=None):
        if fullname in HEAVY and fullname not in FIRST_IMPORT:
            FIRST_IMPORT[fullname] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_stack()[:-1]
                if not frame.filename.startswith("<frozen ")
            ]
        return None


before = [name for name in HEAVY if name in sys.modules]
sys.meta_path.insert(0, Witness())

from dagster import Definitions

import genesys_assets

package_defs = genesys_assets.defs
from genesys_assets.definitions import defs

assert isinstance(defs, Definitions), type(defs)
assert package_defs is defs, "genesys_assets.defs is not genesys_assets.definitions.defs"
after_import = [name for name in HEAVY if name in sys.modules]

# What a code server does next: resolve the repository and its asset graph.
asset_keys = defs.get_repository_def().asset_graph.get_all_asset_keys()
after_resolve = [name for name in HEAVY if name in sys.modules]

print(json.dumps({
    "before": before,
    "after_import": after_import,
    "after_resolve": after_resolve,
    "first_import": FIRST_IMPORT,
    "asset_keys": sorted(key.to_user_string() for key in asset_keys),
}))
"""


def load_env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES)}
    (tmp_path / "dagster_home").mkdir()
    return {
        **env,
        "GENESYS_ASSETS_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        **extra,
    }


def probe(env: dict[str, str], cwd: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"loading the definitions failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def shorten(frame: str) -> str:
    for marker in ("/site-packages/", f"{Path(__file__).resolve().parents[1]}/"):
        if marker in frame:
            return frame.split(marker, 1)[1]
    return frame


def explain(result: dict) -> str:
    lines = []
    for name in result["after_resolve"]:
        if name in result["before"]:
            lines.append(f"{name}: imported at interpreter start-up (a .pth file?)")
            continue
        when = (
            "importing the definitions"
            if name in result["after_import"]
            else "resolving the repository (get_repository_def)"
        )
        stack = result["first_import"].get(name)
        if stack is None:  # every import asks the witness first: not expected
            lines.append(f"{name}: imported while {when}, stack not recorded")
            continue
        chain = "\n    ".join(shorten(frame) for frame in stack)
        lines.append(f"{name}: first imported while {when}, from\n    {chain}")
    return "\n".join(lines)


@pytest.mark.parametrize(
    "extra", [{}, S3_AND_SNOWFLAKE], ids=["embedded-defaults", "s3-and-snowflake"]
)
def test_loading_the_definitions_imports_nothing_heavy(tmp_path, extra):
    result = probe(load_env(tmp_path, extra), cwd=tmp_path)
    assert "genesys_queues" in result["asset_keys"]
    assert result["after_resolve"] == [], (
        "loading the definitions imported heavy modules:\n" + explain(result)
    )
    # Loading writes nothing either: the local state appears with the first run.
    assert not (tmp_path / "home").exists()
