"""Domain exceptions shared by the three services.

Domain code raises these; :mod:`musicrec.services.common.handlers` turns every one of them into the
same JSON envelope ``{"error": {"key": ..., "message": ..., "param": ...}}`` with the class's HTTP status.
The ``key`` is machine-readable and stable: clients branch on it, never on the message.
"""

from __future__ import annotations


class MusicrecError(Exception):
    """Base of every error a service reports to its client.

    >>> err = InvalidParameter("expected 1 <= k <= 1000, found 0", param="k")
    >>> (err.status_code, err.key, err.param)
    (422, 'invalid_parameter', 'k')
    """

    key: str = "internal_error"
    status_code: int = 500

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        key: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if key is not None:
            self.key = key
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}

    def to_dict(self) -> dict[str, dict[str, str | None]]:
        """The response body: ``{"error": {"key", "message", "param"}}``."""
        return error_body(self.key, self.message, self.param)


class InvalidParameter(MusicrecError):
    """A request parameter is missing, of the wrong type or out of range (422)."""

    key = "invalid_parameter"
    status_code = 422


class Unauthorized(MusicrecError):
    """A bearer token is required and is missing or wrong (401)."""

    key = "unauthorized"
    status_code = 401

    def __init__(self, message: str = "a valid bearer token is required", **kwargs) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class NotFound(MusicrecError):
    """No route or resource at this path (404)."""

    key = "not_found"
    status_code = 404


class StorageUnavailable(MusicrecError):
    """The storage behind the service (SQLite file, Redis) cannot be reached (503)."""

    key = "storage_unavailable"
    status_code = 503


class NotReady(MusicrecError):
    """The service runs but its artifacts are not loaded (503); ``GET /ready`` says why."""

    key = "not_ready"
    status_code = 503


class UpstreamUnavailable(MusicrecError):
    """A neighbour service did not answer in time or answered with an error (503)."""

    key = "upstream_unavailable"
    status_code = 503


def error_body(key: str, message: str, param: str | None = None) -> dict[str, dict[str, str | None]]:
    """Build the one error envelope.

    >>> error_body("not_ready", "similar.parquet is missing")
    {'error': {'key': 'not_ready', 'message': 'similar.parquet is missing', 'param': None}}
    """
    return {"error": {"key": key, "message": message, "param": param}}
