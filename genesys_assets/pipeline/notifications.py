"""Alerts from Dagster: a run that failed, a check that failed (messages and channels are in
`genesys_assets.alerts`).

- `genesys_run_failure_alerts`, Dagster's run failure sensor: one alert per failed run of this
  code location, naming its failed steps and their errors.
- `genesys_check_alerts`: one alert per finished run (succeeded, failed or canceled) whose check
  evaluations failed: ERROR ones, and WARN ones too with GENESYS_ALERT_CHECKS=all. A run that
  fails on a blocking check therefore sends both: the run's alert and the check's.

Both are defined whatever the environment, so that the UI lists them. They run by default once
a channel is configured (whoever set the webhook expects alerts, not a second switch in the
UI), and are stopped by default otherwise; switched on without a channel, each tick says so.

Why the check sensor follows finished runs, not the check evaluation events themselves: with
the project's own instance (`dagster.yaml`: SQLite, one database per run) event storage ids are
per run, and Dagster refuses a cross-run query for check evaluations after a storage id. Run
status changes are kept in one index on every storage, so their storage id is a cursor that
works everywhere, and a run's evaluations are all recorded by the time it has finished.

Delivery: each channel is tried 3 times over a few seconds (`alerts.Outbox`). The run failure
sensor raises when an alert was not delivered everywhere: Dagster then marks the tick failed,
with the reason, and does not repeat the alert. The check sensor moves its cursor past every
alert that reached at least one channel (sent again, it would reach that channel twice); an
alert that reached none fails the tick if it was the tick's first, and is tried again at the
next tick, so that an outage of the only channel delays alerts instead of losing them.
"""

import os
from collections.abc import Mapping, Sequence
from typing import Final

from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    EventLogRecord,
    RunFailureSensorContext,
    RunStatusChangeRecordsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)
from dagster_shared.error import SerializableErrorInfo

from genesys_assets import alerts
from genesys_assets.alerts import (
    NO_CHANNEL,
    Alert,
    AlertSettings,
    CheckFailure,
    Delivery,
    DeliveryError,
    Outbox,
    RunFacts,
    StepFailure,
)
from genesys_assets.pipeline.environment import SettingsError

RUN_SENSOR = "genesys_run_failure_alerts"
CHECK_SENSOR = "genesys_check_alerts"
_FINISHED: Final = (
    DagsterEventType.RUN_SUCCESS,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.RUN_CANCELED,
)
# Finished runs read per tick; more wait for the next tick (each may send an alert, and a tick
# has about a minute).
RUNS_PER_TICK = 20


def build_notification_sensors(env: Mapping[str, str] | None = None) -> list[SensorDefinition]:
    """The alert sensors; raises SettingsError, naming the variable, for settings that cannot
    work. Secrets are read from `env` (os.environ by default) when an alert is sent."""
    environ = os.environ if env is None else env
    try:
        settings = alerts.settings_from_env(environ)
    except alerts.AlertSettingsError as exc:
        raise SettingsError(str(exc)) from None
    return [_run_failure_sensor(settings, environ), _check_sensor(settings, environ)]


def _status(on: bool) -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if on else DefaultSensorStatus.STOPPED


def _to(settings: AlertSettings) -> str:
    return " and ".join(settings.channels)


def _run_failure_sensor(settings: AlertSettings, environ: Mapping[str, str]) -> SensorDefinition:
    @run_failure_sensor(
        name=RUN_SENSOR,
        default_status=_status(bool(settings.channels)),
        description=(
            f"Sends an alert for each failed run of this code location to {_to(settings)}: its "
            "job, org, days, failed steps and their errors."
            if settings.channels
            else f"Off: {NO_CHANNEL}."
        ),
    )
    def genesys_run_failure_alerts(context: RunFailureSensorContext) -> SkipReason | None:
        if not settings.channels:
            return SkipReason(NO_CHANNEL)
        run = context.dagster_run
        alert = alerts.run_failure_alert(
            _facts(run), _step_failures(context), settings.run_url(run.run_id)
        )
        failed = _send(context, Outbox(settings, environ, context.log), alert)
        if failed:
            raise DeliveryError(f"alert for failed run {run.run_id} {_not_delivered(failed)}")
        return None

    return genesys_run_failure_alerts


def _check_sensor(settings: AlertSettings, environ: Mapping[str, str]) -> SensorDefinition:
    on = bool(settings.channels) and settings.checks != "none"
    which = "failed checks of ERROR severity" if settings.checks == "errors" else "failed checks"
    if on:
        description = (
            f"Sends an alert for each finished run of this code location with {which} to "
            f"{_to(settings)}: each check, day, severity and what it found "
            f"({alerts.CHECKS}={settings.checks})."
        )
    elif settings.channels:
        description = f"Off: {alerts.CHECKS} is none."
    else:
        description = f"Off: {NO_CHANNEL}."

    @sensor(name=CHECK_SENSOR, default_status=_status(on), description=description)
    def genesys_check_alerts(context: SensorEvaluationContext) -> SensorResult:
        after = _cursor(context.cursor)
        if not on or after is None:
            # Keep the cursor at the present, so that switching alerts on later does not send
            # the failures of every run since.
            return SensorResult(
                skip_reason=description
                if not on
                else "Starting: alerts for check failures of the runs that finish from now on.",
                cursor=str(_latest(context.instance)),
            )
        outbox = Outbox(settings, environ, context.log)
        position, runs, sent, partly = after, 0, 0, 0
        for record in _finished_runs(context.instance, after):
            alert = _check_alert(context, record, settings)
            if alert is not None:
                failed = _send(context, outbox, alert)
                if len(failed) == len(settings.channels):
                    said = f"check alert for run {alert.fields['run_id']} {_not_delivered(failed)}"
                    if not sent:
                        # It reached no one, and nothing else has yet: fail the tick, visibly,
                        # with the cursor where it was, so that the next tick sends it again.
                        raise DeliveryError(f"{said}; the next tick tries again")
                    context.log.error(f"{said}; the next tick tries again")
                    break
                sent, partly = sent + 1, partly + bool(failed)
            position, runs = record.storage_id, runs + 1
        summary = f"{runs} runs finished since the last tick; {sent} check alerts sent"
        if partly:
            summary += f", {partly} of them NOT to every channel (see the tick's log)"
        return SensorResult(skip_reason=summary, cursor=str(position))

    return genesys_check_alerts


def _facts(run: DagsterRun) -> RunFacts:
    return RunFacts(run.run_id, run.job_name, run.tags)


def _error(info: SerializableErrorInfo | None) -> str | None:
    """The user's own error, not the Dagster wrapper around it ("Error occurred while
    executing op ...")."""
    if info is None:
        return None
    while info.cause is not None and (info.cls_name or "").startswith("Dagster"):
        info = info.cause
    return alerts.error_line(info.message)


def _step_failures(context: RunFailureSensorContext) -> list[StepFailure]:
    steps = [
        StepFailure(
            event.step_key, _error(event.step_failure_data.error) or event.message or "failed"
        )
        for event in context.get_step_failure_events()
    ]
    if steps:
        return steps
    # The run failed outside its steps: a worker that died, a run that timed out, ...
    event = context.failure_event
    data = event.event_specific_data
    error = _error(getattr(data, "error", None))
    return [StepFailure(None, error or alerts.first_line(event.message) or "the run failed")]


def _check_alert(
    context: SensorEvaluationContext, record: EventLogRecord, settings: AlertSettings
) -> Alert | None:
    """The alert for a finished run of this code location whose checks failed, if any."""
    run = context.instance.get_run_by_id(record.event_log_entry.run_id)
    if run is None or not _in_this_location(context, run):
        return None
    failures = _check_failures(context.instance, run.run_id, settings.checks)
    if not failures:
        return None
    return alerts.check_failure_alert(_facts(run), failures, settings.run_url(run.run_id))


def _check_failures(instance: DagsterInstance, run_id: str, mode: str) -> list[CheckFailure]:
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    found = []
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if not isinstance(evaluation, AssetCheckEvaluation) or evaluation.passed:
            continue
        severity = evaluation.severity.value
        if mode == "errors" and severity != "ERROR":
            continue
        found.append(
            CheckFailure(
                asset_key=evaluation.asset_key.to_user_string(),
                check_name=evaluation.check_name,
                partition=evaluation.partition,
                severity=severity,
                description=evaluation.description,
                blocking=evaluation.blocking,
            )
        )
    return found


def _cursor(raw: str | None) -> int | None:
    return int(raw) if raw and raw.lstrip("-").isdigit() else None


def _latest(instance: DagsterInstance) -> int:
    found = [
        record.storage_id
        for event_type in _FINISHED
        for record in instance.fetch_run_status_changes(event_type, limit=1).records
    ]
    return max(found, default=-1)


def _finished_runs(instance: DagsterInstance, after: int) -> list[EventLogRecord]:
    """The runs that finished after the cursor, in order. Each status is read separately; when
    one has more than a tick's worth, the others are cut where it stops, so that no run falls
    behind the new cursor unread."""
    found: list[EventLogRecord] = []
    complete_until: int | None = None
    for event_type in _FINISHED:
        result = instance.fetch_run_status_changes(
            RunStatusChangeRecordsFilter(event_type, after_storage_id=after),
            limit=RUNS_PER_TICK,
            ascending=True,
        )
        found.extend(result.records)
        if result.has_more:
            last = result.records[-1].storage_id
            complete_until = last if complete_until is None else min(complete_until, last)
    return sorted(
        (r for r in found if complete_until is None or r.storage_id <= complete_until),
        key=lambda r: r.storage_id,
    )


def _in_this_location(context: SensorEvaluationContext, run: DagsterRun) -> bool:
    """The rule of Dagster's own run failure sensor: a run of this code location (in a test,
    neither has one)."""
    here = context.code_location_origin
    origin = run.remote_job_origin
    return (here.location_name if here else None, context.repository_name) == (
        (origin.repository_origin.code_location_origin.location_name if origin else None),
        (origin.repository_origin.repository_name if origin else None),
    )


def _send(
    context: SensorEvaluationContext | RunFailureSensorContext, outbox: Outbox, alert: Alert
) -> list[Delivery]:
    """Sends to every channel, says so in the tick's log, returns the deliveries that failed."""
    failed = []
    for delivery in outbox.send(alert):
        if delivery.error:
            context.log.error(
                f"{delivery.channel}: NOT delivered '{alert.subject}': {delivery.error}"
            )
            failed.append(delivery)
        else:
            context.log.info(f"{delivery.channel}: sent '{alert.subject}'")
    return failed


def _not_delivered(missed: Sequence[Delivery]) -> str:
    return "not delivered to " + "; ".join(f"{d.channel}: {d.error}" for d in missed)
