"""The reference of ``bench/serve.py``: the least a FastAPI endpoint can do on this machine.

``POST /bare`` returns a list of 100 ints, declared as ``list[int]`` like any typed route. Served by
``python -m uvicorn bench.bare:app --no-access-log``, one worker, exactly as the services are, so a
service endpoint's throughput divided by this one's says how much of the server's limit it reaches.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="bare endpoint")

INTS = list(range(100))


@app.post("/bare")
async def bare() -> list[int]:
    return INTS


@app.get("/health")
async def health() -> dict[str, str]:
    """What ``ServiceProcess`` waits for before the benchmark starts."""
    return {"status": "ok"}
