"""Artifact locations given by users: a directory path or ``s3://bucket/prefix``.

:func:`open_store` returns the matching store; :func:`fetch_artifacts` gives the services a local
directory to load from (the directory itself, or the S3 cache after one download at start-up).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from musicrec.config import S3, Settings
from musicrec.storage.artifacts import ArtifactStore, LocalArtifactStore
from musicrec.storage.errors import MissingArtifactError
from musicrec.storage.s3 import S3ArtifactStore

log = logging.getLogger(__name__)

SCHEME = "s3://"


def normalize_location(location: str | Path) -> str:
    """The location as a string; ``s3:/b/p`` (what ``Path("s3://b/p")`` makes of a URL) becomes ``s3://b/p``.

    >>> normalize_location(Path("s3://bucket/runs/1"))
    's3://bucket/runs/1'
    >>> normalize_location("artifacts")
    'artifacts'
    """
    text = str(location)
    if text.startswith("s3:/") and not text.startswith(SCHEME):
        text = SCHEME + text[len("s3:/"):]
    return text


def is_s3(location: str | Path) -> bool:
    """True for ``s3://...`` (also after a ``Path`` collapsed its double slash)."""
    return normalize_location(location).startswith(SCHEME)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``.

    >>> parse_s3_url("s3://models/musicrec/2024")
    ('models', 'musicrec/2024')
    >>> parse_s3_url("s3://models")
    ('models', '')
    """
    rest = normalize_location(url)[len(SCHEME):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"{url!r}: an S3 location needs a bucket: s3://<bucket>/<prefix>")
    return bucket, prefix.strip("/")


def make_s3_client(s3: S3):
    """A boto3 S3 client for ``[s3]``: endpoint, region, timeouts and retries; credentials from the env."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=s3.connect_timeout_s,
        read_timeout=s3.read_timeout_s,
        retries={"max_attempts": s3.max_attempts, "mode": "standard"},
        s3={"addressing_style": s3.addressing_style},
    )
    # a fresh session: boto3's default one caches the credentials it found first
    return boto3.session.Session().client(
        "s3", endpoint_url=s3.endpoint_url or None, region_name=s3.region or None, config=config)


def open_s3_store(url: str | Path, settings: Settings) -> S3ArtifactStore:
    """The store of ``s3://bucket/prefix`` with a client for ``[s3]``."""
    bucket, prefix = parse_s3_url(str(url))
    return S3ArtifactStore(bucket, prefix, make_s3_client(settings.s3), cache_dir=settings.s3.cache_dir)


def open_store(location: str | Path, settings: Settings) -> ArtifactStore:
    """:class:`S3ArtifactStore` for ``s3://bucket/prefix``, :class:`LocalArtifactStore` for a path."""
    return open_s3_store(location, settings) if is_s3(location) else LocalArtifactStore(location)


def local_artifacts_dir(location: str | Path, settings: Settings) -> Path:
    """Where the artifacts of ``location`` are on this machine: the directory, or its S3 cache."""
    if is_s3(location):
        return S3ArtifactStore.cache_path(settings.s3.cache_dir, *parse_s3_url(str(location)))
    return Path(location)


def fetch_artifacts(
    location: str | Path, settings: Settings, groups: Sequence[Sequence[str]], optional: Sequence[str] = ()
) -> Path:
    """A local directory holding the artifacts a service needs, for one load at start-up.

    A path is returned as it is (nothing copied, the loaders' own checks apply). For ``s3://`` the first
    existing name of each group is downloaded into the cache directory, which is returned; a group with
    none raises :class:`MissingArtifactError` naming the s3:// URLs. Each ``optional`` name is
    downloaded when it exists; when it does not, a cached copy of an earlier run is deleted, so the
    loader sees exactly what the location holds.
    """
    if not is_s3(location):
        return Path(location)
    store = open_s3_store(location, settings)
    start = time.perf_counter()
    for names in groups:
        name = next((n for n in names if store.exists(n)), None)
        if name is None:
            store.check_bucket()  # "no bucket" says more than "no file"
            raise MissingArtifactError(
                f"artifact {' or '.join(store.describe(n) for n in names)} does not exist "
                "(run `python -m musicrec train --artifacts " + normalize_location(location) + "`)")
        store.local_file(name)
        for other in names:  # a stale cached alternative would be preferred by the loader: drop it
            if other != name:
                (store.cache_root / other).unlink(missing_ok=True)
        log.info("downloaded %s to %s", store.describe(name), store.cache_root / name)
    for name in optional:
        if store.exists(name):
            store.local_file(name)
            log.info("downloaded %s to %s", store.describe(name), store.cache_root / name)
        else:
            (store.cache_root / name).unlink(missing_ok=True)
            log.info("%s does not exist (optional)", store.describe(name))
    log.info("artifacts from %s in %.2f s", normalize_location(location), time.perf_counter() - start)
    return store.cache_root
