"""Two-stage ranker: candidates (ALS, recently popular, similar to recent listens), then CatBoost.

Training never sees the future it is scored on: the train period is cut into a feature period and a
label window of ``[ranker] label_days`` (see :mod:`.labels`). ALS, the candidates and the features
are computed from the feature period only, and the label says whether the user listened to the
candidate in the window. At inference ALS is refit and candidates and features are recomputed on the
whole train period, with the same definitions (all relative to the period's end).
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from musicrec.columns import Columns as C
from musicrec.config import Settings, load_settings
from musicrec.models.als import AlsRecommender, WarmStarts
from musicrec.models.ranker import candidates as cand
from musicrec.models.ranker import features as feat
from musicrec.models.ranker.labels import (
    attach_labels,
    label_split,
    period_end,
    sample_negatives,
    training_users,
)
from musicrec.models.ranker.model import CatBoostStage

log = logging.getLogger(__name__)

__all__ = ["RankerRecommender", "train_and_recommend", "train_and_recommend_with_info", "training_frame",
           "frame_key", "batch_listens", "FEATURES", "Inference", "prepare_inference", "score_batches"]
FEATURES = feat.FEATURES
_BATCH_USERS = 50_000  # users whose candidates and features are in memory at once at inference (all workers)


def training_frame(train: pl.DataFrame, items: pl.DataFrame, settings: Settings,
                   show_progress: bool = False, starts: WarmStarts | None = None) -> pl.DataFrame:
    """Labelled, negative-sampled rows: ``user_id, item_id``, candidate columns, features, ``label``
    and ``group`` (window x user: a user seen in two windows makes two ranking groups).

    Window ``j`` (0 = the latest) labels the listens of ``[until_j - label_days, until_j)`` with
    ``until_j = end - j * label_days`` (disjoint windows) and computes ALS, candidates and features on
    what precedes it. Windows are added back in time (at most ``[ranker] windows``) until
    ``min_train_groups`` user lists are collected: one window is plenty for a large dataset, a small one
    (MovieLens 100k) needs several. ``show_progress``: the ALS fits' progress bars (minutes at full size).
    ``starts``: the run's :class:`~musicrec.models.als.WarmStarts` (each window's ALS fit is kept there and
    may start from an earlier one); without it every fit starts from scratch.
    """
    cfg = settings.ranker
    end = period_end(train)
    frames = []
    groups = 0
    for j in range(cfg.windows):
        if groups >= cfg.min_train_groups:
            break  # enough (window, user) lists: earlier windows would only cost time
        until = end - timedelta(days=j * cfg.label_days)
        try:
            split = label_split(train, cfg.label_days, until)
        except ValueError:
            if j == 0:
                raise
            break  # earlier windows ran out of history
        users = training_users(split, max(cfg.max_train_users - groups, 1), cfg.seed + j)
        groups += len(users)
        log.info("ranker window %d: features before %s, labels until %s, %d users",
                 j, split.cutoff.date(), split.until.date(), len(users))
        als = (starts or WarmStarts()).fit(split.history, split.cutoff, settings.als, show_progress)
        pairs = cand.generate(split.history, users, split.cutoff, als, settings)
        labelled = attach_labels(pairs, split.window)
        wanted = split.window.filter(pl.col(C.User).is_in(pl.Series(users).implode())).select(
            C.User, C.Item).unique().height
        log.info("ranker window %d: candidates hold %d of the %d label-window listens (recall %.3f), "
                 "%.1f candidates per user", j, labelled.get_column("label").sum(), wanted,
                 labelled.get_column("label").sum() / max(wanted, 1), labelled.height / max(len(users), 1))
        labelled = sample_negatives(labelled, cfg.negatives_per_positive, cfg.seed + j)
        rows = feat.build(labelled, split.history, items, split.cutoff, als, settings.popular.recent_days,
                          cfg.last_listens)
        frames.append(rows.with_columns((pl.lit(j, dtype=pl.Int64) * 2**32 + pl.col(C.User)).alias("group")))
    return pl.concat(frames)


def frame_key(settings: Settings) -> str:
    """Every setting :func:`training_frame` depends on, as one string: two settings with the same key
    build the same frame (the CatBoost keys [tuning] chooses are not among them)."""
    ranker = settings.ranker.model_dump(mode="json",
                                        exclude={"iterations", "depth", "learning_rate", "inference_workers"})
    return json.dumps({"als": settings.als.model_dump(mode="json"), "ranker": ranker,
                       "recent_days": settings.popular.recent_days}, sort_keys=True)


def batch_listens(history: pl.DataFrame, batch: np.ndarray) -> pl.DataFrame:
    """The listens of a batch of users (sorted ids) and of any user between them: all that the
    per-user candidates and features of the batch read (:func:`features.build` takes the columns that
    read other users' listens from its ``stats``). One range filter of the history per batch instead of
    one pass per feature: at full size each pass reads 200M listens."""
    return history.filter(pl.col(C.User).is_between(int(batch[0]), int(batch[-1])))


@dataclass(frozen=True)
class Inference:
    """What every batch of the inference shares, computed once: the period's end, the sorted users, the
    per-period columns, the shared candidate tracks and the ALS neighbours of the users' last listens."""

    until: Any
    users: np.ndarray
    stats: Any
    shared: Any
    near: Any


def prepare_inference(history: pl.DataFrame, settings: Settings, users: np.ndarray | None,
                      als: AlsRecommender, show_progress: bool = False) -> Inference:
    """:class:`Inference` of ``users`` (every user of ``history`` when None) over ``history``; given
    users get the per-user columns of themselves only (the blend's 5,000: not a filtered copy of the
    whole history, which every user's would be)."""
    until = period_end(history)
    subset = None if users is None else np.unique(np.asarray(users))
    # sorted: a batch is a range of user ids, and its listens one range filter of the history
    users = np.unique(history.get_column(C.User).to_numpy()) if subset is None else subset
    stats = feat.period_stats(history, until, settings.popular.recent_days, als, subset)  # once: every batch
    shared = cand.shared_tracks(history, until, settings)
    # the neighbours of every user's last listens at once: the batches share most of these tracks
    log.info("ranker inference: per-period columns ready; the ALS neighbours of %d users' last listens next",
             len(users))
    near = (cand.recent_neighbours(als, cand.last_listens(history, users, settings.ranker.last_listens),
                                   show_progress)
            if settings.ranker.similar_candidates > 0 else None)
    log.info("ranker inference: ALS, per-period columns and last-listen neighbours ready for %d users",
             len(users))
    return Inference(until, users, stats, shared, near)


def score_candidates(model: CatBoostStage, history: pl.DataFrame, items: pl.DataFrame,
                     settings: Settings, users: np.ndarray | None = None,
                     als: AlsRecommender | None = None, n: int | None = None,
                     show_progress: bool = False, als_top: pl.DataFrame | None = None) -> pl.DataFrame:
    """Rank every user's candidates, keep ``n`` (``[ranker] n_recs`` by default): the final lists.

    ``als`` is an ALS model fitted on exactly ``history`` with ``[als]`` (the pipeline's ALS step has
    one); without it ALS is refit here. ``show_progress``: a progress bar over the neighbour search
    of the users' last listens (at full size the longest part before the batches) and over the batches.
    ``als_top``: ``als.recommend`` of every user, at least ``[ranker] n_candidates`` each (the pipeline's
    ALS step has it), so the batches do not search ALS again."""
    if als is None:
        als = AlsRecommender(settings.als).fit(history, show_progress=show_progress)
    prepared = prepare_inference(history, settings, users, als, show_progress)
    return score_batches(model, history, items, settings, als, prepared, n, show_progress, als_top)


def score_batches(model: CatBoostStage, history: pl.DataFrame, items: pl.DataFrame, settings: Settings,
                  als: AlsRecommender, prepared: Inference, n: int | None = None, show_progress: bool = False,
                  als_top: pl.DataFrame | None = None, batch_users: int | None = None) -> pl.DataFrame:
    """The batches of :func:`score_candidates`: ``[ranker] inference_workers`` batches at once, in
    threads (polars, the sparse products and CatBoost release the GIL: one batch alone keeps 1.5 of the
    2 cores busy, two 1.9; bench/ranker_inference.py), of ``batch_users`` users each: by default
    50,000 users split among the workers, so the candidates x features in memory do not grow with them."""
    users, until, keep = prepared.users, prepared.until, settings.ranker.n_recs if n is None else n
    workers = max(1, settings.ranker.inference_workers)
    batch_users = batch_users or max(1, _BATCH_USERS // workers)

    def score_batch(start: int) -> tuple[pl.DataFrame, int]:
        batch = users[start:start + batch_users]
        mine = batch_listens(history, batch)
        top = None if als_top is None else als_top.filter(
            pl.col(C.User).is_between(int(batch[0]), int(batch[-1])))
        pairs = cand.generate(mine, batch, until, als, settings, prepared.shared, prepared.near, top)
        frame = feat.build(pairs, mine, items, until, als, settings.popular.recent_days,
                           settings.ranker.last_listens, prepared.stats)
        scored = frame.select(C.User, C.Item).with_columns(
            pl.Series(C.Score, model.predict(frame)).cast(pl.Float32))
        # a user's candidates are all in one batch: its best n are final (keeping every scored candidate
        # to the end would hold ~3 GB at full size, and their sort as much again)
        return _best(scored, keep), frame.height

    # bounded batches of users: candidates x features stay a few hundred MB at any scale (per worker)
    parts = []
    starts = range(0, len(users), batch_users)
    workers = min(workers, len(starts)) or 1
    if als_top is None and workers > 1 and len(users):
        # ALS's recommendation index is built at its first search: once here, not once per thread
        als.recommend(users[:1], settings.ranker.n_candidates, show_progress=False)
    with ThreadPoolExecutor(workers) as pool:
        # map keeps the batches' order; a finished batch waiting for an earlier one holds its best n only
        done = tqdm(pool.map(score_batch, starts), total=len(starts), desc="ranker inference", unit="batch",
                    disable=not show_progress or len(users) <= batch_users)
        for start, (part, rows) in zip(starts, done, strict=True):
            parts.append(part)
            log.info("ranker inference: users %d-%d of %d scored (%d candidate rows in their batch)",
                     start + 1, min(start + batch_users, len(users)), len(users), rows)
    if not parts:
        return pl.DataFrame(schema={C.User: pl.Int32, C.Item: pl.Int32, C.Score: pl.Float32,
                                    C.Rank: pl.Int32})
    return pl.concat(parts)  # the batches are ranges of sorted user ids: already in user order


def _best(scored: pl.DataFrame, n: int) -> pl.DataFrame:
    """Each user's ``n`` best rows by score (ties: the smaller track id), ranked from 1."""
    return (
        scored.sort([C.User, C.Score, C.Item], descending=[False, True, False])
        .group_by(C.User, maintain_order=True).head(n)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(C.User).alias(C.Rank))
        .select(pl.col(C.User).cast(pl.Int32), pl.col(C.Item).cast(pl.Int32), C.Score, C.Rank)
    )


def train_and_recommend_with_info(
    train: pl.DataFrame, items: pl.DataFrame, settings: Settings, als: AlsRecommender | None = None,
    rows: pl.DataFrame | None = None, show_progress: bool = False, als_top: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """:func:`train_and_recommend` plus a JSON-able summary (rows, best iteration, feature importance).

    ``als``: an ALS model already fitted on ``train`` with ``settings.als``, reused at inference
    instead of a refit, and ``als_top`` that model's recommendations for every user (at least
    ``[ranker] n_candidates`` each: the candidates' ALS part). ``rows``: :func:`training_frame` of the same
    ``train`` and settings (the pipeline's tuning builds it), used instead of building it again."""
    start = time.perf_counter()
    model = RankerRecommender(settings, items).fit(train, als=als, rows=rows)
    fitted = time.perf_counter()
    recs = score_candidates(model.stage, train, items, settings, None, model.fitted_als(),
                            settings.ranker.n_recs, show_progress, als_top)
    info = {**model.stage.info, "fit_s": round(fitted - start, 1),
            "recommend_s": round(time.perf_counter() - fitted, 1)}
    return recs, info


def train_and_recommend(train: pl.DataFrame, items: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """``[ranker] n_recs`` ranked tracks for every user with train history: ``user_id, item_id, score,
    rank``; never a track the user listened to in ``train``."""
    recs, info = train_and_recommend_with_info(train, items, settings)
    log.info("ranker: %s", {k: v for k, v in info.items() if k != "feature_importance"})
    return recs


class RankerRecommender:
    """:class:`~musicrec.models.base.Recommender`: each user's candidates (ALS, recently popular, similar
    to their last listens) ranked by the CatBoost stage. A list is computed from the user's history, so
    the model keeps the train frame it was fitted on (and :meth:`save` writes it, with the items and
    the ALS model the candidates come from). Users absent from the train frame get no rows."""

    def __init__(self, settings: Settings, items: pl.DataFrame):
        self.settings = settings
        self.items = items
        self.stage = CatBoostStage(settings.ranker, FEATURES)
        self.history = pl.DataFrame(schema={C.User: pl.Int32, C.Item: pl.Int32, C.Datetime: pl.Datetime})
        self._users: np.ndarray | None = None  # users() of this history, computed once
        self.als: AlsRecommender | None = None

    def fit(self, train: pl.DataFrame, als: AlsRecommender | None = None,
            rows: pl.DataFrame | None = None, show_progress: bool = False,
            starts: WarmStarts | None = None) -> RankerRecommender:
        """Fit on ``train``. ``als``: ALS already fitted on ``train`` with ``[als]`` (else fitted here, at
        the first :meth:`recommend`); ``rows``: :func:`training_frame` of the same ``train`` and settings
        (else built here, with progress bars if ``show_progress`` and the run's ``starts``)."""
        if rows is None:
            rows = training_frame(train, self.items, self.settings, show_progress, starts)
        self.stage.fit(rows)
        self.history, self.als, self._users = train, als, None
        return self

    def users(self) -> np.ndarray:
        """The users of the train frame, sorted: the ones :meth:`recommend` answers for."""
        if self._users is None:
            self._users = np.unique(self.history.get_column(C.User).to_numpy())
        return self._users

    def recommend(self, user_ids: np.ndarray, n: int, show_progress: bool = False) -> pl.DataFrame:
        if n < 1:
            raise ValueError(f"n must be >= 1, found {n}")
        users = np.intersect1d(np.asarray(user_ids), self.users())
        if len(users) == len(self.users()):
            users = None  # every user: the period's columns as they are, not a filtered copy
        return score_candidates(self.stage, self.history, self.items, self.settings, users, self.fitted_als(),
                                n, show_progress)

    def fitted_als(self) -> AlsRecommender:
        """The ALS model of the candidates: the one given to :meth:`fit`, else fitted on the history now."""
        if self.als is None:
            self.als = AlsRecommender(self.settings.als).fit(self.history, show_progress=False)
        return self.als

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        doc = {name: getattr(self.settings, name).model_dump(mode="json") for name in _SAVED_SECTIONS}
        (d / "settings.json").write_text(json.dumps(doc, indent=2))
        (d / "info.json").write_text(json.dumps(self.stage.info, indent=2))
        for i, member in enumerate(self.stage.models):
            member.save_model(str(d / f"catboost_{i}.cbm"))
        self.history.write_parquet(d / "history.parquet")
        self.items.write_parquet(d / "items.parquet")
        if self.als is not None:
            self.als.save(d / "als")

    @classmethod
    def load(cls, directory: str | Path) -> RankerRecommender:
        from catboost import CatBoostClassifier

        d = Path(directory)
        model = cls(load_settings(**json.loads((d / "settings.json").read_text())),
                    pl.read_parquet(d / "items.parquet"))
        model.stage.info = json.loads((d / "info.json").read_text())
        members = sorted(d.glob("catboost_*.cbm"), key=lambda p: int(p.stem.split("_")[1]))
        model.stage.models = [CatBoostClassifier().load_model(str(p)) for p in members]
        model.history = pl.read_parquet(d / "history.parquet")
        model.als = AlsRecommender.load(d / "als") if (d / "als").is_dir() else None
        return model


# the settings a fitted ranker's lists depend on
_SAVED_SECTIONS = ("popular", "als", "ranker")
