"""HTTP to Genesys Cloud: timeouts, retries, pacing, and the body exactly as received.

The SDK's own transport applies no timeout, never refreshes a client-credentials token, and
silently sleeps through up to ten 429s for as long as `Retry-After` says. This module replaces
it (the SDK accepts a custom http client), so that every request has a connect and read timeout,
every retry is bounded and logged, and a 401 triggers exactly one fresh login.

Nothing here logs headers or bodies: the Authorization header carries a token or the client
secret, and must stay out of every log line and exception.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import urllib3

from genesys_assets.genesys.errors import (
    GenesysAuthError,
    GenesysPermissionError,
    GenesysRequestError,
    GenesysRetriesExhausted,
)
from genesys_assets.genesys.ratelimit import RateLimiter

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

log = logging.getLogger("genesys_assets.genesys")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    # Upper bound for any single wait, Retry-After included: a server asking for ten minutes
    # should fail the run fast rather than hold a worker.
    max_wait_s: float = 60.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with full jitter (attempt counts from 1)."""
        return rng.uniform(0, min(self.max_wait_s, self.backoff_base_s * 2 ** (attempt - 1)))


@dataclass
class RequestStats:
    """Counters a caller wants to report: every HTTP request, retry and 429 it cost."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, requests: int = 0, retries: int = 0, throttled: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.throttled += throttled

    def merge(self, other: RequestStats) -> None:
        self.add(other.requests, other.retries, other.throttled)


class RawResponse:
    """A successful answer: status, headers and the body bytes, untouched.

    It also quacks like the SDK's `RESTResponse` (`status`, `getheaders`, `getheader`), because
    the SDK's `ApiClient` hands it to its logger before returning it to us.
    """

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        data: bytes,
        *,
        attempts: int,
        throttled: int,
        elapsed_s: float,
    ) -> None:
        self.status = status
        self.headers = dict(headers)
        self.data = data
        self.attempts = attempts
        self.throttled = throttled
        self.elapsed_s = elapsed_s

    @property
    def correlation_id(self) -> str | None:
        return self.getheader("ININ-Correlation-Id")

    def getheaders(self) -> dict[str, str]:
        return self.headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default

    def json(self) -> object:
        return json.loads(self.data)


class Authorizer(ABC):
    """Supplies the Authorization header and is told when it was rejected."""

    @abstractmethod
    def header(self) -> str: ...

    @abstractmethod
    def rejected(self, header: str) -> None: ...


class Transport:
    """Sends one HTTP request with pacing, timeouts and bounded retries."""

    def __init__(
        self,
        policy: RetryPolicy,
        limiter: RateLimiter,
        *,
        max_connections: int = 8,
        logger: logging.Logger | logging.LoggerAdapter = log,
        seed: int | None = None,
    ) -> None:
        self.policy = policy
        self.limiter = limiter
        self.log = logger
        # urllib3 must not retry on its own: every retry is decided, counted and logged here.
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=max_connections, block=False, retries=False
        )
        self._rng = random.Random(seed)
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()

    def close(self) -> None:
        self._pool.clear()

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        authorizer: Authorizer | None = None,
        stats: RequestStats | None = None,
        what: str = "",
    ) -> RawResponse:
        """The first 2xx answer, or an exception that says why there is none.

        `what` names the call in log lines and errors (e.g. "aggregates query 2024-11-01").
        """
        policy = self.policy
        what = what or f"{method} {_path(url)}"
        started = time.monotonic()
        throttled = 0
        refreshed = False
        last_problem = "no attempt made"
        last_timeout: str | None = None  # "read" or "connect" when the last attempt timed out
        for attempt in range(1, policy.max_attempts + 1):
            self.limiter.acquire()
            request_headers = dict(headers or {})
            auth_header = authorizer.header() if authorizer is not None else None
            if auth_header is not None:
                request_headers["Authorization"] = auth_header
            if stats is not None:
                stats.add(requests=1, retries=1 if attempt > 1 else 0)
            try:
                response = self._request(method, url, request_headers, body)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                # Timeouts, refused or dropped connections, bodies cut short of their
                # Content-Length: none of these reached us as an answer, all are worth a retry.
                last_problem = f"{type(exc).__name__} ({_describe(exc)})"
                last_timeout = _timeout_kind(exc)
                wait = policy.backoff(attempt, self._rng)
                self._log_retry(what, attempt, last_problem, None, wait)
                if attempt < policy.max_attempts:
                    time.sleep(wait)
                continue

            last_timeout = None
            status = response.status
            correlation_id = response.headers.get("ININ-Correlation-Id")
            self._observe_rate_limit(response.headers)
            if 200 <= status < 300:
                if _looks_cut_off(response):
                    last_problem = "a body that is not a complete JSON document"
                    wait = policy.backoff(attempt, self._rng)
                    self._log_retry(what, attempt, last_problem, correlation_id, wait)
                    if attempt < policy.max_attempts:
                        time.sleep(wait)
                    continue
                return RawResponse(
                    status,
                    response.headers,
                    response.data,
                    attempts=attempt,
                    throttled=throttled,
                    elapsed_s=time.monotonic() - started,
                )
            if status == 401 and authorizer is not None and not refreshed:
                # The token may have expired between our check and the server's: log in once
                # more and try again. A second 401 is a real refusal.
                refreshed = True
                authorizer.rejected(auth_header or "")
                self.log.warning(
                    "%s: HTTP 401 (correlation id %s); logging in again and retrying",
                    what,
                    correlation_id,
                )
                continue
            if status in RETRYABLE_STATUS:
                if status == 429:
                    throttled += 1
                    if stats is not None:
                        stats.add(throttled=1)
                retry_after = _retry_after(response.headers.get("Retry-After"))
                if status == 429 and retry_after is not None:
                    wait = min(retry_after, policy.max_wait_s)
                    self.limiter.hold_off(wait)
                else:
                    wait = policy.backoff(attempt, self._rng)
                    if status == 429:
                        self.limiter.hold_off(wait)
                last_problem = f"HTTP {status}"
                self._log_retry(what, attempt, last_problem, correlation_id, wait)
                if attempt < policy.max_attempts:
                    time.sleep(wait)
                continue
            raise _error_for(status, response.data, correlation_id, what)
        if last_timeout == "read":
            advice = (
                f"The server did not answer within GENESYS_READ_TIMEOUT "
                f"({policy.read_timeout_s:g} s): raise it (large days answer slowly), lower "
                "GENESYS_CHUNK_DAYS, or raise GENESYS_MAX_ATTEMPTS."
            )
        elif last_timeout == "connect":
            advice = (
                f"No connection within GENESYS_CONNECT_TIMEOUT ({policy.connect_timeout_s:g} s): "
                "check the network and the host, raise GENESYS_CONNECT_TIMEOUT or "
                "GENESYS_MAX_ATTEMPTS."
            )
        else:
            advice = "Raise GENESYS_MAX_ATTEMPTS or check the API status."
        raise GenesysRetriesExhausted(
            f"{what}: gave up after {policy.max_attempts} attempts "
            f"({time.monotonic() - started:.1f} s); last problem: {last_problem}. {advice}"
        )

    def _request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> urllib3.BaseHTTPResponse:
        timeout = urllib3.Timeout(
            connect=self.policy.connect_timeout_s, read=self.policy.read_timeout_s
        )
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            return self._pool.request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=timeout,
                retries=False,
                redirect=False,
                preload_content=True,
                enforce_content_length=True,
            )
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1

    def _observe_rate_limit(self, headers: Mapping[str, str]) -> None:
        allowed = _int_header(headers.get("inin-ratelimit-allowed"))
        if allowed is None:
            return
        self.limiter.observe(
            allowed,
            _int_header(headers.get("inin-ratelimit-count")),
            _float_header(headers.get("inin-ratelimit-reset")),
            in_flight=self._in_flight,
        )

    def _log_retry(
        self, what: str, attempt: int, problem: str, correlation_id: str | None, wait: float
    ) -> None:
        if attempt >= self.policy.max_attempts:
            return
        self.log.warning(
            "%s: %s on attempt %d/%d (correlation id %s); retrying in %.2f s",
            what,
            problem,
            attempt,
            self.policy.max_attempts,
            correlation_id or "-",
            wait,
        )


def _looks_cut_off(response: urllib3.BaseHTTPResponse) -> bool:
    """A JSON object body must start with '{' and end with '}'.

    urllib3 already refuses a body shorter than its Content-Length; this catches a body that an
    intermediary cut and re-framed. A full parse would catch more but costs several times the
    whole fetch on tens of MB; the flattener parses every page anyway.
    """
    content_type = response.headers.get("Content-Type", "")
    data = response.data
    if not data or "json" not in content_type:
        return False
    return not (data.lstrip()[:1] == b"{" and data.rstrip()[-1:] == b"}")


def _error_for(status: int, data: bytes, correlation_id: str | None, what: str) -> Exception:
    message, code = _genesys_message(data)
    where = f"{what}: HTTP {status}"
    cid = f" (correlation id {correlation_id})" if correlation_id else ""
    if status == 401:
        return GenesysAuthError(
            f"{where}: the access token was refused even after a fresh login{cid}: {message}"
        )
    if status == 403:
        return GenesysPermissionError(
            f"{where}: the OAuth client lacks a permission{cid}: {message}. Grant its role the "
            'permission Genesys names (README, "OAuth permissions", lists what each feature '
            "needs)."
        )
    return GenesysRequestError(
        f"{where}{cid}: {message}", status=status, code=code, correlation_id=correlation_id
    )


def _genesys_message(data: bytes) -> tuple[str, str | None]:
    """Genesys' own error text, as is; fall back to a short excerpt of the body."""
    try:
        body = json.loads(data)
    except ValueError:
        return data[:300].decode("utf-8", "replace"), None
    if isinstance(body, dict):
        return str(body.get("message") or body), body.get("code")
    return str(body)[:300], None


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float_header(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _timeout_kind(exc: BaseException) -> str | None:
    """'read' or 'connect' when `exc` (or what it wraps) is that kind of timeout.

    urllib3 wraps its errors in several ways: MaxRetryError keeps the cause in `reason`,
    ProtocolError in its arguments, others in `__cause__`; every one of them is searched.
    NewConnectionError is a ConnectTimeoutError to urllib3 but means the connection was refused
    or the name did not resolve: a longer timeout would not help, so it counts as no timeout.
    A bare socket timeout, with no urllib3 error saying which, came from reading.
    """
    found: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending and len(found) < 20:
        current = pending.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            continue
        linked = [getattr(current, "reason", None), current.__cause__, current.__context__]
        linked += list(current.args)
        pending.extend(e for e in linked if isinstance(e, BaseException))
    for current in found:
        if isinstance(current, urllib3.exceptions.ReadTimeoutError):
            return "read"
        if isinstance(current, urllib3.exceptions.ConnectTimeoutError) and not isinstance(
            current, urllib3.exceptions.NewConnectionError
        ):
            return "connect"
    if any(isinstance(current, TimeoutError) for current in found):
        return "read"
    return None


def _path(url: str) -> str:
    return urllib3.util.parse_url(url).path or "/"


def _describe(exc: BaseException) -> str:
    """A short reason without the URL's query string or anything request-specific."""
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc)
    return text[:200]
