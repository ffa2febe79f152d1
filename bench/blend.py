"""Where the learned blend's gain comes from, read off a ``blend.json`` (the validation window's scores).

    .venv/bin/python -m bench.blend data/quality/demo/artifacts/blend.json

For each family of grid points (no online terms, similarity only, artist only, all), the best point
and its NDCG@10 ratios over the offline list on the session and long horizons of the validation
window (the end of the train period: the test period is not involved).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FAMILIES = {
    "online listens removed only": lambda w: w["online"] == 0 and w["artist"] == 0,
    "+ similarity to the online listens": lambda w: w["artist"] == 0,
    "+ their artists": lambda w: w["online"] == 0,
    "both (the chosen rule)": lambda w: True,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blend_json", type=Path)
    path = parser.parse_args().blend_json
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"{path}: cannot read it as blend.json ({exc}); `python -m musicrec train` writes it")
    base = doc["validation"]["offline_ndcg@10"]
    print(f"validation: {doc['validation']['users']:,} users from {doc['validation']['window_start'][:10]}, "
          f"offline ({doc['validation']['offline_list']}) NDCG@10 session {base['session']:.4f}, "
          f"long {base['long']:.4f}; {len(doc['tried'])} grid points in {doc['seconds']} s")
    print("| rule | best weights | session / offline | long / offline |")
    print("|---|---|---:|---:|")
    for name, keep in FAMILIES.items():
        best = max((t for t in doc["tried"] if keep(t["weights"])), key=lambda t: t["objective"])
        w = ", ".join(f"{k} {v:g}" for k, v in best["weights"].items() if k != "recency_decay")
        s, lg = (best["ndcg@10"][h] / base[h] for h in ("session", "long"))
        print(f"| {name} | {w} | {s:.3f} | {lg:.3f} |")


if __name__ == "__main__":
    main()
