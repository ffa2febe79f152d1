"""Markdown rendering of the document :func:`musicrec.evaluation.runner.evaluate` returns."""

from __future__ import annotations

from typing import Any

_ORDER = ("precision", "recall", "f1", "ndcg", "map", "hit_rate", "novelty", "unseen", "coverage",
          "diversity")


def _sort_key(metric: str) -> tuple[int, int]:
    name, _, k = metric.partition("@")
    rank = _ORDER.index(name) if name in _ORDER else len(_ORDER)
    return rank, int(k) if k.isdigit() else 0


def table(models: dict[str, dict[str, float]]) -> list[str]:
    """One markdown table: a row per model, a column per metric (ranking metrics first).

    >>> print("\\n".join(table({"als": {"ndcg@10": 0.12345, "precision@5": 0.1}})))
    | model | precision@5 | ndcg@10 |
    |---|---|---|
    | als | 0.1000 | 0.1235 |
    """
    names = sorted({m for values in models.values() for m in values}, key=_sort_key)
    lines = ["| model | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for model, values in models.items():
        cells = [_fmt(values.get(m)) for m in names]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def _interval(summary: dict[str, Any]) -> str:
    """``; paired bootstrap ... 95% interval lo-hi`` when the summary has one, else nothing."""
    if "ranker_over_best_baseline_95ci" not in summary:
        return ""
    lo, hi = summary["ranker_over_best_baseline_95ci"]
    return (f"; paired bootstrap over the users ({summary['bootstrap_resamples']:,} resamples), "
            f"95% interval {lo:.2f}-{hi:.2f}")


def render_markdown(metrics: dict[str, Any], tuning: dict[str, Any] | None = None) -> str:
    """The metrics document as markdown: warm, cold and online tables plus the ranker summary, and
    the settings tuning chose (``tuning``: the ``tuning.json`` document) when given."""
    lines = [
        "# Offline metrics",
        "",
        f"Split date {metrics['split_date']}; catalogue of {metrics['n_items']:,} tracks. Every row of a "
        "table is scored on the same users; users without a list count as zero.",
        "",
        f"## Warm test users ({metrics['warm']['users']:,}: train history and test listens)",
        "",
        *table(metrics["warm"]["models"]),
    ]
    summary = metrics.get("summary") or {}
    if "ranker_over_best_baseline" in summary and summary["ranker_over_best_baseline"] is not None:
        lines += [
            "",
            f"Ranker {summary['metric']} {summary['ranker_value']:.4f} = "
            f"{summary['ranker_over_best_baseline']:.2f} x the best baseline "
            f"({summary['best_baseline']}, {summary['best_baseline_value']:.4f}){_interval(summary)}.",
        ]
    cold = metrics["cold"]
    lines += ["", f"## Cold test users ({cold['users']:,}: test listens, no train history)", "",
              *table(cold["models"])]
    online = metrics["online"]
    lines += ["", "## Online path"]
    if "users" in online:
        lines += ["", *online_lines(online)]
    else:
        lines += ["", f"Skipped: {online.get('skipped', 'not evaluated')}."]
    if tuning is not None:
        lines += ["", *tuning_lines(tuning)]
    return "\n".join(lines) + "\n"


def tuning_lines(doc: dict[str, Any]) -> list[str]:
    """The ``tuning.json`` document as markdown: the settings used (default, chosen or fixed) and every
    point tried with its validation score, the chosen one in bold.

    >>> doc = {"enabled": True, "skipped": None, "seconds": 3.0, "budget_s": 20, "budget_reached": False,
    ...        "validation": {"window_start": "2022-12-02T00:00:00", "window_days": 14, "users": 50},
    ...        "als": {"fixed": {"alpha": 5.0}, "default": {"factors": 64, "alpha": 5.0},
    ...                "chosen": {"factors": 32, "alpha": 5.0},
    ...                "tried": [{"factors": 64, "alpha": 5.0, "ndcg@10": 0.1, "seconds": 1.0},
    ...                          {"factors": 32, "alpha": 5.0, "ndcg@10": 0.2, "seconds": 1.0}]}}
    >>> print("\\n".join(tuning_lines(doc)[4:8]))
    | model | setting | default | used | how |
    |---|---|---|---|---|
    | als | factors | 64 | 32 | tuned |
    | als | alpha | 5.0 | 5.0 | fixed (set explicitly) |
    """
    lines = ["## Tuning", ""]
    if doc.get("skipped"):
        return lines + [f"Not tuned: {doc['skipped']}."]
    val = doc["validation"]
    reached = ", reached: the later points were not tried" if doc.get("budget_reached") else ""
    frame = doc.get("ranker", {}).get("frame_s")
    lines += [f"Chosen on the validation window from {val['window_start'][:10]} ({val['window_days']} days, "
              f"the end of the train period), {val['users']:,} users. {doc['seconds']:.1f} s"
              + (f", of which {frame:.1f} s build the ranker's training frame (the ranker step reuses it)"
                 if frame is not None else "")
              + f"; {doc.get('estimate_s', doc.get('core_s', 0)):.1f} of the {doc['budget_s']:g} estimated "
              f"core-seconds budget{reached} ({doc.get('core_s', 0):.1f} measured). A "
              "point replaces a default only when the paired bootstrap says it is better.", ""]
    lines += ["| model | setting | default | used | how |", "|---|---|---|---|---|"]
    for name in ("als", "ranker"):
        part = doc.get(name, {})
        for key, default in part.get("default", {}).items():
            how = "fixed (set explicitly)" if key in part.get("fixed", {}) else "tuned"
            used = part.get("chosen", {}).get(key, default)
            lines.append(f"| {name} | {key} | {default} | {used} | {how} |")
        if "skipped" in part:
            lines.append(f"| {name} | | | | not tuned: {part['skipped']} |")
    for name, title in (("als", "ALS on the validation window"),
                        ("ranker", "Ranker: held-out users' lists within their candidates")):
        part = doc.get(name, {})
        tried = part.get("tried", [])
        if not tried:
            continue
        keys = list(part["default"])  # the settings; every other field but the seconds is a score
        scores = [k for k in tried[0] if k not in keys and k not in ("seconds", "core_s", "estimate_s")]
        chosen = part.get("chosen", {})
        lines += ["", f"{title}, every point tried (the chosen one in bold; seconds of its fit):", "",
                  "| " + " | ".join(keys + scores) + " | seconds |", "|---" * (len(keys + scores) + 1) + "|"]
        for point in tried:
            cells = ([str(point[k]) for k in keys] + [f"{point[k]:.4f}" for k in scores]
                     + [f"{point['seconds']:.1f}"])
            if all(point[k] == chosen.get(k) for k in keys):
                cells = [f"**{c}**" for c in cells]
            lines.append("| " + " | ".join(cells) + " |")
        decision = part.get("decision", {})
        if decision:
            lo, hi = decision["over_default"]
            left = [", ".join(f"{k} {v}" for k, v in point.items())
                    for point in decision.get("left_out_by_guard", ())]
            kept = not decision["better_than_default"]
            lines += ["", ("No point is surely better than the default: it is kept" if kept else
                           f"{len(decision['better_than_default'])} point(s) surely better than the default; "
                           f"the one used scores {lo:.3f}-{hi:.3f} x the default")
                      + (f" (better on NDCG@10 but left out for a lower recall of the ranker's candidates: "
                         f"{'; '.join(left)})" if left else "") + "."]
    return lines


HORIZON_TITLES = {"session": "session horizon: the next {n} listens",
                  "long": "long horizon: all the remaining listens"}


def online_lines(online: dict[str, Any]) -> list[str]:
    """The online section: how it is set up, then a table and the blends' ratios per horizon."""
    weights = online.get("weights")
    rule = (", ".join(f"{name} {value:g}" for name, value in weights.items()) if weights
            else "none (no blend.json)")
    eligible = online.get("eligible", online["users"])
    who = (f"{online['users']:,} warm users (a seeded sample of the {eligible:,}) with more than"
           if eligible > online["users"] else f"{online['users']:,} warm users with more than")
    lines = [
        f"{who} {online['history']} test listens: their first "
        f"{online['history']} test listens are the online listens (what the events service would hold); "
        f"the lists are what the service would answer, scored on two horizons. Offline list: "
        f"{online['offline_list']}; learned blend weights: {rule}; capped lists keep at most "
        f"{online['artist_cap']} tracks per artist.",
    ]
    for horizon, section in online["horizons"].items():
        title = HORIZON_TITLES.get(horizon, horizon).format(n=online.get("session_length"))
        lines += ["", f"### {title[0].upper()}{title[1:]}", "", *table(section["models"]), ""]
        ratios = [
            f"{name} {value['ratio']:.3f} x (95% interval {value['ci95'][0]:.3f}-{value['ci95'][1]:.3f})"
            for name, value in section["over_offline"].items() if value["ratio"] is not None
        ]
        if ratios:
            lines.append(f"NDCG@10 over the offline list, paired bootstrap over the users "
                         f"({online['bootstrap_resamples']:,} resamples): " + "; ".join(ratios) + ".")
    return lines
