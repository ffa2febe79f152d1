"""Choosing ``[als]`` and ``[ranker]`` settings on data: a validation window at the end of the train period.

The test period is never passed in. :func:`tune` carves the validation window from the end of the
train period (``[tuning] window_days``, widened until ``min_users`` users have history before it and
listens in it) and searches, within ``[tuning] budget_s``:

* **ALS** (``factors``, ``alpha``, ``regularization``): fitted on the history before the window and
  scored by NDCG@10 of its top 10 (heard tracks filtered) against the window's listens of up to
  ``max_users`` sampled users. The search starts at the default point and walks one axis at a time
  (factors, then alpha, then regularization) to the neighbouring grid values while the score rises:
  a handful of fits instead of the whole grid. ALS also gives the ranker its ``[ranker] n_candidates``
  candidates, so a point that surely lowers their recall on the window is not used.
* **the ranker** (``depth``, ``learning_rate``, ``iterations``): on the ranker's own training frame
  (built with the chosen ALS; its labels are the last ``[ranker] label_days`` of the train period, so
  the end of the window), users are held out as :class:`~.ranker.model.CatBoostStage` does; each
  (depth, learning rate) is fitted once, with early stopping on the held-out users, on at most
  ``ranker_max_rows`` rows of the others, and every tree count of the grid is scored from that fit
  (NDCG@10 of the held-out users' lists within their candidates).

The best point of a model replaces its default only when the paired bootstrap interval
(``[tuning] confidence``) of its per-user NDCG@10 over the default's lies above 1: noise on a small
window keeps the defaults. The budget (:class:`Budget`) is spent in *estimated* core-seconds: each
point's cost is computed from the size of the data and the point (rows, iterations, factors, trees,
depth) with constants measured once on the reference machine (2 cores, docs/benchmarks.md), never
timed during the run. So the points tried depend on the data and the settings only, not on the
machine or its load: a faster machine tries the same points, sooner (and tuning keeps its share of
``train`` on any machine). The default points are the reference: ALS's runs unless its estimate alone
is past the budget (then ALS is not searched), the ranker's always does (its rows are capped); any
other point starts only if its estimate fits in what is left (ALS may use half of the budget when the
ranker is tuned too). Keys given explicitly (:func:`~musicrec.config.fixed_keys`) are not searched
and are reported as fixed. Every fit is seeded (ALS fits with single-threaded BLAS, CatBoost with
``[ranker] threads``), so the same data and settings choose the same points. The document records
each point's estimate and its measured seconds and core-seconds, and whether the budget was reached.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from musicrec.columns import Columns as C
from musicrec.config import Settings, Tuning, fixed_keys
from musicrec.evaluation.metrics import bootstrap_ratio_interval, ndcg_per_user, recall_per_user
from musicrec.models.als import AlsRecommender, WarmStarts
from musicrec.models.blend_fit import validation_split
from musicrec.models.ranker import FEATURES, training_frame
from musicrec.models.ranker.model import GROUP, CatBoostStage

log = logging.getLogger(__name__)

K = 10
ALS_AXES = ("factors", "alpha", "regularization")
RANKER_AXES = ("depth", "learning_rate", "iterations")


@dataclass(frozen=True)
class Validation:
    """The history before the window, the window's (user, track) pairs of the sampled users, and when."""

    history: pl.DataFrame
    truth: pl.DataFrame
    users: np.ndarray
    cut: datetime
    days: int
    candidates: int  # users with history and window listens, before sampling


@dataclass
class Result:
    """``doc``: what tuning.json records; ``frame``: the ranker's training frame it built (or None)."""

    doc: dict[str, Any]
    frame: pl.DataFrame | None = None


# Estimated cost of a fit in reference core-seconds (CPU seconds over 2 cores on the machine of
# docs/benchmarks.md), measured there on the demo data (1.25M history rows, 5,000 validation users,
# 19k tracks, 20k ranker rows): an ALS fit costs per history row and iteration a fixed part plus a
# part per factor (1.7 / 1.4 / 2.0 / 3.3 core-seconds at 16 / 32 / 64 / 128 factors), scoring every
# track for the validation users ~0.7; a CatBoost fit per training row and tree of depth 4 (2.6 for
# 1000 trees; a tree costs ~2^depth).
ALS_ROW_ITERATION = 8e-8
ALS_ROW_ITERATION_FACTOR = 1.4e-9
ALS_USER_TRACK = 7e-9
RANKER_ROW_TREE = 1.3e-7  # at depth 4


def als_cost(val: Validation, tracks: int, iterations: int, factors: int) -> float:
    """Estimated core-seconds of fitting and scoring one ALS point on ``val`` (see the constants)."""
    rows = val.history.height * iterations
    return (rows * (ALS_ROW_ITERATION + ALS_ROW_ITERATION_FACTOR * factors)
            + len(val.users) * tracks * ALS_USER_TRACK)


def ranker_cost(rows: int, trees: int, depth: int) -> float:
    """Estimated core-seconds of one CatBoost fit of at most ``trees`` trees on ``rows`` rows."""
    return rows * trees * RANKER_ROW_TREE * 2.0 ** (depth - 4)


class Budget:
    """Estimated core-seconds spent (see :func:`als_cost`, :func:`ranker_cost`): a point may start only
    if its estimate fits in what is left of the limit (or of ``share`` of it: ALS leaves the rest to the
    ranker). Deterministic: the same data and settings spend the same budget on any machine."""

    def __init__(self, seconds: float):
        self.limit, self.spent, self.reached = seconds, 0.0, False
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def core_s(self) -> float:
        """Measured core-seconds since the start (reported, never used to decide)."""
        return (time.process_time() - self.cpu_start) / self.cores

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def take(self, estimate: float, share: float = 1.0) -> bool:
        """Spend ``estimate`` if it fits in ``share`` of the limit; False (budget reached) otherwise."""
        if self.spent + estimate > self.limit * share:
            self.reached = True
            return False
        self.spent += estimate
        return True


def validation_window(train: pl.DataFrame, cfg: Tuning) -> Validation | str:
    """The narrowest window of ``window_days * n`` days (n <= ``max_window_steps``) with ``min_users``
    validation users; a sentence saying why there is none otherwise."""
    found, widest = 0, 0
    for step in range(1, cfg.max_window_steps + 1):
        days = cfg.window_days * step
        try:
            history, window, cut = validation_split(train, days)
        except ValueError:  # no history left before the window
            break
        widest = days
        users = np.intersect1d(history.get_column(C.User).unique().to_numpy(),
                               window.get_column(C.User).unique().to_numpy())
        found = max(found, len(users))
        if len(users) >= cfg.min_users:
            sample = users if len(users) <= cfg.max_users else np.sort(
                np.random.default_rng(cfg.seed).choice(users, cfg.max_users, replace=False))
            truth = (window.filter(pl.col(C.User).is_in(pl.Series(sample).implode()))
                     .select(C.User, C.Item).unique())
            return Validation(history, truth, sample, cut, days, len(users))
    return (f"at most {found} users have listens both before and in a validation window of up to "
            f"{widest} days at the end of the train period (fewer than "
            f"[tuning] min_users = {cfg.min_users}): the configured values are used")


# --- ALS ---------------------------------------------------------------------------------------------
def choose(scores: dict[Any, np.ndarray], default: Any, cost: Callable[[Any], float], confidence: float,
           seed: int, guard: dict[Any, np.ndarray] | None = None) -> tuple[Any, dict[str, Any]]:
    """The point to use among ``scores`` (point -> per-user scores, the same users for every point).

    Only points the paired bootstrap finds better than ``default`` (interval of the ratio of means above
    1), and not surely worse on ``guard`` (a second per-user score; interval reaching 1), may replace
    it; of those, the cheapest that it cannot tell from the best of them (interval reaching 1).
    Returns the point and how it was decided.

    "c" is best but better than "b" for one user of four only, so the cheaper "b" is used; "d" is not
    surely better than the default:

    >>> base = np.array([0.1, 0.2, 0.3, 0.2])
    >>> scores = {"a": base, "b": 1.5 * base, "c": 1.5 * base + [0, 0, 0, 0.1], "d": base[::-1]}
    >>> choose(scores, "a", "dabc".index, 0.9, 0)
    ('b', {'better_than_default': ['b', 'c'], 'best': 'c', 'over_default': [1.5, 1.5]})
    >>> choose(scores, "a", "dabc".index, 0.9, 0, guard={"a": base, "b": base / 2, "c": base, "d": base})[0]
    'c'
    >>> choose({"a": base, "d": base[::-1]}, "a", "ad".index, 0.9, 0)
    ('a', {'better_than_default': [], 'best': 'a', 'over_default': [1.0, 1.0]})
    """
    def interval(a: Any, b: Any, of: dict[Any, np.ndarray] = scores) -> tuple[float, float]:
        lo, hi = bootstrap_ratio_interval(of[a], of[b], n=1_000, seed=seed, level=confidence)
        return round(lo, 4), round(hi, 4)

    above = [k for k in scores if k != default and interval(k, default)[0] > 1.0]
    better = [k for k in above if guard is None or interval(k, default, guard)[1] >= 1.0]
    best = max(better, key=lambda k: scores[k].mean()) if better else default  # the first of equals
    chosen = min((k for k in better if k == best or interval(k, best)[1] >= 1.0), key=cost, default=default)
    over = list(interval(chosen, default)) if chosen != default else [1.0, 1.0]
    how = {"better_than_default": better, "best": best, "over_default": over}
    return chosen, how | ({"left_out_by_guard": [k for k in above if k not in better]} if guard else {})


def _named(how: dict[str, Any], axes: tuple[str, ...]) -> dict[str, Any]:
    """:func:`choose`'s account with each point as a {setting: value} dict (for JSON)."""
    def named(point: Any) -> Any:
        return dict(zip(axes, point, strict=True)) if isinstance(point, tuple) else point

    return {name: [named(p) for p in value] if isinstance(value, list) and name != "over_default"
            else named(value) for name, value in how.items()}


def search_als(val: Validation, settings: Settings, budget: Budget, share: float = 1.0) -> dict[str, Any]:
    """Walk the ALS grid from the default point (see the module docstring) within ``share`` of the
    budget; the section of the document."""
    cfg, base = settings.tuning, settings.als
    fixed = fixed_keys(base)
    axes = [a for a in ALS_AXES if a not in fixed]
    default = {a: getattr(base, a) for a in ALS_AXES}
    doc: dict[str, Any] = {"fixed": {a: default[a] for a in fixed}, "default": default, "chosen": {},
                           "tried": []}
    if not axes:
        return doc
    grids = {"factors": cfg.als_factors, "alpha": cfg.als_alpha, "regularization": cfg.als_regularization}
    tried: dict[tuple[Any, ...], dict[str, Any]] = {}
    per_user: dict[tuple[Any, ...], np.ndarray] = {}
    recall: dict[tuple[Any, ...], np.ndarray] = {}  # recall of the ranker's ALS candidates
    n = settings.ranker.n_candidates

    def key(point: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(point[a] for a in ALS_AXES)

    tracks = val.history.get_column(C.Item).n_unique()

    def score(point: dict[str, Any]) -> float | None:
        if key(point) not in tried:
            estimate = als_cost(val, tracks, base.iterations, point["factors"])
            if not budget.take(estimate, share):
                return None
            start, used = time.perf_counter(), budget.core_s()
            model = AlsRecommender(base.model_copy(update=point)).fit(val.history, show_progress=False)
            recs = model.recommend(val.users, max(K, n), show_progress=False)
            per_user[key(point)] = ndcg_per_user(recs, val.truth, K, val.users)
            recall[key(point)] = recall_per_user(recs, val.truth, n, val.users)
            value, seconds = float(per_user[key(point)].mean()), time.perf_counter() - start
            tried[key(point)] = {**point, "ndcg@10": round(value, 4),
                                 f"recall@{n}": round(float(recall[key(point)].mean()), 4),
                                 "estimate_s": round(estimate, 2), "seconds": round(seconds, 2),
                                 "core_s": round(budget.core_s() - used, 2)}
            log.info("tuning als %s: validation NDCG@10 %.4f (%.1f s)", point, value, seconds)
        return float(per_user[key(point)].mean())

    # on data too large for the budget (the default point alone would not fit in it) ALS is not
    # searched at all, rather than fitted once for nothing
    estimate = als_cost(val, tracks, base.iterations, default["factors"])
    if estimate > budget.limit * share:
        budget.reached = True
        return {**doc, "skipped": f"one ALS fit (about {estimate:.0f} estimated core-seconds) does not "
                                  f"fit in the budget"}
    current, best = dict(default), score(default)
    for axis in axes:
        values = sorted(set(grids[axis]) | {current[axis]})
        here = values.index(current[axis])
        for direction in (-1, 1):  # the smaller values first: they are the cheaper fits
            moved, j = False, here + direction
            while 0 <= j < len(values):
                value = score({**current, axis: values[j]})
                if value is None or best is None or value <= best:
                    break
                current, best, moved, j = {**current, axis: values[j]}, value, True, j + direction
            if moved:
                break
    # the walk's point is the best tried; a cheaper one it cannot be told from may be used instead
    # ALS is also the ranker's candidate generator: a point may not surely lower the recall of its
    # n_candidates tracks (on the demo data 32 factors raise NDCG@10 but lower it, and the ranker loses)
    chosen, how = choose({k: per_user[k] for k in tried}, key(default), lambda k: k[0], cfg.confidence,
                         cfg.seed, guard={k: recall[k] for k in tried})
    as_point = dict(zip(ALS_AXES, chosen, strict=True))
    return {**doc, "chosen": as_point, "decision": _named(how, ALS_AXES), "tried": list(tried.values())}


# --- the ranker ----------------------------------------------------------------------------------------
def ranker_splits(frame: pl.DataFrame, settings: Settings) -> list[tuple[pl.DataFrame, pl.DataFrame]]:
    """(training rows, held-out rows) per model of the ranker's ensemble: each holds out its own seeded
    ``[ranker] valid_fraction`` of the users; the training rows are a seeded sample of whole user lists
    of at most ``[tuning] ranker_max_rows`` rows."""
    cfg, tuning = settings.ranker, settings.tuning
    users = np.unique(frame.get_column(C.User).to_numpy())
    n_models = cfg.ensemble if frame.height <= cfg.ensemble_max_rows else 1
    out = []
    for m in range(n_models):
        rng = np.random.default_rng(tuning.seed + 1000 * m)
        held = rng.choice(users, max(1, int(len(users) * cfg.valid_fraction)), replace=False)
        is_held = pl.col(C.User).is_in(pl.Series(held).implode())
        train, valid = frame.filter(~is_held), frame.filter(is_held)
        if train.height > tuning.ranker_max_rows:
            sizes = train.group_by(GROUP).len().sort(GROUP)
            order = rng.permutation(sizes.height)
            total = np.cumsum(sizes.get_column("len").to_numpy()[order])
            keep = sizes.get_column(GROUP).to_numpy()[order][total <= tuning.ranker_max_rows]
            train = train.filter(pl.col(GROUP).is_in(pl.Series(keep).implode()))
        out.append((train, valid))
    return out


def within_candidates_ndcg(valid: pl.DataFrame, scores: np.ndarray) -> np.ndarray:
    """NDCG@10 of each held-out list (a group with a positive) ordered by ``scores``, its positives as
    the relevant tracks; one value per list."""
    ranked = (valid.select(pl.col(GROUP).alias(C.User), C.Item, "label")
              .with_columns(pl.Series(C.Score, scores))
              .sort([C.User, C.Score, C.Item], descending=[False, True, False])
              .with_columns(pl.int_range(1, pl.len() + 1).over(C.User).alias(C.Rank)))
    truth = ranked.filter(pl.col("label") == 1).select(C.User, C.Item)
    return ndcg_per_user(ranked, truth, K, truth.get_column(C.User).unique().sort().to_numpy())


def search_ranker(frame: pl.DataFrame, settings: Settings, budget: Budget) -> dict[str, Any]:
    """Score the ranker's grid on held-out users of its training frame; the section of the document."""
    cfg, base = settings.tuning, settings.ranker
    fixed = fixed_keys(base)
    pick = {"depth": cfg.ranker_depth, "learning_rate": cfg.ranker_learning_rate,
            "iterations": cfg.ranker_iterations}
    grids = {a: (getattr(base, a),) if a in fixed else tuple(sorted(set(pick[a]) | {getattr(base, a)}))
             for a in RANKER_AXES}
    default = {a: getattr(base, a) for a in RANKER_AXES}
    trees = grids["iterations"]
    # the default first, then the cheaper fits (shallower trees, then faster learning) first
    pairs = sorted(((d, lr) for d in grids["depth"] for lr in grids["learning_rate"]),
                   key=lambda p: (p != (default["depth"], default["learning_rate"]), p[0], -p[1]))
    splits = ranker_splits(frame, settings)
    tried: list[dict[str, Any]] = []
    per_list: dict[tuple[Any, ...], np.ndarray] = {}
    for depth, lr in pairs:
        estimate = sum(ranker_cost(train.height, max(trees), depth) for train, _ in splits)
        if tried and not budget.take(estimate):
            break
        if not tried:  # the default (the first) always runs
            budget.spent += estimate
        start, used = time.perf_counter(), budget.core_s()
        stage = CatBoostStage(base.model_copy(update={"depth": depth, "learning_rate": lr}), FEATURES)
        curves = [(valid, stage.tree_curve(train, valid, trees, cfg.seed + 1000 * m))
                  for m, (train, valid) in enumerate(splits)]
        seconds, core_s = time.perf_counter() - start, budget.core_s() - used
        for n in trees:  # one fit per (depth, learning rate) scores every tree count: its seconds on each
            per_list[(depth, lr, n)] = np.concatenate([within_candidates_ndcg(valid, curve[n])
                                                       for valid, curve in curves])
            tried.append({"depth": depth, "learning_rate": lr, "iterations": n,
                          "ndcg@10_within_candidates": round(float(per_list[(depth, lr, n)].mean()), 4),
                          "estimate_s": round(estimate, 2), "seconds": round(seconds, 2),
                          "core_s": round(core_s, 2)})
        log.info("tuning ranker depth %d, learning rate %s: %s (%.1f s)", depth, lr,
                 {t["iterations"]: t["ndcg@10_within_candidates"] for t in tried[-len(trees):]}, seconds)
    # cost of a point: trees x 2^depth (the learning rate costs nothing)
    chosen, how = choose(per_list, tuple(default[a] for a in RANKER_AXES), lambda k: k[2] * 2 ** k[0],
                         cfg.confidence, cfg.seed)
    return {"fixed": {a: default[a] for a in fixed}, "default": default,
            "chosen": dict(zip(RANKER_AXES, chosen, strict=True)),
            "decision": _named(how, RANKER_AXES), "tried": tried,
            "validation": {"held_out_lists": sum(int(v.get_column(GROUP).n_unique()) for _, v in splits),
                           "training_rows": splits[0][0].height, "models": len(splits)}}


# --- the whole tuning -------------------------------------------------------------------------------
def tune(train: pl.DataFrame, items: pl.DataFrame, settings: Settings, show_progress: bool = False,
         starts: WarmStarts | None = None) -> Result:
    """Choose the tunable settings on the end of ``train`` (the train period only); see the module doc.
    ``show_progress``: progress bars of the ranker training frame's ALS fit (minutes at full size);
    ``starts``: the run's warm starts, where the frame's ALS fits are kept for later steps."""
    cfg = settings.tuning
    doc: dict[str, Any] = {"enabled": cfg.enabled, "budget_s": cfg.budget_s, "skipped": None}
    tunable = {name: set(getattr(settings, name).tunable) - set(fixed_keys(getattr(settings, name)))
               for name in ("als", "ranker")}
    if not cfg.enabled:
        doc["skipped"] = "[tuning] enabled = false (or train --no-tune): the configured values are used"
    elif not tunable["als"] and not tunable["ranker"]:
        doc["skipped"] = "every tunable key of [als] and [ranker] is set explicitly"
    if doc["skipped"]:
        log.info("tuning skipped: %s", doc["skipped"])
        return Result(doc)
    budget = Budget(cfg.budget_s)
    val = validation_window(train, cfg)
    if isinstance(val, str):
        log.warning("tuning skipped: %s", val)
        return Result({**doc, "skipped": val})
    doc["validation"] = {"window_start": val.cut.isoformat(), "window_days": val.days,
                         "users": len(val.users), "users_in_window": val.candidates,
                         "history_rows": val.history.height, "window_pairs": val.truth.height}
    log.info("tuning on the validation window from %s (%d days), %d users", val.cut.date(), val.days,
             len(val.users))
    # with the ranker to tune, ALS may use half of the budget
    doc["als"] = search_als(val, settings, budget, 0.5 if tunable["ranker"] else 1.0)
    # the window's history is a copy of most of the train period (2.9 GB at full size): not held while
    # the ranker's training frame makes its own
    del val
    chosen = apply(settings, doc)
    frame = None
    ranker = {a: getattr(settings.ranker, a) for a in RANKER_AXES}
    doc["ranker"] = {"fixed": {a: v for a, v in ranker.items() if a not in tunable["ranker"]},
                     "default": ranker, "chosen": {}, "tried": []}
    frame_core_s = 0.0
    if tunable["ranker"]:
        start, used = time.perf_counter(), budget.core_s()
        try:
            frame = training_frame(train, items, chosen, show_progress, starts)
        except ValueError as exc:  # tiny data: no label window, no positives
            doc["ranker"]["skipped"] = str(exc)
        else:
            # the frame is the ranker step's own (it reuses it): not part of the search's cost
            frame_s, frame_core_s = time.perf_counter() - start, budget.core_s() - used
            doc["ranker"] = {**search_ranker(frame, chosen, budget), "frame_s": round(frame_s, 1)}
    doc["budget_reached"] = budget.reached
    doc["estimate_s"] = round(budget.spent, 1)
    doc["core_s"] = round(budget.core_s() - frame_core_s, 1)  # measured; the frame not counted
    doc["seconds"] = round(budget.elapsed(), 1)
    log.info("tuning done in %.1f s%s: als %s, ranker %s", doc["seconds"],
             " (budget reached: the points after it were not tried)" if budget.reached else "",
             doc["als"]["chosen"], doc.get("ranker", {}).get("chosen"))
    return Result(doc, frame)


def apply(settings: Settings, doc: dict[str, Any]) -> Settings:
    """``settings`` with the values ``doc`` (a :func:`tune` document) chose, for keys not set explicitly."""
    if not settings.tuning.enabled or doc.get("skipped"):
        return settings
    update = {}
    for name in ("als", "ranker"):
        section = getattr(settings, name)
        chosen = doc.get(name, {}).get("chosen", {})
        chosen = {k: v for k, v in chosen.items() if k not in fixed_keys(section)}
        if chosen:
            update[name] = section.model_copy(update=chosen)
    return settings.model_copy(update=update)
