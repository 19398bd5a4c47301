"""OAuth client credentials and the bearer tokens they buy.

Token lifetimes run on the monotonic clock, not the simulator's "now": a test that pins "now"
to last Tuesday still wants a token with a 2-second TTL to expire 2 seconds later.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from genesys_assets.genesys.catalog import (
    PERMISSION_AGGREGATES,
    PERMISSION_PRESENCE_DEFINITIONS,
    PERMISSION_QUEUES,
    PERMISSION_ROUTING_SKILLS,
    PERMISSION_USER_AGGREGATES,
    PERMISSION_WRAP_UP_CODES,
)
from genesys_assets.simulator.errors import ApiError

PERMISSION_DETAILS = "analytics:conversationDetail:view"  # what the availability route needs
# What an OAuth client set up for an aggregates pipeline and its dimension listings holds: not
# the details permission. (Users, divisions and languages need none, see `catalog`.)
DEFAULT_CLIENT_PERMISSIONS: tuple[str, ...] = (
    PERMISSION_AGGREGATES,
    PERMISSION_USER_AGGREGATES,
    PERMISSION_PRESENCE_DEFINITIONS,
    PERMISSION_QUEUES,
    PERMISSION_WRAP_UP_CODES,
    PERMISSION_ROUTING_SKILLS,
)


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    permissions: frozenset[str]


@dataclass(frozen=True)
class Token:
    value: str
    client_id: str
    permissions: frozenset[str]
    expires_at: float  # on the monotonic clock


def _unauthorized(message: str, code: str = "bad.credentials") -> ApiError:
    return ApiError(401, code, message)


class TokenStore:
    def __init__(
        self,
        clients: list[Client],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = {c.client_id: c for c in clients}
        self._ttl_s = ttl_s
        self._clock = clock
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()
        self.issued = 0

    @property
    def ttl_s(self) -> float:
        return self._ttl_s

    def verify_client(self, authorization: str | None) -> Client:
        """The client named by an HTTP Basic `Authorization` header, if its secret matches."""
        if not authorization or not authorization.startswith("Basic "):
            raise _unauthorized(
                "Client credentials are required as HTTP Basic authentication.",
                "authentication.required",
            )
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            client_id, secret = decoded.split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _unauthorized("Malformed HTTP Basic credentials.") from None
        client = self._clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
            raise _unauthorized("Invalid client credentials.")
        return client

    def issue(self, client: Client) -> Token:
        token = Token(
            value=secrets.token_urlsafe(48),
            client_id=client.client_id,
            permissions=client.permissions,
            expires_at=self._clock() + self._ttl_s,
        )
        with self._lock:
            self._purge()
            self._tokens[token.value] = token
            self.issued += 1
        return token

    def authenticate(self, authorization: str | None) -> Token:
        """The live token of a `Bearer` header; 401 for a missing, unknown or expired one."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise _unauthorized(
                "No authentication bearer token specified in authorization header.",
                "authentication.required",
            )
        value = authorization[7:].strip()
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.expires_at <= self._clock():
            raise _unauthorized("Invalid login credentials.")
        return token

    def invalidate_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    def _purge(self) -> None:
        now = self._clock()
        expired = [v for v, t in self._tokens.items() if t.expires_at <= now]
        for value in expired:
            del self._tokens[value]


def clients_from(
    client_id: str,
    secret: str,
    permissions: tuple[str, ...],
    restricted: tuple[tuple[str, str], ...] = (),
    extra: tuple[tuple[str, str, tuple[str, ...]], ...] = (),
) -> list[Client]:
    """The main client with `permissions`, the restricted ones (queues only), the extra ones
    with their own permissions."""
    clients = [Client(client_id, secret, frozenset(permissions))]
    clients += [Client(cid, sec, frozenset({PERMISSION_QUEUES})) for cid, sec in restricted]
    clients += [Client(cid, sec, frozenset(perms)) for cid, sec, perms in extra]
    return clients
