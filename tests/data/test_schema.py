import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from musicrec.data.schema import RawDataError, check_references, validate_raw
from tests.data.fixtures.raw import CATALOG_NAMES, INTERACTIONS, TRACKS, write_raw


def one_line_error(raw_dir) -> str:
    with pytest.raises(RawDataError) as info:
        validate_raw(raw_dir)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_real_dtypes_are_accepted(tmp_path):
    raw = validate_raw(write_raw(tmp_path))
    assert raw.tracks.num_rows == 5
    assert raw.catalog_names.num_rows == 12
    assert raw.interactions.num_rows == 8
    assert raw.interactions.path == tmp_path / "interactions.parquet"


def test_compatible_widenings_are_accepted(tmp_path):
    tracks = pa.table(
        {
            "track_id": TRACKS["track_id"].cast(pa.int32()),
            "albums": TRACKS["albums"].cast(pa.large_list(pa.int32())),
            "artists": TRACKS["artists"],
            "genres": TRACKS["genres"].cast(pa.large_list(pa.int64())),
        }
    )
    catalog = CATALOG_NAMES.set_column(2, "name", CATALOG_NAMES["name"].cast(pa.large_string()))
    catalog = catalog.set_column(1, "type", catalog["type"].dictionary_encode())
    interactions = INTERACTIONS.set_column(
        0, "user_id", INTERACTIONS["user_id"].cast(pa.int64())
    ).set_column(3, "started_at", pa.array([dt.date(2022, 3, d) for d in (1, 1, 2, 2, 3, 2, 3, 5)]))
    validate_raw(write_raw(tmp_path, tracks=tracks, catalog_names=catalog, interactions=interactions))


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_any_timestamp_unit_is_accepted(tmp_path, unit):
    started = INTERACTIONS["started_at"].cast(pa.timestamp(unit))
    validate_raw(write_raw(tmp_path, interactions=INTERACTIONS.set_column(3, "started_at", started)))


def test_missing_file(tmp_path):
    message = one_line_error(write_raw(tmp_path, catalog_names=None))
    assert message.startswith("catalog_names.parquet: file not found in ")
    assert "id int64, type string, name string" in message


def test_missing_column(tmp_path):
    message = one_line_error(write_raw(tmp_path, tracks=TRACKS.drop_columns(["genres"])))
    assert message == (
        "tracks.parquet: column 'genres' is missing (expected list<int64>); "
        "found columns: track_id, albums, artists"
    )


def test_string_ids_are_refused(tmp_path):
    interactions = INTERACTIONS.set_column(1, "track_id", INTERACTIONS["track_id"].cast(pa.string()))
    message = one_line_error(write_raw(tmp_path, interactions=interactions))
    assert message == (
        "interactions.parquet: column 'track_id': expected int32 "
        "(integer (int8..int64, uint8..uint32)), found string"
    )


def test_list_of_strings_is_refused(tmp_path):
    genres = pa.array([["pop"], ["rock"], [], [], []], pa.list_(pa.string()))
    message = one_line_error(write_raw(tmp_path, tracks=TRACKS.set_column(3, "genres", genres)))
    expected = "tracks.parquet: column 'genres': expected list<int64> (list of integers), found "
    assert message.startswith(expected)
    assert "string" in message


def test_string_timestamp_is_refused(tmp_path):
    started = INTERACTIONS["started_at"].cast(pa.string())
    interactions = INTERACTIONS.set_column(3, "started_at", started)
    message = one_line_error(write_raw(tmp_path, interactions=interactions))
    assert message.startswith("interactions.parquet: column 'started_at': expected timestamp")
    assert message.endswith("found string")


def test_null_ids_are_refused(tmp_path):
    users = pa.array([7, None, 3, 7, 7, 3, 7, 3], pa.int32())
    message = one_line_error(write_raw(tmp_path, interactions=INTERACTIONS.set_column(0, "user_id", users)))
    assert message == "interactions.parquet: column 'user_id': expected no nulls, found 1"


def test_wrong_catalog_type_value(tmp_path):
    types = CATALOG_NAMES["type"].to_pylist()
    types[0] = types[1] = "singer"
    catalog = CATALOG_NAMES.set_column(1, "type", pa.array(types))
    message = one_line_error(write_raw(tmp_path, catalog_names=catalog))
    assert message == (
        "catalog_names.parquet: column 'type': expected one of {album, artist, genre, track}, "
        "found 'singer' (2 rows)"
    )


def test_not_a_parquet_file(tmp_path):
    write_raw(tmp_path)
    (tmp_path / "tracks.parquet").write_text("track_id,albums\n1,2\n")
    message = one_line_error(tmp_path)
    assert message.startswith("tracks.parquet: not a readable parquet file (")


def test_unknown_track_references_are_counted(tmp_path):
    report = check_references(validate_raw(write_raw(tmp_path)))
    assert (report.interactions, report.unknown_track_interactions, report.unknown_tracks) == (8, 1, 1)


def test_references_clean(tmp_path):
    interactions = INTERACTIONS.filter(pc.not_equal(INTERACTIONS["track_id"], 99))
    pq.write_table(interactions, write_raw(tmp_path) / "interactions.parquet")
    report = check_references(validate_raw(tmp_path))
    assert (report.interactions, report.unknown_track_interactions, report.unknown_tracks) == (7, 0, 0)
