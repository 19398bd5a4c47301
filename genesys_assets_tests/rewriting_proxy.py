"""A proxy on 127.0.0.1 that forwards everything to an upstream and can rewrite its answers,
so a test gets an answer the simulator never gives while the client runs its real stack (SDK,
login, retries). `/oauth/token` passes like any path (the SDK logs in at a loopback API host itself).

    with RewritingProxy(simulator.base_url) as proxy:
        proxy.rewrite("/api/v2/routing/queues", lambda doc: {**doc, "entities": []})
        GenesysClient(proxy.base_url, ...)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# Parsed JSON in (bytes when the body is not JSON), JSON-able value or bytes out.
Rewrite = Callable[[Any], Any]
# Per-connection headers, and those that describe a body the proxy re-frames itself.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
_HOP_BY_HOP |= {"proxy-connection", "host", "content-length"}


class RewritingProxy:
    def __init__(self, upstream: str, *, timeout_s: float = 30.0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.timeout_s = timeout_s  # for each upstream request and each idle client connection
        self.requests: list[tuple[str, str]] = []  # (method, path with query), as forwarded
        self._rewrites: list[tuple[str | None, str, Rewrite]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def rewrite(self, path: str, fn: Rewrite, method: str | None = None) -> None:
        """Pass every 2xx answer body of `path` (exact, query ignored) through `fn`, in order."""
        with self._lock:
            self._rewrites.append((method, path, fn))

    def clear(self) -> None:
        with self._lock:
            self._rewrites.clear()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RewritingProxy:
        handler = type("Handler", (_Handler,), {"owner": self, "timeout": self.timeout_s})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.block_on_close = False  # a client idling on keep-alive must not hold up stop()
        server.timeout = 0.05  # handle_request() returns at least this often to see a stop
        self._stop.clear()
        self._server = server
        self._thread = threading.Thread(target=self._serve, args=(server,), daemon=True)
        self._thread.start()
        return self

    def _serve(self, server: ThreadingHTTPServer) -> None:
        while not self._stop.is_set():
            server.handle_request()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> RewritingProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        route = urlsplit(path).path
        with self._lock:
            self.requests.append((method, path))
            rewrites = [fn for m, p, fn in self._rewrites if p == route and m in (None, method)]
        conn = http.client.HTTPConnection(
            self.upstream_host, self.upstream_port, timeout=self.timeout_s
        )
        try:
            conn.request(method, path, body=body or None, headers=headers)
            answer = conn.getresponse()
            data = answer.read()  # IncompleteRead on a cut body: the handler drops the client
            out_headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP]
        finally:
            conn.close()
        for fn in rewrites if 200 <= answer.status < 300 else ():  # errors pass as they are
            data = _apply(fn, data)
        return answer.status, out_headers, data


def _apply(fn: Rewrite, data: bytes) -> bytes:
    try:
        given: Any = json.loads(data)
    except ValueError:
        given = data
    result = fn(given)
    if isinstance(result, bytes):
        return result
    return json.dumps(result, separators=(",", ":")).encode()  # compact, as Genesys sends


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients exercise their connection pools
    owner: RewritingProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _relay(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size > 0 else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            status, out_headers, data = self.owner._forward(self.command, self.path, headers, body)
        except (OSError, http.client.HTTPException):
            # The upstream dropped the connection or cut its body: so does the proxy, rather
            # than invent an answer the client would take for the upstream's.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response_only(status)  # no Server/Date of our own: the upstream's pass
        for name, value in out_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _relay
