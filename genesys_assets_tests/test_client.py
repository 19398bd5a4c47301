"""The Genesys client over HTTP against the simulator, through the real SDK.

Each failure mode the client owns (token expiry, 401, 429 with and without Retry-After, 5xx
bursts, read timeouts, cut-off bodies, dropped connections, rate limits) is produced by the
simulator on the wire, not by a mock.
"""

import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import ClientSettings, FetchCancelled, GenesysClient
from genesys_assets.genesys.errors import (
    GenesysAuthError,
    GenesysPermissionError,
    GenesysRequestError,
    GenesysRetriesExhausted,
)
from genesys_assets.genesys.query import AggregateQuery, QueryError, day_interval
from genesys_assets.genesys.sizing import expected_rows

QUERY = AggregateQuery(
    metrics=("nOffered", "tHandle", "tAnswered", "oServiceLevel"),
    group_by=("queueId", "mediaType"),
    granularity="PT30M",
    time_zone="America/New_York",
)
DAY = date(2024, 11, 1)


def client_for(simulator, secret: str | None = None, **settings) -> GenesysClient:
    defaults = {"backoff_base_s": 0.05, "max_retry_wait_s": 2.0, "job_poll_initial_s": 0.05}
    return GenesysClient(
        simulator.base_url,
        ClientCredentials(simulator.client_id, secret or simulator.client_secret),
        ClientSettings(**{**defaults, **settings}),
    )


def entries(fetches) -> list[tuple]:
    """Every metric entry of the pages, as comparable tuples, sorted."""
    out = []
    for fetch in fetches:
        for page in fetch.pages:
            for result in json.loads(page.body).get("results", []):
                group = tuple(sorted(result.get("group", {}).items()))
                for bucket in result["data"]:
                    for metric in bucket["metrics"]:
                        out.append(
                            (
                                bucket["interval"],
                                group,
                                metric["metric"],
                                json.dumps(metric["stats"], sort_keys=True),
                            )
                        )
    return sorted(out)


def routes(simulator, fragment: str) -> int:
    return sum(
        n for route, n in simulator.stats()["requests_by_route"].items() if fragment in route
    )


def test_a_day_comes_back_as_raw_bytes_with_what_was_asked(start_simulator):
    simulator = start_simulator()
    with client_for(simulator, mode="sync") as client:
        [fetch] = client.fetch_days(QUERY, [DAY])
    assert fetch.days == (DAY,) and fetch.mode == "sync" and fetch.job_id is None
    assert fetch.request["interval"] == "2024-11-01T00:00:00-04:00/2024-11-02T00:00:00-04:00"
    assert fetch.request["timeZone"] == "America/New_York"
    [page] = fetch.pages
    assert isinstance(page.body, bytes) and page.body.startswith(b'{"results":[')
    assert page.correlation_id and page.attempts == 1 and page.next_cursor is None
    assert (fetch.requests, fetch.retries, fetch.throttled) == (1, 0, 0)
    assert entries([fetch])


def test_chunks_come_back_in_order_and_hold_the_same_data_as_single_days(start_simulator):
    simulator = start_simulator(latency_ms=50)
    days = [DAY + timedelta(days=n) for n in range(7)]
    with client_for(simulator, mode="sync", chunk_days=3, max_concurrency=3) as client:
        chunked = list(client.fetch_days(QUERY, days))
        single = list(client.fetch_days(QUERY, days[:1])) + list(
            client.fetch_days(QUERY, days[1:2])
        )
        assert [f.days for f in chunked] == [tuple(days[0:3]), tuple(days[3:6]), tuple(days[6:7])]
        by_day = [f for d in days for f in client.fetch_days(QUERY, [d])]
    assert entries(chunked) == entries(by_day)
    assert entries(single) == entries(by_day[:2])


def test_async_jobs_follow_the_cursor_to_the_last_page(start_simulator):
    simulator = start_simulator()
    with client_for(simulator, mode="jobs", job_page_size=2) as client:
        [jobs] = client.fetch_days(QUERY, [DAY])
        [sync] = client.fetch_days(QUERY, [DAY], mode="sync")
    assert jobs.mode == "jobs" and jobs.job_id
    assert len(jobs.pages) > 2
    for page, following in zip(jobs.pages, jobs.pages[1:], strict=False):
        assert page.next_cursor and page.next_cursor == following.cursor
    assert jobs.pages[-1].next_cursor is None
    assert entries([jobs]) == entries([sync])
    assert routes(simulator, "DELETE") == 0


def test_auto_mode_uses_jobs_for_large_answers():
    small = AggregateQuery(metrics=("nOffered",), group_by=("queueId",), time_zone="UTC")
    large = AggregateQuery(
        metrics=("tHandle", "tTalk"), group_by=("userId", "queueId"), time_zone="UTC"
    )
    one_day = day_interval(DAY, "UTC")
    assert expected_rows(small, one_day) < ClientSettings().jobs_threshold_rows
    assert expected_rows(large, one_day) > ClientSettings().jobs_threshold_rows
    client = GenesysClient("http://127.0.0.1:9", ClientCredentials("id", "secret"))
    assert client.choose_mode(small, one_day) == "sync"
    assert client.choose_mode(large, one_day) == "jobs"
    assert client.choose_mode(large, one_day, "sync") == "sync"


def test_auto_mode_sizes_a_new_query_by_its_first_days_totals(start_simulator):
    # The static guess takes the agent-level query for a big one (jobs); the simulated org is
    # small. One synchronous query for the first day's totals bounds the answers, and every
    # chunk goes as one synchronous query, four at once, where a guess would have sent jobs.
    large = AggregateQuery(
        metrics=("tHandle", "tTalk"),
        group_by=("userId", "queueId"),
        time_zone="America/New_York",
    )
    days = [DAY + timedelta(days=n) for n in range(4)]
    simulator = start_simulator()
    with client_for(simulator, chunk_days=1, max_concurrency=4) as client:
        assert client.choose_mode(large, day_interval(DAY, large.time_zone)) == "jobs"
        fetches = list(client.fetch_days(large, days))
        per_day = max(f.metric_entries for f in fetches)
        assert 0 < per_day * 2 < ClientSettings().jobs_threshold_rows
        assert [f.mode for f in fetches] == ["sync"] * 4
        # A chunk long enough that what was seen no longer fits goes to jobs.
        long_days = ClientSettings().jobs_threshold_rows // per_day + 1
        long = day_interval(DAY, large.time_zone, DAY + timedelta(days=long_days - 1))
        assert client.choose_mode(large, long) == "jobs"
    assert routes(simulator, "POST /api/v2/analytics/conversations/aggregates/jobs") == 0
    assert routes(simulator, "aggregates/query") == 1 + 4


def test_an_interrupted_job_is_cancelled(start_simulator):
    simulator = start_simulator(job_delay_s=30)
    stop = threading.Event()
    errors = []

    def run():
        with client_for(simulator) as client:
            try:
                client.fetch(QUERY, day_interval(DAY, QUERY.time_zone), mode="jobs", stop=stop)
            except FetchCancelled as exc:
                errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    while simulator.stats()["jobs_submitted"] == 0:
        time.sleep(0.02)
    stop.set()
    worker.join(10)
    assert errors and "stopped" in str(errors[0])
    assert routes(simulator, "DELETE") == 1


def test_the_token_is_renewed_before_it_expires_during_a_long_fetch(start_simulator):
    simulator = start_simulator(token_ttl_s=1.5, latency_ms=150)
    days = [DAY + timedelta(days=n) for n in range(12)]
    with client_for(simulator, mode="sync", chunk_days=1, max_concurrency=1) as client:
        fetches = list(client.fetch_days(QUERY, days))
        logins = client._tokens.logins
    assert len(fetches) == 12
    assert logins >= 2
    assert simulator.stats()["responses"].get(401, 0) == 0


def test_a_refused_token_triggers_one_fresh_login(start_simulator):
    simulator = start_simulator()
    with client_for(simulator, mode="sync") as client:
        list(client.fetch_days(QUERY, [DAY]))
        simulator.invalidate_tokens()
        [fetch] = client.fetch_days(QUERY, [DAY])
        assert client._tokens.logins == 2
    assert simulator.stats()["responses"][401] == 1
    assert fetch.pages


def test_wrong_credentials_name_the_client_and_host_but_not_the_secret(start_simulator):
    simulator = start_simulator()
    with (
        client_for(simulator, secret="not-the-secret-42", mode="sync") as client,
        pytest.raises(GenesysAuthError) as info,
    ):
        list(client.fetch_days(QUERY, [DAY]))
    message = str(info.value)
    assert simulator.client_id in message and simulator.base_url in message
    assert "not-the-secret-42" not in message and "GENESYS_CLIENT_SECRET" in message


def test_a_client_without_the_analytics_permission_is_told_which_one(start_simulator):
    simulator = start_simulator(restricted_clients=(("viewer", "viewer-secret"),))
    client = GenesysClient(
        simulator.base_url,
        ClientCredentials("viewer", "viewer-secret"),
        ClientSettings(mode="sync"),
    )
    with (
        client,
        pytest.raises(GenesysPermissionError, match="analytics:conversationAggregate:view"),
    ):
        list(client.fetch_days(QUERY, [DAY]))


def test_429_with_retry_after_waits_as_told_and_logs_it(start_simulator, caplog):
    simulator = start_simulator()
    with client_for(simulator, mode="sync") as client:
        list(client.fetch_days(QUERY, [DAY]))  # logs in
        simulator.script_faults(["429", "429"])
        caplog.set_level(logging.WARNING, logger="genesys_assets.genesys")
        started = time.monotonic()
        [fetch] = client.fetch_days(QUERY, [DAY])
    assert time.monotonic() - started >= 2.0  # Retry-After: 1 s, twice
    assert (fetch.throttled, fetch.retries, fetch.pages[0].attempts) == (2, 2, 3)
    retries = [r.getMessage() for r in caplog.records if "HTTP 429" in r.getMessage()]
    assert len(retries) == 2
    assert all("correlation id" in m and "retrying in 1.00 s" in m for m in retries)
    assert all("(correlation id -)" not in m for m in retries), "the 429's correlation id is logged"


def test_429_without_retry_after_backs_off_with_jitter(start_simulator, caplog):
    simulator = start_simulator(send_retry_after=False)
    with client_for(simulator, mode="sync", backoff_base_s=0.2) as client:
        list(client.fetch_days(QUERY, [DAY]))
        simulator.script_faults(["429", "429", "429"])
        caplog.set_level(logging.WARNING, logger="genesys_assets.genesys")
        [fetch] = client.fetch_days(QUERY, [DAY])
    assert fetch.throttled == 3
    waits = [
        float(r.getMessage().rsplit("retrying in ", 1)[1].split(" ")[0])
        for r in caplog.records
        if "HTTP 429" in r.getMessage()
    ]
    assert len(waits) == 3
    assert all(0 <= w <= 0.2 * 2**i for i, w in enumerate(waits))


def test_a_burst_of_server_errors_is_retried(start_simulator):
    simulator = start_simulator()
    with client_for(simulator, mode="sync") as client:
        simulator.script_faults(["503", "502", "500", "504"])
        [fetch] = client.fetch_days(QUERY, [DAY])
    assert fetch.pages[0].attempts == 5 and fetch.retries == 4
    assert simulator.stats()["responses"][200] >= 1


def test_retries_are_bounded(start_simulator):
    simulator = start_simulator()
    with client_for(simulator, mode="sync", max_attempts=3) as client:
        list(client.fetch_days(QUERY, [DAY]))
        simulator.script_faults(["503", "503", "503"])
        with pytest.raises(GenesysRetriesExhausted, match=r"gave up after 3 attempts.*HTTP 503"):
            list(client.fetch_days(QUERY, [DAY]))


def test_a_slow_answer_hits_the_read_timeout_and_is_retried(start_simulator, caplog):
    simulator = start_simulator(slow_ms=3000)
    with client_for(simulator, mode="sync", read_timeout_s=0.5) as client:
        list(client.fetch_days(QUERY, [DAY]))
        simulator.script_faults(["slow"])
        caplog.set_level(logging.WARNING, logger="genesys_assets.genesys")
        started = time.monotonic()
        [fetch] = client.fetch_days(QUERY, [DAY])
    assert time.monotonic() - started < 2.5
    assert fetch.pages[0].attempts == 2
    assert any("ReadTimeoutError" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("fault", ["truncate", "drop"])
def test_a_cut_off_body_or_dropped_connection_is_retried_and_never_returned(start_simulator, fault):
    simulator = start_simulator()
    with client_for(simulator, mode="sync") as client:
        [clean] = client.fetch_days(QUERY, [DAY])
        simulator.script_faults([fault])
        [fetch] = client.fetch_days(QUERY, [DAY])
    assert simulator.stats()["faults"].get(fault) == 1
    assert fetch.pages[0].attempts == 2
    assert fetch.pages[0].body == clean.pages[0].body
    json.loads(fetch.pages[0].body)


def test_a_400_is_not_retried_and_carries_genesys_message(start_simulator):
    simulator = start_simulator(max_interval_days=2)
    days = [DAY + timedelta(days=n) for n in range(3)]
    with (
        client_for(simulator, mode="sync", chunk_days=3) as client,
        pytest.raises(GenesysRequestError) as info,
    ):
        list(client.fetch_days(QUERY, days))
    assert info.value.status == 400
    assert "aggregates query 2024-11-01..2024-11-03: HTTP 400" in str(info.value)
    assert routes(simulator, "aggregates/query") == 1


def test_a_bad_metric_name_is_rejected_before_any_request(start_simulator):
    simulator = start_simulator()
    with pytest.raises(QueryError, match="did you mean 'tHandle'"), client_for(simulator) as client:
        list(client.fetch_days(AggregateQuery(metrics=("tHandel",)), [DAY]))
    assert sum(simulator.stats()["requests"].values()) == 0


def test_a_rate_limited_run_gets_every_page_with_fewer_429s_than_pages(start_simulator):
    simulator = start_simulator(rate_limit_per_minute=10, rate_limit_window_s=3.0)
    days = [DAY + timedelta(days=n) for n in range(24)]
    with client_for(simulator, mode="sync", chunk_days=1, max_concurrency=4) as client:
        fetches = list(client.fetch_days(QUERY, days))
    pages = sum(len(f.pages) for f in fetches)
    throttled = sum(f.throttled for f in fetches)
    assert [f.days[0] for f in fetches] == days
    assert pages == 24
    assert throttled < pages
    assert simulator.stats()["throttled"] == throttled


def test_queues_are_listed_across_pages(start_simulator):
    simulator = start_simulator(queues=7)
    with client_for(simulator, queue_page_size=3) as client:
        queues = client.list_queues()
    assert len(queues) == 7 == len({q.id for q in queues})
    assert routes(simulator, "routing/queues") == 3
    assert all(q.name and q.division_id and q.division_name for q in queues)
    assert {q.id for q in queues} == {q.id for q in simulator.org.queues}


def test_day_totals_take_one_request_per_run_of_consecutive_days(start_simulator):
    """The source check's question: by day, no group-by, up to 31 days a request."""
    from genesys_assets.source_parity import answer_totals, totals_query

    simulator = start_simulator(now=datetime(2024, 12, 31, tzinfo=UTC))
    query = totals_query(
        AggregateQuery(
            metrics=("nOffered", "tHandle", "oServiceLevel"),
            group_by=("queueId", "mediaType"),
            time_zone="America/New_York",
        )
    )
    days = [date(2024, 10, 1) + timedelta(days=n) for n in range(40)] + [date(2024, 11, 20)]
    route = "/api/v2/analytics/conversations/aggregates/query"
    with client_for(simulator) as client:
        simulator.reset_stats()
        pages = client.day_totals(query, days)
        # 31 days, the other 9, and the day after a gap.
        assert simulator.stats()["requests"][route] == len(pages) == 3
        totals = answer_totals(pages, query, days)
        alone = answer_totals(
            client.day_totals(query, [date(2024, 11, 20)]), query, [date(2024, 11, 20)]
        )
    assert set(totals) == set(days)
    day = totals[date(2024, 10, 2)]
    assert day["nOffered"]["count"] > 0 and day["tHandle"]["sum"] > 0
    assert day["oServiceLevel"]["denominator"] >= day["oServiceLevel"]["numerator"] > 0
    assert totals[date(2024, 11, 20)] == alone[date(2024, 11, 20)]


def test_no_secret_reaches_a_log_record_or_an_exception(start_simulator, caplog):
    simulator = start_simulator(client_secret="s3cr3t-value-xyz", send_retry_after=False)
    caplog.set_level(logging.DEBUG)
    texts = []
    with client_for(simulator, mode="jobs", job_page_size=3) as client:
        simulator.script_faults(["429", "503", "drop", "truncate"])
        list(client.fetch_days(QUERY, [DAY]))
        token = client._tokens.header().split(" ", 1)[1]
        simulator.invalidate_tokens()
        list(client.fetch_days(QUERY, [DAY], mode="sync"))
    with client_for(simulator, secret="wrong-s3cr3t", mode="sync") as client:
        try:
            list(client.fetch_days(QUERY, [DAY]))
        except Exception as exc:
            texts.append(str(exc))
            texts.append(repr(exc))
    texts.extend(record.getMessage() for record in caplog.records)
    texts.extend(str(record.__dict__) for record in caplog.records)
    assert len(caplog.records) >= 4
    for text in texts:
        assert "s3cr3t-value-xyz" not in text and "wrong-s3cr3t" not in text
        assert token not in text
        assert "Basic " not in text and "Bearer " not in text


SDK_CONFIG = """\
[general]
host = http://127.0.0.1:9
live_reload_config = true
[gateway]
host = 127.0.0.1
port = 9
protocol = http
[logging]
log_level = trace
log_to_console = true
log_request_body = true
log_response_body = true
"""

SDK_CONFIG_RUN = """
import sys
from datetime import date

{import_sdk}

from genesys_assets.genesys.auth import ClientCredentials
from genesys_assets.genesys.client import ClientSettings, GenesysClient
from genesys_assets.genesys.query import AggregateQuery
from genesys_assets.simulator import Simulator, SimulatorConfig

sdk.Configuration().host = "http://127.0.0.1:9"  # the process-wide setting, pointing nowhere
query = AggregateQuery(metrics=("nOffered",), group_by=("queueId",), time_zone="UTC")
with Simulator(SimulatorConfig(seed=3)) as sim:
    credentials = ClientCredentials(sim.client_id, sim.client_secret)
    with GenesysClient(sim.base_url, credentials, ClientSettings(mode="sync")) as client:
        [fetch] = client.fetch_days(query, [date(2024, 11, 1)])
        queues = client.list_queues()
    print("fetched", len(fetch.pages), "page(s) and", len(queues), "queues from", client.host)
print("sdk modules", sum(1 for m in sys.modules if m.startswith("PureCloudPlatformClientV2")))
"""
# The user's process imported the SDK already (the real package), or the client imports it,
# name by name (`sdk_package`).
IMPORTED_BY_THE_USER = "import PureCloudPlatformClientV2 as sdk"
IMPORTED_BY_THE_CLIENT = "from genesys_assets.genesys import sdk as ours\nsdk = ours.load()"


@pytest.mark.parametrize("import_sdk", [IMPORTED_BY_THE_USER, IMPORTED_BY_THE_CLIENT])
def test_a_users_sdk_config_file_neither_redirects_nor_logs_a_client(tmp_path, import_sdk):
    # The SDK reads ~/.genesyscloudpython/config on import: a host, a gateway and trace logging
    # to the console (Authorization headers and bodies included). A fresh interpreter with such
    # a file, and the process-wide host pointed at a dead port, must still reach the client's
    # own host, quietly.
    home = tmp_path / "home"
    (home / ".genesyscloudpython").mkdir(parents=True)
    (home / ".genesyscloudpython" / "config").write_text(SDK_CONFIG)
    env = {**os.environ, "HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", SDK_CONFIG_RUN.format(import_sdk=import_sdk)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fetched 1 page(s) and 12 queues from http://127.0.0.1:" in done.stdout
    said = done.stdout + done.stderr
    for leak in ("Bearer", "Authorization", "Basic ", "simulator-secret", '"results"'):
        assert leak not in said, leak
    modules = int(done.stdout.split("sdk modules")[1])
    if import_sdk == IMPORTED_BY_THE_CLIENT:
        # The package's own __init__ imports ~6,750 modules; the client needs a few hundred.
        assert modules < 1000, modules
    else:
        assert modules > 5000, modules
