"""Schemathesis hooks for ``test_schemathesis.py`` (loaded by ``SCHEMATHESIS_HOOKS``).

The services take a JSON integer only as written without a fraction: ``1.0`` is refused as an id or
``k``, on purpose. JSON Schema 2020-12, the dialect of OpenAPI 3.1, counts ``1.0`` as an integer, so
schemathesis sends such spellings as valid data and would report their 422 as a failure; here they are
sent as the plain integers they stand for. Every other generated body goes out unchanged, and the
refusal of ``1.0`` itself is tested in ``tests/services/features/test_app.py``.
"""

from __future__ import annotations

from typing import Any

import schemathesis


def plain_integers(value: Any) -> Any:
    """``2.0`` -> ``2`` wherever it is in a JSON document; anything else unchanged.

    >>> plain_integers({"k": 2.0, "item_ids": [1.0, 2], "x": 0.5})
    {'k': 2, 'item_ids': [1, 2], 'x': 0.5}
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [plain_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_integers(v) for k, v in value.items()}
    return value


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    return plain_integers(body)
