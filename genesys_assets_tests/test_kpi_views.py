"""The KPI views against an independent computation from the API's own answers for a day.

The pipeline loads a day from a simulator started by the test (a local deployment pointed at
it); the test then asks the same simulator, over HTTP, for the day's totals by queue and by
agent, computes each KPI from them in Python, and compares with the views' rows.
"""

import base64
import io
import math
import shutil
from datetime import UTC, date, datetime

import duckdb
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from genesys_assets import datasets, kpi_views
from genesys_assets.definitions import MAIN_JOB, build_definitions
from genesys_assets.long_table import DEFAULT_ORG, measure
from genesys_assets.pipeline.environment import resources

from .raw_http import RawClient
from .run_events import check_evaluations

DAY = date(2024, 11, 1)
INTERVAL = "2024-11-01T00:00:00-04:00/2024-11-02T00:00:00-04:00"
QUEUE_METRICS = ["nOffered", "tAnswered", "tAbandon", "oServiceLevel", "tHandle", "tTalk",
                 "tHeld", "tAcw", "nTransferred"]  # fmt: skip


@pytest.fixture
def loaded(start_simulator, clean_env, monkeypatch):
    simulator = start_simulator(now=datetime(2024, 11, 3, 12, tzinfo=UTC))
    monkeypatch.setenv("GENESYS_ASSETS_DEPLOYMENT", "local")
    monkeypatch.setenv("GENESYS_CLIENT_ID", simulator.client_id)
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", simulator.client_secret)
    monkeypatch.setenv("GENESYS_API_HOST", simulator.base_url)
    defs = build_definitions(datasets.load())
    result = defs.resolve_job_def(MAIN_JOB).execute_in_process(
        partition_key=DAY.isoformat(), instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success
    client = RawClient(simulator.base_url, simulator.client_id, simulator.client_secret)
    client.login()
    return defs, result, client, f"{clean_env['GENESYS_ASSETS_HOME']}/warehouse.duckdb"


def totals(
    client: RawClient,
    group_by: list[str],
    metrics: list[str],
    kind: str = "conversations",
    granularity: str = "P1D",
    **extra,
) -> dict:
    """{group key: {measure: {stat: total}}} of the day, by day (P1D) unless asked otherwise,
    from the API itself; a status metric's measure is `metric[status]`."""
    answer = client.query(
        {
            "interval": INTERVAL,
            "granularity": granularity,
            "timeZone": "America/New_York",
            "groupBy": group_by,
            "metrics": metrics,
            **extra,
        },
        kind=kind,
    )
    out: dict = {}
    for result in answer["results"]:
        group = tuple(result.get("group", {}).get(d) for d in group_by)
        for bucket in result["data"]:
            # By day the group is the key; finer, the bucket's start is part of it.
            key = group if granularity == "P1D" else (*group, bucket["interval"].split("/")[0])
            for entry in bucket["metrics"]:
                name = measure(entry["metric"], entry.get("qualifier"))
                stats = out.setdefault(key, {}).setdefault(name, {})
                for stat, value in entry["stats"].items():
                    stats[stat] = stats.get(stat, 0) + value
    return out


def stat(found: dict, metric: str, name: str) -> float:
    return float(found.get(metric, {}).get(name, 0))


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def same(ours, theirs) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-9)


def test_each_queue_kpi_of_the_day_equals_the_apis_own_totals(loaded):
    _, _, client, path = loaded
    expected = totals(client, ["queueId"], QUEUE_METRICS)
    with duckdb.connect(path, read_only=True) as con:
        rows = con.execute(
            "SELECT queue_id, queue_name, offered, answered, abandoned, abandon_rate, "
            "service_level, asa_s, aht_s, avg_talk_s, avg_hold_s, avg_acw_s, transfer_rate "
            "FROM genesys.kpi_queue_day WHERE partition_date = ?",
            [DAY],
        ).fetchall()
    assert len(rows) == len(expected) > 1
    for queue_id, name, *kpis in rows:
        api = expected[(queue_id,)]
        answered, abandoned = stat(api, "tAnswered", "count"), stat(api, "tAbandon", "count")
        independent = [
            stat(api, "nOffered", "count"),
            answered,
            abandoned,
            ratio(abandoned, answered + abandoned),
            ratio(
                stat(api, "oServiceLevel", "numerator"), stat(api, "oServiceLevel", "denominator")
            ),
            ratio(stat(api, "tAnswered", "sum") / 1000, answered),
            ratio(stat(api, "tHandle", "sum") / 1000, stat(api, "tHandle", "count")),
            ratio(stat(api, "tTalk", "sum") / 1000, stat(api, "tTalk", "count")),
            ratio(stat(api, "tHeld", "sum") / 1000, stat(api, "tHeld", "count")),
            ratio(stat(api, "tAcw", "sum") / 1000, stat(api, "tAcw", "count")),
            ratio(stat(api, "nTransferred", "count"), answered),
        ]
        assert name, "every queue has its name joined"
        for column, ours, theirs in zip(
            ["offered", "answered", "abandoned", "abandon_rate", "service_level", "asa_s",
             "aht_s", "avg_talk_s", "avg_hold_s", "avg_acw_s", "transfer_rate"],
            kpis, independent, strict=True,
        ):  # fmt: skip
            assert same(ours, theirs), (queue_id, column, ours, theirs)


def test_each_agent_kpi_of_the_day_equals_the_apis_own_totals(loaded):
    _, _, client, path = loaded
    metrics = ["tHandle", "tAnswered", "tTalk", "tHeld", "tAcw", "nTransferred"]
    agents_only = {
        "filter": {"type": "and", "predicates": [{"dimension": "userId", "operator": "exists"}]}
    }
    expected = totals(client, ["userId"], metrics, **agents_only)
    with duckdb.connect(path, read_only=True) as con:
        rows = con.execute(
            "SELECT user_id, agent_name, handled, aht_s, handle_s, avg_acw_s, transfer_rate "
            "FROM genesys.kpi_agent_day WHERE partition_date = ?",
            [DAY],
        ).fetchall()
    assert {(user_id,) for user_id, *_ in rows} >= set(expected) and len(expected) > 5
    for user_id, name, handled, aht_s, handle_s, avg_acw_s, transfer_rate in rows:
        api = expected.get((user_id,), {})  # logged in, handled nothing: zeros and NULLs
        assert name, "every agent has a name, those who left too"
        assert same(handled, stat(api, "tHandle", "count"))
        assert same(aht_s, ratio(stat(api, "tHandle", "sum") / 1000, stat(api, "tHandle", "count")))
        assert same(handle_s, stat(api, "tHandle", "sum") / 1000)
        assert same(avg_acw_s, ratio(stat(api, "tAcw", "sum") / 1000, stat(api, "tAcw", "count")))
        assert same(
            transfer_rate,
            ratio(stat(api, "nTransferred", "count"), stat(api, "tAnswered", "count")),
        )


def test_each_agent_status_kpi_of_the_day_equals_the_apis_own_user_aggregates(loaded):
    _, _, client, path = loaded
    metrics = ["tAgentRoutingStatus", "tSystemPresence"]
    expected = totals(client, ["userId"], metrics, kind="users")
    columns = ["logged_in_s", "on_queue_s", "idle_s", "interacting_s", "communicating_s",
               "not_responding_s", "off_queue_s", "occupancy"]  # fmt: skip
    with duckdb.connect(path, read_only=True) as con:
        rows = con.execute(
            f"SELECT user_id, agent_name, {', '.join(columns)} FROM genesys.kpi_agent_day "
            "WHERE partition_date = ?",
            [DAY],
        ).fetchall()
    assert {(user_id,) for user_id, *_ in rows} == set(expected) and len(expected) > 5
    seen_occupancy = 0
    for user_id, name, *kpis in rows:
        api = expected[(user_id,)]

        def seconds(name: str, api: dict = api) -> float:
            return stat(api, name, "sum") / 1000

        presence = [k for k in api if k.startswith("tSystemPresence[")]
        idle, interacting = (
            seconds("tAgentRoutingStatus[IDLE]"),
            seconds("tAgentRoutingStatus[INTERACTING]"),
        )
        independent = [
            sum(seconds(k) for k in presence if k != "tSystemPresence[OFFLINE]"),
            seconds("tSystemPresence[ON_QUEUE]"),
            idle,
            interacting,
            seconds("tAgentRoutingStatus[COMMUNICATING]"),
            seconds("tAgentRoutingStatus[NOT_RESPONDING]"),
            seconds("tAgentRoutingStatus[OFF_QUEUE]"),
            ratio(interacting, interacting + idle),
        ]
        assert name, "every agent has a name, those who left too"
        for column, ours, theirs in zip(columns, kpis, independent, strict=True):
            assert same(ours, theirs), (user_id, column, ours, theirs)
        seen_occupancy += kpis[-1] is not None and 0 < kpis[-1] < 1
    assert seen_occupancy > 5


def test_the_picture_of_the_day_shows_the_apis_own_offered_and_answered_per_half_hour(loaded):
    _, result, client, _ = loaded
    [view] = [v for v in kpi_views.KPI_VIEWS if v.chart]
    warehouse = resources()["warehouse"].get_warehouse()
    try:
        found = kpi_views.newest_day_half_hours(warehouse, view, DEFAULT_ORG)
    finally:
        warehouse.close()
    assert found is not None
    day, half_hours = found
    expected = totals(client, [], ["nOffered", "tAnswered"], granularity="PT30M")
    by_start: dict = {}
    for (start,), stats in expected.items():
        by_start[datetime.fromisoformat(start)] = (
            stat(stats, "nOffered", "count"),
            stat(stats, "tAnswered", "count"),
        )
    # A half hour with neither (handle time only, stamped late) is in the view with zeros.
    assert day == DAY and {b.start for b in half_hours} >= set(by_start) and len(by_start) > 40
    for bucket in half_hours:
        assert (bucket.offered, bucket.answered) == by_start.get(bucket.start, (0.0, 0.0))
    [materialization] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key.to_user_string() == view.name
    ]
    assert materialization.metadata["chart_day"].value == DAY.isoformat()
    image = materialization.metadata["offered_vs_answered"].value
    assert image.startswith(
        "![offered vs answered per half hour, 2024-11-01](data:image/png;base64,"
    )
    from PIL import Image

    png = base64.b64decode(image.split("base64,", 1)[1].rstrip(")"))
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG" and picture.size == (900, 320)


def test_the_half_hours_add_up_to_the_day(loaded):
    _, _, _, path = loaded
    with duckdb.connect(path, read_only=True) as con:
        [(mismatches,)] = con.execute(
            "SELECT count(*) FROM genesys.kpi_queue_day d JOIN ("
            "  SELECT partition_date, queue_id, sum(offered) AS offered, sum(answered) AS answered"
            "  FROM genesys.kpi_queue_interval GROUP BY 1, 2) i USING (partition_date, queue_id)"
            " WHERE d.offered <> i.offered OR d.answered <> i.answered"
        ).fetchall()
        [(intervals,)] = con.execute("SELECT count(*) FROM genesys.kpi_queue_interval").fetchall()
    assert mismatches == 0 and intervals > 100


def test_the_views_checks_pass_and_their_previews_are_shown(loaded):
    _, result, _, _ = loaded
    found = check_evaluations(result)
    for view in kpi_views.KPI_VIEWS:
        assert found[f"{view.name}.ratios_in_range"].passed
        assert found[f"{view.name}.days_complete"].passed
    [day_view] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key.to_user_string() == "kpi_queue_day"
    ]
    assert "| queue_name" in day_view.metadata["preview"].value
    assert "NULLIF(answered + abandoned, 0)" in day_view.metadata["sql"].value


def test_a_changed_view_that_loses_a_day_or_breaks_a_ratio_fails_its_checks(
    loaded, tmp_path, monkeypatch
):
    defs, _, _, _ = loaded
    # A user's edit of the SQL: the wrong ratio, and a filter that drops the day.
    folder = tmp_path / "kpis"
    shutil.copytree(kpi_views.SQL_FOLDER, folder)
    sql = (folder / "kpi_queue_day.sql").read_text()
    sql = sql.replace("sl_numerator / NULLIF(sl_denominator, 0)", "offered / NULLIF(answered, 0)")
    (folder / "kpi_queue_day.sql").write_text(sql)
    agent = (folder / "kpi_agent_day.sql").read_text()
    (folder / "kpi_agent_day.sql").write_text(
        agent + "WHERE a.partition_date < DATE '2024-01-01'\n"
    )
    monkeypatch.setattr(kpi_views, "SQL_FOLDER", folder)

    result = materialize(
        [*defs.assets, *defs.asset_checks],
        selection=AssetSelection.assets("kpi_queue_day", "kpi_agent_day"),
        resources=resources(),
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success, "the view checks are not blocking"
    found = check_evaluations(result)
    ratios = found["kpi_queue_day.ratios_in_range"]
    assert not ratios.passed and ratios.metadata["rows"].value[0]["service_level"] > 1
    days = found["kpi_agent_day.days_complete"]
    assert not days.passed and days.metadata["missing"].value == [DAY.isoformat()]
