"""Failure alerts: what they say, and sending them to a webhook and by e-mail.

Pure Python (no Dagster): the sensors in `genesys_assets.pipeline.notifications` turn runs and
check evaluations into `Alert`s and hand them to an `Outbox`.

Channels, both optional, both used when both are set:
- a webhook (GENESYS_ALERT_WEBHOOK_URL): a Slack incoming webhook gets {"text": ...}, exactly
  what Slack documents; any other URL gets the same text plus the alert's structured fields at
  the top level of the JSON body, for a relay or an incident tool to route on;
- e-mail over SMTP (GENESYS_ALERT_SMTP_*, GENESYS_ALERT_EMAIL_TO), STARTTLS when asked.

The webhook URL is a secret (whoever has a Slack webhook URL can post to the channel), and so is
the SMTP password: both are read from the environment when a message is sent, and no log line,
message or exception names them; a webhook is only ever shown by its host.
"""

import json
import logging
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

WEBHOOK_URL = "GENESYS_ALERT_WEBHOOK_URL"
CHECKS = "GENESYS_ALERT_CHECKS"
UI_URL = "GENESYS_UI_URL"
SMTP_HOST = "GENESYS_ALERT_SMTP_HOST"
SMTP_PORT = "GENESYS_ALERT_SMTP_PORT"
SMTP_USER = "GENESYS_ALERT_SMTP_USER"
SMTP_PASSWORD = "GENESYS_ALERT_SMTP_PASSWORD"
SMTP_FROM = "GENESYS_ALERT_SMTP_FROM"
SMTP_STARTTLS = "GENESYS_ALERT_SMTP_STARTTLS"
EMAIL_TO = "GENESYS_ALERT_EMAIL_TO"

ORG_TAG = "genesys/org"
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

CheckMode = Literal["all", "errors", "none"]
_CHECK_MODES: tuple[CheckMode, ...] = ("all", "errors", "none")
_SLACK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")

TIMEOUT_S = 10.0
# 3 attempts, brief on purpose: a sensor tick has about a minute in all, and a channel that is
# down for longer than a few seconds is reported rather than waited for.
RETRY_WAITS_S = (1.0, 2.0)
MAX_RETRY_AFTER_S = 5.0
# What a chat message or an e-mail body shows; the structured fields carry the rest.
MAX_LINES = 12
MAX_LINE = 300
# A range run of 90 days with every check failing stays a reasonable request body.
MAX_CHECK_FIELDS = 100


class AlertSettingsError(ValueError):
    """Alert settings that cannot work; the message names the variable, never a secret."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None
    starttls: bool


@dataclass(frozen=True)
class AlertSettings:
    """What the environment asks for, without its secrets (see `Outbox`)."""

    webhook_host: str | None = None
    webhook_is_slack: bool = False
    smtp: SmtpSettings | None = None
    checks: CheckMode = "errors"
    ui_url: str | None = None

    @property
    def channels(self) -> list[str]:
        """The configured channels, as logs and the sensors' descriptions name them."""
        found = []
        if self.webhook_host:
            found.append(f"webhook ({self.webhook_host})")
        if self.smtp:
            found.append(f"e-mail ({self.smtp.host})")
        return found

    def run_url(self, run_id: str) -> str | None:
        return f"{self.ui_url}/runs/{run_id}" if self.ui_url else None


NO_CHANNEL = (
    f"no alert channel is configured: set {WEBHOOK_URL} (a Slack incoming webhook or any URL "
    f"that takes a JSON POST) and/or {SMTP_HOST}, {SMTP_FROM} and {EMAIL_TO}"
)


def settings_from_env(env: Mapping[str, str]) -> AlertSettings:
    webhook = _webhook(env)
    checks = (env.get(CHECKS) or "errors").strip().lower()
    if checks not in _CHECK_MODES:
        raise AlertSettingsError(
            f"{CHECKS} must be all, errors or none, got '{env[CHECKS]}' (errors: failed ERROR "
            "checks only; all: warnings too)"
        )
    return AlertSettings(
        webhook_host=webhook,
        webhook_is_slack=webhook in _SLACK_HOSTS,
        smtp=_smtp(env),
        checks=checks,
        ui_url=_ui_url(env),
    )


def _webhook(env: Mapping[str, str]) -> str | None:
    """The webhook's host. The messages never repeat the value: it is the secret itself."""
    raw = (env.get(WEBHOOK_URL) or "").strip()
    if not raw:
        return None
    parts = _split(WEBHOOK_URL, raw)
    # A query string is allowed: some chat tools put their key there.
    if parts.fragment:
        raise AlertSettingsError(f"{WEBHOOK_URL} must not have a fragment (the '#...' part)")
    return parts.hostname


def _ui_url(env: Mapping[str, str]) -> str | None:
    raw = (env.get(UI_URL) or "").strip()
    if not raw:
        return None
    parts = _split(UI_URL, raw)
    if parts.query or parts.fragment:
        raise AlertSettingsError(
            f"{UI_URL} must be the Dagster UI's base URL, such as https://dagster.example.com, "
            "without a query string or fragment"
        )
    return raw.rstrip("/")


def _split(name: str, raw: str) -> SplitResult:
    # Only the authority can hold a user or password, even in a URL too broken for urlsplit.
    if "@" in re.split(r"[/?#]", raw.split("://", 1)[-1], maxsplit=1)[0]:
        raise AlertSettingsError(
            f"{name} must not carry a user or password (the '...@' part): a URL with "
            "credentials is refused"
        )
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises on a port that is not a number up to 65535)
    except ValueError:
        raise AlertSettingsError(
            f"{name} must be an http(s) URL; its host or port cannot be read"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AlertSettingsError(f"{name} must be an http(s) URL such as https://host/path")
    return parts


def _smtp(env: Mapping[str, str]) -> SmtpSettings | None:
    host = (env.get(SMTP_HOST) or "").strip()
    to = [a.strip() for a in (env.get(EMAIL_TO) or "").split(",") if a.strip()]
    if not host:
        named = [n for n in (EMAIL_TO, SMTP_FROM, SMTP_USER, SMTP_PASSWORD) if env.get(n)]
        if named:
            raise AlertSettingsError(f"{', '.join(named)} set, so set {SMTP_HOST} too")
        return None
    if any(c in host for c in "/:@ ") or not host.isprintable():
        raise AlertSettingsError(
            f"{SMTP_HOST} must be a bare host name such as smtp.example.com (the port goes in "
            f"{SMTP_PORT})"
        )
    missing = [n for n, v in ((SMTP_FROM, env.get(SMTP_FROM)), (EMAIL_TO, to)) if not v]
    if missing:
        raise AlertSettingsError(f"{SMTP_HOST} is set, so set {' and '.join(missing)}")
    sender = (env.get(SMTP_FROM) or "").strip()
    for name, address in [(SMTP_FROM, sender), *((EMAIL_TO, a) for a in to)]:
        # CR or LF in an address would let it write headers of its own.
        if not address.isprintable() or "@" not in parseaddr(address)[1]:
            raise AlertSettingsError(
                f"{name} must be e-mail addresses such as ops@example.com"
                + (", comma-separated" if name == EMAIL_TO else "")
                + f", got '{address}'"
            )
    starttls = _flag(env, SMTP_STARTTLS)
    user = (env.get(SMTP_USER) or "").strip() or None
    if bool(user) != bool(env.get(SMTP_PASSWORD)):
        raise AlertSettingsError(f"set both {SMTP_USER} and {SMTP_PASSWORD}, or neither")
    if user and not starttls:
        raise AlertSettingsError(
            f"{SMTP_USER} is set, so set {SMTP_STARTTLS}=yes: the password is never sent over "
            "an unencrypted connection"
        )
    return SmtpSettings(host, _port(env, starttls), sender, tuple(to), user, starttls)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in _TRUE or raw in _FALSE:
        return raw in _TRUE
    raise AlertSettingsError(f"{name} must be one of {', '.join(_TRUE + _FALSE[1:])}")


def _port(env: Mapping[str, str], starttls: bool) -> int:
    raw = (env.get(SMTP_PORT) or "").strip()
    if not raw:
        return 587 if starttls else 25
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 65535:
        raise AlertSettingsError(f"{SMTP_PORT} must be a port number (1-65535), got '{raw}'")
    return int(raw)


# What an alert says ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    job: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class StepFailure:
    step: str | None  # None: the run failed outside any step (e.g. its worker died)
    error: str


@dataclass(frozen=True)
class CheckFailure:
    asset_key: str
    check_name: str
    partition: str | None
    severity: str  # ERROR or WARN, as Dagster names them
    description: str | None
    blocking: bool | None


@dataclass(frozen=True)
class Alert:
    subject: str  # one line: the e-mail subject, the chat message's first line
    lines: tuple[str, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join((self.subject, *self.lines))


def first_line(text: str | None) -> str:
    return _clip(next((part.strip() for part in (text or "").splitlines() if part.strip()), ""))


def error_line(message: str | None) -> str:
    """An error's first line as people read it: `Failure: ...`, without the class's module
    path that Dagster's record of an error starts with."""
    return re.sub(r"^(?:[a-z_]\w*\.)+(?=[A-Z]\w*: )", "", first_line(message))


def _clip(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scope(run: RunFacts) -> tuple[str, dict[str, Any]]:
    """Where the run fits (org, days) in a few words, and as fields."""
    tags = run.tags
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    fields = {
        "run_id": run.run_id,
        "job": run.job,
        "org": tags.get(ORG_TAG),
        "partition": tags.get(PARTITION_TAG),
        "partition_range_start": start,
        "partition_range_end": end,
    }
    words = [f"org {fields['org']}"] if fields["org"] else []
    if start and end:
        words.append(start if start == end else f"{start}...{end}")
    elif fields["partition"]:
        words.append(str(fields["partition"]))
    return (f" ({', '.join(words)})" if words else ""), fields


def _footer(run: RunFacts, url: str | None) -> str:
    return f"Run {run.run_id}: {url}" if url else f"Run {run.run_id}"


def run_failure_alert(run: RunFacts, steps: Sequence[StepFailure], url: str | None) -> Alert:
    scope, fields = _scope(run)
    lines = [
        f"Step {step.step}: {step.error}" if step.step else step.error for step in steps[:MAX_LINES]
    ]
    if len(steps) > MAX_LINES:
        lines.append(f"... and {len(steps) - MAX_LINES} more failed steps")
    first = steps[0] if steps else None
    return Alert(
        subject=f"Run failed: {run.job}{scope}",
        lines=(*lines, _footer(run, url)),
        fields={
            "event": "run_failure",
            **fields,
            "step": first.step if first else None,
            "error": first.error if first else None,
            "steps": [{"step": s.step, "error": s.error} for s in steps],
            "run_url": url,
        },
    )


def check_failure_alert(run: RunFacts, checks: Sequence[CheckFailure], url: str | None) -> Alert:
    """One alert per run: a range run that fails a check on 90 days is one message, not 90."""
    scope, fields = _scope(run)
    errors = sum(check.severity != "WARN" for check in checks)
    if len(checks) == 1:
        what = "Check failed" if errors else "Check warning"
        subject = f"{what}: {checks[0].asset_key} {checks[0].check_name}"
    else:
        subject = f"{len(checks)} checks failed" if errors else f"{len(checks)} check warnings"
    lines = []
    for check in checks[:MAX_LINES]:
        day = f" on {check.partition}" if check.partition else ""
        said = f": {first_line(check.description)}" if check.description else ""
        lines.append(f"{check.severity} {check.asset_key} {check.check_name}{day}{said}")
    if len(checks) > MAX_LINES:
        lines.append(f"... and {len(checks) - MAX_LINES} more")
    return Alert(
        subject=f"{subject} in {run.job}{scope}",
        lines=(*lines, _footer(run, url)),
        fields={
            "event": "asset_check_failure",
            **fields,
            "severity": "ERROR" if errors else "WARN",
            "checks": [
                {
                    "asset_key": c.asset_key,
                    "check_name": c.check_name,
                    "partition": c.partition,
                    "severity": c.severity,
                    "description": c.description,
                    "blocking": c.blocking,
                }
                for c in checks[:MAX_CHECK_FIELDS]
            ],
            "checks_left_out": max(0, len(checks) - MAX_CHECK_FIELDS),
            "run_url": url,
        },
    )


# Sending ----------------------------------------------------------------------------------------


class DeliveryError(RuntimeError):
    """An alert not delivered everywhere; the message names channels and reasons, no secret."""


@dataclass(frozen=True)
class Delivery:
    channel: str
    error: str | None = None  # None: delivered


class _Retry(Exception):
    def __init__(self, reason: str, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.wait_s = wait_s


class _GiveUp(Exception):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured, and a redirected POST would lose its body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Outbox:
    """Sends alerts to every configured channel, for one sensor tick.

    A channel that failed (after its retries) is not tried again within the same outbox: the
    tick has about a minute, and the next alerts would only wait for the same outage.
    """

    def __init__(
        self,
        settings: AlertSettings,
        environ: Mapping[str, str],
        log: logging.Logger,
        retry_waits_s: Sequence[float] = RETRY_WAITS_S,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self._settings = settings
        self._environ = environ
        self._log = log
        self._waits = tuple(retry_waits_s)
        self._timeout_s = timeout_s
        self._down: dict[str, str] = {}

    def send(self, alert: Alert) -> list[Delivery]:
        settings = self._settings
        senders: list[tuple[str, Callable[[Alert], None]]] = []
        if settings.webhook_host:
            senders.append((f"webhook ({settings.webhook_host})", self._post))
        if settings.smtp:
            senders.append((f"e-mail ({settings.smtp.host})", self._mail))
        deliveries = []
        for channel, send in senders:
            error: str | None
            if channel in self._down:
                error = f"not tried: it failed earlier in this tick ({self._down[channel]})"
            else:
                error = self._attempt(channel, send, alert)
                if error:
                    self._down[channel] = error
            deliveries.append(Delivery(channel, error))
        return deliveries

    def _attempt(self, channel: str, send: Callable[[Alert], None], alert: Alert) -> str | None:
        """None once sent; else why not, after the retries a transient failure earns."""
        attempts = len(self._waits) + 1
        for attempt in range(1, attempts + 1):
            try:
                send(alert)
                return None
            except _GiveUp as exc:
                return self._scrub(str(exc))
            except _Retry as exc:
                if attempt == attempts:
                    return self._scrub(f"{exc} (gave up after {attempts} attempts)")
                wait = self._waits[attempt - 1] if exc.wait_s is None else exc.wait_s
                self._log.warning(
                    self._scrub(
                        f"{channel}: {exc}, attempt {attempt} of {attempts}; trying again in "
                        f"{wait:g} s"
                    )
                )
                time.sleep(wait)
            except Exception as exc:
                # One odd alert must not stop the tick's others, nor its report.
                return self._scrub(f"unexpected {type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    def _scrub(self, text: str) -> str:
        """Whatever a server or a library says must not carry the webhook URL (the secret is
        usually its path, sometimes its query)."""
        url = (self._environ.get(WEBHOOK_URL) or "").strip()
        if not url:
            return text
        parts = urlsplit(url)
        for secret in (url, parts.path, parts.query):
            if len(secret) > 1:
                text = text.replace(secret, "<hidden>")
        return text

    def _secret(self, name: str) -> str:
        value = self._environ.get(name)
        if not value:
            raise _GiveUp(f"{name} is no longer set in the environment")
        return value

    def _post(self, alert: Alert) -> None:
        url = self._secret(WEBHOOK_URL).strip()
        if self._settings.webhook_is_slack:
            body: dict[str, Any] = {"text": _slack_escape(alert.text)}
        else:
            body = {"text": alert.text, **alert.fields}
        request = urllib.request.Request(
            url,
            data=json.dumps(body, default=str).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "genesys_assets-alerts"},
            method="POST",
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=self._timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            try:
                said = exc.read(200).decode(errors="replace").strip()
            except OSError:
                said = ""
            reason = f"HTTP {exc.code}" + (f" ({_clip(said, 200)})" if said else "")
            if exc.code == 429 or exc.code >= 500:
                raise _Retry(reason, _retry_after(exc.headers.get("Retry-After"))) from None
            raise _GiveUp(reason) from None
        except (urllib.error.URLError, OSError) as exc:
            # Connection refused, name not resolved, timed out: the channel may be back shortly.
            why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise _Retry(why if isinstance(why, str) else f"{type(why).__name__}: {why}") from None

    def _mail(self, alert: Alert) -> None:
        smtp = self._settings.smtp
        assert smtp is not None
        message = EmailMessage()
        # One line whatever a tag held: a line break in a header is refused.
        message["Subject"] = " ".join(f"[genesys_assets] {alert.subject}".split())
        message["From"] = smtp.sender
        message["To"] = ", ".join(smtp.recipients)
        message.set_content("\n".join(alert.lines) + "\n")
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=self._timeout_s) as server:
                if smtp.starttls:
                    server.starttls(context=ssl.create_default_context())
                if smtp.user:
                    server.login(smtp.user, self._secret(SMTP_PASSWORD))
                refused = server.send_message(message)
        except smtplib.SMTPResponseException as exc:
            said = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            reason = f"SMTP {exc.smtp_code} ({_clip(said.strip(), 200)})"
            # 4xx is the server's "try again later"; 5xx (a refused login, sender) is final.
            if 400 <= exc.smtp_code < 500:
                raise _Retry(reason) from None
            raise _GiveUp(reason) from None
        except (
            smtplib.SMTPNotSupportedError,
            smtplib.SMTPRecipientsRefused,
            ssl.SSLCertVerificationError,
        ) as exc:
            raise _GiveUp(f"{type(exc).__name__}: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}") from None
        if refused:
            self._log.warning(f"e-mail ({smtp.host}): refused for {', '.join(sorted(refused))}")


def _retry_after(raw: str | None) -> float | None:
    try:
        return min(max(float(raw or ""), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        return None


def _slack_escape(text: str) -> str:
    """Slack reads <...> as links and mentions: an error message's own brackets must not."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
