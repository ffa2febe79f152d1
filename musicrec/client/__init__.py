"""Typed HTTP client of the three musicrec services (used by test_service.py, tests.ipynb, the services).

>>> from musicrec.client import Musicrec
>>> api = Musicrec.from_settings()            # URLs from config.ini [urls] / MUSICREC_URLS__*
>>> api.recommendations.offline(617032, k=10).recs   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from musicrec.api import (
    Events,
    Explanation,
    PutResult,
    Recommendations,
    ServiceStatus,
    SimilarItems,
    SimilarItemsBatch,
)
from musicrec.client.errors import ClientError, ServiceError, ServiceUnavailable
from musicrec.client.http import (
    AsyncEventsClient,
    AsyncFeaturesClient,
    EventsClient,
    FeaturesClient,
    RecommendationsClient,
)
from musicrec.config import Settings, load_settings


@dataclass
class Musicrec:
    """The three sync clients together."""

    recommendations: RecommendationsClient
    features: FeaturesClient
    events: EventsClient

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, transport: httpx.BaseTransport | None = None, **kwargs: Any
    ) -> Musicrec:
        """Clients for the URLs in ``[urls]`` (``kwargs``: ``timeout_s``, ``retries``)."""
        settings = settings or load_settings()
        urls = settings.urls
        return cls(
            recommendations=RecommendationsClient(urls.recommendations_url, transport=transport, **kwargs),
            features=FeaturesClient(urls.features_store_url, transport=transport, **kwargs),
            events=EventsClient(
                urls.events_store_url, token=settings.events.token, transport=transport, **kwargs
            ),
        )

    def close(self) -> None:
        for client in (self.recommendations, self.features, self.events):
            client.close()

    def __enter__(self) -> Musicrec:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = [
    "AsyncEventsClient",
    "AsyncFeaturesClient",
    "ClientError",
    "Events",
    "EventsClient",
    "Explanation",
    "FeaturesClient",
    "Musicrec",
    "PutResult",
    "Recommendations",
    "RecommendationsClient",
    "ServiceError",
    "ServiceStatus",
    "ServiceUnavailable",
    "SimilarItems",
    "SimilarItemsBatch",
]
