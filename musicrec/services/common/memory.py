"""How the services read their artifacts without holding the read buffers afterwards."""

from __future__ import annotations

import pyarrow as pa


def use_system_allocator() -> None:
    """Make arrow allocate with the system ``malloc`` from now on, in this process.

    Arrow's default pool (mimalloc here) keeps pages it freed resident: a service that reads a large
    parquet file once at start would hold the read buffers for good, about as much again as the arrays
    it keeps. Freed ``malloc`` memory goes back to the OS. Called by the services' lifespans before they
    load; only start-up reads go through arrow, so its speed does not matter here.
    """
    pa.set_memory_pool(pa.system_memory_pool())
