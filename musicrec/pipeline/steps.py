"""The training pipeline as a DAG of small steps with explicit inputs and outputs.

split -> tune -> popular -> als -> similar -> ranker -> blend -> evaluate -> export. Every step reads its
inputs from the prepared directory or the artifact store and writes its outputs to the store, so any step
can run alone once its inputs exist. ``tune`` chooses the settings the later steps run with
(``Context.settings``); run alone, a later step applies the saved ``tuning.json``. Large intermediate
data (the train/test events) is never duplicated: the split step saves the split date, later steps
re-apply it to ``events.parquet``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from musicrec.columns import Columns as C
from musicrec.config import Settings
from musicrec.data.catalog import track_artists
from musicrec.evaluation.report import render_markdown
from musicrec.evaluation.runner import evaluate
from musicrec.models import tuning
from musicrec.models.als import AlsRecommender, WarmStarts
from musicrec.models.blend_fit import fit_blend
from musicrec.models.blending import FusionWeights
from musicrec.models.popular import recent_popular, top_popular
from musicrec.models.ranker import frame_key, train_and_recommend_with_info
from musicrec.models.ranker.candidates import by_users
from musicrec.models.similar import build_similar
from musicrec.pipeline import artifacts as A
from musicrec.pipeline.split import TimeSplit, time_split
from musicrec.storage.artifacts import ArtifactStore

log = logging.getLogger(__name__)


class MissingInputError(RuntimeError):
    """A step's input does not exist; the message names the file and the command that makes it."""


@dataclass
class Context:
    """What the steps share: settings, where data lives, and a cache of frames loaded in this run.

    ``configured`` are the settings as given (config.ini, env); ``settings`` what the steps run with:
    the same plus what tuning chose for the keys not given explicitly."""

    settings: Settings
    prepared_dir: Path
    store: ArtifactStore
    show_progress: bool = True
    cache: dict[str, Any] = field(default_factory=dict)
    configured: Settings | None = None

    def __post_init__(self) -> None:
        if self.configured is None:
            self.configured = self.settings

    def prepared(self, name: str) -> pl.DataFrame:
        if name not in self.cache:
            path = self.prepared_dir / name
            if not path.exists():
                raise MissingInputError(f"missing input {path}: run `python -m musicrec prepare` first")
            self.cache[name] = pl.read_parquet(path)
        return self.cache[name]

    def artifact(self, name: str) -> pl.DataFrame:
        if name not in self.cache:
            self.cache[name] = self.store.read_parquet(name)
        return self.cache[name]

    def split(self) -> TimeSplit:
        """The time split saved by the ``split`` step, re-applied to the prepared events."""
        if "split" not in self.cache:
            saved = self.store.read_json(A.SPLIT)
            cut = datetime.fromisoformat(saved["split_date"])
            self.cache["split"] = time_split(self.prepared(A.EVENTS_FILE), cut)
            self.cache.pop(A.EVENTS_FILE)  # train + test hold every row: don't keep a third copy
        return self.cache["split"]

    def warm_starts(self) -> WarmStarts:
        """The ALS fits of this run, as starting points of later ones (``[als] warm_iterations``)."""
        return self.cache.setdefault("als_starts", WarmStarts())

    def als(self) -> AlsRecommender:
        if "als" not in self.cache:
            self.cache["als"] = AlsRecommender.load(self.store.local_dir(A.ALS_MODEL))
        return self.cache["als"]


@dataclass(frozen=True)
class Step:
    """``run(ctx)`` returns the row count of each output it wrote."""

    name: str
    run: Callable[[Context], dict[str, int]]
    prepared: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    doc: str = ""
    params: tuple[str, ...] = ()  # settings sections it reads (recorded with the step in the manifest)


# --- steps ------------------------------------------------------------------------------------------
def split_step(ctx: Context) -> dict[str, int]:
    cfg = ctx.settings.split
    split = time_split(ctx.prepared(A.EVENTS_FILE), cfg.split_date, cfg.test_fraction)
    ctx.cache["split"] = split
    ctx.cache.pop(A.EVENTS_FILE)
    summary = {
        "split_date": split.split_date.isoformat(),
        "derived_from_data": cfg.split_date is None,
        "train_rows": split.train.height,
        "test_rows": split.test.height,
        "train_users": split.train.get_column(C.User).n_unique(),
        "warm_users": len(split.warm_users),
        "cold_users": len(split.cold_users),
    }
    ctx.store.write_json(A.SPLIT, summary)
    log.info("split at %s: train %s rows, test %s rows, %s warm and %s cold test users",
             split.split_date.date(), f"{split.train.height:,}", f"{split.test.height:,}",
             f"{len(split.warm_users):,}", f"{len(split.cold_users):,}")
    return {A.SPLIT: split.train.height + split.test.height}


def tune_step(ctx: Context) -> dict[str, int]:
    assert ctx.configured is not None
    result = tuning.tune(ctx.split().train, ctx.prepared(A.ITEMS_FILE), ctx.configured, ctx.show_progress,
                         ctx.warm_starts())
    ctx.store.write_json(A.TUNING, result.doc)
    ctx.settings = tuning.apply(ctx.configured, result.doc)
    if result.frame is not None:  # the ranker step's training frame, built with the chosen ALS
        ctx.cache["ranker_frame"] = (frame_key(ctx.settings), result.frame)
    ctx.cache["tuning"] = result.doc
    return {A.TUNING: sum(len(result.doc.get(name, {}).get("tried", [])) for name in ("als", "ranker"))}


def popular_step(ctx: Context) -> dict[str, int]:
    split, cfg = ctx.split(), ctx.settings.popular
    top = top_popular(split.train, cfg.n)
    recent = recent_popular(split.train, cfg.n, cfg.recent_days, split.split_date)
    ctx.store.write_parquet(A.TOP_POPULAR, top)
    ctx.store.write_parquet(A.TOP_RECENT, recent)
    return {A.TOP_POPULAR: top.height, A.TOP_RECENT: recent.height}


def als_step(ctx: Context) -> dict[str, int]:
    split = ctx.split()
    # from tune's frame fit (7 days earlier) in a whole run; from scratch when run alone
    model = ctx.warm_starts().fit(split.train, split.split_date, ctx.settings.als, ctx.show_progress)
    ctx.cache["als_info"] = {"warm_start_from": None if model.warm_start is None else str(model.warm_start),
                             "iterations": ctx.settings.als.iterations if model.warm_start is None
                             else ctx.settings.als.warm_iterations}
    log.info("als: %s", "from scratch" if model.warm_start is None else
             f"warm-started from the fit before {model.warm_start}")
    ctx.store.write_dir(A.ALS_MODEL, model.save)
    ctx.cache["als"] = model
    ctx.cache["als_fitted_here"] = True
    # every user with train history gets a list: warm test users and users absent from the test alike.
    # As many as the ranker's candidates take: the ranker step of this run reuses them (one search of
    # the 1.3M users at full size, not one per inference batch)
    n = ctx.settings.als.n_recs
    top = model.recommend(model.user_ids.external, max(n, ctx.settings.ranker.n_candidates),
                          show_progress=ctx.show_progress)
    ctx.cache["als_top"] = top.select(C.User, C.Item, C.Rank)  # no score: 1.6 GB at full size
    recs = top.filter(pl.col(C.Rank) <= n)
    ctx.store.write_parquet(A.PERSONAL_ALS, recs)
    return {A.ALS_MODEL: len(model.user_ids), A.PERSONAL_ALS: recs.height}


def similar_step(ctx: Context) -> dict[str, int]:
    similar = build_similar(ctx.prepared(A.ITEMS_FILE), ctx.split().train, ctx.als(), ctx.settings.similar,
                            show_progress=ctx.show_progress)
    ctx.store.write_parquet(A.SIMILAR, similar)
    return {A.SIMILAR: similar.height}


def ranker_step(ctx: Context) -> dict[str, int]:
    train, items = ctx.split().train, ctx.prepared(A.ITEMS_FILE)
    # the model the ALS step fitted in this same run (same train period, same [als]) is reused at
    # inference; run alone, the ranker refits it (a saved model may predate a new split)
    reuse = ctx.cache.get("als") if ctx.cache.get("als_fitted_here") else None
    key, frame = ctx.cache.pop("ranker_frame", (None, None))
    rows = frame if key == frame_key(ctx.settings) else None  # the tune step built it with these settings
    top = ctx.cache.pop("als_top", None) if reuse is not None else None
    recs, info = train_and_recommend_with_info(train, items, ctx.settings, als=reuse, rows=rows,
                                               show_progress=ctx.show_progress, als_top=top)
    info["training_frame_from_tuning"] = rows is not None
    info["als_reused"] = reuse is not None
    info["als_candidates_reused"] = top is not None
    ctx.cache["ranker_info"] = info  # best iteration, feature importance, ... -> manifest
    ctx.store.write_parquet(A.RANKER_RECS, recs)
    # no later step uses the ALS model (the blend fits its own; ctx.als() would reload it): ~2 GB at
    # full size that the blend step's two ALS fits need more
    ctx.cache.pop("als", None)
    ctx.cache.pop("als_fitted_here", None)
    return {A.RANKER_RECS: recs.height}


def blend_step(ctx: Context) -> dict[str, int]:
    # fitted against the list the services will serve: the ranker's when it ran, else ALS's
    offline = "ranker" if _ranker_ran(ctx) else "als"
    doc = fit_blend(_take_train(ctx), ctx.prepared(A.ITEMS_FILE), ctx.settings, ctx.show_progress, offline,
                    ctx.warm_starts())
    ctx.cache.pop("als_starts", None)  # the last ALS fit of a run
    ctx.store.write_json(A.BLEND, doc)
    ctx.cache["blend"] = {key: value for key, value in doc.items() if key != "tried"}
    return {A.BLEND: len(doc["tried"])}


def _take_train(ctx: Context) -> pl.DataFrame:
    """The train period, no longer held by the context: the blend keeps only the history before its window
    and the window (at full size the train period is 3.2 GB next to that 3 GB history and the frames
    built from it); the next step that needs the split reads it again."""
    train = ctx.split().train
    ctx.cache.pop("split")
    return train


def _ranker_ran(ctx: Context) -> bool:
    """Ranker output counts only if the ranker step ran after the last ALS fit (else it is stale)."""
    if not ctx.store.exists(A.RANKER_RECS) or not ctx.store.exists(A.MANIFEST):
        return False
    steps = ctx.store.read_json(A.MANIFEST).get("steps", {})
    ranker, als = steps.get("ranker", {}), steps.get("als", {})
    return ranker.get("status") == "ok" and ranker.get("finished_at", "") >= als.get("finished_at", "")


def evaluate_step(ctx: Context) -> dict[str, int]:
    ranker = _ranker_ran(ctx)
    if not ranker:
        log.info("no ranker output from after the last ALS fit: the ranker is not scored")
    # each personal list as deep as it is scored, read before the split: the served one to its n_recs
    # (the online section blends all of it), ALS's otherwise to the largest k (at full size its 50
    # tracks per user are 67M rows, 1 GB)
    def top(name: str, n: int) -> pl.DataFrame:
        return ctx.store.read_parquet(name).filter(pl.col(C.Rank) <= n)

    als_depth = max(ctx.settings.evaluation.ks) if ranker else ctx.settings.als.n_recs
    recs = {"top_popular": ctx.store.read_parquet(A.TOP_POPULAR),
            "recent_popular": ctx.store.read_parquet(A.TOP_RECENT), "als": top(A.PERSONAL_ALS, als_depth)}
    if ranker:
        recs["ranker"] = top(A.RANKER_RECS, ctx.settings.ranker.n_recs)
    weights = FusionWeights.from_dict(ctx.store.read_json(A.BLEND)["weights"])
    metrics = evaluate(ctx.split(), recs, ctx.prepared(A.ITEMS_FILE), ctx.settings,
                       similar=ctx.store.read_parquet(A.SIMILAR),  # enables the online-path metrics
                       blend_weights=weights, show_progress=ctx.show_progress)
    ctx.store.write_json(A.METRICS_JSON, metrics)
    tuned = ctx.store.read_json(A.TUNING) if ctx.store.exists(A.TUNING) else None
    ctx.store.write_text(A.METRICS_MD, render_markdown(metrics, tuning=tuned))
    ctx.cache["metrics"] = metrics
    for name in (A.TOP_POPULAR, A.TOP_RECENT, A.PERSONAL_ALS, A.RANKER_RECS, A.SIMILAR):
        ctx.cache.pop(name, None)  # earlier steps' frames: not held next to export's work
    return {A.METRICS_JSON: len(metrics)}


def export_step(ctx: Context) -> dict[str, int]:
    use_ranker = _ranker_ran(ctx)
    source = A.RANKER_RECS if use_ranker else A.PERSONAL_ALS
    n = ctx.settings.ranker.n_recs if use_ranker else ctx.settings.als.n_recs
    final = (
        ctx.artifact(source)
        .sort([C.User, C.Rank])
        .group_by(C.User, maintain_order=True).head(n)
        .select(
            pl.col(C.User).cast(pl.Int32),
            pl.col(C.Item).cast(pl.Int32),
            pl.col(C.Score).cast(pl.Float32),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(C.User).alias(C.Rank),
        )
    )
    ctx.store.write_parquet(A.RECOMMENDATIONS, final)
    ctx.store.copy_file(ctx.prepared_dir / A.ITEMS_FILE, A.ITEMS)
    artists = user_artists(ctx.split().train, ctx.prepared(A.ITEMS_FILE))
    ctx.store.write_parquet(A.USER_ARTISTS, artists)
    log.info("recommendations.parquet comes from %s", "the ranker" if use_ranker else "ALS")
    ctx.cache["final_source"] = "ranker" if use_ranker else "als"
    return {A.RECOMMENDATIONS: final.height, A.ITEMS: ctx.prepared(A.ITEMS_FILE).height,
            A.USER_ARTISTS: artists.height}


def user_artists(train: pl.DataFrame, items: pl.DataFrame, top: int = 3) -> pl.DataFrame:
    """Each user's ``top`` most played artists of the train period (a track counts for its first
    artist): ``user_id, artist_id, plays, rank``; ties go to the smaller artist id.

    >>> train = pl.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [10, 11, 12, 12]})
    >>> items = pl.DataFrame({"item_id": [10, 11, 12], "artist_ids": [[7], [7, 8], [9]]})
    >>> user_artists(train, items).rows()
    [(1, 7, 2, 1), (1, 9, 1, 2), (2, 9, 1, 1)]
    """
    artists = track_artists(items)
    # per group of users: joining all 200M listens at once does not fit in memory at full size
    return by_users(train, lambda part: (
        part.select(pl.col(C.User), pl.col(C.Item).cast(pl.Int64))
        .join(artists, on=C.Item)
        .group_by(C.User, C.Artist).agg(pl.len().alias(C.Plays))
        .sort([C.User, C.Plays, C.Artist], descending=[False, True, False])
        .group_by(C.User, maintain_order=True).head(top)
        .with_columns(pl.int_range(1, pl.len() + 1).over(C.User).alias(C.Rank))
        .select(pl.col(C.User).cast(pl.Int32), pl.col(C.Artist).cast(pl.Int32),
                pl.col(C.Plays).cast(pl.Int32), pl.col(C.Rank).cast(pl.Int16))
    ), order=[C.User, C.Rank])


STEPS: tuple[Step, ...] = (
    Step("split", split_step, params=("split",), prepared=(A.EVENTS_FILE,), outputs=(A.SPLIT,),
         doc="global time split; saves the split date and counts"),
    Step("tune", tune_step, params=("tuning", "als", "ranker"), prepared=(A.EVENTS_FILE, A.ITEMS_FILE),
         inputs=(A.SPLIT,), outputs=(A.TUNING,),
         doc="chooses the [als] and [ranker] settings not given explicitly, on the end of the train period"),
    Step("popular", popular_step, params=("popular",), prepared=(A.EVENTS_FILE,), inputs=(A.SPLIT,),
         outputs=(A.TOP_POPULAR, A.TOP_RECENT), doc="top popular and recently popular tracks"),
    Step("als", als_step, params=("als",), prepared=(A.EVENTS_FILE,), inputs=(A.SPLIT,),
         outputs=(A.ALS_MODEL, A.PERSONAL_ALS), doc="ALS fit on train, personal lists"),
    Step("similar", similar_step, params=("similar", "als"), prepared=(A.EVENTS_FILE, A.ITEMS_FILE),
         inputs=(A.SPLIT, A.ALS_MODEL),
         outputs=(A.SIMILAR,), doc="similar tracks: ALS neighbours + content fallback"),
    Step("ranker", ranker_step, params=("ranker", "als"), prepared=(A.EVENTS_FILE, A.ITEMS_FILE),
         inputs=(A.SPLIT,),
         outputs=(A.RANKER_RECS,), doc="CatBoost two-stage ranker"),
    Step("blend", blend_step, params=("blend", "als", "similar", "evaluation"),
         prepared=(A.EVENTS_FILE, A.ITEMS_FILE), inputs=(A.SPLIT,), outputs=(A.BLEND,),
         doc="the learned blend of /recommendations, fitted on the end of the train period"),
    Step("evaluate", evaluate_step, params=("evaluation",), prepared=(A.EVENTS_FILE, A.ITEMS_FILE),
         inputs=(A.SPLIT, A.TOP_POPULAR, A.TOP_RECENT, A.PERSONAL_ALS, A.SIMILAR, A.BLEND),
         outputs=(A.METRICS_JSON, A.METRICS_MD),
         doc="offline metrics of every model on the same test users"),
    Step("export", export_step, params=("als", "ranker"), prepared=(A.EVENTS_FILE, A.ITEMS_FILE),
         inputs=(A.SPLIT, A.PERSONAL_ALS), outputs=(A.RECOMMENDATIONS, A.ITEMS, A.USER_ARTISTS),
         doc="final recommendations, items and users' top artists for the services"),
)
STEP_NAMES = tuple(s.name for s in STEPS)


def producer(name: str) -> str:
    return next(s.name for s in STEPS if name in s.outputs)


def check_inputs(step: Step, ctx: Context) -> None:
    """Raise :class:`MissingInputError` naming the first missing input and the step that makes it."""
    for name in step.prepared:
        path = ctx.prepared_dir / name
        if not path.exists():
            raise MissingInputError(
                f"step {step.name!r} needs {path}, which does not exist: run `python -m musicrec prepare`")
    for name in step.inputs:
        if not ctx.store.exists(name):
            raise MissingInputError(
                f"step {step.name!r} needs {ctx.store.describe(name)}, which does not exist: run "
                f"`python -m musicrec train --step {producer(name)}` (or the whole `train`) first")

