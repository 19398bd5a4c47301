"""The endpoints: routing, authentication, rate limits, permissions and the answers themselves.

Kept apart from the HTTP plumbing (`server.py`) so that what a request means is readable in
one place and the socket-level misbehaviour (drops, truncation) stays out of it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from genesys_assets.genesys.catalog import (
    CONVERSATIONS,
    PERMISSION_AGGREGATES,
    PERMISSION_PRESENCE_DEFINITIONS,
    PERMISSION_ROUTING_SKILLS,
    PERMISSION_USER_AGGREGATES,
    PERMISSION_WRAP_UP_CODES,
    USERS,
)
from genesys_assets.simulator import listings, presence
from genesys_assets.simulator.aggregation import results_document
from genesys_assets.simulator.auth import PERMISSION_DETAILS, PERMISSION_QUEUES, TokenStore
from genesys_assets.simulator.clock import SimClock
from genesys_assets.simulator.config import SimulatorConfig
from genesys_assets.simulator.errors import ApiError, bad_request, error_body, not_found
from genesys_assets.simulator.jobs import Compute, JobStore
from genesys_assets.simulator.org import Org
from genesys_assets.simulator.query import iso_ms, parse_query, to_ms
from genesys_assets.simulator.ratelimit import RateLimiter
from genesys_assets.simulator.stats import StatsRecorder

_SEP = (",", ":")
AGGREGATES = CONVERSATIONS.path
USER_AGGREGATES = USERS.path


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    correlation_id: str


@dataclass
class Response:
    status: int
    body: bytes | None  # None: no body at all (204)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    name: str
    # What the real API requires of the token; None: no permission (login, or any valid token).
    permission: str | None
    pattern: re.Pattern[str]


def _route(method: str, template: str, name: str, permission: str | None) -> Route:
    regex = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
    return Route(method, template, name, permission, re.compile(regex))


ROUTES: tuple[Route, ...] = (
    _route("POST", "/oauth/token", "token", None),
    _route("POST", f"{AGGREGATES}/query", "aggregate_query", PERMISSION_AGGREGATES),
    _route("POST", f"{AGGREGATES}/jobs", "job_submit", PERMISSION_AGGREGATES),
    _route("GET", f"{AGGREGATES}/jobs/{{jobId}}", "job_status", PERMISSION_AGGREGATES),
    _route("DELETE", f"{AGGREGATES}/jobs/{{jobId}}", "job_cancel", PERMISSION_AGGREGATES),
    _route("GET", f"{AGGREGATES}/jobs/{{jobId}}/results", "job_results", PERMISSION_AGGREGATES),
    # User aggregates: the same protocol, names and permission of their own.
    _route("POST", f"{USER_AGGREGATES}/query", "user_query", PERMISSION_USER_AGGREGATES),
    _route("POST", f"{USER_AGGREGATES}/jobs", "user_job_submit", PERMISSION_USER_AGGREGATES),
    _route(
        "GET", f"{USER_AGGREGATES}/jobs/{{jobId}}", "user_job_status", PERMISSION_USER_AGGREGATES
    ),
    _route(
        "DELETE", f"{USER_AGGREGATES}/jobs/{{jobId}}", "user_job_cancel", PERMISSION_USER_AGGREGATES
    ),
    _route(
        "GET",
        f"{USER_AGGREGATES}/jobs/{{jobId}}/results",
        "user_job_results",
        PERMISSION_USER_AGGREGATES,
    ),
    _route("GET", "/api/v2/routing/queues", "queues", PERMISSION_QUEUES),
    # Users, divisions and languages need no permission, only a valid token (see `catalog`).
    _route("GET", "/api/v2/users", "users", None),
    _route("GET", "/api/v2/routing/wrapupcodes", "wrap_up_codes", PERMISSION_WRAP_UP_CODES),
    _route("GET", "/api/v2/authorization/divisions", "divisions", None),
    _route("GET", "/api/v2/routing/skills", "routing_skills", PERMISSION_ROUTING_SKILLS),
    _route("GET", "/api/v2/routing/languages", "routing_languages", None),
    _route(
        "GET",
        "/api/v2/presence/definitions",
        "presence_definitions",
        PERMISSION_PRESENCE_DEFINITIONS,
    ),
    _route(
        "GET",
        "/api/v2/analytics/conversations/details/jobs/availability",
        "availability",
        PERMISSION_DETAILS,  # a details-jobs endpoint: the aggregates permission is not enough
    ),
)
UNMATCHED = "<unmatched>"


def match_route(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
    for route in ROUTES:
        found = route.pattern.match(path)
        if found and route.method == method:
            return route, found.groupdict()
    return None, {}


def template_of(method: str, path: str) -> str:
    route, _ = match_route(method, path)
    return route.template if route else UNMATCHED


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=_SEP).encode()


class Api:
    def __init__(
        self,
        config: SimulatorConfig,
        org: Org,
        clock: SimClock,
        tokens: TokenStore,
        limiter: RateLimiter,
        jobs: JobStore,
        answers: Compute,
        stats: StatsRecorder,
    ) -> None:
        self.config = config
        self.org = org
        self.clock = clock
        self.tokens = tokens
        self.limiter = limiter
        self.jobs = jobs
        self.answers = answers
        self.stats = stats
        self._handlers: dict[str, Callable[[Request, dict[str, str]], Response]] = {
            "aggregate_query": self._aggregate_query,
            "job_submit": self._job_submit,
            "job_status": self._job_status,
            "job_cancel": self._job_cancel,
            "job_results": self._job_results,
            "user_query": self._aggregate_query,
            "user_job_submit": self._job_submit,
            "user_job_status": self._job_status,
            "user_job_cancel": self._job_cancel,
            "user_job_results": self._job_results,
            "queues": self._queues,
            "users": self._users,
            "wrap_up_codes": self._wrap_up_codes,
            "divisions": self._divisions,
            "routing_skills": self._routing_skills,
            "routing_languages": self._routing_languages,
            "presence_definitions": self._presence_definitions,
            "availability": self._availability,
        }

    def handle(self, request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            return self._handle(request, headers)
        except ApiError as err:
            headers.update(err.headers)
            body = error_body(err.status, err.code, err.message, request.correlation_id)
            return Response(err.status, body, headers)

    def _handle(self, request: Request, headers: dict[str, str]) -> Response:
        route, params = match_route(request.method, request.path)
        if route is not None and route.name == "token":
            return self._token(request)
        if not request.path.startswith("/api/v2/"):
            raise not_found(f"No resource matches {request.method} {request.path}")

        token = self.tokens.authenticate(request.headers.get("Authorization"))
        decision = self.limiter.hit(token.value)
        headers.update(decision.headers())
        if not decision.allowed:
            raise throttled(decision.reset_s, self.config.send_retry_after)
        if route is None:
            raise not_found(f"No resource matches {request.method} {request.path}")
        if route.permission is not None and route.permission not in token.permissions:
            raise ApiError(
                403,
                "missing.permissions",
                "Unable to perform the requested action. You are missing the following "
                f"permission(s): [{route.permission}]",
            )
        response = self._handlers[route.name](request, params)
        response.headers.update(headers)
        return response

    # --- endpoints ---------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        client = self.tokens.verify_client(request.headers.get("Authorization"))
        form = parse_qs(request.body.decode("utf-8", "replace"))
        grant = form.get("grant_type", [""])[0]
        if grant != "client_credentials":
            raise bad_request(f"Unsupported grant_type '{grant}': use client_credentials")
        token = self.tokens.issue(client)
        self.stats.token_issued()
        payload = {
            "access_token": token.value,
            "token_type": "bearer",
            "expires_in": max(1, math.floor(self.tokens.ttl_s)),
        }
        return Response(200, json_bytes(payload))

    # The conversation and the user routes share these handlers; the request's path says which
    # kind of aggregates it is, and a job is found only under the kind it was submitted to.

    def _aggregate_query(self, request: Request, params: dict[str, str]) -> Response:
        kind = _kind(request)
        query = parse_query(
            _json_body(request), max_interval_days=self.config.max_interval_days, kind=kind
        )
        containers = self.answers(query, self.clock.now_ms())
        return Response(200, self._document(kind, containers))

    def _job_submit(self, request: Request, params: dict[str, str]) -> Response:
        query = parse_query(
            _json_body(request),
            max_interval_days=self.config.max_interval_days,
            job=True,
            default_page_size=self.config.default_page_size,
            kind=_kind(request),
        )
        job = self.jobs.submit(query, self.clock.now())
        self.stats.job_submitted()
        return Response(202, json_bytes({"jobId": job.id}))

    def _job_status(self, request: Request, params: dict[str, str]) -> Response:
        job = self.jobs.get(params["jobId"], _kind(request))
        return Response(200, json_bytes(self.jobs.status(job)))

    def _job_cancel(self, request: Request, params: dict[str, str]) -> Response:
        self.jobs.cancel(params["jobId"], _kind(request))
        return Response(204, None)

    def _job_results(self, request: Request, params: dict[str, str]) -> Response:
        kind = _kind(request)
        cursor = request.query.get("cursor", [None])[0]
        containers, next_cursor = self.jobs.page(params["jobId"], cursor, kind)
        return Response(200, self._document(kind, containers, next_cursor))

    def _document(self, kind: str, containers: list[str], cursor: str | None = None) -> bytes:
        """The answer's body; a user aggregates answer also maps each system presence to the
        org presences under it (`systemToOrganizationMappings`), as the real one does."""
        if kind == USERS.name:
            return results_document(containers, cursor, presence.mappings(self.org))
        return results_document(containers, cursor)

    def _queues(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, json_bytes(listings.queues(self.org, request.query)))

    def _users(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, json_bytes(listings.users(self.org, request.query)))

    def _wrap_up_codes(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, json_bytes(listings.wrap_up_codes(self.org, request.query)))

    def _divisions(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, json_bytes(listings.divisions(self.org, request.query)))

    def _routing_skills(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, json_bytes(listings.routing_skills(self.org, request.query)))

    def _routing_languages(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, json_bytes(listings.routing_languages(self.org, request.query)))

    def _presence_definitions(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, json_bytes(listings.presence_definitions(self.org, request.query)))

    def _availability(self, request: Request, params: dict[str, str]) -> Response:
        moment = self.clock.now() - timedelta(minutes=self.config.availability_lag_minutes)
        floored = to_ms(moment) // 60_000 * 60_000
        return Response(200, json_bytes({"dataAvailabilityDate": iso_ms(floored)}))


def _kind(request: Request) -> str:
    return USERS.name if request.path.startswith(USER_AGGREGATES) else CONVERSATIONS.name


def throttled(retry_after_s: int, send_retry_after: bool) -> ApiError:
    headers = {"Retry-After": str(retry_after_s)} if send_retry_after else {}
    return ApiError(
        429,
        "too.many.requests",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after_s}] seconds",
        headers,
    )


def _json_body(request: Request) -> object:
    if not request.body.strip():
        raise bad_request("The request body is empty; expected a JSON object.")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"Unable to parse the request body as JSON: {exc}") from None
