"""Failure alerts end to end: real runs on a real Dagster instance, the sensors evaluated as the
daemon would, a webhook and an SMTP server on loopback receiving what they send."""

import json
import logging
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_string
from email.message import EmailMessage
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterInstance,
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    Failure,
    RunStatusSensorDefinition,
    SensorDefinition,
    SensorResult,
    SkipReason,
    asset,
    asset_check,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from genesys_assets.alerts import Alert, DeliveryError, Outbox, settings_from_env
from genesys_assets.pipeline.environment import SettingsError
from genesys_assets.pipeline.notifications import (
    CHECK_SENSOR,
    RUN_SENSOR,
    build_notification_sensors,
)

SECRET = "s3cr3t-t0ken-9f8e7d"
HOOK_PATH = f"/services/T0001/B0002/{SECRET}"
DAY = "2024-11-01"
ORG = "acme-prod"

# The instance as the project's dagster.yaml has it (SQLite, one event database per run: storage
# ids are not global), and one with a single event table, as PostgreSQL has it.
PROJECT_INSTANCE = "storage:\n  sqlite:\n    base_dir: {root}\ntelemetry:\n  enabled: false\n"
CONSOLIDATED_INSTANCE = """
run_storage:
  module: dagster._core.storage.runs
  class: SqliteRunStorage
  config: {{base_dir: {root}/runs}}
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config: {{base_dir: {root}/events}}
schedule_storage:
  module: dagster._core.storage.schedules
  class: SqliteScheduleStorage
  config: {{base_dir: {root}/schedules}}
telemetry:
  enabled: false
"""


# A webhook on loopback --------------------------------------------------------------------------


@dataclass
class Webhook:
    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    # Status codes to answer with, in turn; 200 once they run out.
    answers: list[int] = field(default_factory=list)
    retry_after: str | None = None  # sent with every error


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Webhook]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.raw.append(body)
            hook.paths.append(self.path)
            status = hook.answers.pop(0) if hook.answers else 200
            if status == 200:
                hook.posts.append(json.loads(body))
            self.send_response(status)
            if status != 200 and hook.retry_after is not None:
                self.send_header("Retry-After", hook.retry_after)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}{HOOK_PATH}"
    yield hook
    server.shutdown()
    server.server_close()


# An SMTP server on loopback, speaking just enough SMTP for smtplib -----------------------------


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: str

    @property
    def subject(self) -> str:
        return str(message_from_string(self.data, policy=default)["Subject"])

    @property
    def body(self) -> str:
        message = message_from_string(self.data, policy=default)
        assert isinstance(message, EmailMessage)
        return str(message.get_content())


class SmtpReceiver(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mails: list[Mail]


class SmtpHandler(socketserver.StreamRequestHandler):
    server: SmtpReceiver

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 test ESMTP")
        sender, recipients = "", list[str]()
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 test")  # no extensions: no STARTTLS, no AUTH
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip(" <>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go ahead")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data.decode())
                self.server.mails.append(Mail(sender, recipients, "".join(lines)))
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            else:
                self.reply("502 not implemented")


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(("127.0.0.1", 0), SmtpHandler)
    server.mails = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def smtp_env(server: SmtpReceiver, **extra: str) -> dict[str, str]:
    return {
        "GENESYS_ALERT_SMTP_HOST": "127.0.0.1",
        "GENESYS_ALERT_SMTP_PORT": str(server.server_address[1]),
        "GENESYS_ALERT_SMTP_FROM": "dagster@example.com",
        "GENESYS_ALERT_EMAIL_TO": "ops@example.com, lead@example.com",
        **extra,
    }


# Real runs on a real instance ------------------------------------------------------------------


# One instance per module: a sensor starts from the present, so earlier tests' runs are history
# to it, as they would be in production.
@pytest.fixture(scope="module", params=["project", "consolidated"])
def instance(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DagsterInstance]:
    layout = PROJECT_INSTANCE if request.param == "project" else CONSOLIDATED_INSTANCE
    root = tmp_path_factory.mktemp(request.param)
    (root / "dagster.yaml").write_text(layout.format(root=root / "storage"))
    with DagsterInstance.from_config(str(root)) as instance:
        yield instance


@pytest.fixture(scope="module")
def project_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterInstance]:
    root = tmp_path_factory.mktemp("project")
    (root / "dagster.yaml").write_text(PROJECT_INSTANCE.format(root=root / "storage"))
    with DagsterInstance.from_config(str(root)) as instance:
        yield instance


days = DailyPartitionsDefinition(start_date="2024-10-01")


@asset(partitions_def=days)
def queue_performance() -> None:
    pass


@asset(partitions_def=days)
def agent_status() -> None:
    raise Failure("agent_status: fetching and flattening 2024-11-01: gave up after 8 attempts")


@asset_check(asset=queue_performance, blocking=True, partitions_def=days)
def row_count_parity() -> AssetCheckResult:
    return AssetCheckResult(
        passed=False, description="warehouse has 10 rows for 2024-11-01, the staged file 12"
    )


@asset_check(asset=queue_performance, partitions_def=days)
def source_parity() -> AssetCheckResult:
    return AssetCheckResult(
        passed=False,
        severity=AssetCheckSeverity.WARN,
        description="tHandle count 1042 in Genesys vs 1010 (still settling)",
    )


@asset_check(asset=queue_performance, partitions_def=days)
def ids_resolve() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


def run(instance: DagsterInstance, *defs: Any) -> Any:
    return materialize(
        list(defs),
        instance=instance,
        partition_key=DAY,
        tags={"genesys/org": ORG},
        raise_on_error=False,
    )


def sensors(env: dict[str, str]) -> tuple[RunStatusSensorDefinition, SensorDefinition]:
    built = {s.name: s for s in build_notification_sensors(env)}
    run_sensor = built[RUN_SENSOR]
    assert isinstance(run_sensor, RunStatusSensorDefinition)
    return run_sensor, built[CHECK_SENSOR]


def on_failure(sensor: RunStatusSensorDefinition, instance: DagsterInstance, result: Any) -> Any:
    """One evaluation of the run failure sensor for the run, as the daemon makes it."""
    context = build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()
    return sensor(context)


def tick(sensor: SensorDefinition, instance: DagsterInstance, cursor: str | None) -> SensorResult:
    result = sensor(build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, SensorResult)
    return result


def skip_text(result: SensorResult) -> str:
    assert isinstance(result.skip_reason, SkipReason)
    return result.skip_reason.skip_message or ""


def assert_no_secret(instance: DagsterInstance, *texts: str) -> None:
    for text in texts:
        assert SECRET not in text
    for found in instance.get_runs():
        for entry in instance.all_logs(found.run_id):
            assert SECRET not in repr(entry)


# Run failures ----------------------------------------------------------------------------------


def test_run_failure_reaches_the_webhook_with_its_job_step_and_error(
    webhook: Webhook, instance: DagsterInstance, capfd: pytest.CaptureFixture[str]
) -> None:
    env = {"GENESYS_ALERT_WEBHOOK_URL": webhook.url, "GENESYS_UI_URL": "https://dagster.example/"}
    run_sensor, _ = sensors(env)
    assert run_sensor.default_status == DefaultSensorStatus.RUNNING
    failed = run(instance, agent_status)
    assert not failed.success

    assert on_failure(run_sensor, instance, failed) is None

    [post] = webhook.posts
    assert webhook.paths == [HOOK_PATH]
    run_id = failed.run_id
    assert post["event"] == "run_failure"
    assert post["run_id"] == run_id
    assert post["job"] == "__ephemeral_asset_job__"
    assert post["org"] == ORG
    assert post["partition"] == DAY
    assert post["step"] == "agent_status"
    assert post["error"] == (
        "Failure: agent_status: fetching and flattening 2024-11-01: gave up after 8 attempts"
    )
    assert post["run_url"] == f"https://dagster.example/runs/{run_id}"
    assert post["text"].splitlines() == [
        f"Run failed: __ephemeral_asset_job__ (org {ORG}, {DAY})",
        "Step agent_status: Failure: agent_status: fetching and flattening 2024-11-01: gave up "
        "after 8 attempts",
        f"Run {run_id}: https://dagster.example/runs/{run_id}",
    ]
    logs = capfd.readouterr()
    assert "webhook (127.0.0.1): sent 'Run failed: __ephemeral_asset_job__" in logs.err
    assert_no_secret(instance, logs.out, logs.err, run_sensor.description or "")


def test_a_slack_webhook_gets_only_the_text_slack_documents(
    webhook: Webhook, project_instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loopback server as the HTTP proxy: the request names hooks.slack.com, and nothing
    # leaves the machine.
    monkeypatch.setenv("http_proxy", webhook.url.split("/services")[0])
    slack = f"http://hooks.slack.com{HOOK_PATH}"
    run_sensor, _ = sensors({"GENESYS_ALERT_WEBHOOK_URL": slack})
    failed = run(project_instance, agent_status)

    on_failure(run_sensor, project_instance, failed)

    [post] = webhook.posts
    assert webhook.paths == [slack]
    assert list(post) == ["text"]
    assert post["text"].startswith(f"Run failed: __ephemeral_asset_job__ (org {ORG}, {DAY})")


def test_run_failure_by_email(smtp: SmtpReceiver, project_instance: DagsterInstance) -> None:
    run_sensor, _ = sensors(smtp_env(smtp))
    failed = run(project_instance, agent_status)

    on_failure(run_sensor, project_instance, failed)

    [mail] = smtp.mails
    assert mail.sender == "dagster@example.com"
    assert mail.recipients == ["ops@example.com", "lead@example.com"]
    assert mail.subject == (
        f"[genesys_assets] Run failed: __ephemeral_asset_job__ (org {ORG}, {DAY})"
    )
    assert mail.body.splitlines() == [
        "Step agent_status: Failure: agent_status: fetching and flattening 2024-11-01: gave up "
        "after 8 attempts",
        f"Run {failed.run_id}",
    ]


def test_a_webhook_that_answers_500_is_retried_then_the_tick_fails_saying_why(
    webhook: Webhook,
    smtp: SmtpReceiver,
    project_instance: DagsterInstance,
    capfd: pytest.CaptureFixture[str],
) -> None:
    webhook.answers = [500, 500, 500]
    run_sensor, _ = sensors({"GENESYS_ALERT_WEBHOOK_URL": webhook.url, **smtp_env(smtp)})
    started = run_sensor.evaluate_tick(build_sensor_context(instance=project_instance))
    failed = run(project_instance, agent_status)

    # Evaluated as the daemon does: the error is the tick's (Dagster marks the tick failed, with
    # it), and the cursor moves on.
    ticked = run_sensor.evaluate_tick(
        build_sensor_context(instance=project_instance, cursor=started.cursor)
    )

    [reaction] = ticked.dagster_run_reactions or []
    assert reaction.error is not None and reaction.error.cause is None
    assert reaction.error.message == (
        f"genesys_assets.alerts.DeliveryError: alert for failed run {failed.run_id} not "
        "delivered to webhook (127.0.0.1): HTTP 500 (no) (gave up after 3 attempts)\n"
    )
    assert len(webhook.raw) == 3
    # The other channel got it, and does not get it again at the next tick.
    assert len(smtp.mails) == 1
    again = run_sensor.evaluate_tick(
        build_sensor_context(instance=project_instance, cursor=ticked.cursor)
    )
    assert not again.dagster_run_reactions
    assert len(webhook.raw) == 3 and len(smtp.mails) == 1
    logs = capfd.readouterr()
    assert "webhook (127.0.0.1): HTTP 500 (no), attempt 1 of 3; trying again in 1 s" in logs.err
    assert "webhook (127.0.0.1): NOT delivered 'Run failed:" in logs.err
    assert "e-mail (127.0.0.1): sent 'Run failed:" in logs.err
    assert_no_secret(project_instance, logs.out, logs.err, repr(reaction.error))


def test_a_webhook_that_does_not_answer_times_out() -> None:
    # Listening, never answering: the request waits for its timeout, every attempt.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}{HOOK_PATH}"
        env = {"GENESYS_ALERT_WEBHOOK_URL": url}
        outbox = Outbox(settings_from_env(env), env, logging.getLogger("test"), (0, 0), 0.2)
        [delivery] = outbox.send(Alert("Run failed: x", ("Step y: z",)))
    assert delivery.error is not None
    assert delivery.error.endswith("timed out (gave up after 3 attempts)")
    assert SECRET not in delivery.error


def test_the_error_shown_is_the_users_not_dagsters_wrapper(
    webhook: Webhook, project_instance: DagsterInstance
) -> None:
    @asset(partitions_def=days)
    def agent_performance() -> None:
        raise ValueError("queue q-1 has no name\nsecond line")

    run_sensor, _ = sensors({"GENESYS_ALERT_WEBHOOK_URL": webhook.url})
    on_failure(run_sensor, project_instance, run(project_instance, agent_performance))

    [post] = webhook.posts
    assert post["steps"] == [
        {"step": "agent_performance", "error": "ValueError: queue q-1 has no name"}
    ]


def test_a_server_without_starttls_is_refused_when_starttls_is_asked(
    smtp: SmtpReceiver, project_instance: DagsterInstance
) -> None:
    env = smtp_env(
        smtp,
        GENESYS_ALERT_SMTP_STARTTLS="yes",
        GENESYS_ALERT_SMTP_USER="dagster",
        GENESYS_ALERT_SMTP_PASSWORD="hunter2-password",
    )
    run_sensor, _ = sensors(env)
    failed = run(project_instance, agent_status)

    with pytest.raises(DeliveryError, match=r"e-mail \(127.0.0.1\): SMTPNotSupportedError"):
        on_failure(run_sensor, project_instance, failed)
    assert smtp.mails == []


# Check failures --------------------------------------------------------------------------------


def test_a_failed_check_is_sent_once(webhook: Webhook, instance: DagsterInstance) -> None:
    _, check_sensor = sensors({"GENESYS_ALERT_WEBHOOK_URL": webhook.url})
    assert check_sensor.default_status == DefaultSensorStatus.RUNNING
    # Failures from before the sensor started are history, not news.
    run(instance, queue_performance, row_count_parity)
    started = tick(check_sensor, instance, None)
    assert "Starting" in skip_text(started)
    assert webhook.raw == []

    failed = run(instance, queue_performance, row_count_parity, source_parity, ids_resolve)
    assert not failed.success  # the blocking check failed the run
    first = tick(check_sensor, instance, started.cursor)

    [post] = webhook.posts
    assert post["event"] == "asset_check_failure"
    assert post["run_id"] == failed.run_id
    assert post["org"] == ORG
    assert post["severity"] == "ERROR"
    # GENESYS_ALERT_CHECKS defaults to errors: the WARN evaluation is left out.
    assert post["checks"] == [
        {
            "asset_key": "queue_performance",
            "check_name": "row_count_parity",
            "partition": DAY,
            "severity": "ERROR",
            "description": "warehouse has 10 rows for 2024-11-01, the staged file 12",
            "blocking": True,
        }
    ]
    assert post["text"].splitlines()[:2] == [
        f"Check failed: queue_performance row_count_parity in __ephemeral_asset_job__ "
        f"(org {ORG}, {DAY})",
        f"ERROR queue_performance row_count_parity on {DAY}: warehouse has 10 rows for "
        "2024-11-01, the staged file 12",
    ]
    assert skip_text(first) == "1 runs finished since the last tick; 1 check alerts sent"

    second = tick(check_sensor, instance, first.cursor)
    assert len(webhook.raw) == 1
    assert second.cursor == first.cursor
    assert skip_text(second) == "0 runs finished since the last tick; 0 check alerts sent"


def test_warnings_are_sent_only_when_asked(
    webhook: Webhook, project_instance: DagsterInstance
) -> None:
    _, errors_only = sensors({"GENESYS_ALERT_WEBHOOK_URL": webhook.url})
    _, everything = sensors(
        {"GENESYS_ALERT_WEBHOOK_URL": webhook.url, "GENESYS_ALERT_CHECKS": "all"}
    )
    start = tick(errors_only, project_instance, None).cursor
    warned = run(project_instance, queue_performance, source_parity)
    assert warned.success  # a WARN fails nothing

    tick(errors_only, project_instance, start)
    assert webhook.raw == []

    tick(everything, project_instance, start)
    [post] = webhook.posts
    assert post["severity"] == "WARN"
    assert post["checks"][0]["check_name"] == "source_parity"
    assert post["text"].startswith("Check warning: queue_performance source_parity")


def test_an_undelivered_check_alert_fails_the_tick_and_is_sent_at_the_next(
    webhook: Webhook, project_instance: DagsterInstance, capfd: pytest.CaptureFixture[str]
) -> None:
    # Retry-After: 0, which the sender follows, keeps the test short.
    webhook.answers, webhook.retry_after = [503, 503, 503], "0"
    _, check_sensor = sensors({"GENESYS_ALERT_WEBHOOK_URL": webhook.url})
    start = tick(check_sensor, project_instance, None).cursor
    failed = run(project_instance, queue_performance, row_count_parity)

    with pytest.raises(DeliveryError, match=r"HTTP 503 .* the next tick tries again") as raised:
        tick(check_sensor, project_instance, start)
    assert webhook.posts == []

    # The cursor did not move (the tick failed): the next tick sends it.
    after = tick(check_sensor, project_instance, start)
    [post] = webhook.posts
    assert post["run_id"] == failed.run_id
    assert tick(check_sensor, project_instance, after.cursor).cursor == after.cursor
    assert len(webhook.posts) == 1
    logs = capfd.readouterr()
    assert_no_secret(project_instance, logs.out, logs.err, repr(raised.value))


def test_a_check_alert_that_reached_one_channel_is_not_sent_again(
    webhook: Webhook, smtp: SmtpReceiver, project_instance: DagsterInstance
) -> None:
    webhook.answers, webhook.retry_after = [500, 500, 500], "0"
    _, check_sensor = sensors({"GENESYS_ALERT_WEBHOOK_URL": webhook.url, **smtp_env(smtp)})
    start = tick(check_sensor, project_instance, None).cursor
    run(project_instance, queue_performance, row_count_parity)

    first = tick(check_sensor, project_instance, start)
    assert skip_text(first) == (
        "1 runs finished since the last tick; 1 check alerts sent, 1 of them NOT to every "
        "channel (see the tick's log)"
    )
    second = tick(check_sensor, project_instance, first.cursor)
    assert second.cursor == first.cursor
    assert len(smtp.mails) == 1 and len(webhook.raw) == 3


def test_check_alerts_by_email(smtp: SmtpReceiver, project_instance: DagsterInstance) -> None:
    _, check_sensor = sensors(smtp_env(smtp))
    start = tick(check_sensor, project_instance, None).cursor
    run(project_instance, queue_performance, row_count_parity)

    tick(check_sensor, project_instance, start)

    [mail] = smtp.mails
    assert mail.subject.startswith(
        "[genesys_assets] Check failed: queue_performance row_count_parity in "
    )
    assert mail.body.splitlines()[0] == (
        f"ERROR queue_performance row_count_parity on {DAY}: warehouse has 10 rows for "
        "2024-11-01, the staged file 12"
    )


# Settings --------------------------------------------------------------------------------------


def test_nothing_configured_defines_the_sensors_stopped_and_each_tick_says_why(
    project_instance: DagsterInstance,
) -> None:
    run_sensor, check_sensor = sensors({})
    assert run_sensor.default_status == DefaultSensorStatus.STOPPED
    assert check_sensor.default_status == DefaultSensorStatus.STOPPED
    failed = run(project_instance, agent_status)

    skipped = on_failure(run_sensor, project_instance, failed)
    assert isinstance(skipped, SkipReason)
    assert "no alert channel is configured: set GENESYS_ALERT_WEBHOOK_URL" in (
        skipped.skip_message or ""
    )
    assert "no alert channel is configured" in skip_text(tick(check_sensor, project_instance, "7"))


def test_checks_none_keeps_the_check_sensor_off(webhook: Webhook) -> None:
    _, check_sensor = sensors(
        {"GENESYS_ALERT_WEBHOOK_URL": webhook.url, "GENESYS_ALERT_CHECKS": "none"}
    )
    assert check_sensor.default_status == DefaultSensorStatus.STOPPED
    assert "GENESYS_ALERT_CHECKS is none" in (check_sensor.description or "")


HOOK = f"https://hooks.slack.com{HOOK_PATH}"


def smtp_env_values() -> dict[str, str]:
    return {
        "GENESYS_ALERT_SMTP_HOST": "smtp.example.com",
        "GENESYS_ALERT_SMTP_FROM": "dagster@example.com",
        "GENESYS_ALERT_EMAIL_TO": "ops@example.com",
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"GENESYS_ALERT_WEBHOOK_URL": f"https://bot:{SECRET}@hooks.example.com/x"},
            "GENESYS_ALERT_WEBHOOK_URL must not carry a user or password",
        ),
        (
            {"GENESYS_ALERT_WEBHOOK_URL": f"ftp://hooks.example.com{HOOK_PATH}"},
            "GENESYS_ALERT_WEBHOOK_URL must be an http(s) URL",
        ),
        (
            {"GENESYS_ALERT_WEBHOOK_URL": f"https://hooks.example.com:99999{HOOK_PATH}"},
            "GENESYS_ALERT_WEBHOOK_URL must be an http(s) URL; its host or port",
        ),
        (
            {"GENESYS_ALERT_WEBHOOK_URL": HOOK, "GENESYS_ALERT_CHECKS": "warnings"},
            "GENESYS_ALERT_CHECKS must be all, errors or none, got 'warnings'",
        ),
        (
            {"GENESYS_ALERT_WEBHOOK_URL": HOOK, "GENESYS_UI_URL": "https://ui.example?x=1"},
            "GENESYS_UI_URL must be the Dagster UI's base URL",
        ),
        (
            {"GENESYS_ALERT_SMTP_HOST": "smtp.example.com"},
            "GENESYS_ALERT_SMTP_HOST is set, so set GENESYS_ALERT_SMTP_FROM and "
            "GENESYS_ALERT_EMAIL_TO",
        ),
        (
            {"GENESYS_ALERT_EMAIL_TO": "ops@example.com"},
            "GENESYS_ALERT_EMAIL_TO set, so set GENESYS_ALERT_SMTP_HOST too",
        ),
        (
            {**smtp_env_values(), "GENESYS_ALERT_EMAIL_TO": "ops@example.com, nobody"},
            "GENESYS_ALERT_EMAIL_TO must be e-mail addresses such as ops@example.com, "
            "comma-separated, got 'nobody'",
        ),
        (
            {**smtp_env_values(), "GENESYS_ALERT_SMTP_PORT": "70000"},
            "GENESYS_ALERT_SMTP_PORT must be a port number (1-65535), got '70000'",
        ),
        (
            {**smtp_env_values(), "GENESYS_ALERT_SMTP_HOST": "smtp.example.com:587"},
            "GENESYS_ALERT_SMTP_HOST must be a bare host name",
        ),
        (
            {
                **smtp_env_values(),
                "GENESYS_ALERT_SMTP_USER": "dagster",
                "GENESYS_ALERT_SMTP_PASSWORD": SECRET,
            },
            "GENESYS_ALERT_SMTP_USER is set, so set GENESYS_ALERT_SMTP_STARTTLS=yes",
        ),
        (
            {**smtp_env_values(), "GENESYS_ALERT_SMTP_PASSWORD": SECRET},
            "set both GENESYS_ALERT_SMTP_USER and GENESYS_ALERT_SMTP_PASSWORD, or neither",
        ),
        (
            {**smtp_env_values(), "GENESYS_ALERT_SMTP_STARTTLS": "maybe"},
            "GENESYS_ALERT_SMTP_STARTTLS must be one of",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        build_notification_sensors(env)
    assert message in str(refused.value)
    assert SECRET not in str(refused.value)
    # What Dagster shows: the message, not a chained original that could carry a value.
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_descriptions_name_the_channels_not_the_secret() -> None:
    env = {
        "GENESYS_ALERT_WEBHOOK_URL": HOOK,
        **smtp_env_values(),
        "GENESYS_ALERT_SMTP_STARTTLS": "yes",
        "GENESYS_ALERT_SMTP_USER": "dagster",
        "GENESYS_ALERT_SMTP_PASSWORD": "hunter2-password",
    }
    for sensor in build_notification_sensors(env):
        described = f"{sensor.description} {sensor.metadata} {sensor.tags}"
        assert "webhook (hooks.slack.com) and e-mail (smtp.example.com)" in described
        assert SECRET not in described and "hunter2" not in described
