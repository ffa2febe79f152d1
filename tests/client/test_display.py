import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicrec.client import Explanation
from musicrec.client.display import Track, format_table, listens, load_tracks, why
from musicrec.storage.artifacts import LocalArtifactStore
from tests.services.recommendations.artifacts import write_artifacts


def test_load_tracks_reads_only_the_requested_rows(tmp_path):
    tracks = load_tracks(LocalArtifactStore(write_artifacts(tmp_path)), [101, 202, 999999])
    assert tracks == {
        101: Track("Track 101", "Artist 3", "pop, rock", (3,), ("Artist 3",)),
        202: Track("Track 202", "Artist 6", "rap", (6,), ("Artist 6",)),
    }
    assert tracks[101].artist(3) == "Artist 3" and tracks[101].artist(4) is None


def test_load_tracks_degrades_to_nothing(tmp_path):
    assert load_tracks(LocalArtifactStore(tmp_path), [1, 2]) == {}  # no items.parquet
    (tmp_path / "items.parquet").write_text("not parquet")
    assert load_tracks(LocalArtifactStore(tmp_path), [1]) == {}
    only_names = pa.table({"item_id": pa.array([1], pa.int32()), "name": ["Solo"]})
    pq.write_table(only_names, tmp_path / "items.parquet")
    # optional columns missing
    assert load_tracks(LocalArtifactStore(tmp_path), [1]) == {1: Track("Solo", "", "")}


def test_table_cuts_long_names_and_shows_sources():
    table = format_table([5, 6], {5: Track("x" * 50, "A", "g")}, ["offline", "online"], width=10)
    lines = table.splitlines()
    assert lines[0].split() == ["#", "item_id", "track", "artists", "genres", "source"]
    assert lines[1].split() == ["1", "5", "x" * 9 + "…", "A", "g", "offline"]
    assert lines[2].split() == ["2", "6", "?", "?", "?", "online"]


TRACKS = {7: Track("Song", "Band, Guest", "rock", (3, 4), ("Band", "Guest")), 9: Track("Hit", "Other", "pop")}


def explained(reason: str, **about) -> Explanation:
    return Explanation(source="personal", reason=reason, **about)


@pytest.mark.parametrize(
    ("explanation", "text"),
    [
        (explained("similar_to_listen", listen=9), "similar to Hit (you just played it)"),
        (explained("same_artist_as_listen", listen=9, artist_id=5),
         "same artist as Hit (you just played it)"),
        (explained("top_artist", artist_id=4), "by Guest, an artist you play most"),
        (explained("top_artist", artist_id=8), "by artist 8, an artist you play most"),
        (explained("personal_taste"), "matches your listening history"),
        (explained("popular_now"), "popular now"),
        (explained("similar_to_listen", listen=1), "similar to track 1 (you just played it)"),
        (explained("a_new_reason"), "a_new_reason"),
    ],
)
def test_why_names_tracks_and_artists(explanation, text):
    assert why(explanation, 7, TRACKS) == text


def test_listens_and_the_why_column():
    explanations = [Explanation(source="online", reason="similar_to_listen", listen=9),
                    Explanation(source="popular", reason="popular_now")]
    assert listens(explanations) == [9] and listens(None) == []
    reasons = ["similar to Hit", "popular now"]
    lines = format_table([7, 5], TRACKS, ["online", "popular"], reasons=reasons).splitlines()
    assert lines[0].split() == ["#", "item_id", "track", "artists", "genres", "source", "why"]
    assert lines[1].endswith("online   similar to Hit")
    assert lines[2].endswith("popular  popular now")
