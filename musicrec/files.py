"""One vocabulary of file names: the raw Yandex Music files, the prepared data and the artifacts (the
seed's names, which the services read). Modules import these instead of spelling the names."""

# raw files (data/raw): validated by musicrec.data.schema
TRACKS = "tracks.parquet"
CATALOG_NAMES = "catalog_names.parquet"
INTERACTIONS = "interactions.parquet"
RAW_FILES = (TRACKS, CATALOG_NAMES, INTERACTIONS)

# prepared data (written by `python -m musicrec prepare`)
EVENTS_FILE = "events.parquet"
ITEMS_FILE = "items.parquet"
PREPARE_REPORT = "prepare_report.json"

# artifacts (written by `python -m musicrec train`)
SPLIT = "split.json"
TUNING = "tuning.json"  # the settings tuning chose on the end of the train period, every tried point
TOP_POPULAR = "top_popular.parquet"
TOP_RECENT = "top_recent.parquet"
ALS_MODEL = "als_model"
PERSONAL_ALS = "personal_als.parquet"
SIMILAR = "similar.parquet"
RANKER_RECS = "ranker_recs.parquet"
METRICS_JSON = "metrics.json"
METRICS_MD = "metrics.md"
RECOMMENDATIONS = "recommendations.parquet"
BLEND = "blend.json"  # the learned blend's weights (fitted on the end of the train period)
USER_ARTISTS = "user_artists.parquet"  # each user's most played artists (explanations)
ITEMS = "items.parquet"
MANIFEST = "manifest.json"
# what the recommendations service serves offline: the ranker's lists, else ALS's
OFFLINE_FILES = (RECOMMENDATIONS, PERSONAL_ALS)
