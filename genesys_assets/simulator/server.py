"""The HTTP side: a threading server on 127.0.0.1, fault injection, and the `Simulator` handle.

HTTP/1.1 with keep-alive, like the real API behind its load balancer, so clients exercise their
connection pools; every answer carries a Content-Length (a truncated body is only detectable
against it). Faults are applied here, around the endpoints, because they are about the wire:
a dropped connection has no status code.

One server can answer for several orgs (`region.SimulatedRegion`), as the orgs of one Genesys
region share its API host: so the state of an org (`ServedOrg`) is kept apart from the server,
and the server asks whoever it serves which org a request belongs to before it counts, faults
or answers it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
import traceback
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs, urlsplit

from genesys_assets.simulator.answers import Answers
from genesys_assets.simulator.api import Api, Request, Response, template_of, throttled
from genesys_assets.simulator.auth import TokenStore, clients_from
from genesys_assets.simulator.clock import SimClock
from genesys_assets.simulator.config import SimulatorConfig
from genesys_assets.simulator.errors import SERVER_ERRORS, ApiError, error_body
from genesys_assets.simulator.faults import DROP, ERROR, SLOW, THROTTLE, TRUNCATE, FaultInjector
from genesys_assets.simulator.jobs import JobStore
from genesys_assets.simulator.org import Org, generate_org
from genesys_assets.simulator.query import to_ms
from genesys_assets.simulator.ratelimit import RateLimiter
from genesys_assets.simulator.revisions import Reprocessing, Revisions
from genesys_assets.simulator.stats import StatsRecorder
from genesys_assets.simulator.traffic import TrafficModel, TrafficStore

HOST = "127.0.0.1"
log = logging.getLogger(__name__)


class ServedOrg:
    """One org's worth of simulator: its data, clients and tokens, rate limiter, jobs, clock,
    faults and counters, and the `Api` that answers from them.

    A `Simulator` serves one of these, a `SimulatedRegion` several on one port; nothing here
    is shared between orgs, so one org's "now", throttling or faults never touch another's.
    """

    def __init__(self, config: SimulatorConfig, name: str | None = None) -> None:
        self.config = config
        # A bare config is known by its main client id: unique among the orgs of a region.
        self.name = name if name is not None else config.client_id
        self.org: Org = generate_org(config)
        model = TrafficModel(
            self.org,
            config.seed,
            config.conversations_per_day,
            config.weekend_factor,
            config.ingestion_lag_s * 1000,
            config.late_event_share,
            round(config.late_event_delay_hours * 3_600_000),
        )
        self.traffic = TrafficStore(model, config.day_cache_size)
        self._clock = SimClock(config.now)
        self._stats = StatsRecorder()
        self._faults = FaultInjector(config)
        clients = clients_from(
            config.client_id,
            config.client_secret,
            config.client_permissions,
            config.restricted_clients,
            config.extra_clients,
        )
        self.client_ids: tuple[str, ...] = tuple(client.client_id for client in clients)
        self._tokens = TokenStore(clients, config.token_ttl_s)
        # Jobs page the very containers the sync query would answer, same group keys.
        self.answers = Answers(
            self.traffic,
            media_type_in_groups=config.media_type_in_groups,
            remember=config.remember_answers,
            revisions=_revisions(config, self.org),
            omit_group=config.omit_group,
        )
        self._jobs = JobStore(
            self.answers,
            config.job_delay_s,
            config.job_ttl_s,
            short_cursor_pages=config.short_cursor_pages,
        )
        self._api = Api(
            config,
            self.org,
            self._clock,
            self._tokens,
            RateLimiter(config.rate_limit_per_minute, config.rate_limit_window_s),
            self._jobs,
            self.answers,
            self._stats,
        )
        self._served_by: _Serving | None = None

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        return self.config.client_secret

    @property
    def base_url(self) -> str:
        """Where its server listens, so that an org of a region stands in wherever a
        `Simulator` is asked for its base URL and credentials."""
        if self._served_by is None:
            raise RuntimeError(f"the org {self.name!r} is not served by any simulator")
        return self._served_by.base_url

    def holds_token(self, authorization: str | None) -> bool:
        """Whether this `Authorization` header carries a live token issued by this org."""
        try:
            self._tokens.authenticate(authorization)
        except ApiError:
            return False
        return True

    # --- runtime controls for tests ------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock.now()

    def set_now(self, moment: datetime | None) -> None:
        """Freeze the org's "now" (timezone-aware), or follow the wall clock with None."""
        self._clock.set(moment)

    def invalidate_tokens(self) -> None:
        """Forget every issued token: the next API call with one of them gets 401."""
        self._tokens.invalidate_all()

    def script_faults(self, faults: Iterable[str]) -> None:
        """The next API requests to this org, in arrival order, get exactly these faults, one
        each: "500", "502", "503", "504", "429", "drop", "truncate", "slow"."""
        self._faults.script(faults)

    def stats(self) -> dict[str, Any]:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()


class _Serving:
    """What the server needs of whoever it serves (a `Simulator` or a `SimulatedRegion`), and
    the start/stop lifecycle both share."""

    def __init__(
        self,
        port: int,
        log_requests: bool,
        *,
        unclaimed_api: Api,
        unclaimed_stats: StatsRecorder,
    ) -> None:
        self._listen_port = port
        self.log_requests = log_requests
        # A request no org claims (an unknown client or token, a path outside the API) is
        # answered by this Api, whose answer to it is the same error any org would give and
        # leaves that org's state untouched, and counted here rather than on any org.
        self._unclaimed_api = unclaimed_api
        self._unclaimed_stats = unclaimed_stats
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def _owner(self, request: Request) -> ServedOrg | None:
        """The org that answers this request; None when no org claims it."""
        raise NotImplementedError

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        with self._lifecycle:
            if self._server is not None:
                raise RuntimeError("the simulator is already running")
            self._stopping.clear()
            server = _Server(self)
            self._port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"genesys-simulator-{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and the socket; safe to call twice."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            if server is None:
                return
            self._stopping.set()  # cuts injected delays short
            server.shutdown()
            server.close_connections()
            server.server_close()
            if thread is not None:
                thread.join(timeout=10)
            self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, serving: _Serving) -> None:
        self.serving = serving
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((HOST, serving._listen_port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (a timeout, a killed step) is the client's
        business, as with the real API; anything else is the simulator's bug, printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections so they can exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GenesysCloudSimulator/1.0"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_OPTIONS(self) -> None:
        self._dispatch("OPTIONS")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.serving.log_requests:
            super().log_message(format, *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed request lines and unsupported methods get Genesys' error form too.
        correlation_id = str(uuid.uuid4())
        text = message or explain or self.responses.get(code, ("Error",))[0]
        error_code = "bad.request" if code < 500 else "not.implemented"
        body = error_body(code, error_code, text, correlation_id)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self._send(
                Response(code, body),
                correlation_id,
                self.server.serving._unclaimed_stats,
                head_only=self.command == "HEAD",
            )

    def _dispatch(self, method: str) -> None:
        serving = self.server.serving
        correlation_id = str(uuid.uuid4())
        split = urlsplit(self.path)
        body = self._read_body()
        request = Request(
            method=method,
            path=split.path,
            query=parse_qs(split.query),
            # The message itself, not a dict of it: its lookups ignore case, as HTTP headers do.
            headers=cast(Mapping[str, str], self.headers),
            body=body,
            correlation_id=correlation_id,
        )
        # Counting, faults and the answer all belong to the org the request authenticates as.
        owner = serving._owner(request)
        stats = owner._stats if owner is not None else serving._unclaimed_stats
        api = owner._api if owner is not None else serving._unclaimed_api
        stats.request(method, template_of(method, split.path))

        plan = (
            owner._faults.next()
            if owner is not None and split.path.startswith("/api/v2/")
            else None
        )
        if owner is not None and plan is not None:
            if plan.delay_s > 0:
                serving._stopping.wait(plan.delay_s)
            if plan.kind == SLOW:
                stats.fault(SLOW)
            elif plan.kind == DROP:
                stats.fault(DROP)
                self._drop()
                return
            elif plan.kind == ERROR:
                stats.fault(ERROR)
                assert plan.status is not None
                code, message = SERVER_ERRORS[plan.status]
                body = error_body(plan.status, code, message, correlation_id)
                self._send(Response(plan.status, body), correlation_id, stats)
                return
            elif plan.kind == THROTTLE:
                stats.fault(THROTTLE)
                err = throttled(1, owner.config.send_retry_after)
                body = error_body(err.status, err.code, err.message, correlation_id)
                self._send(Response(429, body, err.headers), correlation_id, stats)
                return

        try:
            response = api.handle(request)
        except Exception:
            log.exception("simulator failed on %s %s", method, self.path)
            traceback.print_exc(file=sys.stderr)
            code, message = SERVER_ERRORS[500]
            response = Response(500, error_body(500, code, message, correlation_id))

        if plan is not None and plan.kind == TRUNCATE:
            stats.fault(TRUNCATE)
            self._send(response, correlation_id, stats, truncate=True)
            return
        self._send(response, correlation_id, stats)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            return b""
        return self.rfile.read(size) if size > 0 else b""

    def _send(
        self,
        response: Response,
        correlation_id: str,
        stats: StatsRecorder,
        *,
        truncate: bool = False,
        head_only: bool = False,
    ) -> None:
        body = response.body
        head_only = head_only or self.command == "HEAD"
        self.send_response(response.status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body) if body is not None else 0))
        self.send_header("ININ-Correlation-Id", correlation_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        stats.response(response.status)
        if body is None or head_only:
            return
        try:
            if truncate:
                # The full Content-Length was announced; half the bytes arrive, then EOF.
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class Simulator(_Serving):
    """A Genesys Cloud analytics API on 127.0.0.1, in-process, on a background thread."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config if config is not None else SimulatorConfig()
        served = ServedOrg(self.config)
        self._served = served
        # The org's parts under the names tests and benchmarks have always reached them by.
        self.org: Org = served.org
        self.traffic = served.traffic
        self.answers = served.answers
        self._clock = served._clock
        self._stats = served._stats
        self._faults = served._faults
        self._tokens = served._tokens
        self._jobs = served._jobs
        self._api = served._api
        # Its one org answers everything, including what no org would claim: an unknown
        # client's 401 and a malformed request count in its stats, as they always have.
        super().__init__(
            self.config.port,
            self.config.log_requests,
            unclaimed_api=served._api,
            unclaimed_stats=served._stats,
        )
        served._served_by = self

    def _owner(self, request: Request) -> ServedOrg:
        return self._served

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        return self.config.client_secret

    # --- runtime controls for tests ------------------------------------------------------------

    def now(self) -> datetime:
        return self._served.now()

    def set_now(self, moment: datetime | None) -> None:
        """Freeze the simulator's "now" (timezone-aware), or follow the wall clock with None."""
        self._served.set_now(moment)

    def invalidate_tokens(self) -> None:
        """Forget every issued token: the next API call with one of them gets 401."""
        self._served.invalidate_tokens()

    def script_faults(self, faults: Iterable[str]) -> None:
        """The next API requests, in arrival order, get exactly these faults, one each:
        "500", "502", "503", "504", "429", "drop", "truncate", "slow"."""
        self._served.script_faults(faults)

    def stats(self) -> dict[str, Any]:
        return self._served.stats()

    def reset_stats(self) -> None:
        self._served.reset_stats()


def _revisions(config: SimulatorConfig, org: Org) -> Revisions:
    change = config.service_level_change_at
    after = config.reprocessing_after_hours
    return Revisions(
        service_level_change_ms=to_ms(change) if change is not None else None,
        reprocessing=(
            Reprocessing(org.zone, round(after * 3_600_000), config.reprocessing_share)
            if after is not None
            else None
        ),
    )


__all__ = ["ServedOrg", "Simulator"]
