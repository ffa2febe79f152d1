"""``k`` and settings dependencies of the recommendation routes, as ``async def``.

The rule and the error are the common ones (:func:`musicrec.services.common.check_k`: 422
``invalid_parameter`` naming ``k`` unless ``1 <= k <= [serving] max_k``). Only the calling convention
differs: FastAPI runs a plain ``def`` dependency in the threadpool, and the two hops per request
(settings, then k) doubled the in-app time of ``/recommendations_offline`` (about 260 -> 130 us per
request measured in-process). Once the common aliases are ``async def`` this module can go.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from musicrec.config import Settings
from musicrec.services.common import check_k


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def k_query(default: int) -> Any:
    """An ``Annotated[int, Depends(...)]`` alias for ``k`` with this default, checked against ``max_k``."""

    async def k_dependency(
        request: Request,
        k: Annotated[int, Query(description="number of items to return, 1 <= k <= max_k")] = default,
    ) -> int:
        return check_k(k, request.app.state.settings.serving.max_k)

    k_dependency.__name__ = f"k_default_{default}"
    return Annotated[int, Depends(k_dependency)]


K50 = k_query(50)
K100 = k_query(100)
