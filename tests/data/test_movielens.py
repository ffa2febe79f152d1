import datetime as dt

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from musicrec.data.movielens import import_movielens, movielens_command
from musicrec.data.prepare import prepare
from musicrec.data.schema import RawDataError, validate_raw

RECBOLE_INTER = """user_id:token\titem_id:token\trating:float\ttimestamp:float
2\t10\t3\t881250949
1\t20\t5\t881250950
1\t10\t4\t881250940
2\t30\t1\t881250949
1\t99\t2\t881250960
"""
RECBOLE_ITEM = """item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq
10\tToy Story\t1995\tAnimation Children's Comedy
20\tMisérables, Les\t1995\tDrama Musical
30\tunkonwn\tunkonwn\tunknown
"""
U_DATA = RECBOLE_INTER.split("\n", 1)[1]  # u.data: the same tab-separated rows without a header
U_ITEM = (
    "10|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)"
    "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "20|Misérables, Les (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Mis%E9rables"
    "|0|0|0|0|0|0|0|0|1|0|0|0|1|0|0|0|0|0|0\n"
    "30|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
)

T0 = dt.datetime(1997, 12, 4, 15, 55, 40)  # 881250940 in UTC
EXPECTED_INTERACTIONS = [
    {"user_id": 1, "track_id": 10, "track_seq": 1, "started_at": T0},
    {"user_id": 1, "track_id": 20, "track_seq": 2, "started_at": T0 + dt.timedelta(seconds=10)},
    {"user_id": 1, "track_id": 99, "track_seq": 3, "started_at": T0 + dt.timedelta(seconds=20)},
    # same second: the item id breaks the tie
    {"user_id": 2, "track_id": 10, "track_seq": 1, "started_at": T0 + dt.timedelta(seconds=9)},
    {"user_id": 2, "track_id": 30, "track_seq": 2, "started_at": T0 + dt.timedelta(seconds=9)},
]
EXPECTED_TRACKS = [
    {"track_id": 10, "albums": [], "artists": [], "genres": [1, 2, 3]},
    {"track_id": 20, "albums": [], "artists": [], "genres": [4, 5]},
    {"track_id": 30, "albums": [], "artists": [], "genres": []},
]
GENRES = [(1, "genre", "Animation"), (2, "genre", "Children's"), (3, "genre", "Comedy"),
          (4, "genre", "Drama"), (5, "genre", "Musical")]


@pytest.fixture
def recbole_dir(tmp_path):
    src = tmp_path / "ml-100k"
    src.mkdir()
    (src / "ml-100k.inter").write_text(RECBOLE_INTER, encoding="utf-8")
    (src / "ml-100k.item").write_text(RECBOLE_ITEM, encoding="utf-8")
    return src


@pytest.fixture
def grouplens_dir(tmp_path):
    src = tmp_path / "ml-100k-grouplens"
    src.mkdir()
    (src / "u.data").write_text(U_DATA)
    (src / "u.item").write_bytes(U_ITEM.encode("latin-1"))
    return src


def rows(path):
    return pq.read_table(path).to_pylist()


def names(out):
    return [(r["id"], r["type"], r["name"]) for r in rows(out / "catalog_names.parquet")]


def test_recbole_layout(recbole_dir, tmp_path):
    summary = import_movielens(recbole_dir, tmp_path / "raw")
    out = tmp_path / "raw"
    assert (summary.layout, summary.tracks, summary.genres, summary.users, summary.interactions) == (
        "recbole", 3, 5, 2, 5)
    assert rows(out / "tracks.parquet") == EXPECTED_TRACKS
    assert rows(out / "interactions.parquet") == EXPECTED_INTERACTIONS
    assert names(out) == [*GENRES, (10, "track", "Toy Story"), (20, "track", "Misérables, Les")]
    raw = validate_raw(out)
    assert str(raw.interactions.schema.field("track_seq").type) == "int16"


def test_grouplens_layout_gives_the_same_data(grouplens_dir, tmp_path):
    summary = import_movielens(grouplens_dir, tmp_path / "raw")
    out = tmp_path / "raw"
    assert summary.layout == "grouplens"
    assert rows(out / "tracks.parquet") == EXPECTED_TRACKS
    assert rows(out / "interactions.parquet") == EXPECTED_INTERACTIONS
    assert names(out) == [*GENRES, (10, "track", "Toy Story (1995)"), (20, "track", "Misérables, Les (1995)")]


def test_grouplens_genre_names_come_from_u_genre(grouplens_dir, tmp_path):
    genre_names = ["unknown", "Action", "Adventure", "Cartoon", "Kids", "Comedy", "Crime", "Documentary",
                   "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
                   "Thriller", "War", "Western"]
    (grouplens_dir / "u.genre").write_text("".join(f"{n}|{i}\n" for i, n in enumerate(genre_names)) + "\n")
    import_movielens(grouplens_dir, tmp_path / "raw")
    genres = [n for n in names(tmp_path / "raw") if n[1] == "genre"]
    assert genres == [(1, "genre", "Cartoon"), (2, "genre", "Comedy"), (3, "genre", "Drama"),
                      (4, "genre", "Kids"), (5, "genre", "Musical")]


def test_movielens_then_prepare(recbole_dir, tmp_path):
    import_movielens(recbole_dir, tmp_path / "raw")
    report = prepare(tmp_path / "raw", tmp_path / "prepared")
    items = rows(tmp_path / "prepared" / "items.parquet")
    assert [(i["item_id"], i["name"], i["genres"], i["artists"]) for i in items] == [
        (10, "Toy Story", ["Animation", "Children's", "Comedy"], []),
        (20, "Misérables, Les", ["Drama", "Musical"], []),
    ]
    assert report.required_attributes == ["name", "genres"]
    assert report.absent_attributes == ["artists", "albums"]
    assert (report.dropped_unknown_track, report.dropped_incomplete_track, report.events) == (1, 1, 3)


def test_u_item_with_wrong_field_count(grouplens_dir, tmp_path):
    (grouplens_dir / "u.item").write_text("10|Toy Story (1995)|01-Jan-1995||url|0|1\n")
    with pytest.raises(RawDataError, match=r"^u.item: line 1: expected 24 '\|'-separated fields .*found 7$"):
        import_movielens(grouplens_dir, tmp_path / "raw")


def test_recbole_missing_column(recbole_dir, tmp_path):
    (recbole_dir / "ml-100k.inter").write_text("user_id:token\titem_id:token\trating:float\n1\t2\t3\n")
    with pytest.raises(RawDataError, match=r"^ml-100k.inter: column 'timestamp' is missing; found columns: "):
        import_movielens(recbole_dir, tmp_path / "raw")


def test_cli(recbole_dir, tmp_path):
    result = CliRunner().invoke(movielens_command, [str(recbole_dir), "--out", str(tmp_path / "raw")])
    assert result.exit_code == 0, result.output
    assert "3 tracks, 5 genres, 5 listens of 2 users" in result.output


def test_cli_without_movielens_files_exits_2(tmp_path):
    result = CliRunner().invoke(movielens_command, [str(tmp_path), "--out", str(tmp_path / "raw")])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path}: no MovieLens files found (expected ml-100k.inter + ml-100k.item, "
        "or u.data + u.item)\n"
    )
