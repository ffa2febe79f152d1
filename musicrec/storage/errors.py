"""The errors of the storage layer (artifact stores, event stores). They know nothing of HTTP: the
services map them to their error envelope (``musicrec.services.common.handlers``), the CLIs to a
one-line message."""

from __future__ import annotations


class StorageUnavailable(Exception):
    """An event store (SQLite file, Redis) cannot be reached or did not answer in time.

    ``message`` names the component and a short reason; ``detail`` says where (a file, a URL): it goes
    to the log, and to a client only when the service runs with ``[serving] debug``.

    >>> err = StorageUnavailable("Redis event store: timed out", detail="redis://localhost:6379/0")
    >>> err.full()
    'Redis event store: timed out (redis://localhost:6379/0)'
    """

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def full(self) -> str:
        """The message with its ``detail``."""
        return f"{self.message} ({self.detail})" if self.detail else self.message


class MissingArtifactError(FileNotFoundError):
    """An artifact that a step or service needs is not in the store."""


class S3StoreError(OSError):
    """S3 cannot be used (no bucket, bad credentials, unreachable endpoint); the message names the URL."""
