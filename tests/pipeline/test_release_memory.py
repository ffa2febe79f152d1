"""release_memory, called after each step: a step's freed heap does not count in the next one's peak."""

import ctypes
import ctypes.util

import numpy as np
import psutil
import pytest

from musicrec.pipeline.runner import release_memory


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@pytest.mark.skipif(not hasattr(ctypes.CDLL(ctypes.util.find_library("c") or None), "malloc_trim"),
                    reason="glibc only")
def test_freed_small_buffers_go_back_to_the_system():
    # many buffers below glibc's mmap threshold (128 KB to start with): they live in the heap, and
    # freeing them leaves the pages mapped until the heap is trimmed
    before = _rss_mb()
    blocks = [np.ones(8_000) for _ in range(30_000)]  # 30,000 x 64 KB = ~1.8 GB
    held = _rss_mb()
    keep = blocks[::1000]  # a few survivors spread over the heap: free() alone cannot shrink it
    del blocks
    assert held - before > 1_500
    after = release_memory()
    assert after == pytest.approx(_rss_mb(), abs=50)
    assert after - before < 300, f"{after - before:.0f} MB still held after the release"
    assert len(keep) == 30
