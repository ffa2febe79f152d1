import pyarrow as pa
import pyarrow.parquet as pq

from musicrec.client.display import Track, format_table, load_tracks
from tests.services.recommendations.artifacts import write_artifacts


def test_load_tracks_reads_only_the_requested_rows(tmp_path):
    tracks = load_tracks(write_artifacts(tmp_path), [101, 202, 999999])
    assert tracks == {
        101: Track("Track 101", "Artist 3", "pop, rock"),
        202: Track("Track 202", "Artist 6", "rap"),
    }


def test_load_tracks_degrades_to_nothing(tmp_path):
    assert load_tracks(tmp_path, [1, 2]) == {}  # no items.parquet
    (tmp_path / "items.parquet").write_text("not parquet")
    assert load_tracks(tmp_path, [1]) == {}
    only_names = pa.table({"item_id": pa.array([1], pa.int32()), "name": ["Solo"]})
    pq.write_table(only_names, tmp_path / "items.parquet")
    assert load_tracks(tmp_path, [1]) == {1: Track("Solo", "", "")}  # optional columns missing


def test_table_cuts_long_names_and_shows_sources():
    table = format_table([5, 6], {5: Track("x" * 50, "A", "g")}, ["offline", "online"], width=10)
    lines = table.splitlines()
    assert lines[0].split() == ["#", "item_id", "track", "artists", "genres", "source"]
    assert lines[1].split() == ["1", "5", "x" * 9 + "…", "A", "g", "offline"]
    assert lines[2].split() == ["2", "6", "?", "?", "?", "online"]
