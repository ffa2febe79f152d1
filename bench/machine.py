"""One line describing the machine a benchmark ran on, printed next to its figures."""

from __future__ import annotations

import datetime as dt
import os

import psutil


def describe() -> str:
    """``machine: 2 cores, 24 GB RAM, load average 0.5, 0.4, 0.3; 2026-11-29 08:40 UTC``."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB RAM, "
            f"load average {load}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
