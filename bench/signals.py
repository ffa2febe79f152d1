"""Signals the models rely on, measured on a prepared dataset, as a markdown table.

* Precision@5 of the all-time popular list, the recent popular list and ALS on every warm user (train
  history and test listens), relevant = test listens of tracks the user did not hear in train; the
  shared lists skip heard tracks, ALS filters them (as ``musicrec.evaluation.runner`` does).
* How often consecutive listens of a user (in file order: user, then listen order) are of tracks that
  share an artist, an album or a genre (any id in common: prepared lists are sorted by id, so the
  raw data's "main" artist or genre, listed first there, is not known any more).
* Users with 20+ listens: share of their listens of a track in one of their 3 most listened genres
  (a listen counts for each genre of its track), averaged over users and pooled over listens.
* Warm users' test listens: share by an artist of their last train listen, and by their most played
  artist in train.

    .venv/bin/python -m bench.signals --prepared data/bench/signals/demo/prepared
    MUSICREC_ALS__FACTORS=32 .venv/bin/python -m bench.signals --prepared DIR --split-date 2022-12-16
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import polars as pl

from musicrec.columns import Columns as C
from musicrec.config import load_settings
from musicrec.evaluation.metrics import precision_at_k
from musicrec.evaluation.runner import personalise
from musicrec.models.als import AlsRecommender
from musicrec.models.popular import recent_popular, top_popular
from musicrec.pipeline.split import SplitError, time_split

K = 5
HEAVY = 20  # listens a user needs to count in the top-3 genre share
TOP_GENRES = 3
ORDER = "_order"


LISTS = {"artist": "artist_ids", "album": "album_ids", "genre": "genre_ids"}


def _shares(a: str, b: str) -> pl.Expr:
    """Whether two id lists have an id in common."""
    return pl.col(a).list.set_intersection(pl.col(b)).list.len() > 0


def consecutive_shares(events: pl.DataFrame) -> dict[str, float | None]:
    """Share of consecutive listens of the same user whose tracks share an artist / album / genre."""
    pairs = events.with_columns(
        pl.col(C.User).shift(1).alias("_prev_user"),
        *(pl.col(c).shift(1).alias(f"_prev_{c}") for c in LISTS.values()),
    ).filter(pl.col(C.User) == pl.col("_prev_user")).rechunk()  # set_intersection panics on unaligned chunks
    return {name: pairs.select(_shares(c, f"_prev_{c}").mean()).item() for name, c in LISTS.items()}


def _top(events: pl.DataFrame, column: str, n: int) -> pl.DataFrame:
    """Each user's ``n`` most listened ids of ``column`` (a listen counts for each id of its track)."""
    return (events.select(C.User, column).explode(column).group_by(C.User, column).agg(pl.len().alias("n"))
            .sort([C.User, "n", column], descending=[False, True, False])
            .group_by(C.User, maintain_order=True).agg(pl.col(column).head(n).alias(f"top_{column}")))


def top_genre_share(events: pl.DataFrame) -> dict[str, float | None]:
    """Listens of users with ``HEAVY``+ listens whose track has one of the user's top genres.

    ``user``: the mean of each user's own share; ``listen``: pooled over all their listens (heavier
    users, who spread over more genres, weigh more).
    """
    heavy = events.filter(pl.len().over(C.User) >= HEAVY)
    if heavy.height == 0:
        return {"user": None, "listen": None}
    top = _top(heavy, "genre_ids", TOP_GENRES)
    hits = heavy.join(top, on=C.User).rechunk().select(
        C.User, _shares("genre_ids", "top_genre_ids").alias("hit"))
    return {"user": hits.group_by(C.User).agg(pl.col("hit").mean())["hit"].mean(),
            "listen": hits["hit"].mean()}


def artist_shares(train: pl.DataFrame, test: pl.DataFrame) -> dict[str, float | None]:
    """Share of warm users' test listens by an artist of their last train listen / their most played one."""
    last = train.group_by(C.User).agg(pl.col("artist_ids").sort_by(ORDER).last().alias("last_artists"))
    warm = test.join(last, on=C.User).join(_top(train, "artist_ids", 1), on=C.User).rechunk()
    if warm.height == 0:
        return {"last": None, "most": None}
    return {"last": warm.select(_shares("artist_ids", "last_artists").mean()).item(),
            "most": warm.select(_shares("artist_ids", "top_artist_ids").mean()).item()}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="directory with items/events.parquet")
    parser.add_argument("--split-date", type=dt.date.fromisoformat, default=dt.date(2022, 12, 16))
    parser.add_argument("--recent-days", type=int, default=14, help="window of the recent popular list")
    args = parser.parse_args()
    paths = [args.prepared / "items.parquet", args.prepared / "events.parquet"]
    if missing := [str(p) for p in paths if not p.exists()]:
        sys.exit(f"missing {', '.join(missing)}: run `python -m musicrec prepare --out {args.prepared}`")

    settings = load_settings()
    items = pl.read_parquet(paths[0])
    events = pl.read_parquet(paths[1]).with_row_index(ORDER)
    try:
        split = time_split(events, args.split_date)
    except SplitError as exc:
        sys.exit(f"--split-date: {exc}")
    train, test, warm = split.train, split.test, split.warm_users
    seen = train.select(C.User, C.Item).unique()
    truth = test.filter(pl.col(C.User).is_in(pl.Series(warm).implode())).select(C.User, C.Item).unique()
    truth = truth.join(seen, on=[C.User, C.Item], how="anti")

    print(f"split {split.split_date:%Y-%m-%d}: {train.height:,} train / {test.height:,} test listens; "
          f"{len(warm):,} warm and {len(split.cold_users):,} cold test users; fitting ALS "
          f"(factors={settings.als.factors}, iterations={settings.als.iterations})",
          file=sys.stderr, flush=True)
    lists = {
        "all-time popular": top_popular(train, settings.popular.n),
        f"popular of the last {args.recent_days} days": recent_popular(
            train, settings.popular.n, args.recent_days, split.split_date),
    }
    precision = {name: precision_at_k(personalise(frame, warm, seen, K), truth, K, warm)
                 for name, frame in lists.items()}
    als = AlsRecommender(settings.als).fit(train, show_progress=False)
    precision["ALS"] = precision_at_k(als.recommend(warm, K, show_progress=False), truth, K, warm)

    attributed = events.join(items.select(C.Item, *LISTS.values()), on=C.Item).sort(ORDER)
    consecutive = consecutive_shares(attributed)
    before = pl.col(C.Datetime) < split.split_date
    artists = artist_shares(attributed.filter(before), attributed.filter(~before))
    per_user = events.group_by(C.User).len()["len"]
    tested = len(warm) + len(split.cold_users)

    print(f"\n{items.height:,} tracks, {per_user.len():,} users, {events.height:,} listens "
          f"(median {per_user.median():.0f} per user); {tested:,} users ({tested / per_user.len():.1%}) "
          f"listen from {split.split_date:%Y-%m-%d}, {len(split.cold_users) / max(1, tested):.1%} "
          f"of them cold; ALS factors={settings.als.factors} iterations={settings.als.iterations}\n")
    print("| signal | value |")
    print("|---|---:|")
    for name, value in precision.items():
        print(f"| Precision@{K}, {name} ({len(warm):,} warm users, unheard tracks) | {value:.3f} |")
    for name in LISTS:
        article = "an" if name[0] in "aeiou" else "a"
        print(f"| consecutive listens of a user sharing {article} {name} | {_pct(consecutive[name])} |")
    genres = top_genre_share(attributed)
    print(f"| listens in the user's top-{TOP_GENRES} genres, users with {HEAVY}+ listens: mean over users | "
          f"{_pct(genres['user'])} |")
    print(f"| ... pooled over their listens | {_pct(genres['listen'])} |")
    print(f"| warm users' test listens by an artist of their last train listen | {_pct(artists['last'])} |")
    print(f"| warm users' test listens by their most played train artist | {_pct(artists['most'])} |")


if __name__ == "__main__":
    main()
