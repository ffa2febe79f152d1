"""Load the recommendation artifacts into the compact indexes the service answers from."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from musicrec.columns import Columns as C
from musicrec.config import Settings, load_settings
from musicrec.services.recommendations.index import UserItemIndex
from musicrec.storage.artifacts import MissingArtifactError
from musicrec.storage.location import fetch_artifacts, is_s3
from musicrec.storage.s3 import S3StoreError

log = logging.getLogger(__name__)

# The final ranked list first; the plain ALS list when the ranker was not trained.
OFFLINE_FILES = ("recommendations.parquet", "personal_als.parquet")
POPULAR_FILE = "top_popular.parquet"


class ArtifactsError(ValueError):
    """An artifact is missing or malformed; the message names the file and the column."""


@dataclass(frozen=True)
class RecommendationArtifacts:
    """Everything the recommendations service needs in memory."""

    offline: UserItemIndex  # personal ranked lists
    popular: np.ndarray  # top popular item ids, best first
    offline_file: str

    def personal(self, user_id: int) -> np.ndarray:
        """The user's personal list (empty for a cold user)."""
        return self.offline.lookup(user_id)


def _read(path: Path, columns: list[str]):
    if not path.exists():
        raise ArtifactsError(f"{path}: file not found (run `python -m musicrec train`)")
    try:
        schema = pq.read_schema(path)
        missing = [col for col in columns if col not in schema.names]
        if missing:
            raise ArtifactsError(f"{path}: missing column(s) {missing}; found {schema.names}")
        return pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactsError(f"{path}: cannot read it as parquet: {exc}") from None


def load_artifacts(artifacts_dir: Path | str, settings: Settings | None = None) -> RecommendationArtifacts:
    """Read the offline list and the top popular tracks from ``artifacts_dir``.

    ``artifacts_dir`` may be ``s3://bucket/prefix``: the two files are downloaded once into ``[s3]
    cache_dir`` (of ``settings``, default: loaded) and read from there.
    Raises :class:`ArtifactsError` naming the file when something is missing or malformed.
    """
    start = time.perf_counter()
    if is_s3(artifacts_dir):
        try:
            artifacts_dir = fetch_artifacts(artifacts_dir, settings or load_settings(),
                                            [OFFLINE_FILES, (POPULAR_FILE,)])
        except (MissingArtifactError, S3StoreError) as exc:
            raise ArtifactsError(str(exc)) from None
    artifacts_dir = Path(artifacts_dir)
    offline_path = next(
        (artifacts_dir / name for name in OFFLINE_FILES if (artifacts_dir / name).exists()),
        artifacts_dir / OFFLINE_FILES[0],
    )
    table = _read(offline_path, [C.User, C.Item, C.Rank])
    offline = UserItemIndex.build(
        table.column(C.User).to_numpy(),
        table.column(C.Item).to_numpy(),
        table.column(C.Rank).to_numpy(),
    )
    del table
    popular_table = _read(artifacts_dir / POPULAR_FILE, [C.Item, C.Rank])
    order = np.argsort(popular_table.column(C.Rank).to_numpy(), kind="stable")
    popular_items = popular_table.column(C.Item).to_numpy()[order]
    _, first = np.unique(popular_items, return_index=True)
    popular = popular_items[np.sort(first)]
    if len(popular) == 0:
        raise ArtifactsError(f"{artifacts_dir / POPULAR_FILE}: no rows")
    log.info(
        "loaded %s (%d users, %d items) and %s (%d items) in %.2f s",
        offline_path.name, len(offline), len(offline.items), POPULAR_FILE, len(popular),
        time.perf_counter() - start,
    )
    return RecommendationArtifacts(offline=offline, popular=popular, offline_file=offline_path.name)
