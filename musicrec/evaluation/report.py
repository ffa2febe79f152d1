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


def render_markdown(metrics: dict[str, Any]) -> str:
    """The metrics document as markdown: warm, cold and online tables plus the ranker summary."""
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
        lines += [
            "",
            f"{online['users']:,} warm users with more than {online['history']} test listens: their first "
            f"{online['history']} test listens are the online history, the lists are scored on the rest. "
            f"Offline list: {online['offline_list']}.",
            "",
            *table(online["models"]),
        ]
    else:
        lines += ["", f"Skipped: {online.get('skipped', 'not evaluated')}."]
    return "\n".join(lines) + "\n"
