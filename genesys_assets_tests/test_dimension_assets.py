"""The dimension assets and the ids check, through Dagster on the embedded defaults.

The listings themselves (paging, permissions, deleted users) are tested over HTTP in
test_dimensions.py; here: each dimension becomes its table in one run with the datasets, the
users' e-mail addresses only when asked for, and an id that is in no dimension is named by the
`ids_resolve` check without failing the run.
"""

from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckSeverity, DagsterInstance

from genesys_assets import datasets
from genesys_assets.definitions import CHECKS_JOB, MAIN_JOB, build_definitions
from genesys_assets.dimensions import all_dimensions
from genesys_assets.pipeline.environment import SettingsError, resources

from .run_events import check_evaluations

DAY = date(2024, 11, 1)


def run(defs, job: str, instance: DagsterInstance):
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=DAY.isoformat(), instance=instance, raise_on_error=False
    )


def warehouse(env) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(f"{env['GENESYS_ASSETS_HOME']}/warehouse.duckdb")


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE genesys.{table}").fetchall()]


def test_every_dimension_becomes_its_table_and_every_id_resolves(clean_env):
    result = run(build_definitions(datasets.load()), MAIN_JOB, DagsterInstance.ephemeral())
    assert result.success
    with warehouse(clean_env) as con:
        for dimension in all_dimensions():
            [(rows,)] = con.execute(f"SELECT count(*) FROM genesys.{dimension.name}").fetchall()
            assert rows > 0, dimension.name
        assert "email" not in columns(con, "genesys_users"), "personal data only when asked"
        states = dict(
            con.execute("SELECT state, count(*) FROM genesys.genesys_users GROUP BY 1").fetchall()
        )
        assert states.get("deleted", 0) > 0, "agents who left stay resolvable"
        # Every agent of the day has a name, deleted ones included.
        [(unnamed,)] = con.execute(
            "SELECT count(DISTINCT a.user_id) FROM genesys.agent_performance a "
            "LEFT JOIN genesys.genesys_users u USING (user_id) WHERE u.name IS NULL"
        ).fetchall()
        assert unnamed == 0
        # The README's example join runs as written.
        readme = (Path(__file__).parents[1] / "README.md").read_text()
        example = readme.split("```sql\n", 1)[1].split("```", 1)[0]
        assert con.execute(example).fetchall()
    found = check_evaluations(result)
    for dataset in ("queue_performance", "agent_performance", "agent_status"):
        check = found[f"{dataset}.ids_resolve"]
        assert check.passed and not check.blocking
        assert "every id resolves" in check.description
    assert (
        "tOrganizationPresence in genesys_presences"
        in found["agent_status.ids_resolve"].description
    )


def test_users_e_mail_addresses_only_when_asked_for(clean_env, monkeypatch):
    monkeypatch.setenv("GENESYS_USER_EMAILS", "yes")
    assert run(build_definitions(datasets.load()), MAIN_JOB, DagsterInstance.ephemeral()).success
    with warehouse(clean_env) as con:
        assert "email" in columns(con, "genesys_users")
        [(with_email,)] = con.execute(
            "SELECT count(*) FROM genesys.genesys_users WHERE email LIKE '%@%'"
        ).fetchall()
        assert with_email > 0


def test_a_bad_e_mail_switch_names_the_variable(clean_env, monkeypatch):
    monkeypatch.setenv("GENESYS_USER_EMAILS", "sometimes")
    with pytest.raises(SettingsError, match="GENESYS_USER_EMAILS must be one of 1, true, yes"):
        resources()


def test_an_id_in_no_dimension_is_listed_and_the_run_still_succeeds(clean_env):
    defs = build_definitions(datasets.load())
    instance = DagsterInstance.ephemeral()
    assert run(defs, MAIN_JOB, instance).success
    with warehouse(clean_env) as con:
        [(gone,)] = con.execute(
            "SELECT min(user_id) FROM genesys.agent_performance WHERE partition_date = ?", [DAY]
        ).fetchall()
        con.execute("DELETE FROM genesys.genesys_users WHERE user_id = ?", [gone])

    checked = run(defs, CHECKS_JOB, instance)
    assert checked.success, "not blocking: the rows are right, only a name is missing"
    found = check_evaluations(checked)
    ids = found["agent_performance.ids_resolve"]
    assert not ids.passed and ids.severity == AssetCheckSeverity.ERROR
    assert ids.metadata["unresolved"].value == {"userId": [gone]}
    assert ids.metadata["unresolved_count"].value == 1
    assert "1 userId id(s) of agent_performance are in no dimension table" in ids.description
    assert found["queue_performance.ids_resolve"].passed
    assert all(found[f"agent_performance.{name}"].passed for name in ("row_count_parity",))


def test_an_organization_presence_in_no_dimension_is_listed(clean_env):
    defs = build_definitions(datasets.load())
    instance = DagsterInstance.ephemeral()
    assert run(defs, MAIN_JOB, instance).success
    with warehouse(clean_env) as con:
        [(gone,)] = con.execute(
            "SELECT min(qualifier) FROM genesys.agent_status "
            "WHERE partition_date = ? AND metric = 'tOrganizationPresence'",
            [DAY],
        ).fetchall()
        con.execute("DELETE FROM genesys.genesys_presences WHERE presence_id = ?", [gone])
    found = check_evaluations(run(defs, CHECKS_JOB, instance))
    ids = found["agent_status.ids_resolve"]
    assert not ids.passed
    assert ids.metadata["unresolved"].value == {"tOrganizationPresence": [gone]}
