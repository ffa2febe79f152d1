import datetime as dt
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from musicrec.cli import main
from musicrec.data.prepare import prepare
from musicrec.data.schema import RawDataError
from tests.data.fixtures.raw import CATALOG_NAMES, INTERACTIONS, TRACKS, write_raw

D = dt.datetime


def rows(path):
    return pq.read_table(path).to_pylist()


def test_items_names_resolved_per_type(tmp_path):
    prepare(write_raw(tmp_path / "raw"), tmp_path / "out")
    items = rows(tmp_path / "out" / "items.parquet")
    # track 3 has no artist, track 4 no name: dropped by default
    assert items == [
        {"item_id": 1, "name": "One", "artists": ["Artist X"], "albums": ["Album A", "Album B"],
         "genres": ["pop", "rock"], "artist_ids": [1], "album_ids": [1, 2], "genre_ids": [1, 2]},
        {"item_id": 2, "name": "Two", "artists": ["Artist X", "Artist Y"], "albums": ["Album A"],
         "genres": ["pop"], "artist_ids": [1, 2], "album_ids": [1], "genre_ids": [1]},
        {"item_id": 5, "name": "Five", "artists": ["Artist Y"], "albums": ["Album A"],
         "genres": ["jazz"], "artist_ids": [2], "album_ids": [1], "genre_ids": [3]},
    ]
    schema = pq.read_schema(tmp_path / "out" / "items.parquet")
    assert schema.field("item_id").type == pa.int32()
    assert schema.field("genre_ids").type == pa.list_(pa.int32())


def test_events_sorted_dropped_and_counted(tmp_path):
    report = prepare(write_raw(tmp_path / "raw"), tmp_path / "out")
    events = rows(tmp_path / "out" / "events.parquet")
    assert events == [
        {"user_id": 3, "item_id": 1, "started_at": D(2022, 3, 2)},
        {"user_id": 3, "item_id": 2, "started_at": D(2022, 3, 2)},
        {"user_id": 3, "item_id": 5, "started_at": D(2022, 3, 5)},
        # same day: track_seq decides (2 before 1)
        {"user_id": 7, "item_id": 2, "started_at": D(2022, 3, 1)},
        {"user_id": 7, "item_id": 1, "started_at": D(2022, 3, 1)},
        {"user_id": 7, "item_id": 5, "started_at": D(2022, 3, 3)},
    ]
    assert pq.read_schema(tmp_path / "out" / "events.parquet") == pa.schema(
        [pa.field("user_id", pa.int32(), False), pa.field("item_id", pa.int32(), False),
         pa.field("started_at", pa.timestamp("us"), False)]
    )
    saved = json.loads((tmp_path / "out" / "prepare_report.json").read_text())
    expected = {
        "tracks_in": 5, "items": 3, "dropped_incomplete_tracks": 2, "interactions_in": 8,
        "dropped_unknown_track": 1, "dropped_incomplete_track": 1, "dropped_by_sampling": 0,
        "events": 6, "users": 2, "items_with_events": 3,
        "first_event": "2022-03-01T00:00:00", "last_event": "2022-03-05T00:00:00",
        "required_attributes": ["name", "artists", "albums", "genres"], "absent_attributes": [],
    }
    assert {key: saved[key] for key in expected} == expected
    assert report.events == 6


def test_keep_incomplete(tmp_path):
    report = prepare(write_raw(tmp_path / "raw"), tmp_path / "out", keep_incomplete=True)
    items = {row["item_id"]: row for row in rows(tmp_path / "out" / "items.parquet")}
    assert sorted(items) == [1, 2, 3, 4, 5]
    assert items[3]["artists"] == [] and items[3]["artist_ids"] == [] and items[3]["name"] == "Three"
    assert items[4]["name"] == "track 4"
    assert (report.dropped_incomplete_tracks, report.dropped_incomplete_track, report.events) == (0, 0, 7)


def test_keep_every_nth_per_user_in_listen_order(tmp_path):
    interactions = pa.table(
        {
            "user_id": pa.array([1] * 5 + [2] * 3, pa.int32()),
            "track_id": pa.array([1, 2, 5, 1, 2, 5, 1, 2], pa.int32()),
            "track_seq": pa.array([5, 4, 3, 2, 1, 1, 2, 3], pa.int16()),
            "started_at": pa.array([D(2022, 1, d) for d in (5, 4, 3, 2, 1, 1, 2, 3)], pa.timestamp("s")),
        }
    )
    raw = write_raw(tmp_path / "raw", interactions=interactions)
    report = prepare(raw, tmp_path / "out", keep_every_nth=2)
    events = [(e["user_id"], e["item_id"]) for e in rows(tmp_path / "out" / "events.parquet")]
    # user 1 in time order: 2, 1, 5, 2, 1 -> keeps the 1st, 3rd and 5th
    assert events == [(1, 2), (1, 5), (1, 1), (2, 5), (2, 2)]
    assert report.dropped_by_sampling == 3


def test_output_is_byte_identical_and_independent_of_user_parts(tmp_path):
    raw = write_raw(tmp_path / "raw")
    prepare(raw, tmp_path / "one")
    prepare(raw, tmp_path / "again")
    parts = prepare(raw, tmp_path / "parts", rows_per_part=2)
    for name in ("items.parquet", "events.parquet"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
        assert pq.read_table(tmp_path / "one" / name) == pq.read_table(tmp_path / "parts" / name)
    assert pq.read_metadata(tmp_path / "parts" / "events.parquet").num_row_groups == 2
    assert (parts.events, parts.users, parts.dropped_unknown_track) == (6, 2, 1)


def test_unnamed_ids_get_placeholder_names(tmp_path):
    catalog = CATALOG_NAMES.filter(pc.not_equal(CATALOG_NAMES["name"], "jazz"))
    report = prepare(write_raw(tmp_path / "raw", catalog_names=catalog), tmp_path / "out")
    items = {row["item_id"]: row for row in rows(tmp_path / "out" / "items.parquet")}
    assert items[5]["genres"] == ["genre 3"] and items[5]["genre_ids"] == [3]
    assert report.unnamed_ids == {"artist": 0, "album": 0, "genre": 1}


def test_attribute_absent_from_dataset_is_not_required(tmp_path):
    empty = pa.array([[]] * 5, pa.list_(pa.int64()))
    tracks = TRACKS.set_column(1, "albums", empty).set_column(2, "artists", empty)
    report = prepare(write_raw(tmp_path / "raw", tracks=tracks), tmp_path / "out")
    assert [r["item_id"] for r in rows(tmp_path / "out" / "items.parquet")] == [1, 2, 3, 5]
    assert report.absent_attributes == ["artists", "albums"]


@pytest.mark.parametrize("dtype", [pa.timestamp("ms", tz="Europe/Moscow"), pa.date32()])
def test_timezone_aware_and_date_times_become_naive_utc_us(tmp_path, dtype):
    started = INTERACTIONS["started_at"].cast(dtype)
    prepare(write_raw(tmp_path / "raw", interactions=INTERACTIONS.set_column(3, "started_at", started)),
            tmp_path / "out")
    events = rows(tmp_path / "out" / "events.parquet")
    assert [e["started_at"] for e in events[:3]] == [D(2022, 3, 2), D(2022, 3, 2), D(2022, 3, 5)]


def test_duplicate_track_ids_are_refused(tmp_path):
    expected = r"^tracks.parquet: column 'track_id': expected unique ids, found 1 repeated \(e.g. 5\)$"
    with pytest.raises(RawDataError, match=expected):
        prepare(write_raw(tmp_path / "raw", tracks=pa.concat_tables([TRACKS, TRACKS.slice(0, 1)])),
                tmp_path / "out")


def test_cli_prepare_writes_and_prints_summary(tmp_path):
    raw = write_raw(tmp_path / "raw")
    result = CliRunner().invoke(main, ["prepare", "--raw", str(raw), "--out", str(tmp_path / "out"),
                                       "--keep-incomplete"])
    assert result.exit_code == 0, result.output
    assert "events: 7 of 8 interactions" in result.output
    assert (tmp_path / "out" / "events.parquet").is_file()


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"interactions": None}, "Error: interactions.parquet: file not found in "),
        ({"tracks": TRACKS.drop_columns(["artists"])}, "Error: tracks.parquet: column 'artists' is missing"),
        ({"catalog_names": CATALOG_NAMES.set_column(0, "id", CATALOG_NAMES["id"].cast(pa.string()))},
         "Error: catalog_names.parquet: column 'id': expected int64"),
        ({"catalog_names": CATALOG_NAMES.set_column(1, "type", pa.array(["song"] * 12))},
         "Error: catalog_names.parquet: column 'type': expected one of {album, artist, genre, track}"),
    ],
)
def test_cli_raw_errors_are_one_line_exit_2(tmp_path, replace, message):
    raw = write_raw(tmp_path / "raw", **replace)
    result = CliRunner().invoke(main, ["prepare", "--raw", str(raw), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out" / "events.parquet").exists()


def test_no_complete_track_is_an_error(tmp_path):
    catalog = CATALOG_NAMES.filter(pc.not_equal(CATALOG_NAMES["type"], "track"))
    expected = r"^tracks.parquet: none of the 5 tracks has all of name, artists, albums, genres; --keep-inc"
    with pytest.raises(RawDataError, match=expected):
        prepare(write_raw(tmp_path / "raw", catalog_names=catalog), tmp_path / "out")


def test_widened_dtypes_give_the_same_output(tmp_path):
    tracks = TRACKS.set_column(0, "track_id", TRACKS["track_id"].cast(pa.int32())).set_column(
        1, "albums", TRACKS["albums"].cast(pa.large_list(pa.uint32()))
    )
    catalog = CATALOG_NAMES.set_column(1, "type", CATALOG_NAMES["type"].dictionary_encode()).set_column(
        2, "name", CATALOG_NAMES["name"].cast(pa.large_string())
    )
    interactions = INTERACTIONS.set_column(0, "user_id", INTERACTIONS["user_id"].cast(pa.int64()))
    prepare(write_raw(tmp_path / "raw"), tmp_path / "plain")
    prepare(write_raw(tmp_path / "wide", tracks=tracks, catalog_names=catalog, interactions=interactions),
            tmp_path / "out")
    for name in ("items.parquet", "events.parquet"):
        assert pq.read_table(tmp_path / "out" / name) == pq.read_table(tmp_path / "plain" / name)


def test_user_id_beyond_int32_is_refused(tmp_path):
    users = pa.array([2**31, 7, 3, 7, 7, 3, 7, 3], pa.int64())
    interactions = INTERACTIONS.set_column(0, "user_id", users)
    expected = r"^interactions.parquet: column 'user_id': expected ids that fit int32, found 3..2147483648$"
    with pytest.raises(RawDataError, match=expected):
        prepare(write_raw(tmp_path / "raw", interactions=interactions), tmp_path / "out", rows_per_part=100)
