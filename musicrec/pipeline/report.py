"""Tables that tell the pipeline's story (``recommendations.ipynb``): data overview, named lists, metrics.

Everything here reads what the pipeline already wrote (prepared data, artifacts, ``metrics.json``)
and never fits a model. Overview counts are lazy polars scans, so they stay cheap on the full Yandex
data (222M listens): only per-track, per-user and per-week counts are materialised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from musicrec.columns import Columns as C
from musicrec.files import RAW_FILES

WEEK = "week"


def has_raw_data(raw_dir: Path) -> bool:
    """True when ``raw_dir`` holds the three raw files (real Yandex Music data or a previous synth run)."""
    return all((Path(raw_dir) / name).exists() for name in RAW_FILES)


def is_current(manifest: dict[str, Any] | None, params: dict[str, Any], data_sha256: str,
               code: dict[str, Any] | None = None) -> bool:
    """True when ``manifest.json`` records a complete run (every recorded step ok, the final list
    exported) over the same prepared data (``data_sha256``) with the same ``params`` sections and,
    when ``code`` is given (:func:`musicrec.pipeline.artifacts.code_version`), the same code version.

    >>> done = {"steps": {"export": {"status": "ok"}}, "final_recommendations": "als",
    ...         "data": {"sha256": "x"}, "params": {"als": {"factors": 8}}}
    >>> is_current(done, {"als": {"factors": 8}}, "x"), is_current(done, {"als": {"factors": 9}}, "x")
    (True, False)
    """
    if not manifest or "final_recommendations" not in manifest:
        return False
    steps = manifest.get("steps", {})
    if any(record.get("status") != "ok" for record in steps.values()):
        return False
    if code is not None and manifest.get("code") != code:
        return False
    recorded = manifest.get("params", {})
    return manifest.get("data", {}).get("sha256") == data_sha256 and all(
        recorded.get(name) == value for name, value in params.items())


@dataclass(frozen=True)
class Overview:
    """Counts of the prepared listens: per track, per user and per week."""

    events: int
    users: int
    items_played: int
    catalogue: int
    first: datetime
    last: datetime
    plays_per_track: pl.DataFrame  # item_id, plays (played tracks only)
    listens_per_user: pl.DataFrame  # user_id, listens
    weekly: pl.DataFrame  # week (Monday), listens

    def summary(self) -> pl.DataFrame:
        """One row per figure, for display."""
        plays = self.plays_per_track.get_column(C.Plays)
        listens = self.listens_per_user.get_column("listens")
        rows = [
            ("listens", f"{self.events:,}"),
            ("users", f"{self.users:,}"),
            ("tracks in the catalogue", f"{self.catalogue:,}"),
            ("tracks never played", f"{self.catalogue - self.items_played:,}"),
            ("plays per played track: mean / median / max",
             f"{plays.mean():.1f} / {plays.median():.0f} / {plays.max():,}"),
            ("listens per user: mean / median / max",
             f"{listens.mean():.1f} / {listens.median():.0f} / {listens.max():,}"),
            ("time range", f"{self.first:%Y-%m-%d} .. {self.last:%Y-%m-%d}"),
        ]
        return pl.DataFrame(rows, schema=["figure", "value"], orient="row")


def overview(events_path: Path, items_path: Path) -> Overview:
    """Counts over ``events.parquet`` (read lazily) and the size of ``items.parquet``.

    Raises ``FileNotFoundError`` naming the missing file (run ``python -m musicrec prepare``).
    """
    for path in (events_path, items_path):
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} does not exist: run `python -m musicrec prepare` first")
    events = pl.scan_parquet(events_path)
    per_track = events.group_by(C.Item).agg(pl.len().alias(C.Plays)).collect()
    per_user = events.group_by(C.User).agg(pl.len().alias("listens")).collect()
    weekly = (
        events.select(pl.col(C.Datetime).dt.truncate("1w").alias(WEEK))
        .group_by(WEEK).agg(pl.len().alias("listens")).sort(WEEK).collect()
    )
    span = events.select(pl.col(C.Datetime).min().alias("lo"), pl.col(C.Datetime).max().alias("hi")).collect()
    return Overview(
        events=int(per_track.get_column(C.Plays).sum()),
        users=per_user.height,
        items_played=per_track.height,
        catalogue=pl.scan_parquet(items_path).select(pl.len()).collect().item(),
        first=span.item(0, "lo"),
        last=span.item(0, "hi"),
        plays_per_track=per_track.sort(C.Plays, descending=True),
        listens_per_user=per_user.sort("listens", descending=True),
        weekly=weekly,
    )


def genre_plays(plays_per_track: pl.DataFrame, items: pl.DataFrame, top: int = 15) -> pl.DataFrame:
    """Listens per genre name (a track with two genres counts for both): ``genre, plays, tracks``.

    >>> items = pl.DataFrame({"item_id": [1, 2], "genres": [["pop"], ["pop", "rock"]]})
    >>> plays = pl.DataFrame({"item_id": [1, 2], "plays": [3, 1]})
    >>> genre_plays(plays, items).rows()
    [('pop', 4, 2), ('rock', 1, 1)]
    """
    return (
        items.select(pl.col(C.Item).cast(pl.Int64), C.Genres)
        .explode(C.Genres).drop_nulls(C.Genres)
        .join(plays_per_track.select(pl.col(C.Item).cast(pl.Int64), C.Plays), on=C.Item)
        .group_by(C.Genres).agg(pl.col(C.Plays).sum(), pl.len().alias("tracks"))
        .rename({C.Genres: "genre"})
        .sort([C.Plays, "genre"], descending=[True, False])
        .head(top)
    )


def user_groups(split: dict[str, Any]) -> pl.DataFrame:
    """Users by kind, from the ``split.json`` artifact: ``group, users``.

    >>> user_groups({"train_users": 10, "warm_users": 6, "cold_users": 3}).get_column("users").to_list()
    [4, 6, 3]
    """
    warm, cold = int(split["warm_users"]), int(split["cold_users"])
    return pl.DataFrame({
        "group": ["train only (no test listens)", "warm (train + test)", "cold (test only)"],
        "users": [int(split["train_users"]) - warm, warm, cold],
    })


def _join_names(column: str) -> pl.Expr:
    return pl.col(column).list.join(", ").alias(column)


def with_names(frame: pl.DataFrame, items: pl.DataFrame, on: str = C.Item) -> pl.DataFrame:
    """``frame`` with the track's ``name``, ``artists`` and ``genres`` (names joined by commas) added.

    Row order is kept; a track missing from ``items`` gets nulls.

    >>> items = pl.DataFrame({"item_id": [7], "name": ["Song"], "artists": [["A", "B"]], "genres": [["pop"]]})
    >>> with_names(pl.DataFrame({"item_id": [7, 8]}), items).rows()
    [(7, 'Song', 'A, B', 'pop'), (8, None, None, None)]
    """
    names = items.select(
        pl.col(C.Item).cast(frame.schema[on]).alias(on), C.Name, _join_names(C.Artists), _join_names(C.Genres)
    )
    return frame.join(names, on=on, how="left", maintain_order="left")


def user_history(events: pl.DataFrame, user: int, items: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The user's ``n`` latest listens of ``events``, newest first, with names."""
    last = (
        events.filter(pl.col(C.User) == user)
        .with_row_index("_order")
        .sort([C.Datetime, "_order"], descending=True)
        .head(n)
        .select(C.Item, C.Datetime)
    )
    return with_names(last, items)


def user_list(recs: pl.DataFrame, user: int, items: pl.DataFrame, n: int = 10,
              hits: pl.DataFrame | None = None) -> pl.DataFrame:
    """The user's top ``n`` of a personal list (``user_id, item_id, rank``) with names; with ``hits``
    (the user's test listens) a ``listened_later`` column marks the tracks the user did play."""
    top = recs.filter(pl.col(C.User) == user).sort(C.Rank).head(n).drop(C.User)
    top = with_names(top, items)
    if hits is not None:
        heard = hits.filter(pl.col(C.User) == user).get_column(C.Item).unique()
        top = top.with_columns(pl.col(C.Item).is_in(heard.cast(top.schema[C.Item]).implode())
                               .alias("listened_later"))
    return top


def sample_users(recs: pl.DataFrame, test: pl.DataFrame, train: pl.DataFrame, n: int = 3,
                 seed: int = 42, min_history: int = 20) -> list[int]:
    """``n`` users (seeded) worth showing: a personal list, at least ``min_history`` train listens and
    test listens, preferring those whose list holds a track they listened to in the test period."""
    history = train.group_by(C.User).agg(pl.len().alias("h")).filter(pl.col("h") >= min_history)
    listed = recs.select(C.User, C.Item).join(history.select(C.User), on=C.User, how="semi")
    hit_users = listed.join(test.select(C.User, C.Item).unique(), on=[C.User, C.Item], how="semi")
    pool = np.sort(hit_users.get_column(C.User).unique().to_numpy())
    if len(pool) < n:
        pool = np.sort(listed.join(test.select(C.User), on=C.User, how="semi")
                       .get_column(C.User).unique().to_numpy())
    if len(pool) == 0:
        return []
    rng = np.random.default_rng(seed)
    return [int(u) for u in rng.choice(pool, min(n, len(pool)), replace=False)]


def similar_of(similar: pl.DataFrame, item: int, items: pl.DataFrame) -> pl.DataFrame:
    """The neighbours of ``item`` in ``similar.parquet``, best first, with names."""
    near = (similar.filter(pl.col(C.Item1) == item).sort(C.Score, descending=True)
            .drop(C.Item1).rename({C.Item2: C.Item}))
    return with_names(near, items)


def sample_tracks_by_source(similar: pl.DataFrame, plays_per_track: pl.DataFrame) -> dict[str, int]:
    """For each ``source`` of ``similar.parquet`` (``als``, ``content``), the most played track whose
    neighbours all come from that source (a never played track for ``content`` if there is one)."""
    if C.Source not in similar.columns:
        return {}
    plays = plays_per_track.select(pl.col(C.Item).cast(similar.schema[C.Item1]).alias(C.Item1), C.Plays)
    pure = (similar.group_by(C.Item1).agg(pl.col(C.Source).unique())
            .filter(pl.col(C.Source).list.len() == 1)
            .with_columns(pl.col(C.Source).list.first())
            .join(plays, on=C.Item1, how="left")
            .with_columns(pl.col(C.Plays).fill_null(0)))
    out = {}
    for source in sorted(pure.get_column(C.Source).unique().to_list()):
        rows = pure.filter(pl.col(C.Source) == source)
        # the content fallback exists for rarely played tracks: show the least played one
        descending = [source != "content", False]
        out[source] = int(rows.sort([C.Plays, C.Item1], descending=descending).item(0, C.Item1))
    return out


def metrics_table(metrics: dict[str, Any], section: str = "warm") -> pl.DataFrame:
    """A ``metrics.json`` section (``warm``, ``cold`` or ``online``) as a frame: a row per model.

    >>> doc = {"warm": {"models": {"als": {"ndcg@10": 0.2, "recall@10": 0.1}}}}
    >>> metrics_table(doc).rows()
    [('als', 0.2, 0.1)]
    """
    models = metrics.get(section, {}).get("models", {})
    if not models:
        return pl.DataFrame(schema={"model": pl.String})
    names = list(dict.fromkeys(m for values in models.values() for m in values))
    return pl.DataFrame(
        [(model, *(values.get(m) for m in names)) for model, values in models.items()],
        schema=["model", *names], orient="row",
    )


def online_ndcg(metrics: dict[str, Any], k: int = 10) -> dict[str, dict[str, float]]:
    """NDCG@k of each online-section list on each horizon, for one grouped bar chart.

    >>> doc = {"online": {"horizons": {"session": {"models": {"offline": {"ndcg@10": 0.2}}},
    ...                                "long": {"models": {"offline": {"ndcg@10": 0.3}}}}}}
    >>> online_ndcg(doc)
    {'offline': {'session': 0.2, 'long': 0.3}}
    """
    out: dict[str, dict[str, float]] = {}
    for horizon, section in metrics.get("online", {}).get("horizons", {}).items():
        for name, values in section["models"].items():
            out.setdefault(name, {})[horizon] = values[f"ndcg@{k}"]
    return out


def online_ratios(metrics: dict[str, Any]) -> list[str]:
    """One line per horizon: each blend's NDCG@10 over the offline list with its 95% interval.

    >>> doc = {"online": {"horizons": {"long": {"over_offline": {"learned": {"ratio": 1.05,
    ...                                                                      "ci95": [1.01, 1.09]}}}}}}
    >>> online_ratios(doc)
    ['long: learned 1.050 x (1.010-1.090)']
    """
    lines = []
    for horizon, section in metrics.get("online", {}).get("horizons", {}).items():
        parts = [f"{name} {v['ratio']:.3f} x ({v['ci95'][0]:.3f}-{v['ci95'][1]:.3f})"
                 for name, v in section.get("over_offline", {}).items() if v.get("ratio") is not None]
        lines.append(f"{horizon}: " + ", ".join(parts))
    return lines


def feature_importance(manifest: dict[str, Any]) -> dict[str, float]:
    """The ranker's feature importance as the ranker step recorded it in ``manifest.json``
    (``ranker.feature_importance``); an empty dict when the ranker has not run."""
    recorded = manifest.get("ranker", {}).get("feature_importance", {})
    return {str(k): float(v) for k, v in recorded.items()}
