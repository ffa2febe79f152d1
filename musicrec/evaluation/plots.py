"""Matplotlib figures of the data and of the evaluation, for ``recommendations.ipynb``.

Each function draws one figure from tables :mod:`musicrec.pipeline.report` computes and returns it;
the caller shows or saves it. Figures are small (about 7 x 3.5 inches) so that a notebook with a
dozen of them stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

SIZE = (7.0, 3.5)


def log_histogram(counts: Sequence[int] | np.ndarray, title: str, xlabel: str, ylabel: str) -> Figure:
    """Histogram of positive ``counts`` over logarithmic bins, on log-log axes (a long tail shows as
    a roughly straight line); the mean and the median are marked."""
    values = np.asarray(counts, dtype=float)
    values = values[values > 0]
    fig, ax = plt.subplots(figsize=SIZE)
    if len(values):
        bins = np.unique(np.geomspace(1, max(values.max(), 2) + 1, 40).round())
        ax.hist(values, bins=bins, color="tab:blue", alpha=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for stat, style in ((np.median(values), ":"), (values.mean(), "--")):
            ax.axvline(stat, color="black", linestyle=style, linewidth=1)
        ax.legend(["median", "mean"], loc="upper right", frameon=False)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    fig.tight_layout()
    return fig


def horizontal_bars(labels: Sequence[str], values: Sequence[float], title: str, xlabel: str) -> Figure:
    """Horizontal bars, the first label on top, each bar annotated with its value."""
    fig, ax = plt.subplots(figsize=(SIZE[0], max(2.0, 0.28 * len(labels) + 1)))
    y = np.arange(len(labels))
    ax.barh(y, values, color="tab:blue")
    ax.set_yticks(y, [str(label) for label in labels])
    ax.invert_yaxis()
    for yi, value in zip(y, values, strict=True):
        ax.annotate(_short(value), (value, yi), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.set(title=title, xlabel=xlabel)
    ax.margins(x=0.12)
    fig.tight_layout()
    return fig


def weekly_listens(weeks: Sequence[datetime], listens: Sequence[int], split_date: datetime | None) -> Figure:
    """Listens per week, with the train/test split date as a vertical line."""
    fig, ax = plt.subplots(figsize=SIZE)
    ax.plot(list(weeks), list(listens), marker="o", markersize=3, color="tab:blue")
    if split_date is not None:
        ax.axvline(split_date, color="tab:red", linestyle="--", linewidth=1.5)
        # the label sits left of the line: the test period is the short, most recent end of the axis
        ax.annotate(f"split {split_date:%Y-%m-%d} ", (split_date, ax.get_ylim()[1]), va="top", ha="right",
                    color="tab:red")
    ax.set(title="Listens per week", xlabel="week", ylabel="listens")
    ax.set_ylim(bottom=0)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def metric_bars(models: Mapping[str, Mapping[str, float]], metrics: Sequence[str], title: str) -> Figure:
    """Grouped bars: one group per model, one bar per metric (missing values are left out)."""
    names = list(models)
    fig, ax = plt.subplots(figsize=SIZE)
    width = 0.8 / max(len(metrics), 1)
    x = np.arange(len(names))
    for j, metric in enumerate(metrics):
        values = [models[name].get(metric, np.nan) for name in names]
        bars = ax.bar(x + (j - (len(metrics) - 1) / 2) * width, values, width, label=metric)
        ax.bar_label(bars, labels=[_short(v) if np.isfinite(v) else "" for v in values], fontsize=7,
                     padding=1)
    ax.set_xticks(x, names, rotation=15)
    ax.set(title=title, ylabel="value")
    ax.legend(frameon=False)
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig


def _short(value: float) -> str:
    """Compact number for a bar label.

    >>> [_short(v) for v in (0.01234, 12.5, 123456)]
    ['0.0123', '12.5', '123,456']
    """
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
