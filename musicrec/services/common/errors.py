"""Domain exceptions shared by the three services.

Domain code raises these; :mod:`musicrec.services.common.handlers` turns every one of them into the
same JSON envelope ``{"error": {"key": ..., "message": ..., "param": ...}}`` with the class's HTTP status.
The ``key`` is machine-readable and stable: clients branch on it, never on the message.

A message names the failing component and a short reason; where a file, a URL or an address helps an
operator, it goes to the service's log. :func:`redact` is the last guard at the border: the handlers
and ``/ready`` pass every message through it unless ``[serving] debug`` is on.
"""

from __future__ import annotations

import re

from musicrec.storage.errors import StorageUnavailable


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
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        # where it happened (a file, a URL): logged, and shown to the client only with [serving] debug
        self.detail = detail
        self.param = param
        if key is not None:
            self.key = key
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}

    def to_dict(self) -> dict[str, dict[str, str | None]]:
        """The response body: ``{"error": {"key", "message", "param"}}``."""
        return error_body(self.key, self.message, self.param)

    def full(self) -> str:
        """The message with its ``detail``: what the log (and ``[serving] debug``) shows."""
        return f"{self.message} ({self.detail})" if self.detail else self.message


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


def from_storage(exc: StorageUnavailable) -> MusicrecError:
    """The storage layer's error as the envelope's 503 ``storage_unavailable``.

    >>> err = from_storage(StorageUnavailable("Redis event store: timed out", detail="redis://h:6379"))
    >>> (err.status_code, err.key, err.message, err.detail)
    (503, 'storage_unavailable', 'Redis event store: timed out', 'redis://h:6379')
    """
    return MusicrecError(exc.message, key="storage_unavailable", status_code=503, detail=exc.detail)


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


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+?(?=[\s'\"),;]|:\s|$)")
# host, host:port, or Python's ('host', port)
_ADDRESS = re.compile(r"\b(?:(?:\d{1,3}\.){3}\d{1,3}|localhost|\[[0-9a-fA-F:]+\])(?::\d+|'?,\s*\d+)?\b")
_PATH = re.compile(r"(?:[\w.~-]*/)+([\w.-]+)")


def _file_of_url(match: re.Match[str]) -> str:
    """A URL's file name when it ends with one (``s3://b/p/similar.parquet``), else ``<url>``."""
    last = match.group().rstrip("/").rpartition("/")[2]
    return last if "." in last and "@" not in last and ":" not in last else "<url>"


def redact(text: str) -> str:
    """``text`` without URLs (credentials included), network addresses or directories: what a client may
    read. A path keeps its file name, which says what is missing without saying where.

    >>> redact("/srv/musicrec/artifacts/similar.parquet: file not found")
    'similar.parquet: file not found'
    >>> redact("Redis event store redis://:s3cret@10.0.0.7:6379/0: Error 111 connecting to 10.0.0.7:6379.")
    'Redis event store <url>: Error 111 connecting to <address>.'
    >>> redact("artifact s3://bucket/run-1/similar.parquet does not exist")
    'artifact similar.parquet does not exist'
    >>> redact("Connect call failed ('127.0.0.1', 6379)")
    "Connect call failed ('<address>)"
    >>> redact("k: expected 1 <= k <= 1000, found 0")
    'k: expected 1 <= k <= 1000, found 0'
    """
    text = _URL.sub(_file_of_url, text)
    text = _ADDRESS.sub("<address>", text)
    return _PATH.sub(r"\1", text)
