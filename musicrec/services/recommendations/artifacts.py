"""Load the recommendation artifacts into the compact indexes the service answers from.

Required: the offline lists and the popular tracks. Optional (artifacts of an older train lack them):
``blend.json`` (the learned blend's weights), the tracks' artists from ``items.parquet`` and the
users' top artists ``user_artists.parquet``; without them the service serves the alternate blend,
caps no artist and explains without artists.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from musicrec.columns import Columns as C
from musicrec.config import Settings, load_settings
from musicrec.files import BLEND as BLEND_FILE
from musicrec.files import ITEMS as ITEMS_FILE
from musicrec.files import OFFLINE_FILES
from musicrec.files import TOP_POPULAR as POPULAR_FILE
from musicrec.files import USER_ARTISTS as USER_ARTISTS_FILE
from musicrec.models.blending import FusionWeights
from musicrec.services.recommendations.index import ItemArtists, UserItemIndex
from musicrec.storage.errors import MissingArtifactError, S3StoreError
from musicrec.storage.location import fetch_artifacts, is_s3

log = logging.getLogger(__name__)

# The final ranked list first; the plain ALS list when the ranker was not trained.
OPTIONAL_FILES = (BLEND_FILE, ITEMS_FILE, USER_ARTISTS_FILE)


class ArtifactsError(ValueError):
    """An artifact is missing or malformed; the message names the file and the column."""


@dataclass(frozen=True)
class RecommendationArtifacts:
    """Everything the recommendations service needs in memory."""

    offline: UserItemIndex  # personal ranked lists
    popular: np.ndarray  # top popular item ids, best first
    offline_file: str
    weights: FusionWeights | None = None  # blend.json; None: artifacts of a train before the learned blend
    artists: ItemArtists = field(default_factory=ItemArtists.empty)  # each track's first artist
    user_artists: UserItemIndex = field(default_factory=UserItemIndex.empty)  # top artists, best first
    run_id: str = "none"  # the training run these come from (the X-Model-Version header)

    @cached_property
    def popular_list(self) -> list[int]:
        """``popular`` as a list of ints, made once (every blended answer walks it)."""
        return self.popular.tolist()

    def personal(self, user_id: int) -> np.ndarray:
        """The user's personal list (empty for a cold user)."""
        return self.offline.lookup(user_id)

    def top_artists(self, user_id: int) -> list[int]:
        """The artists the user played most in the train period, most played first (may be empty)."""
        return self.user_artists.lookup(user_id).tolist()


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


def _read_weights(path: Path) -> FusionWeights | None:
    """The learned blend's weights from ``blend.json``; None when the file is absent."""
    if not path.exists():
        return None
    try:
        return FusionWeights.from_dict(json.loads(path.read_text(encoding="utf-8"))["weights"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactsError(f"{path}: expected {{\"weights\": {{\"online\": ..., \"artist\": ..., "
                             f"\"offset\": ..., \"recency_decay\": ...}}}}: {exc!r}") from None


def _read_item_artists(path: Path) -> ItemArtists:
    """Each track's first artist from ``items.parquet``; empty without the file or its artist ids."""
    if not path.exists():
        return ItemArtists.empty()
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactsError(f"{path}: cannot read it as parquet: {exc}") from None
    if C.ArtistIds not in names:
        return ItemArtists.empty()
    table = _read(path, [C.Item, C.ArtistIds])
    lists = table.column(C.ArtistIds)
    try:
        has_artist = pc.fill_null(pc.greater(pc.list_value_length(lists), 0), False)
        firsts = pc.list_element(pc.filter(lists, has_artist), 0)
    except pa.ArrowException as exc:
        raise ArtifactsError(f"{path}: column {C.ArtistIds}: expected lists of ids: {exc}") from None
    has = has_artist.to_numpy()
    artists = np.full(len(has), -1, dtype=np.int64)
    artists[has] = pc.fill_null(firsts, -1).to_numpy()
    return ItemArtists.build(table.column(C.Item).to_numpy(), artists)


def _read_user_artists(path: Path) -> UserItemIndex:
    """Each user's top artists, best first; empty without the file."""
    if not path.exists():
        return UserItemIndex.empty()
    return _read_ranked(path, C.Artist)


BATCH_ROWS = 1 << 20  # rows read at a time from a ranked file


def _read_ranked(path: Path, item: str) -> UserItemIndex:
    """A ``(user_id, <item>, rank)`` file as a :class:`UserItemIndex`, read one batch at a time when it is
    in the pipeline's order (peak memory: the index plus a batch); whole and sorted otherwise."""
    columns = [C.User, item, C.Rank]
    _read_schema(path, columns)
    try:
        file = pq.ParquetFile(path)
        batches = ((batch.column(0).to_numpy(), batch.column(1).to_numpy(), batch.column(2).to_numpy())
                   for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=False))
        index = UserItemIndex.from_batches(batches, file.metadata.num_rows)
        if index is None:
            table = _read(path, columns)
            index = UserItemIndex.build(*(table.column(name).to_numpy() for name in columns))
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactsError(f"{path}: cannot read it as parquet: {exc}") from None
    return index


def _read_schema(path: Path, columns: list[str]) -> None:
    if not path.exists():
        raise ArtifactsError(f"{path}: file not found (run `python -m musicrec train`)")
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactsError(f"{path}: cannot read it as parquet: {exc}") from None
    missing = [col for col in columns if col not in names]
    if missing:
        raise ArtifactsError(f"{path}: missing column(s) {missing}; found {names}")


def load_artifacts(artifacts_dir: Path | str, settings: Settings | None = None) -> RecommendationArtifacts:
    """Read the offline list, the top popular tracks and the optional blend files from ``artifacts_dir``.

    ``artifacts_dir`` may be ``s3://bucket/prefix``: the files are downloaded once into ``[s3]
    cache_dir`` (of ``settings``, default: loaded) and read from there.
    Raises :class:`ArtifactsError` naming the file when something required is missing, or when any
    file present is malformed.
    """
    start = time.perf_counter()
    if is_s3(artifacts_dir):
        try:
            artifacts_dir = fetch_artifacts(artifacts_dir, settings or load_settings(),
                                            [OFFLINE_FILES, (POPULAR_FILE,)], optional=OPTIONAL_FILES)
        except (MissingArtifactError, S3StoreError) as exc:
            raise ArtifactsError(str(exc)) from None
    artifacts_dir = Path(artifacts_dir)
    offline_path = next(
        (artifacts_dir / name for name in OFFLINE_FILES if (artifacts_dir / name).exists()),
        artifacts_dir / OFFLINE_FILES[0],
    )
    offline = _read_ranked(offline_path, C.Item)
    popular_table = _read(artifacts_dir / POPULAR_FILE, [C.Item, C.Rank])
    order = np.argsort(popular_table.column(C.Rank).to_numpy(), kind="stable")
    popular_items = popular_table.column(C.Item).to_numpy()[order]
    _, first = np.unique(popular_items, return_index=True)
    popular = popular_items[np.sort(first)]
    if len(popular) == 0:
        raise ArtifactsError(f"{artifacts_dir / POPULAR_FILE}: no rows")
    weights = _read_weights(artifacts_dir / BLEND_FILE)
    artists = _read_item_artists(artifacts_dir / ITEMS_FILE)
    user_artists = _read_user_artists(artifacts_dir / USER_ARTISTS_FILE)
    # Only numpy arrays are kept: hand the freed arrow buffers back to the OS, or the allocator keeps
    # them as resident memory for the life of the service.
    pa.default_memory_pool().release_unused()
    log.info(
        "loaded %s (%d users, %d items), %s (%d items), %s, artists of %d tracks (%s), top artists of "
        "%d users (%s) in %.2f s",
        offline_path.name, len(offline), len(offline.items), POPULAR_FILE, len(popular),
        f"{BLEND_FILE} {weights.to_dict()}" if weights else f"no {BLEND_FILE}", len(artists), ITEMS_FILE,
        len(user_artists), USER_ARTISTS_FILE, time.perf_counter() - start,
    )
    return RecommendationArtifacts(offline=offline, popular=popular, offline_file=offline_path.name,
                                   weights=weights, artists=artists, user_artists=user_artists)
