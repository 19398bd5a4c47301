"""Errors in the shape Genesys Cloud answers them.

Clients branch on `status` and `code` and show `message`; `contextId` is the correlation id a
support ticket would quote, the same value as the `ININ-Correlation-Id` header.
"""

from __future__ import annotations

import json


class ApiError(Exception):
    """An answer other than success, raised anywhere below the HTTP handler."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad.request", message)


def not_found(message: str = "The requested resource was not found.") -> ApiError:
    return ApiError(404, "not.found", message)


def error_body(status: int, code: str, message: str, correlation_id: str) -> bytes:
    body = {
        "message": message,
        "code": code,
        "status": status,
        "contextId": correlation_id,
        "details": [],
        "errors": [],
    }
    return json.dumps(body, separators=(",", ":")).encode()


SERVER_ERRORS: dict[int, tuple[str, str]] = {
    500: ("internal.server.error", "The server encountered an internal error."),
    502: ("bad.gateway", "The server received an invalid response from an upstream server."),
    503: ("service.unavailable", "The service is currently unavailable. Try again later."),
    504: ("gateway.timeout", "The server did not receive a timely response from upstream."),
}
