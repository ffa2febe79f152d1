"""Logging set-up for the services: one line per record, level from ``[serving] log_level``."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def setup_logging(level: str | int = "INFO") -> None:
    """Configure the ``musicrec`` logger (idempotent).

    A handler is added only when nobody configured the root logger (uvicorn configures only its own
    loggers), so records are never printed twice and pytest's ``caplog`` still sees them.
    """
    logger = logging.getLogger("musicrec")
    logger.setLevel(level if isinstance(level, int) else level.upper())
    if logging.getLogger().handlers or any(getattr(h, "_musicrec", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler._musicrec = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
