"""A bare HTTP client for tests that need to see the simulator's wire.

The official SDK hides what these tests are about (it retries 429s silently, has no timeouts,
drops headers); this one opens a fresh connection per call and returns status, headers and
raw bytes, so a dropped connection, a truncated body or a missing header shows as such.
"""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from genesys_assets.long_table import measure


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class RawClient:
    def __init__(
        self,
        base_url: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self.access_token: str | None = None

    def login(self, client_id: str | None = None, client_secret: str | None = None) -> str:
        """Client-credentials grant; keeps and returns the access token."""
        response = self.token_request(client_id, client_secret)
        if response.status != 200:
            raise RuntimeError(f"login failed: {response.status} {response.body!r}")
        self.access_token = response.json()["access_token"]
        return self.access_token

    def token_request(
        self, client_id: str | None = None, client_secret: str | None = None
    ) -> RawResponse:
        cid = client_id if client_id is not None else self.client_id
        secret = client_secret if client_secret is not None else self.client_secret
        basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
        return self.request(
            "POST",
            "/oauth/token",
            body=b"grant_type=client_credentials",
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            auth=False,
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        auth: bool = True,
        timeout: float | None = None,
    ) -> RawResponse:
        """One request on a new connection. Raises what http.client raises on a broken wire
        (RemoteDisconnected for a dropped connection, IncompleteRead for a cut body)."""
        sent = dict(headers or {})
        if auth and self.access_token and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {self.access_token}"
        payload: bytes | None
        if body is None or isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(
            self.host, self.port, timeout=timeout if timeout is not None else self.timeout
        )
        try:
            conn.request(method, path, body=payload, headers=sent)
            response = conn.getresponse()
            data = response.read()
            return RawResponse(
                response.status, {k.lower(): v for k, v in response.getheaders()}, data
            )
        finally:
            conn.close()

    def query(self, body: dict[str, Any], kind: str = "conversations") -> dict[str, Any]:
        """POST a sync aggregates query (of `kind`: conversations or users); the parsed
        answer, or RuntimeError on non-200."""
        response = self.request("POST", f"/api/v2/analytics/{kind}/aggregates/query", body)
        if response.status != 200:
            raise RuntimeError(f"query failed: {response.status} {response.body!r}")
        return response.json()


# (group, interval, metric) -> stats: an aggregates answer cell by cell. A metric with a
# qualifier (the user aggregates' status) is keyed as the totals checks key it: `metric[status]`.
Cells = dict[tuple[tuple[tuple[str, Any], ...], str, str], dict[str, Any]]


def cells(answer: dict[str, Any]) -> Cells:
    """{(group, interval, metric): stats} of an aggregates answer."""
    out: Cells = {}
    for container in answer["results"]:
        group = tuple(sorted(container.get("group", {}).items()))
        for data in container["data"]:
            for metric in data["metrics"]:
                key = (group, data["interval"], measure(metric["metric"], metric.get("qualifier")))
                assert key not in out, f"duplicate cell {key}"
                out[key] = metric["stats"]
    return out
