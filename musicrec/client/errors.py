"""What the client raises: one exception type per way a call can fail, each naming the URL."""

from __future__ import annotations


class ClientError(Exception):
    """Base of the client's errors; ``url`` is the full URL that was called."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class ServiceUnavailable(ClientError):
    """The service could not be reached (connection refused, DNS, timeout)."""


class ServiceError(ClientError):
    """The service answered with an error status; ``key``/``param`` come from the error envelope.

    >>> str(ServiceError(422, "invalid_parameter", "k: expected 1 <= k <= 1000, found 0", "k", url="u"))
    'u: 422 invalid_parameter: k: expected 1 <= k <= 1000, found 0'
    """

    def __init__(
        self, status_code: int, key: str, message: str, param: str | None = None, *, url: str
    ) -> None:
        super().__init__(f"{url}: {status_code} {key}: {message}", url=url)
        self.status_code = status_code
        self.key = key
        self.message = message
        self.param = param
