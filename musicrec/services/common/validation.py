"""Validated request parameters: ids are non-negative 64-bit integers, ``1 <= k <= max_k``.

Integers are strict: a query value is plain ASCII digits (``1_000``, `` 1 ``, ``+1``, ``1.0``, ``1e3``,
``true`` are refused, although Python's ``int()`` takes some of them), and a JSON value is a JSON
integer (not ``true``, ``1.0`` or ``"1"``). Every refusal is the one 422 ``invalid_parameter`` envelope
naming the parameter.

Use the aliases in route signatures::

    @router.post("/get")
    async def get(user_id: UserId, k: K10) -> ...

``max_k`` is read from the app's settings (``app.state.settings.serving.max_k``) at request time, so a
test builds an app with ``load_settings(serving={"max_k": 5})`` and gets the limit it asked for.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from musicrec.config import Settings
from musicrec.services.common.errors import InvalidParameter

MAX_ID = 2**63 - 1  # SQLite INTEGER and numpy int64 both end here.



def digits_only(value: Any) -> Any:
    """A query value must be plain ASCII digits (a minus sign allowed, for a message that says "expected a
    value >= 0") before pydantic turns it into an int.

    >>> digits_only("0042"), digits_only("-1")
    ('0042', '-1')
    >>> digits_only("1_000")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.PydanticCustomError: Input should be a valid integer
    """
    if isinstance(value, str) and not (value.isascii() and value.removeprefix("-").isdigit()):
        raise PydanticCustomError("int_parsing", "Input should be a valid integer")
    return value


# A query-string integer is digits only (then pydantic's own bounds). The validator goes after the
# ``Query``: before it, FastAPI writes the bounds into the OpenAPI schema as "ge"/"le", which no
# OpenAPI tool reads, instead of "minimum"/"maximum".
DIGITS_ONLY = BeforeValidator(digits_only)
# A JSON integer: no bool, float or string.
JsonInt = Annotated[int, Field(strict=True)]
JsonId = Annotated[int, Field(strict=True, ge=0, le=MAX_ID)]

UserId = Annotated[int, Query(ge=0, le=MAX_ID, description="user id, a non-negative integer"), DIGITS_ONLY]
ItemId = Annotated[
    int, Query(ge=0, le=MAX_ID, description="item (track) id, a non-negative integer"), DIGITS_ONLY
]


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with (``create_app(settings)`` stores them in ``app.state``).

    ``async def`` on purpose, as ``k_dependency`` below: FastAPI runs a plain ``def`` dependency in the
    threadpool, and those hops doubled the in-app time of the cheapest routes (about 130 -> 260 us).
    """
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def check_k(k: int, max_k: int, param: str = "k") -> int:
    """Return ``k`` if ``1 <= k <= max_k``, else raise the 422 envelope naming ``param``.

    >>> check_k(5, 10)
    5
    >>> check_k(11, 10)
    Traceback (most recent call last):
    ...
    musicrec.services.common.errors.InvalidParameter: k: expected 1 <= k <= 10, found 11
    """
    if not 1 <= k <= max_k:
        raise InvalidParameter(f"{param}: expected 1 <= {param} <= {max_k}, found {k}", param=param)
    return k


def k_query(default: int) -> Any:
    """An ``Annotated[int, Depends(...)]`` alias for a query parameter ``k`` with this default.

    The dependency function is exposed as ``alias.__metadata__[0].dependency`` for overrides in tests.
    """

    async def k_dependency(
        settings: SettingsDep,
        k: Annotated[int, Query(description="number of items to return, 1 <= k <= [serving] max_k"),
                     DIGITS_ONLY] = default,
    ) -> int:
        return check_k(k, settings.serving.max_k)

    k_dependency.__name__ = f"k_default_{default}"
    return Annotated[int, Depends(k_dependency)]


K10 = k_query(10)
K50 = k_query(50)
K100 = k_query(100)
