"""The synthetic generator: exact raw schema, determinism, integrity and the shape of real listening data."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from musicrec.data import synth as synth_package
from musicrec.data.schema import check_references, validate_raw
from musicrec.data.synth import SynthError, generate, synth_command
from musicrec.data.synth import writer as writer_module

FILES = ("tracks.parquet", "catalog_names.parquet", "interactions.parquet")
SPLIT = dt.datetime(2022, 12, 16)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    return generate(300, 500, 20_000, 7, out), out


@pytest.fixture(scope="module")
def shaped(tmp_path_factory):
    """The statistical-shape run: big enough for the signals to be clear, still well under a second."""
    out = tmp_path_factory.mktemp("shaped")
    summary = generate(2000, 3000, 150_000, 11, out)
    tracks = pl.read_parquet(out / "tracks.parquet")
    main = tracks.select(
        pl.col("track_id").cast(pl.Int32),
        pl.col("artists").list.first().alias("artist"),
        pl.col("genres").list.first().alias("genre"),
    )
    events = pl.read_parquet(out / "interactions.parquet").join(main, on="track_id", how="left")
    return summary, events.sort("user_id", "track_seq")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_have_exactly_the_real_schema(small):
    _, out = small
    assert pq.read_schema(out / "tracks.parquet").remove_metadata() == pa.schema([
        ("track_id", pa.int64()), ("albums", pa.list_(pa.int64())),
        ("artists", pa.list_(pa.int64())), ("genres", pa.list_(pa.int64())),
    ])
    assert pq.read_schema(out / "catalog_names.parquet").remove_metadata() == pa.schema([
        ("id", pa.int64()), ("type", pa.string()), ("name", pa.string()),
    ])
    assert pq.read_schema(out / "interactions.parquet").remove_metadata() == pa.schema([
        ("user_id", pa.int32()), ("track_id", pa.int32()), ("track_seq", pa.int16()),
        ("started_at", pa.timestamp("ns")),
    ])
    raw = validate_raw(out)  # the project's own border check
    assert check_references(raw).unknown_track_interactions == 0


def test_catalogue_is_complete_and_named(small):
    _, out = small
    tracks = pl.read_parquet(out / "tracks.parquet")
    names = pl.read_parquet(out / "catalog_names.parquet")
    assert tracks.height == 500 and tracks["track_id"].is_unique().all()
    assert tracks["albums"].list.len().to_list() == [1] * 500
    assert set(tracks["artists"].list.len().unique()) <= {1, 2}
    assert set(tracks["genres"].list.len().unique()) <= {1, 2, 3}
    assert (tracks["artists"].list.n_unique() == tracks["artists"].list.len()).all()
    assert set(names["type"].unique()) == {"album", "artist", "genre", "track"}
    genres = names.filter(pl.col("type") == "genre")
    assert genres.height == 130 and {"pop", "rap", "allrock", "electronics"} <= set(genres["name"])
    for column, kind in (("albums", "album"), ("artists", "artist"), ("genres", "genre")):
        used = set(tracks[column].explode().to_list())
        assert used <= set(names.filter(pl.col("type") == kind)["id"].to_list()), kind
    assert set(names.filter(pl.col("type") == "track")["id"]) == set(tracks["track_id"])
    assert names.filter(pl.col("type") == "track")["name"].str.len_chars().min() > 0


def test_interactions_are_consistent(small):
    summary, out = small
    events = pl.read_parquet(out / "interactions.parquet")
    assert events.height == summary.events == 20_000
    assert events["user_id"].n_unique() == 300
    assert events.select("user_id", "track_id").is_duplicated().sum() == 0
    # rows sorted by user then listen order; seq is 1..n per user and never goes back in time
    assert events.equals(events.sort("user_id", "track_seq"))
    per_user = events.group_by("user_id").agg(
        (pl.col("track_seq") == pl.int_range(1, pl.len() + 1)).all().alias("seq_ok"),
        (pl.col("started_at").diff().dt.total_seconds().fill_null(0) >= 0).all().alias("time_ok"),
    )
    assert per_user["seq_ok"].all() and per_user["time_ok"].all()
    days = events["started_at"]
    assert days.min() >= dt.datetime(2022, 1, 1) and days.max() <= dt.datetime(2022, 12, 31)
    assert (days.dt.truncate("1d") == days).all()  # day resolution, as the real file
    assert set(events["track_id"].unique()) <= set(pl.read_parquet(out / "tracks.parquet")["track_id"])


def test_same_arguments_give_identical_bytes_and_another_seed_differs(tmp_path):
    first = generate(200, 300, 5_000, 3, tmp_path / "a")
    generate(200, 300, 5_000, 3, tmp_path / "b")
    generate(200, 300, 5_000, 4, tmp_path / "c")
    for name in FILES:
        assert _digest(tmp_path / "a" / name) == _digest(tmp_path / "b" / name), name
        assert _digest(tmp_path / "a" / name) != _digest(tmp_path / "c" / name), name
    assert first.events == 5_000
    assert not list((tmp_path / "a").glob("*.partial"))


def test_chunks_stream_into_one_consistent_file(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_module, "CHUNK_USERS", 64)
    summary = generate(300, 400, 9_000, 5, tmp_path)
    events = pl.read_parquet(tmp_path / "interactions.parquet")
    assert pq.ParquetFile(tmp_path / "interactions.parquet").metadata.num_row_groups == 5
    assert events.height == summary.events == 9_000 and events["user_id"].n_unique() == 300
    assert events["user_id"].is_sorted() and events.select("user_id", "track_id").is_duplicated().sum() == 0


def test_popularity_is_heavy_tailed(shaped):
    summary, events = shaped
    plays = events.group_by("track_id").len()["len"].to_numpy()
    assert summary.plays_median * 1.5 < summary.plays_mean
    assert summary.plays_max > 10 * summary.plays_mean
    top = np.sort(plays)[::-1][: 3000 // 100]
    assert top.sum() / events.height > 0.08  # the top 1% of tracks take 8x their uniform share
    assert 0 < summary.never_played_tracks < 0.1 * 3000
    listens = events.group_by("user_id").len()["len"].to_numpy()
    assert listens.max() > 20 * np.median(listens)  # many light users, a few very heavy


def _top3_genre_share(events: pl.DataFrame) -> float:
    share = (
        events.group_by("user_id", "genre").len()
        .sort("len", descending=True)
        .with_columns((pl.col("len") / pl.col("len").sum().over("user_id")).alias("share"))
    )
    top3 = (share.group_by("user_id", maintain_order=True).head(3)
            .group_by("user_id").agg(pl.col("share").sum()))
    heavy = events.group_by("user_id").len().filter(pl.col("len") >= 30)
    return top3.join(heavy, on="user_id")["share"].mean()


def _shuffled(events: pl.DataFrame, seed: int = 0) -> pl.DataFrame:
    """The same rows with tracks (and their artist/genre) permuted across all users: no taste left."""
    order = np.random.default_rng(seed).permutation(events.height)
    return events.with_columns(events.select("track_id", "artist", "genre")[order])


def test_users_listen_to_their_taste_genres(shaped):
    _, events = shaped
    real, random = _top3_genre_share(events), _top3_genre_share(_shuffled(events))
    assert real > random + 0.15, (real, random)


def test_consecutive_listens_share_the_artist(shaped):
    _, events = shaped

    def same_artist(frame: pl.DataFrame) -> float:
        return frame.select((pl.col("artist") == pl.col("artist").shift(1)).over("user_id").mean()).item()

    real, random = same_artist(events), same_artist(_shuffled(events))
    assert real > 0.2 and real > 5 * random, (real, random)


def test_cold_users_and_an_active_test_period(shaped):
    summary, events = shaped
    first = events.group_by("user_id").agg(pl.col("started_at").min(),
                                           pl.col("started_at").max().alias("last"))
    cold = first.filter(pl.col("started_at") >= SPLIT).height
    test_users = first.filter(pl.col("last") >= SPLIT).height
    assert cold == summary.cold_users and test_users == summary.test_users
    assert 0.01 < cold / test_users < 0.15
    assert 0.3 < test_users / 2000 < 0.7


def test_new_releases_get_a_burst_after_release(shaped):
    _, events = shaped
    per_track = events.group_by("track_id").agg(
        pl.col("started_at").min().alias("first"),
        (pl.col("started_at") < pl.col("started_at").min() + pl.duration(days=30)).mean().alias("early"),
        pl.len().alias("plays"),
    )
    late = per_track.filter((pl.col("first") >= dt.datetime(2022, 3, 1)) & (pl.col("plays") >= 10))
    assert late.height > 50
    # first played in March or later: a uniform spread would put < 10% of plays in the first 30 days
    assert late["early"].median() > 0.3
    assert per_track.filter(pl.col("first") >= dt.datetime(2022, 12, 1)).height > 0


def test_collaborative_filtering_beats_popularity(shaped):
    import implicit
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    _, events = shaped
    train = events.filter(pl.col("started_at") < SPLIT)
    test = events.filter(pl.col("started_at") >= SPLIT)
    users = np.unique(train["user_id"].to_numpy())
    items = np.unique(train["track_id"].to_numpy())
    rows = np.searchsorted(users, train["user_id"].to_numpy())
    cols = np.searchsorted(items, train["track_id"].to_numpy())
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(users), len(items)))
    truth = test.filter(pl.col("user_id").is_in(users)).group_by("user_id").agg("track_id")
    who = np.searchsorted(users, truth["user_id"].to_numpy())
    sets = [set(t) for t in truth["track_id"].to_list()]

    def precision(recs) -> float:
        return float(np.mean([len(set(items[r[:5]]) & s) / 5 for r, s in zip(recs, sets, strict=True)]))

    by_plays = np.argsort(-np.asarray(matrix.sum(axis=0)).ravel(), kind="stable")
    seen = [set(matrix.indices[matrix.indptr[u]:matrix.indptr[u + 1]]) for u in who]
    popular = [[i for i in by_plays[:200] if i not in s][:5] for s in seen]
    with threadpool_limits(1):
        model = implicit.als.AlternatingLeastSquares(factors=32, iterations=10, random_state=0)
        model.fit(matrix, show_progress=False)
        als, _ = model.recommend(who, matrix[who], N=5, filter_already_liked_items=True)
    print(f"P@5 ALS {precision(als):.4f}, popular {precision(popular):.4f}")
    assert precision(als) > 1.3 * precision(popular) > 0


def test_tiny_generation_is_fast(small):
    summary, _ = small
    assert summary.seconds < 5  # typically ~0.2 s: other engineers' tests build datasets this way


@pytest.mark.parametrize(
    ("users", "tracks", "events", "message"),
    [
        (10, 5, 100, "--events (100) exceeds --users x --tracks"),
        (10, 50, 5, "--events (5) must be at least --users (10)"),
        (0, 50, 5, "--users must be in"),
        (5, 0, 5, "--tracks must be in"),
        (10, 100, 900, "a user can hear at most"),
    ],
)
def test_nonsense_arguments_are_refused(tmp_path, users, tracks, events, message):
    with pytest.raises(SynthError, match=message.replace("(", r"\(").replace(")", r"\)")):
        generate(users, tracks, events, 0, tmp_path)
    result = CliRunner().invoke(synth_command, ["--users", str(users), "--tracks", str(tracks), "--events",
                                                str(events), "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 2 and message in result.output
    assert not list(tmp_path.glob("*.parquet"))


def test_cli_writes_files_and_prints_the_summary(tmp_path):
    result = CliRunner().invoke(synth_command, ["--users", "50", "--tracks", "80", "--events", "1000",
                                                "--seed", "1", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "1,000 by 50 users" in result.output and "never played" in result.output
    assert "cold" in result.output and "genres" in result.output
    assert all((tmp_path / name).is_file() for name in FILES)
    assert synth_package.synth_command is synth_command
