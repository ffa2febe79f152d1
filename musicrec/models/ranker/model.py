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
from catboost import CatBoostClassifier, CatBoostRanker, Pool

from musicrec.columns import Columns as C
from musicrec.config import Ranker

log = logging.getLogger(__name__)
GROUP = "group"
# the feature a prior reads: a log share of listens, i.e. a log-odds-like score
_PRIORS = {"recent_share": "item_recent_share_log", "decayed_share": "item_decay14_log"}


class CatBoostStage:
    """``fit(frame)`` on rows with the feature columns, ``label`` and ``group`` (one ranking list,
    e.g. a user in one label window); ``predict(frame)``."""

    def __init__(self, params: Ranker, features: tuple[str, ...]):
        self.params = params
        self.features = list(features)
        self.models: list[CatBoostRanker | CatBoostClassifier] = []
        self.info: dict[str, Any] = {}

    @property
    def model(self) -> CatBoostRanker | CatBoostClassifier | None:
        """The first fitted model (the only one unless ``ensemble`` > 1)."""
        return self.models[0] if self.models else None

    def _estimator(self, seed: int) -> CatBoostRanker | CatBoostClassifier:
        p = self.params
        common = dict(iterations=p.iterations, depth=p.depth, learning_rate=p.learning_rate,
                      l2_leaf_reg=p.l2_leaf_reg, random_seed=seed, thread_count=p.threads, verbose=False,
                      allow_writing_files=False)
        if p.loss == "Logloss":
            return CatBoostClassifier(loss_function="Logloss", **common)
        return CatBoostRanker(loss_function=p.loss, eval_metric="NDCG:top=10", **common)

    def _pool(self, frame: pl.DataFrame) -> Pool:
        frame = frame.sort(GROUP, maintain_order=True)  # CatBoost wants each group contiguous
        return Pool(frame.select(self.features).to_numpy(), label=frame.get_column("label").to_numpy(),
                    group_id=frame.get_column(GROUP).to_numpy(), feature_names=self.features,
                    baseline=self._baseline(frame), weight=self._weights(frame))

    def _weights(self, frame: pl.DataFrame) -> np.ndarray | None:
        """Row weights ``c / size`` (``group``: every list sums to ``c``) or ``c / sqrt(size)`` (``sqrt``)
        of the row's group (user list); ``c`` keeps the mean weight near 1. None for ``none``."""
        if self.params.row_weight == "none":
            return None
        size = pl.len().over(GROUP).cast(pl.Float64)
        if self.params.row_weight == "sqrt":
            size = size.sqrt()
        return frame.select((size.mean() / size).alias("w")).get_column("w").to_numpy()

    def _baseline(self, frame: pl.DataFrame) -> np.ndarray | None:
        """The prior the trees correct: a log share of (recent or decayed) listens; None: no prior."""
        if self.params.prior == "none":
            return None
        return frame.get_column(_PRIORS[self.params.prior]).to_numpy().astype(np.float64)

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
            "loss": self.params.loss,
            **{k: first[k] for k in ("train_rows", "train_positives", "train_groups", "valid_groups")},
            "ensemble": n_models,
            "trees": first["trees"] if len(members) == 1 else [m["trees"] for m in members],
            "refit_on_all_users": first["refit_on_all_users"],
            "valid_ndcg@10_within_candidates": valid[0] if len(valid) == 1 else valid,
            "feature_importance": dict(sorted(
                ((n, round(float(v), 3)) for n, v in zip(self.features, importance, strict=True)),
                key=lambda kv: -kv[1])),
        }
        log.info("ranker fit: %s", {k: v for k, v in self.info.items() if k != "feature_importance"})
        return self

    def _fit_one(self, frame: pl.DataFrame, users: np.ndarray, seed: int) -> tuple[Any, dict[str, Any]]:
        """One model: hold out users (all their windows, so validation never sees a training user),
        fit with early stopping, optionally refit on everyone with the chosen tree count."""
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
        refit = bool(fit_kwargs and self.params.refit_full)
        if refit:
            # the held-out users are data too (a fifth of it on a small set): refit on everyone for the
            # number of trees early stopping chose
            model = self._estimator(seed).set_params(iterations=best)
            model.fit(self._pool(frame))
        return model, {
            "_train": frame if refit else train,
            "train_rows": train.height,
            "train_positives": int(train.get_column("label").sum()),
            "train_groups": int(train.get_column(GROUP).n_unique()),
            "valid_groups": int(valid.get_column(GROUP).n_unique()),
            "trees": best,
            "refit_on_all_users": refit,
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
        name, history = next(iter(model.get_evals_result()["validation"].items()))
        history = np.asarray(history) * (1 if name == "Logloss" else -1)  # lower is better
        x = valid.select(self.features).to_numpy()
        prior = self._baseline(valid)
        kind = {"prediction_type": "RawFormulaVal"} if isinstance(model, CatBoostClassifier) else {}
        offset = 0.0 if prior is None else prior
        best = {n: int(np.argmin(history[:n])) + 1 for n in trees}
        scores = {count: model.predict(x, ntree_end=count, **kind) + offset for count in set(best.values())}
        return {n: scores[best[n]] for n in trees}

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """A score per row (higher = better; the mean over the ensemble); rows keep their order."""
        if not self.models:
            raise RuntimeError("fit the ranker before predicting")
        x = frame.select(self.features).to_numpy()
        # a classifier's raw score is log-odds, the same scale as the prior
        raw = np.mean([m.predict(x, prediction_type="RawFormulaVal") if isinstance(m, CatBoostClassifier)
                       else m.predict(x) for m in self.models], axis=0)
        prior = self._baseline(frame)
        return raw if prior is None else raw + prior
