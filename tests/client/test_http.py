"""The typed client against ``httpx.MockTransport``: requests sent, answers parsed, errors mapped."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from musicrec.client import (
    AsyncEventsClient,
    AsyncFeaturesClient,
    EventsClient,
    FeaturesClient,
    Musicrec,
    RecommendationsClient,
    ServiceError,
    ServiceUnavailable,
)
from musicrec.config import load_settings


def recording(answer: dict, status: int = 200):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=answer)

    return seen, httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("method", "args", "path", "params"),
    [
        ("offline", (7, 5), "/recommendations_offline", {"user_id": "7", "k": "5"}),
        ("default", (3,), "/recommendations_default", {"k": "3"}),
        ("online", (7, 2), "/recommendations_online", {"user_id": "7", "k": "2"}),
        ("blended", (7, 9), "/recommendations", {"user_id": "7", "k": "9"}),
    ],
)
def test_recommendation_calls(method, args, path, params):
    seen, transport = recording({"recs": [3, 1, 2], "degraded": True, "sources": ["offline"] * 3})
    with RecommendationsClient("http://recs:8000/", transport=transport) as client:
        answer = getattr(client, method)(*args)
    assert answer.recs == [3, 1, 2] and answer.degraded is True
    assert seen[0].method == "POST"
    assert seen[0].url.path == path
    assert dict(seen[0].url.params) == params
    assert str(seen[0].url).startswith("http://recs:8000/")


@pytest.mark.parametrize(
    ("method", "args", "params"),
    [("offline", (7, 5), {"user_id": "7", "k": "5"}), ("default", (3,), {"k": "3"}),
     ("online", (7, 2), {"user_id": "7", "k": "2"}), ("blended", (7, 9), {"user_id": "7", "k": "9"})],
)
def test_explain_asks_for_explanations_and_parses_them(method, args, params):
    why = [{"source": "online", "reason": "similar_to_listen", "listen": 500},
           {"source": "personal", "reason": "top_artist", "artist_id": 4}]
    seen, transport = recording({"recs": [3, 1], "sources": ["online", "offline"], "explanations": why})
    with RecommendationsClient("http://recs", transport=transport) as client:
        answer = getattr(client, method)(*args, explain=True)
        getattr(client, method)(*args)
    assert dict(seen[0].url.params) == {**params, "explain": "true"}
    assert dict(seen[1].url.params) == params  # not asked: the original request
    assert [(e.reason, e.listen, e.artist_id) for e in answer.explanations] == [
        ("similar_to_listen", 500, None), ("top_artist", None, 4)
    ]
    assert answer.model_dump(exclude_none=True)["explanations"] == why


def test_defaults_match_the_contract():
    seen, transport = recording({"recs": []})
    client = RecommendationsClient("http://recs", transport=transport)
    client.offline(1), client.default(), client.online(1), client.blended(1)
    assert [r.url.params["k"] for r in seen] == ["100", "100", "50", "100"]
    assert client.default().degraded is False and client.default().sources is None
    assert client.default().explanations is None


def test_features_calls():
    seen, transport = recording({"item_id_2": [5, 6], "score": [0.9, 0.5]})
    similar = FeaturesClient("http://features", transport=transport).similar_items(4, k=2)
    assert (similar.item_id_2, similar.score) == ([5, 6], [0.9, 0.5])
    assert dict(seen[0].url.params) == {"item_id": "4", "k": "2"}

    seen, transport = recording({"items": {"4": {"item_id_2": [5], "score": [0.9]}}})
    batch = FeaturesClient("http://features", transport=transport).similar_items_batch([4, 8], k=3)
    assert batch.items[4].item_id_2 == [5] and 8 not in batch.items
    assert seen[0].url.path == "/similar_items/batch"
    assert json.loads(seen[0].content) == {"item_ids": [4, 8], "k": 3}


def test_events_calls_send_the_token_on_put_and_get():
    seen, transport = recording({"result": "ok"})
    events = EventsClient("http://events", token="s3cret", transport=transport)
    assert events.put(1, 2).result == "ok"
    assert seen[0].headers["Authorization"] == "Bearer s3cret"
    assert dict(seen[0].url.params) == {"user_id": "1", "item_id": "2"}
    seen, transport = recording({"events": [3, 2]})
    assert EventsClient("http://events", token="s3cret", transport=transport).get(1, k=2).events == [3, 2]
    assert seen[0].headers["Authorization"] == "Bearer s3cret"
    seen, transport = recording({"events": [3, 2]})
    assert EventsClient("http://events", transport=transport).get(1, k=2).events == [3, 2]
    assert "Authorization" not in seen[0].headers


def test_error_envelope_becomes_service_error():
    message = "k: expected 1 <= k <= 1000, found 0"
    error = {"error": {"key": "invalid_parameter", "message": message, "param": "k"}}
    _, transport = recording(error, status=422)
    with pytest.raises(ServiceError) as info:
        RecommendationsClient("http://recs", transport=transport).offline(1, k=0)
    assert (info.value.status_code, info.value.key, info.value.param) == (422, "invalid_parameter", "k")
    assert "http://recs/recommendations_offline?user_id=1&k=0" in str(info.value)


def test_non_envelope_error_and_bad_json():
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway"))
    with pytest.raises(ServiceError, match="502 http_502: bad gateway"):
        RecommendationsClient("http://recs", transport=transport).default()
    _, transport = recording({"unexpected": 1})
    with pytest.raises(ServiceError, match="invalid_response"):
        RecommendationsClient("http://recs", transport=transport).default()


def test_connection_errors_are_retried_then_reported():
    attempts = []

    def flaky(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"recs": [1]})

    client = RecommendationsClient("http://recs", transport=httpx.MockTransport(flaky), retries=2)
    assert client.default().recs == [1]
    assert len(attempts) == 3

    attempts.clear()

    def down(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ServiceUnavailable, match="http://recs/recommendations_default: cannot connect"):
        RecommendationsClient("http://recs", transport=httpx.MockTransport(down), retries=1).default()
    assert len(attempts) == 2


def test_read_timeouts_are_not_retried():
    attempts = []

    def slow(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ServiceUnavailable, match="timed out"):
        EventsClient("http://events", transport=httpx.MockTransport(slow), retries=3).put(1, 2)
    assert len(attempts) == 1


def test_async_clients():
    async def scenario():
        _, transport = recording({"events": [9, 8]})
        events = AsyncEventsClient("http://events", transport=transport)
        _, transport = recording({"items": {"9": {"item_id_2": [1, 2], "score": [0.5, 0.4]}}})
        features = AsyncFeaturesClient("http://features", transport=transport)
        got = (await events.get(1, k=2)).events
        batch = await features.similar_items_batch(got, k=2)
        await events.aclose(), await features.aclose()
        return got, batch.items[9].item_id_2

    assert asyncio.run(scenario()) == ([9, 8], [1, 2])


def test_async_client_sends_the_urls_httpx_would_build():
    """The async client builds the URL itself (speed); it must equal httpx's base_url + params merge."""
    sync_seen, sync_transport = recording({"events": [1]})
    EventsClient("http://events:8020/prefix/", transport=sync_transport).get(7, k=3)

    async def scenario() -> list[httpx.Request]:
        seen, transport = recording({"events": [1], "message": "Events service is working"})
        client = AsyncEventsClient("http://events:8020/prefix/", transport=transport)
        await client.get(7, k=3)
        await client.status()
        await client.aclose()
        return seen

    seen = asyncio.run(scenario())
    assert str(seen[0].url) == str(sync_seen[0].url) == "http://events:8020/prefix/get?user_id=7&k=3"
    assert str(seen[1].url) == "http://events:8020/prefix/"


def test_async_client_maps_connection_errors():
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = AsyncEventsClient("http://events", transport=httpx.MockTransport(down), retries=0)
    with pytest.raises(ServiceUnavailable, match="http://events/get"):
        asyncio.run(client.get(1))


def test_facade_uses_config_urls_and_token():
    settings = load_settings(
        urls={"recommendations_url": "http://r:1", "features_store_url": "http://f:2", "events_store_url": "http://e:3"},
        events={"token": "t"},
    )
    seen, transport = recording({"message": "Recommendations service is working"})
    with Musicrec.from_settings(settings, transport=transport) as api:
        assert api.recommendations.status().message.endswith("is working")
        assert (api.features.base_url, api.events.base_url) == ("http://f:2", "http://e:3")
        assert api.events.token == "t"
    assert str(seen[0].url) == "http://r:1/"
