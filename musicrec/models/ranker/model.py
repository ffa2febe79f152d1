"""The CatBoost second stage, wrapped (not subclassed): fit with early stopping on held-out users.

With ``[ranker] ensemble = n > 1`` it fits n models, each with its own seed and its own held-out users,
and averages their raw scores: on small training sets (a few hundred user lists) one model's
corrections to the prior depend a lot on the seed, and the average is steadier. Past
``ensemble_max_rows`` training rows one model is fitted: there the seed matters little and the fit
time would multiply.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl
from catboost import CatBoostClassifier, Pool

from musicrec.columns import Columns as C
from musicrec.config import Ranker

log = logging.getLogger(__name__)
GROUP = "group"
# the prior the trees correct: the log share of recent listens ([popular] recent_days), a log-odds-like
# score. Tried and not adopted (docs/quality.md): a 14-day decayed share, no prior, YetiRank and
# PairLogit losses, row weights per list, a refit on the held-out users.
PRIOR = "item_recent_share_log"


class CatBoostStage:
    """``fit(frame)`` on rows with the feature columns, ``label`` and ``group`` (one ranking list,
    e.g. a user in one label window); ``predict(frame)``. A Logloss classifier whose raw score (log-odds)
    corrects the prior."""

    def __init__(self, params: Ranker, features: tuple[str, ...]):
        self.params = params
        self.features = list(features)
        self.models: list[CatBoostClassifier] = []
        self.info: dict[str, Any] = {}

    @property
    def model(self) -> CatBoostClassifier | None:
        """The first fitted model (the only one unless ``ensemble`` > 1)."""
        return self.models[0] if self.models else None

    def _estimator(self, seed: int) -> CatBoostClassifier:
        p = self.params
        return CatBoostClassifier(loss_function="Logloss", iterations=p.iterations, depth=p.depth,
                                  learning_rate=p.learning_rate, l2_leaf_reg=p.l2_leaf_reg, random_seed=seed,
                                  thread_count=p.threads, verbose=False, allow_writing_files=False)

    def _pool(self, frame: pl.DataFrame) -> Pool:
        frame = frame.sort(GROUP, maintain_order=True)  # CatBoost wants each group contiguous
        return Pool(frame.select(self.features).to_numpy(), label=frame.get_column("label").to_numpy(),
                    group_id=frame.get_column(GROUP).to_numpy(), feature_names=self.features,
                    baseline=self._baseline(frame))

    @staticmethod
    def _baseline(frame: pl.DataFrame) -> np.ndarray:
        """The prior the trees correct (:data:`PRIOR`)."""
        return frame.get_column(PRIOR).to_numpy().astype(np.float64)

    def fit(self, frame: pl.DataFrame) -> CatBoostStage:
        """Fit ``ensemble`` models; each holds out its own seeded ``valid_fraction`` of the users for
        early stopping."""
        if frame.height == 0 or frame.get_column("label").sum() == 0:
            raise ValueError("the ranker has no positive training rows: no candidate was listened to in "
                             "the label window ([ranker] label_days, n_candidates)")
        users = np.unique(frame.get_column(C.User).to_numpy())
        self.models = []
        members = []
        n_models = self.params.ensemble if frame.height <= self.params.ensemble_max_rows else 1
        for m in range(n_models):
            model, member = self._fit_one(frame, users, self.params.seed + 1000 * m)
            self.models.append(model)
            members.append(member)
        first = members[0]
        train_pool = self._pool(first.pop("_train"))
        for member in members[1:]:
            member.pop("_train")
        importance = np.mean([m.get_feature_importance(train_pool) for m in self.models], axis=0)
        valid = [m["valid_ndcg@10_within_candidates"] for m in members]
        self.info = {
            "loss": "Logloss",
            **{k: first[k] for k in ("train_rows", "train_positives", "train_groups", "valid_groups")},
            "ensemble": n_models,
            "trees": first["trees"] if len(members) == 1 else [m["trees"] for m in members],
            "valid_ndcg@10_within_candidates": valid[0] if len(valid) == 1 else valid,
            "feature_importance": dict(sorted(
                ((n, round(float(v), 3)) for n, v in zip(self.features, importance, strict=True)),
                key=lambda kv: -kv[1])),
        }
        log.info("ranker fit: %s", {k: v for k, v in self.info.items() if k != "feature_importance"})
        return self

    def _fit_one(self, frame: pl.DataFrame, users: np.ndarray, seed: int) -> tuple[Any, dict[str, Any]]:
        """One model: hold out users (all their windows, so validation never sees a training user),
        fit with early stopping."""
        rng = np.random.default_rng(seed)
        n_valid = int(len(users) * self.params.valid_fraction)
        valid_users = rng.choice(users, n_valid, replace=False) if n_valid >= 1 else np.array([], dtype=int)
        is_valid = pl.col(C.User).is_in(pl.Series(valid_users).implode())
        train, valid = frame.filter(~is_valid), frame.filter(is_valid)
        model = self._estimator(seed)
        fit_kwargs: dict[str, Any] = {}
        if valid.height and valid.get_column("label").sum() > 0:
            fit_kwargs = {"eval_set": self._pool(valid), "early_stopping_rounds":
                          self.params.early_stopping_rounds, "use_best_model": True}
        model.fit(self._pool(train), **fit_kwargs)
        best = int(model.get_best_iteration() or 0) + 1 if fit_kwargs else self.params.iterations
        valid_ndcg = self._valid_ndcg(model, valid) if fit_kwargs else None
        return model, {
            "_train": train,
            "train_rows": train.height,
            "train_positives": int(train.get_column("label").sum()),
            "train_groups": int(train.get_column(GROUP).n_unique()),
            "valid_groups": int(valid.get_column(GROUP).n_unique()),
            "trees": best,
            "valid_ndcg@10_within_candidates": valid_ndcg,
        }

    def _valid_ndcg(self, model: Any, valid: pl.DataFrame) -> float:
        """NDCG@10 of the held-out users' candidate lists, as ordered by the fitted model."""
        scores = model.eval_metrics(self._pool(valid), ["NDCG:top=10;type=Base"],
                                    eval_period=model.tree_count_)
        return round(float(scores["NDCG:top=10;type=Base"][-1]), 4)

    def tree_curve(self, train: pl.DataFrame, valid: pl.DataFrame, trees: tuple[int, ...],
                   seed: int) -> dict[int, np.ndarray]:
        """For each ``n`` of ``trees``: the scores of the ``valid`` rows (prior included, rows in order)
        by the model :meth:`fit` would make with ``iterations = n`` on these rows (early stopping on
        ``valid``, the best tree count kept), all from one fit (nothing is kept on ``self``).

        A fit's first n trees do not depend on how many may follow, so the model of ``iterations = n``
        is the first trees of the longest one, up to the best count among its first n."""
        model = self._estimator(seed).set_params(iterations=max(trees))
        model.fit(self._pool(train), eval_set=self._pool(valid),
                  early_stopping_rounds=self.params.early_stopping_rounds, use_best_model=False)
        history = model.get_evals_result()["validation"]["Logloss"]
        history = np.asarray(history)  # Logloss: lower is better
        x = valid.select(self.features).to_numpy()
        prior = self._baseline(valid)
        best = {n: int(np.argmin(history[:n])) + 1 for n in trees}
        scores = {count: model.predict(x, ntree_end=count, prediction_type="RawFormulaVal") + prior
                  for count in set(best.values())}
        return {n: scores[best[n]] for n in trees}

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """A score per row (higher = better; the mean over the ensemble); rows keep their order."""
        if not self.models:
            raise RuntimeError("fit the ranker before predicting")
        x = frame.select(self.features).to_numpy()
        # a classifier's raw score is log-odds, the same scale as the prior
        raw = np.mean([m.predict(x, prediction_type="RawFormulaVal") for m in self.models], axis=0)
        return raw + self._baseline(frame)
