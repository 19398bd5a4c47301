"""The warehouse against Genesys' own day totals: the source check and the settling sensor.

Over HTTP throughout: the pipeline talks to a simulator started by the test, through the same
code path as a real org (credentials and API host from the environment), with a local stage
and DuckDB. The simulator's late-data options make a closed day change after it was loaded; its
faults drop a group or end a job's cursor early, which only the source check can see.
"""

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    build_sensor_context,
    materialize,
)

from genesys_assets import datasets
from genesys_assets.datasets import Settling
from genesys_assets.definitions import CHECKS_JOB, MAIN_JOB, build_definitions
from genesys_assets.parity import Parity
from genesys_assets.pipeline.automation import SETTLING_SENSOR
from genesys_assets.pipeline.environment import resources
from genesys_assets.settling import SettlingState
from genesys_assets.source_parity import compare, fingerprint

from .run_events import check_evaluations

ZONE = ZoneInfo("America/New_York")
CLOSED_DAY = date(2024, 11, 1)  # long past every settling window
TOTALS_BODY = re.compile(r'"granularity":"P1D"')


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


def yesterday() -> date:
    return datetime.now(ZONE).date() - timedelta(days=1)


@pytest.fixture
def org(start_simulator, clean_env, monkeypatch):
    """Start a simulator with these options and point a local deployment at it."""

    def start(**options):
        simulator = start_simulator(**options)
        monkeypatch.setenv("GENESYS_ASSETS_DEPLOYMENT", "local")
        monkeypatch.setenv("GENESYS_CLIENT_ID", simulator.client_id)
        monkeypatch.setenv("GENESYS_CLIENT_SECRET", simulator.client_secret)
        monkeypatch.setenv("GENESYS_API_HOST", simulator.base_url)
        return simulator

    return start


def run_job(defs, name: str, day: date, instance: DagsterInstance):
    return defs.resolve_job_def(name).execute_in_process(
        partition_key=day.isoformat(), instance=instance, raise_on_error=False
    )


def late_events(**extra):
    # A tenth of all events reach the API six hours late: pulled at 00:30, a day lacks the
    # late ones of its last six hours; by noon they are in.
    return {"late_event_share": 0.1, "late_event_delay_hours": 6.0, **extra}


# --- the check ---------------------------------------------------------------------------------


def test_a_closed_day_that_changed_after_its_load_fails_its_source_check_alone(org):
    simulator = org(now=local(CLOSED_DAY + timedelta(days=1), 0, 30), **late_events())
    defs = build_definitions(datasets.load())
    instance = DagsterInstance.ephemeral()

    loaded = run_job(defs, MAIN_JOB, CLOSED_DAY, instance)
    assert loaded.success, "at load time the warehouse is what Genesys had"
    assert all(e.passed for e in check_evaluations(loaded).values())
    assert {k.rsplit(".", 1)[1] for k in check_evaluations(loaded) if not k.startswith("kpi_")} == {
        "row_count_parity",
        "totals_parity",
        "source_parity",
        "ids_resolve",
    }

    simulator.set_now(local(CLOSED_DAY + timedelta(days=1), 12))  # the late events are in
    checked = run_job(defs, CHECKS_JOB, CLOSED_DAY, instance)
    assert not checked.success
    found = check_evaluations(checked)
    for dataset in ("queue_performance", "agent_performance"):
        assert found[f"{dataset}.row_count_parity"].passed
        assert found[f"{dataset}.totals_parity"].passed
        source = found[f"{dataset}.source_parity"]
        assert not source.passed and source.severity == AssetCheckSeverity.ERROR
        assert source.partition == CLOSED_DAY.isoformat()
        assert f"re-materialize {dataset} for partition {CLOSED_DAY}" in source.description
        metrics = source.metadata["metrics"].value
        handle = next(m for m in metrics if m["metric"] == "tHandle")
        # Both sides per metric: Genesys now has more handle time than was loaded.
        assert handle["genesys_count"] > handle["warehouse_count"]
        assert handle["genesys_sum"] > handle["warehouse_sum"] and not handle["agrees"]

    reloaded = run_job(defs, MAIN_JOB, CLOSED_DAY, instance)
    assert reloaded.success and all(e.passed for e in check_evaluations(reloaded).values())


@pytest.mark.parametrize(
    ("options", "changed"),
    [
        # The org's service-level options, applied to past dates: only oServiceLevel moves.
        (
            {"service_level_change_at": local(CLOSED_DAY + timedelta(days=3), 9)},
            {"oServiceLevel"},
        ),
        # The nightly pass corrects talk and handle times: their sums move, no count does.
        (
            {"reprocessing_after_hours": 30.0, "reprocessing_share": 0.2},
            {"tHandle", "tTalk", "tTalkComplete"},
        ),
    ],
    ids=["service-level-settings", "reprocessing"],
)
def test_a_closed_day_revised_by_genesys_fails_on_exactly_the_revised_metrics(
    org, options, changed
):
    simulator = org(now=local(CLOSED_DAY + timedelta(days=1), 6), **options)
    defs = build_definitions(datasets.load())
    instance = DagsterInstance.ephemeral()
    assert run_job(defs, MAIN_JOB, CLOSED_DAY, instance).success

    simulator.set_now(local(CLOSED_DAY + timedelta(days=4), 12))  # after the revision
    found = check_evaluations(run_job(defs, CHECKS_JOB, CLOSED_DAY, instance))
    for dataset in ("queue_performance", "agent_performance"):
        source = found[f"{dataset}.source_parity"]
        revised = changed & set(datasets.load().get(dataset).metrics)
        if revised:
            assert not source.passed
            assert set(source.metadata["differing"].value) == revised
        else:
            assert source.passed, "a dataset without the revised metrics is unaffected"
        assert found[f"{dataset}.row_count_parity"].passed
    if "reprocessing_after_hours" in options:
        metrics = found["agent_performance.source_parity"].metadata["metrics"].value
        talk = next(m for m in metrics if m["metric"] == "tTalk")
        assert talk["genesys_count"] == talk["warehouse_count"]
        assert talk["genesys_sum"] > talk["warehouse_sum"]


def test_a_dropped_group_fails_the_source_check_while_the_stage_checks_pass(org):
    simulator = org(now=local(CLOSED_DAY + timedelta(days=2), 0))
    queue = simulator.org.queues[0].id
    simulator.stop()
    simulator = org(now=local(CLOSED_DAY + timedelta(days=2), 0), omit_group=("queueId", queue))
    defs = build_definitions(datasets.load())

    result = run_job(defs, MAIN_JOB, CLOSED_DAY, DagsterInstance.ephemeral())
    assert not result.success, "a blocking check that fails on a closed day fails the run"
    found = check_evaluations(result)
    for dataset in ("queue_performance", "agent_performance"):
        assert found[f"{dataset}.row_count_parity"].passed
        assert found[f"{dataset}.totals_parity"].passed
        source = found[f"{dataset}.source_parity"]
        assert not source.passed
        assert "differ from Genesys' day totals" in source.description
        assert source.metadata["differing"].value, "the metrics that differ are named"


def test_a_job_cursor_that_ends_early_fails_the_source_check(org, monkeypatch):
    org(now=local(CLOSED_DAY + timedelta(days=2), 0), short_cursor_pages=1)
    monkeypatch.setenv("GENESYS_QUERY_MODE", "jobs")
    monkeypatch.setenv("GENESYS_JOB_PAGE_SIZE", "5")  # several pages a day: the first one only
    defs = build_definitions(datasets.load())

    result = run_job(defs, MAIN_JOB, CLOSED_DAY, DagsterInstance.ephemeral())
    assert not result.success
    found = check_evaluations(result)
    for dataset in ("queue_performance", "agent_performance"):
        assert found[f"{dataset}.row_count_parity"].passed
        assert found[f"{dataset}.totals_parity"].passed
        assert not found[f"{dataset}.source_parity"].passed


# --- the settling sensor -------------------------------------------------------------------------


def tick(defs, cursor: str | None, instance: DagsterInstance):
    sensor = defs.resolve_sensor_def(SETTLING_SENSOR)
    env = resources()
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"genesys": env["genesys"], "warehouse": env["warehouse"]},
        repository_def=defs.get_repository_def(),
    ) as context:
        return sensor.evaluate_tick(context)


def test_the_sensor_reloads_exactly_the_day_that_changed_and_then_lets_it_settle(org, tmp_path):
    day = yesterday()
    simulator = org(now=local(day + timedelta(days=1), 0, 30), **late_events())
    defs = build_definitions(datasets.load())
    instance = DagsterInstance.ephemeral()
    window = [day - timedelta(days=n) for n in range(6, -1, -1)]  # the default 7 days

    # The whole window loaded just after midnight, in one range run as a backfill does; the
    # late events are not in yet.
    loaded = defs.resolve_job_def(MAIN_JOB).execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": window[0].isoformat(),
            "dagster/asset_partition_range_end": window[-1].isoformat(),
        },
    )
    assert loaded.success
    first = tick(defs, None, instance)
    assert not first.run_requests, "every day agrees with Genesys: nothing to re-load"
    assert "compared 7 days" in first.skip_message and "7 agree" in first.skip_message
    state = SettlingState.from_cursor(first.cursor)
    assert set(state.matched_since["queue_performance"]) == set(window)

    simulator.set_now(local(day + timedelta(days=1), 12))
    checked = run_job(defs, CHECKS_JOB, day, instance)
    assert checked.success, "inside the settling window a difference is a warning"
    source = check_evaluations(checked)["queue_performance.source_parity"]
    assert not source.passed and source.severity == AssetCheckSeverity.WARN
    assert "still settling" in source.description

    second = tick(defs, first.cursor, instance)
    requested = sorted(
        (r.partition_key, r.asset_selection[-1].to_user_string()) for r in second.run_requests
    )
    # Only yesterday had events in its last six hours that came late: one run per dataset.
    assert requested == [
        (day.isoformat(), "agent_performance"),
        (day.isoformat(), "queue_performance"),
    ]
    for request in second.run_requests:
        assert request.run_key.startswith(f"settle-{request.asset_selection[-1].path[-1]}-{day}-")
        reason = request.tags["genesys_assets/settling_reason"]
        assert "tHandle" in reason.split(" differ: ")[0] and " in Genesys vs " in reason
        assert request.tags["genesys_assets/load"] == "settling"
    # The same change seen again before the re-load ran: the same run keys, so no second run.
    again = tick(defs, second.cursor, instance)
    assert {r.run_key for r in again.run_requests} == {r.run_key for r in second.run_requests}

    env = resources()
    for request in second.run_requests:
        reloaded = materialize(
            [*defs.assets, *defs.asset_checks],
            selection=AssetSelection.assets(*request.asset_selection),
            partition_key=request.partition_key,
            resources=env,
            instance=instance,
            tags=request.tags,
        )
        assert reloaded.success
        source = check_evaluations(reloaded)[
            f"{request.asset_selection[-1].path[-1]}.source_parity"
        ]
        assert source.passed, "after the re-load both sides agree"

    third = tick(defs, again.cursor, instance)
    assert not third.run_requests and "7 agree" in third.skip_message

    # A day that has matched for `matched_for_hours` is settled: no longer asked about.
    state = SettlingState.from_cursor(third.cursor)
    long_ago = datetime.now(UTC) - timedelta(hours=25)
    for days in state.matched_since.values():
        for settled_day in days:
            days[settled_day] = long_ago
    simulator.reset_stats()
    fourth = tick(defs, state.to_cursor(), instance)
    assert not fourth.run_requests
    assert "all 7 days of the window have settled" in fourth.skip_message
    assert (
        simulator.stats()["requests"].get("/api/v2/analytics/conversations/aggregates/query", 0)
        == 0
    )


# --- the core, without Dagster or HTTP -------------------------------------------------------------


def test_a_difference_warns_inside_the_window_and_fails_after_it():
    genesys = {
        "nOffered": {"count": 10.0},
        "oServiceLevel": {"numerator": 8.0, "denominator": 10.0},
    }
    loaded = {"nOffered": {"count": 10.0}, "oServiceLevel": {"numerator": 8.0, "denominator": 9.0}}
    settling = compare(CLOSED_DAY, genesys, loaded, settling=True, table="queue_performance")
    closed = compare(CLOSED_DAY, genesys, loaded, settling=False, table="queue_performance")
    for verdict in (settling, closed):
        assert isinstance(verdict, Parity) and not verdict.passed
        assert verdict.details["differing"] == ["oServiceLevel"]
        assert "denominator 10 in Genesys vs 9" in verdict.summary
    assert settling.warn_only and not closed.warn_only
    assert compare(CLOSED_DAY, genesys, genesys, settling=False, table="t").passed


def test_a_fingerprint_names_a_state_of_the_totals_not_the_order_they_came_in():
    one = {"nOffered": {"count": 10.0}, "tHandle": {"count": 3.0, "sum": 1234.5}}
    same = {"tHandle": {"sum": 1234.5, "count": 3.0}, "nOffered": {"count": 10.0}}
    changed = {"nOffered": {"count": 11.0}, "tHandle": {"count": 3.0, "sum": 1234.5}}
    assert fingerprint(one) == fingerprint(same) != fingerprint(changed)


def test_a_cursor_of_another_shape_starts_the_settling_over():
    assert SettlingState.from_cursor("2024-11-03").matched_since == {}  # the old sensor's cursor
    state = SettlingState({"q": {CLOSED_DAY: datetime(2024, 11, 2, tzinfo=UTC)}})
    assert SettlingState.from_cursor(state.to_cursor()) == state
    assert state.settled("q", CLOSED_DAY, datetime(2024, 11, 3, tzinfo=UTC), Settling())
    assert not state.settled("q", CLOSED_DAY, datetime(2024, 11, 2, 12, tzinfo=UTC), Settling())


# --- permissions --------------------------------------------------------------------------------


def readme_permissions() -> set[str]:
    text = (Path(__file__).parents[1] / "README.md").read_text()
    section = text.split("### OAuth permissions", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"`([a-z]+:[A-Za-z]+:[a-z]+)`", section))


def test_an_org_set_up_as_the_readme_says_has_every_permission_the_features_need(org):
    permissions = readme_permissions()
    assert permissions == {
        "analytics:conversationAggregate:view",
        "analytics:userAggregate:view",
        "routing:queue:view",
        "routing:wrapupCode:view",
        "routing:skill:view",
        "presence:presenceDefinition:view",
    }
    day = yesterday()
    org(now=local(day + timedelta(days=1), 6), client_permissions=tuple(sorted(permissions)))
    defs = build_definitions(datasets.load())
    instance = DagsterInstance.ephemeral()
    assert run_job(defs, MAIN_JOB, day, instance).success  # fetch, dimensions, all checks
    assert run_job(defs, CHECKS_JOB, day, instance).success
    assert tick(defs, None, instance).cursor  # the settling sensor's comparison


def test_time_moved_between_statuses_fails_the_status_datasets_checks_per_status(org, clean_env):
    # A status dataset's sums per metric hide a minute moved from IDLE to INTERACTING; the
    # checks compare per metric and status.
    org(now=local(CLOSED_DAY + timedelta(days=2), 0))
    defs = build_definitions(datasets.load())
    instance = DagsterInstance.ephemeral()
    assert run_job(defs, MAIN_JOB, CLOSED_DAY, instance).success
    import duckdb

    with duckdb.connect(f"{clean_env['GENESYS_ASSETS_HOME']}/warehouse.duckdb") as con:
        [(user, start)] = con.execute(
            "SELECT user_id, min(interval_start) FROM genesys.agent_status "
            "WHERE metric = 'tAgentRoutingStatus' AND qualifier = 'IDLE' "
            "GROUP BY user_id ORDER BY user_id LIMIT 1"
        ).fetchall()
        con.execute(
            "UPDATE genesys.agent_status SET qualifier = 'INTERACTING' WHERE user_id = ? "
            "AND interval_start = ? AND metric = 'tAgentRoutingStatus' AND qualifier = 'IDLE'",
            [user, start],
        )
    found = check_evaluations(run_job(defs, CHECKS_JOB, CLOSED_DAY, instance))
    source = found["agent_status.source_parity"]
    assert not source.passed
    assert set(source.metadata["differing"].value) == {
        "tAgentRoutingStatus[IDLE]",
        "tAgentRoutingStatus[INTERACTING]",
    }
    assert "metrics and statuses differ from Genesys" in source.description
    assert not found["agent_status.totals_parity"].passed
    assert found["agent_status.row_count_parity"].passed
    assert found["agent_performance.source_parity"].passed


def test_without_the_aggregates_permission_the_source_check_names_it(org, monkeypatch):
    reader = ("reader", "reader-secret", ("routing:queue:view",))
    org(now=local(CLOSED_DAY + timedelta(days=2), 0), extra_clients=(reader,))
    defs = build_definitions(datasets.load())
    instance = DagsterInstance.ephemeral()
    assert run_job(defs, MAIN_JOB, CLOSED_DAY, instance).success
    monkeypatch.setenv("GENESYS_CLIENT_ID", reader[0])
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", reader[1])
    result = run_job(build_definitions(datasets.load()), CHECKS_JOB, CLOSED_DAY, instance)
    assert not result.success
    errors = [
        e.step_failure_data.error
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_FAILURE
    ]
    assert len(errors) == 3
    for error in errors:
        text = error.message + (error.cause.message if error.cause else "")
        # The status dataset's day totals are user aggregates, with a permission of their own.
        needed = (
            "analytics:userAggregate:view"
            if "agent_status: source_parity" in text
            else "analytics:conversationAggregate:view"
        )
        assert "source_parity" in text and needed in text, text


def test_the_sensor_tick_history_explains_itself(org):
    day = yesterday()
    org(now=local(day + timedelta(days=1), 6))
    defs = build_definitions(datasets.load())
    instance = DagsterInstance.ephemeral()
    assert run_job(defs, MAIN_JOB, day, instance).success
    result = tick(defs, None, instance)
    # Days of the window never loaded differ from Genesys (it has data, the warehouse none):
    # they are loaded; the loaded one agrees.
    assert sorted({r.partition_key for r in result.run_requests}) == [
        (day - timedelta(days=n)).isoformat() for n in range(6, 0, -1)
    ]
    request = result.run_requests[0]
    assert "the warehouse has no rows for the day" in request.tags["genesys_assets/settling_reason"]
    cursor = json.loads(result.cursor)
    assert list(cursor["matched_since"]["queue_performance"]) == [day.isoformat()]
