"""What can go wrong when talking to Genesys Cloud, as exceptions a user can act on.

Messages name what to fix (the variable, the client id, the permission, the metric) and never
carry a secret: no client secret, no token, no Authorization header, ever.
"""

from __future__ import annotations


class GenesysError(Exception):
    """Base class for everything the Genesys client raises."""


class GenesysConfigError(GenesysError):
    """Settings that cannot work (unknown region, missing credentials, bad number)."""


class GenesysAuthError(GenesysError):
    """The login was refused or a token was rejected after a fresh login."""


class GenesysPermissionError(GenesysError):
    """HTTP 403: the OAuth client lacks a permission."""


class GenesysRequestError(GenesysError):
    """HTTP 400 and other answers that a retry cannot fix; carries Genesys' own message."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.correlation_id = correlation_id


class GenesysRetriesExhausted(GenesysError):
    """Every attempt failed with something retryable (429, 5xx, timeout, dropped connection)."""


class GenesysJobError(GenesysError):
    """An async aggregates job ended FAILED, CANCELLED or EXPIRED, or took too long."""
