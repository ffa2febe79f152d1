"""The evaluation runner: every model scored on the same users of the test period.

* ``warm``: random, all-time popular, recent popular, ALS and the ranker (whatever ``recs`` holds),
  all on the SAME users: those with train history and test listens. Shared lists (popular, random)
  are personalised the way the personal models are: tracks the user already heard are skipped.
* ``cold``: test users without train history get the all-time popular list; its hit rate at 100
  (the original's "38% of cold users get a hit") and its ranking metrics.
* ``online``: for warm users with more than ``[evaluation] online_history`` test listens, the first
  ones play the listens the events service would hold; the online list, the offline list, the
  original's alternation and the learned blend (``blend.json``), with and without the artist cap,
  exactly as the service answers them, scored on the next ``session_length`` listens (``session``)
  and on all the remaining ones (``long``), each blend with a paired bootstrap interval over offline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from musicrec.columns import Columns as C
from musicrec.config import Settings
from musicrec.data.catalog import list_column
from musicrec.evaluation import metrics as M
from musicrec.models.blend_fit import HORIZONS, item_artists, neighbour_lists, online_horizons
from musicrec.models.blending import FusionWeights, blend, cap_per_artist, combine_online, fuse
from musicrec.models.popular import recent_popular, top_popular
from musicrec.models.ranker import candidates

log = logging.getLogger(__name__)

BASELINES = ("random", "top_popular", "recent_popular", "als")
ONLINE_LISTS = ("online", "offline", "alternate", "offline_capped", "learned", "learned_capped")
COLD_K = 100


def bootstrap_resamples(users: int) -> int:
    """10,000 resamples, fewer past ~5,000 users (at least 1,000): the work is resamples x users, and
    with many users the interval is narrow and steady anyway.

    >>> bootstrap_resamples(86), bootstrap_resamples(7_622), bootstrap_resamples(1_000_000)
    (10000, 6559, 1000)
    """
    return max(1_000, min(10_000, 50_000_000 // max(users, 1)))


def evaluate(
    split: Any,
    recs: dict[str, pl.DataFrame],
    items: pl.DataFrame,
    settings: Settings,
    similar: pl.DataFrame | None = None,
    blend_weights: FusionWeights | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Metrics of every model in ``recs`` plus the baselines, as a JSON-serialisable dict.

    ``split`` is a :class:`musicrec.pipeline.split.TimeSplit`. ``recs`` maps a model name to either a
    personal frame (``user_id, item_id, rank``) or a shared list (``item_id, rank``, e.g. the
    ``top_popular`` artifact). ``random``, ``top_popular`` and ``recent_popular`` are computed from
    ``split.train`` when absent. ``similar`` (``item_id_1, item_id_2, score``) enables the online
    section; without it the section says it was skipped. ``show_progress``: the online section's
    progress bar (minutes at full size).
    """
    ks = tuple(sorted(settings.evaluation.ks))
    max_k = max(ks)
    train, test = split.train, split.test
    warm = np.asarray(split.warm_users)
    cold = np.asarray(split.cold_users)
    truth = test.select(C.User, C.Item).unique()
    relevant = M.Relevant(truth)  # made distinct once for every list and k
    n_items = int(items.height)

    popular = recs.get("top_popular")
    if popular is None:
        popular = top_popular(train, settings.popular.n)
    recent = recs.get("recent_popular")
    if recent is None:
        recent = recent_popular(train, settings.popular.n, settings.popular.recent_days, split.split_date)
    lists: dict[str, pl.DataFrame] = {"top_popular": popular, "recent_popular": recent}
    lists.update({name: frame for name, frame in recs.items() if name not in lists})
    personal_lists = personal_baselines(train, warm, lists, max_k, settings.evaluation.seed,
                                        random="random" not in lists)
    personal_lists.update({name: frame for name, frame in lists.items() if C.User in frame.columns})
    popularity = item_reach(train)

    warm_models: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(("random", *lists)):
        warm_models[name] = score_list(personal_lists[name], relevant, popularity, items, ks, warm, n_items)
        log.info("%s: ndcg@%d %.4f", name, max_k, warm_models[name][f"ndcg@{max_k}"])
    summary = summarise(warm_models, max_k)
    if summary.get("ranker_over_best_baseline") is not None and len(warm):
        # how sure the ratio is: the same users resampled for both lists
        per_user = {name: M.ndcg_per_user(personal_lists[name], relevant, max_k, warm)
                    for name in ("ranker", summary["best_baseline"])}
        resamples = bootstrap_resamples(len(warm))
        summary["ranker_over_best_baseline_95ci"] = list(M.bootstrap_ratio_interval(
            per_user["ranker"], per_user[summary["best_baseline"]], resamples, settings.evaluation.seed))
        summary["bootstrap_resamples"] = resamples

    popular_items = _ordered_items(popular)
    cold_lists = pl.DataFrame({
        C.User: np.repeat(cold, len(popular_items)),
        C.Item: np.tile(popular_items, len(cold)),
        C.Rank: np.tile(np.arange(1, len(popular_items) + 1), len(cold)),
    }) if len(cold) else pl.DataFrame(schema={C.User: pl.Int64, C.Item: pl.Int64, C.Rank: pl.Int64})
    cold_section = {
        "users": len(cold),
        "models": {"top_popular": {
            f"hit_rate@{COLD_K}": M.list_hit_rate(popular_items[:COLD_K], truth, cold),
            **M.ranking_metrics(cold_lists, relevant, ks, cold),
        }},
    }

    offline_name = "ranker" if "ranker" in recs else "als" if "als" in recs else "top_popular"
    offline = personal_lists[offline_name]
    online_section = (
        evaluate_online(test, warm, offline, similar, popular_items, settings, items, blend_weights,
                        show_progress)
        if similar is not None
        else {"skipped": "no similar-tracks table was given"}
    )
    if "users" in online_section:
        online_section["offline_list"] = offline_name

    return {
        "split_date": split.split_date.isoformat(),
        "ks": list(ks),
        "n_items": n_items,
        "warm": {"users": len(warm), "models": warm_models},
        "cold": cold_section,
        "online": online_section,
        "summary": summary,
    }


def score_list(
    recs: pl.DataFrame, truth: M.Truth, popularity: tuple[pl.DataFrame, int], items: pl.DataFrame,
    ks: tuple[int, ...], users: np.ndarray, n_items: int,
) -> dict[str, float]:
    """Ranking metrics at each k plus novelty (``popularity``: :func:`item_reach`), coverage and
    diversity at the largest k."""
    k = max(ks)
    recs = M.top_k(recs, k, users)  # ranked once: each metric and k below only cuts it
    out = M.ranking_metrics(recs, truth, ks, users)
    out[f"novelty@{k}"] = M.novelty_at_k(recs, None, k, users, reach=popularity)
    out[f"coverage@{k}"] = M.item_coverage_at_k(recs, k, users, max(n_items, 1))
    column = list_column(items, C.GenreIds, C.Genres)
    if column is not None:
        out[f"diversity@{k}"] = M.genre_diversity_at_k(recs, items, k, users, column)
    return out


def user_groups(train: pl.DataFrame, users: np.ndarray) -> Iterator[tuple[np.ndarray, pl.DataFrame]]:
    """``users`` in groups (``user_id % g``) of at most about ``CHUNK_ROWS`` train listens, each with
    its users' train pairs ``user_id, item_id``. At full size the warm users' pairs are 190M rows, and
    an anti-join against all of them at once a hash table of every one; below ``CHUNK_ROWS`` listens
    (everything up to 1/10 scale) it is one group."""
    g = candidates.user_groups_of(train)
    users = np.asarray(users)
    for j in range(g):
        part = users[users % g == j] if g > 1 else users
        pairs = train.filter(pl.col(C.User).is_in(pl.Series(part).implode())).select(C.User, C.Item)
        yield part, pairs


def personal_baselines(train: pl.DataFrame, users: np.ndarray, lists: dict[str, pl.DataFrame], k: int,
                       seed: int, random: bool = True) -> dict[str, pl.DataFrame]:
    """Each shared list of ``lists`` (no ``user_id`` column) as a personal top ``k`` of each user
    (:func:`personalise`), plus ``random`` (:func:`random_lists`, seeded) when asked, built per group
    of users (:func:`user_groups`)."""
    shared = [name for name, frame in lists.items() if C.User not in frame.columns]
    parts: dict[str, list[pl.DataFrame]] = {name: [] for name in (["random"] if random else []) + shared}
    catalogue = np.sort(train.get_column(C.Item).unique().to_numpy())
    rng = np.random.default_rng(seed)
    for part, seen in user_groups(train, users):
        if random:
            parts["random"].append(random_lists(catalogue, part, k, rng, seen))
        for name in shared:
            parts[name].append(personalise(lists[name], part, seen, k))
    return {name: pl.concat(frames).sort(C.User, maintain_order=True) for name, frames in parts.items()}


def item_reach(train: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """How many train users listened to each track (``item_id, _reach``), and how many users train has:
    what :func:`musicrec.evaluation.metrics.novelty_at_k` reads, counted once for every model and per
    group of users (the users are disjoint, so the counts add up).

    >>> reach, n = item_reach(pl.DataFrame({"user_id": [1, 1, 2], "item_id": [7, 7, 7]}))
    >>> reach.rows(), n
    ([(7, 2)], 2)
    """
    per_group = candidates.by_users(train, lambda part: part.select(C.User, C.Item).unique()
                                    .group_by(C.Item).agg(pl.len().alias(M.REACH)))
    reach = per_group.group_by(C.Item).agg(pl.col(M.REACH).sum()).sort(C.Item)
    return reach, train.get_column(C.User).n_unique()


def summarise(models: dict[str, dict[str, float]], k: int) -> dict[str, Any]:
    """Best baseline by NDCG@k and the ranker's ratio to it (the acceptance criterion)."""
    key = f"ndcg@{k}"
    baselines = {name: m[key] for name, m in models.items() if name in BASELINES}
    if not baselines:
        return {}
    best = max(baselines, key=baselines.get)
    out: dict[str, Any] = {"metric": key, "best_baseline": best, "best_baseline_value": baselines[best]}
    if "ranker" in models:
        out["ranker_value"] = models["ranker"][key]
        out["ranker_over_best_baseline"] = (
            models["ranker"][key] / baselines[best] if baselines[best] > 0 else None
        )
    return out


def _ordered_items(shared: pl.DataFrame) -> np.ndarray:
    frame = shared.sort(C.Rank) if C.Rank in shared.columns else shared
    return frame.get_column(C.Item).to_numpy()


def personalise(shared: pl.DataFrame, users: np.ndarray, seen: pl.DataFrame, k: int) -> pl.DataFrame:
    """A shared ranked list as a personal one for each of ``users``: tracks they heard are skipped.

    >>> shared = pl.DataFrame({"item_id": [7, 8, 9], "rank": [1, 2, 3]})
    >>> seen = pl.DataFrame({"user_id": [1], "item_id": [7]})
    >>> personalise(shared, np.array([1, 2]), seen, 2).rows()
    [(1, 8, 1), (1, 9, 2), (2, 7, 1), (2, 8, 2)]
    """
    ordered = _ordered_items(shared)
    users = np.asarray(users)
    # only the pairs of the list's tracks can be skipped: the anti-join's table is those, not every pair
    # the users heard (at full size ~20M per group of users against a few hundred thousand)
    seen = seen.filter(pl.col(C.Item).is_in(pl.Series(ordered).implode()))
    long = pl.DataFrame({
        C.User: np.repeat(users, len(ordered)),
        C.Item: np.tile(ordered, len(users)),
    }).with_columns(pl.col(C.User).cast(seen.schema[C.User]), pl.col(C.Item).cast(seen.schema[C.Item]))
    return (
        long.join(seen, on=[C.User, C.Item], how="anti", maintain_order="left")
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(C.User).alias(C.Rank))
        .filter(pl.col(C.Rank) <= k)
    )


def random_lists(
    catalogue: np.ndarray, users: np.ndarray, k: int, rng: np.random.Generator, seen: pl.DataFrame
) -> pl.DataFrame:
    """``k`` tracks per user drawn uniformly by ``rng`` from ``catalogue`` (the tracks played in train),
    unheard ones only (``seen``: the users' train pairs)."""
    users = np.asarray(users)
    if len(catalogue) == 0 or len(users) == 0:
        return pl.DataFrame(schema={**seen.schema, C.Rank: pl.Int32})
    draws = 3 * k  # enough spare draws for duplicates and heard tracks in all but tiny catalogues
    long = pl.DataFrame({
        C.User: np.repeat(users, draws),
        C.Item: catalogue[rng.integers(0, len(catalogue), len(users) * draws)],
    }).with_columns(pl.col(C.User).cast(seen.schema[C.User]), pl.col(C.Item).cast(seen.schema[C.Item]))
    return (
        long.unique([C.User, C.Item], keep="first", maintain_order=True)
        .join(seen, on=[C.User, C.Item], how="anti", maintain_order="left")
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(C.User).alias(C.Rank))
        .filter(pl.col(C.Rank) <= k)
    )


def evaluate_online(
    test: pl.DataFrame, warm: np.ndarray, offline: pl.DataFrame, similar: pl.DataFrame,
    popular: np.ndarray, settings: Settings, items: pl.DataFrame, weights: FusionWeights | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """The lists ``/recommendations*`` would answer, scored on two horizons after the online listens.

    The first ``[evaluation] online_history`` test listens of a warm user are the online listens;
    ``session`` = the next ``session_length`` listens, ``long`` = all the remaining ones. Lists:
    ``online`` (similar to the online listens), ``offline`` (the served list as is), ``alternate``
    (the original's rule), and with ``weights`` (``blend.json``) ``learned`` (the learned blend), plus
    ``offline_capped`` / ``learned_capped`` with ``[evaluation] artist_cap`` tracks per artist. Each
    blend's NDCG over offline gets a paired bootstrap interval on the same users. Past
    ``[evaluation] online_max_users`` eligible users a seeded sample of them is scored (``eligible``
    says how many there were). ``show_progress``: a progress bar over the users (10,000 or more).
    """
    ks = tuple(sorted(settings.evaluation.ks))
    k = max(ks)
    cap = settings.evaluation.artist_cap
    history = settings.evaluation.online_history
    # past online_max_users a seeded sample: the intervals below say how sure each ratio is
    horizons = online_horizons(test, warm, history, settings.evaluation.session_length,
                               settings.evaluation.online_max_users, settings.evaluation.seed)
    users, eligible = horizons.users, horizons.eligible
    log.info("online evaluation: %d users (of %d with more than %d test listens)", len(users), eligible,
             history)
    heard = list({item for events in horizons.context.values() for item in events})
    neighbours = neighbour_lists(similar.filter(pl.col(C.Item1).is_in(pl.Series(heard).implode())),
                                 settings.similar.k)
    offline_lists = _lists(offline, users, offline.get_column(C.Rank).max() or k) if len(users) else {}
    popular_list = [int(i) for i in popular]
    artist_of = item_artists(items)
    rows: dict[str, list[tuple[int, int, int]]] = {name: [] for name in ONLINE_LISTS}
    for user in tqdm(users.tolist(), desc="online evaluation", unit="user", mininterval=10,
                     disable=not show_progress or len(users) < 10_000):
        events = horizons.context[user]
        near = [neighbours.get(e, ((), ())) for e in events]
        personal = offline_lists.get(user, [])
        base = personal or popular_list
        online = combine_online(near, k, exclude=events)
        answers = {
            "online": online,
            "offline": base[:k],
            "alternate": blend(base, online, k, backfill=popular_list, exclude=events),
            "offline_capped": cap_per_artist(list(dict.fromkeys(base + popular_list)), artist_of, k, cap),
        }
        if weights is not None:
            for name, limit in (("learned", 0), ("learned_capped", cap)):
                picks = fuse(base, near, events, k, weights, artist_of, popular_list, max_per_artist=limit)
                answers[name] = [p.item for p in picks]
        for name, answer in answers.items():
            rows[name] += [(user, item, r) for r, item in enumerate(answer, 1)]
    schema = {C.User: pl.Int64, C.Item: pl.Int64, C.Rank: pl.Int64}
    frames = {name: pl.DataFrame(r, schema=schema, orient="row") for name, r in rows.items()
              if r or name in ("online", "offline", "alternate")}
    n_items = max(int(items.height), 1)
    out: dict[str, Any] = {
        "users": len(users), "eligible": eligible, "history": settings.evaluation.online_history,
        "session_length": settings.evaluation.session_length, "artist_cap": cap,
        "weights": weights.to_dict() if weights is not None else None, "horizons": {},
    }
    resamples = bootstrap_resamples(len(users))
    genres = list_column(items, C.GenreIds, C.Genres)
    for horizon in HORIZONS:
        targets = getattr(horizons, horizon)
        truth = pl.DataFrame([(u, i) for u, items_ in targets.items() for i in items_],
                             schema={C.User: pl.Int64, C.Item: pl.Int64}, orient="row")
        models = {}
        for name, frame in frames.items():
            models[name] = M.ranking_metrics(frame, truth, ks, users)
            models[name][f"coverage@{k}"] = M.item_coverage_at_k(frame, k, users, n_items)
            if genres is not None:
                models[name][f"diversity@{k}"] = M.genre_diversity_at_k(frame, items, k, users, genres)
        per_user = {name: M.ndcg_per_user(frame, truth, k, users) for name, frame in frames.items()}
        over = {}
        for name in per_user:
            if name in ("alternate", "learned", "learned_capped", "offline_capped") and len(users):
                base_value = models["offline"][f"ndcg@{k}"]
                over[name] = {"ratio": None, "ci95": None} if base_value <= 0 else {
                    "ratio": models[name][f"ndcg@{k}"] / base_value,
                    "ci95": list(M.bootstrap_ratio_interval(per_user[name], per_user["offline"], resamples,
                                                            settings.evaluation.seed)),
                }
        out["horizons"][horizon] = {"models": models, "over_offline": over}
    out["bootstrap_resamples"] = resamples
    return out


def _lists(recs: pl.DataFrame, users: np.ndarray, k: int) -> dict[int, list[int]]:
    top = M.top_k(recs, k, users).group_by(C.User).agg(pl.col(C.Item).sort_by("_pos"))
    return {int(u): [int(i) for i in lst] for u, lst in top.iter_rows()}
