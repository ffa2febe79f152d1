"""load_artifacts: the optional blend files (blend.json, artists, top artists), compact and checked."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec.models.blending import FusionWeights
from musicrec.services.recommendations.artifacts import ArtifactsError, load_artifacts
from musicrec.services.recommendations.index import ItemArtists, UserItemIndex
from tests.services.recommendations.artifacts import (
    ARTIST,
    COLD_USER,
    TOP_ARTISTS,
    WARM_USER,
    WARM_USER_2,
    WEIGHTS,
    write_artifacts,
    write_blend,
)


def test_loads_weights_artists_and_top_artists(tmp_path):
    artifacts = load_artifacts(write_artifacts(tmp_path, weights=WEIGHTS, top_artists=TOP_ARTISTS))
    assert artifacts.weights == WEIGHTS
    assert artifacts.artists.lookup([101, 106, 304, 999_999, 2**40]) == {101: ARTIST[101], 304: ARTIST[304]}
    assert artifacts.top_artists(WARM_USER) == TOP_ARTISTS[WARM_USER]  # rank order, rows were reversed
    assert artifacts.top_artists(WARM_USER_2) == TOP_ARTISTS[WARM_USER_2]
    assert artifacts.top_artists(COLD_USER) == []


def test_only_compact_numpy_arrays_are_kept(tmp_path):
    artifacts = load_artifacts(write_artifacts(tmp_path, weights=WEIGHTS, top_artists=TOP_ARTISTS))
    assert isinstance(artifacts.artists, ItemArtists) and isinstance(artifacts.user_artists, UserItemIndex)
    assert artifacts.artists.items.dtype == artifacts.artists.artists.dtype == np.int32
    assert artifacts.user_artists.items.dtype == np.int32
    assert len(artifacts.artists) == len(ARTIST)  # 106 has no artist: not stored
    assert not any(isinstance(value, pa.Table | pa.ChunkedArray) for value in vars(artifacts).values())


def test_artifacts_of_an_older_train_load_without_the_blend_files(tmp_path):
    write_artifacts(tmp_path)
    (tmp_path / "items.parquet").unlink()
    artifacts = load_artifacts(tmp_path)
    assert artifacts.weights is None
    assert artifacts.artists.lookup([101]) == {}
    assert artifacts.top_artists(WARM_USER) == []


def test_tracks_without_artist_ids_have_no_artist(tmp_path):
    write_artifacts(tmp_path, artist={})  # every list empty, as MovieLens
    assert len(load_artifacts(tmp_path).artists) == 0
    only_names = pa.table({"item_id": pa.array([101], pa.int32()), "name": ["x"]})
    pq.write_table(only_names, tmp_path / "items.parquet")  # no artist_ids column at all
    assert len(load_artifacts(tmp_path).artists) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "JSONDecodeError"),
        ('["weights"]', "TypeError"),
        ('{"fitted": 1}', "KeyError"),
        (json.dumps({"weights": {"online": 0.1}}), "need numeric online, artist, offset and recency_decay"),
        (json.dumps({"weights": {**WEIGHTS.to_dict(), "offset": 0}}), "offset > 0"),
    ],
)
def test_malformed_blend_json_is_an_artifacts_error_naming_the_file(tmp_path, content, message):
    write_artifacts(tmp_path)
    (tmp_path / "blend.json").write_text(content)
    with pytest.raises(ArtifactsError, match=rf"blend\.json: expected {{\"weights\".*{message}"):
        load_artifacts(tmp_path)


def test_blend_json_keys_besides_weights_are_ignored(tmp_path):
    write_artifacts(tmp_path)
    write_blend(tmp_path, {**WEIGHTS.to_dict(), "note": "ignored"})
    assert load_artifacts(tmp_path).weights == FusionWeights(**WEIGHTS.to_dict())


def test_malformed_user_artists_is_an_artifacts_error_naming_the_file(tmp_path):
    write_artifacts(tmp_path)
    pq.write_table(pa.table({"user_id": [1], "artist": [2]}), tmp_path / "user_artists.parquet")
    missing = r"user_artists\.parquet: missing column\(s\) \['artist_id', 'rank'\]"
    with pytest.raises(ArtifactsError, match=missing):
        load_artifacts(tmp_path)
    (tmp_path / "user_artists.parquet").write_text("not parquet")
    with pytest.raises(ArtifactsError, match=r"user_artists\.parquet: cannot read it as parquet"):
        load_artifacts(tmp_path)


def test_unreadable_items_file_is_an_artifacts_error_naming_the_file(tmp_path):
    write_artifacts(tmp_path)
    (tmp_path / "items.parquet").write_text("not parquet")
    with pytest.raises(ArtifactsError, match=r"items\.parquet: cannot read it as parquet"):
        load_artifacts(tmp_path)
