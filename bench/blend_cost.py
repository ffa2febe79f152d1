"""In-process cost of one ``/recommendations`` blend, learned vs the original alternation (no HTTP).

    .venv/bin/python -m bench.blend_cost

The inputs of a typical request: k = 100, 50 personal tracks, 3 online listens x 10 similar tracks,
100 popular tracks as backfill, weights of the demo data's ``blend.json`` (online 0.02, artist 0.05,
offset 5), artists from a dict. Prints the median over 7 repeats of the microseconds per call.
"""

from __future__ import annotations

import random
import timeit

from bench.machine import describe
from musicrec.models.blending import FusionWeights, blend, combine_online, fuse


def main() -> None:
    rng = random.Random(0)
    catalogue = 100_000
    personal = rng.sample(range(catalogue), 50)
    events = rng.sample(range(catalogue), 3)
    neighbours = [(rng.sample(range(catalogue), 10), sorted((rng.random() for _ in range(10)), reverse=True))
                  for _ in events]
    popular = list(range(100))
    artist_of = {i: i % 5_000 for i in range(catalogue)}.get
    weights = FusionWeights(online=0.02, artist=0.05, offset=5.0)
    cases = {
        "alternation (combine_online + blend)": lambda: blend(
            personal, combine_online(neighbours, 100, exclude=events), 100, popular, events),
        "learned (fuse)": lambda: fuse(personal, neighbours, events, 100, weights, artist_of, popular),
        "learned, max_per_artist = 3": lambda: fuse(personal, neighbours, events, 100, weights, artist_of,
                                                    popular, max_per_artist=3),
    }
    print(describe())
    for name, call in cases.items():
        runs = timeit.repeat(call, number=2_000, repeat=7)
        print(f"{name:<40} {sorted(runs)[3] / 2_000 * 1e6:7.1f} us per call (median of 7 x 2,000)")


if __name__ == "__main__":
    main()
