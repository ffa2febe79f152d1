"""The notebook's figures draw what they are given."""

from datetime import datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from musicrec.evaluation import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_log_histogram_uses_log_axes_and_marks_median_and_mean():
    fig = plots.log_histogram([1, 1, 2, 5, 100], "t", "x", "y")
    ax = fig.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert sum(p.get_height() for p in ax.patches) == 5  # every positive count is in a bin
    assert [line.get_xdata()[0] for line in ax.lines] == [2.0, pytest.approx(21.8)]


def test_log_histogram_of_nothing_is_an_empty_figure():
    assert len(plots.log_histogram([0, 0], "t", "x", "y").axes[0].patches) == 0


def test_horizontal_bars_keep_the_order_top_down():
    fig = plots.horizontal_bars(["pop", "rock"], [5, 2], "t", "x")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["pop", "rock"]
    assert ax.yaxis_inverted()
    assert [p.get_width() for p in ax.patches] == [5, 2]


def test_weekly_listens_marks_the_split_date():
    split = datetime(2022, 1, 10)
    fig = plots.weekly_listens([datetime(2022, 1, 3), datetime(2022, 1, 17)], [3, 4], split)
    ax = fig.axes[0]
    assert any("split 2022-01-10" in t.get_text() for t in ax.texts)
    assert len(ax.lines) == 2


def test_metric_bars_one_bar_per_model_and_metric():
    models = {"als": {"ndcg@10": 0.2, "recall@10": 0.1}, "ranker": {"ndcg@10": 0.3}}
    fig = plots.metric_bars(models, ["ndcg@10", "recall@10"], "t")
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights[:3] == [0.2, 0.3, 0.1] and heights[3] != heights[3]  # the missing value is NaN
    assert [t.get_text() for t in ax.get_xticklabels()] == ["als", "ranker"]
