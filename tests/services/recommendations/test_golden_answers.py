"""Every answer byte for byte as recorded: bodies, ``explain=true``, degraded answers and error envelopes.

``golden_answers.json`` holds the status and exact body the service gave (before its responses were
pre-serialised) for each request, under three ``[serving]`` settings (``learned``, ``alternate``,
``capped`` = learned with ``max_per_artist = 1``), with healthy, down or slow neighbours, and without
artifacts. Each request goes once through the routes' fast path (plainly valid requests) and once
through FastAPI's dependencies: both must give these bytes. A change here is a change of the API:
record it on purpose, never to make a test pass.
"""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

import pytest

from tests.services.recommendations.artifacts import (
    COLD_USER,
    TOP_ARTISTS,
    WARM_USER,
    WARM_USER_2,
    WEIGHTS,
    write_artifacts,
)
from tests.services.recommendations.fakes import Neighbours, make_client

GOLDEN = json.loads((Path(__file__).parent / "golden_answers.json").read_text(encoding="utf-8"))
EVENTS = {WARM_USER: [501, 500, 502], WARM_USER_2: [500, 103], COLD_USER: [502, 501]}
SERVING = {
    "learned": {"blend": "learned", "max_per_artist": 0},
    "alternate": {"blend": "alternate", "max_per_artist": 0},
    "capped": {"blend": "learned", "max_per_artist": 1},
}
NEIGHBOURS = {"ok": ("ok", "ok"), "events down": ("down", "ok"), "features timeout": ("ok", "timeout")}


def _cases() -> list[tuple[str, list[dict]]]:
    key = lambda row: row["serving"]  # noqa: E731
    return [(serving, list(rows)) for serving, rows in groupby(GOLDEN, key=key)]


@pytest.mark.parametrize("via_fastapi", [False, True], ids=["fast path", "fastapi"])
@pytest.mark.parametrize(("serving", "rows"), _cases(), ids=[s for s, _ in _cases()])
def test_answers_are_byte_identical(tmp_path, serving, rows, via_fastapi):
    neighbours = Neighbours()
    neighbours.events.update(EVENTS)
    if serving == "missing":
        directory = tmp_path / "nowhere"
        settings = {}
    else:
        directory = write_artifacts(tmp_path, weights=WEIGHTS, top_artists=TOP_ARTISTS)
        settings = SERVING[serving]
    with make_client(directory, neighbours, via_fastapi=via_fastapi, **settings) as client:
        for row in rows:
            neighbours.events_mode, neighbours.features_mode = NEIGHBOURS[row["neighbours"]]
            response = client.post(row["request"])
            body = response.content.decode().replace(str(directory), "<artifacts>")
            assert (response.status_code, body) == (row["status"], row["body"]), row["request"]
