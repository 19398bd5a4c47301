"""Client-credentials login, with the token renewed before it runs out.

The SDK's `get_client_credentials_token` throws `expires_in` away, so a long backfill would
fail with 401 once the token's lifetime (5 minutes to 48 hours, set per OAuth client) is over.
Here the token is renewed when most of its life is gone, and once more if the server refuses it
anyway (a revoked token, a clock skew).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from genesys_assets.genesys.errors import (
    GenesysAuthError,
    GenesysConfigError,
    GenesysRequestError,
)
from genesys_assets.genesys.transport import Authorizer, RequestStats, Transport


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.client_id:
            raise GenesysConfigError("GENESYS_CLIENT_ID is empty")
        if not self.client_secret:
            raise GenesysConfigError(
                f"GENESYS_CLIENT_SECRET is not set for client id {self.client_id}"
            )


class TokenProvider(Authorizer):
    """Hands out a bearer header; logs in on first use, before expiry and after a 401."""

    # Renew with a fifth of the lifetime left, at most 5 minutes early: a 15-second test token
    # renews after 12 s, a 24-hour one 5 minutes before it ends.
    RENEW_AT = 0.8
    RENEW_MARGIN_S = 300.0

    def __init__(
        self,
        transport: Transport,
        login_url: str,
        credentials: ClientCredentials,
        *,
        stats: RequestStats | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._login_url = login_url
        self._credentials = credentials
        self._stats = stats
        self._clock = clock
        self._lock = threading.Lock()
        self._header: str | None = None
        self._renew_at = 0.0
        self.logins = 0

    def header(self) -> str:
        with self._lock:
            if self._header is None or self._clock() >= self._renew_at:
                self._login()
            assert self._header is not None
            return self._header

    def rejected(self, header: str) -> None:
        with self._lock:
            # Only the thread holding the current token forces a new login; threads that come
            # late with an older token just pick up the fresh one.
            if header == self._header:
                self._header = None

    def _login(self) -> None:
        pair = f"{self._credentials.client_id}:{self._credentials.client_secret}"
        basic = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        host = self._login_url.rsplit("/oauth/token", 1)[0]
        what = f"login as client id {self._credentials.client_id} at {host}"
        try:
            response = self._transport.send(
                "POST",
                self._login_url,
                headers={
                    "Authorization": f"Basic {basic}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                body=urlencode({"grant_type": "client_credentials"}).encode("ascii"),
                stats=self._stats,
                what=what,
            )
        except (GenesysRequestError, GenesysAuthError) as exc:
            status = getattr(exc, "status", 401)
            raise GenesysAuthError(
                f"{what} was refused (HTTP {status}): check GENESYS_CLIENT_ID and "
                "GENESYS_CLIENT_SECRET, and that GENESYS_REGION / GENESYS_API_HOST is the "
                "org's region."
            ) from None
        try:
            answer = json.loads(response.data)
            token = answer["access_token"]
            lifetime = float(answer.get("expires_in") or 86400)
        except (ValueError, KeyError, TypeError):
            raise GenesysAuthError(f"{what}: the answer has no access_token") from None
        self._header = f"Bearer {token}"
        self._renew_at = (
            self._clock() + lifetime - min(lifetime * (1 - self.RENEW_AT), self.RENEW_MARGIN_S)
        )
        self.logins += 1
