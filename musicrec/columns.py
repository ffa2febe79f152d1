"""One vocabulary of column names, used by data prep, models, metrics, ranker features and the API."""


class Raw:
    """Columns of the three raw Yandex Music files (types and checks: musicrec/data/schema.py; the
    files: README, "Training pipeline")."""

    TrackId = "track_id"
    Albums = "albums"
    Artists = "artists"
    Genres = "genres"
    # catalog_names.parquet
    Id = "id"
    Type = "type"
    Name = "name"
    # interactions.parquet
    UserId = "user_id"
    TrackSeq = "track_seq"
    StartedAt = "started_at"


class Columns:
    """Columns of prepared data and artifacts."""

    User = "user_id"
    Item = "item_id"
    Datetime = "started_at"
    Score = "score"
    Rank = "rank"
    Name = "name"
    Artists = "artists"
    ArtistIds = "artist_ids"  # items.parquet: the track's artist ids, the first one is "its" artist
    AlbumIds = "album_ids"
    GenreIds = "genre_ids"
    Artist = "artist_id"  # user_artists.parquet: one of the user's most played artists
    Albums = "albums"
    Genres = "genres"
    Plays = "plays"
    Users = "users"
    Item1 = "item_id_1"
    Item2 = "item_id_2"
    Source = "source"
