"""Artifacts in S3-compatible object storage (AWS S3, Yandex Object Storage, MinIO).

Same methods as :class:`~musicrec.storage.artifacts.LocalArtifactStore`. What a reader can never see:

- a half-written file: every file is one ``PutObject``, which S3 applies whole or not at all;
- a half-written directory (a model): ``write_dir`` uploads the files under a fresh version prefix
  ``<name>/v-<time>-<id>/`` and only then overwrites the pointer object ``<name>/_CURRENT`` (one PUT) with
  the version and its file list. Readers follow the pointer, so they get the old model or the new one.
  A failed upload leaves the pointer untouched (its partial version is deleted). Versions older than the
  previous one are deleted after the switch; the previous one stays for readers that are mid-download.

Errors name the ``s3://`` URL in one line: a missing key is a :class:`MissingArtifactError` (as locally),
anything else (no bucket, no credentials, access denied, endpoint unreachable) an :class:`S3StoreError`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from musicrec.storage.artifacts import replace_path
from musicrec.storage.errors import MissingArtifactError, S3StoreError

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

POINTER = "_CURRENT"  # the object that says which version of a directory is complete
MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
DENIED_CODES = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
                "ExpiredToken"}


class S3ArtifactStore:
    """Artifacts as objects ``s3://<bucket>/<prefix>/<name>``; ``client`` is a boto3 S3 client.

    ``cache_dir`` is where :meth:`local_dir` and :meth:`local_file` download to (one sub-directory per
    bucket and prefix).
    """

    def __init__(self, bucket: str, prefix: str, client: Any, cache_dir: str | Path = "data/s3-cache"):
        if not bucket:
            raise ValueError("an S3 artifact location needs a bucket: s3://<bucket>/<prefix>")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.cache_dir = Path(cache_dir)
        self.cache_root = self.cache_path(cache_dir, bucket, self.prefix)

    @staticmethod
    def cache_path(cache_dir: str | Path, bucket: str, prefix: str) -> Path:
        """Where the objects of ``s3://bucket/prefix`` are cached under ``cache_dir``."""
        return Path(cache_dir) / bucket / prefix.strip("/")

    # -- names, URLs, errors ---------------------------------------------------------------------------

    def key(self, name: str) -> str:
        name = name.strip("/")
        return "/".join(part for part in (self.prefix, name) if part)

    def describe(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    @contextmanager
    def _errors(self, name: str) -> Iterator[None]:
        """Turn botocore's exceptions into one-line errors naming the s3:// URL."""
        url = self.describe(name)
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "NoSuchBucket":
                raise S3StoreError(f"{url}: bucket {self.bucket!r} does not exist") from None
            if code in MISSING_CODES:
                raise MissingArtifactError(f"artifact {url} does not exist") from None
            if code in DENIED_CODES:
                raise S3StoreError(
                    f"{url}: access denied ({code}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                    "and the bucket's permissions") from None
            raise S3StoreError(f"{url}: {code or 'error'}: {error.get('Message') or exc}") from None
        except NoCredentialsError:
            raise S3StoreError(
                f"{url}: no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
        except EndpointConnectionError:
            raise S3StoreError(f"{url}: cannot reach the S3 endpoint {self.client.meta.endpoint_url} "
                               "(check [s3] endpoint_url / MUSICREC_S3__ENDPOINT_URL)") from None
        except BotoCoreError as exc:
            raise S3StoreError(f"{url}: {type(exc).__name__}: {exc}") from None

    # -- single objects ------------------------------------------------------------------------------

    def _head(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in MISSING_CODES:
                return False
            raise

    def check_bucket(self) -> None:
        """Raise :class:`S3StoreError` when the bucket does not exist or cannot be reached."""
        with self._errors(""):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code", "")) in MISSING_CODES:
                    url = self.describe("")
                    raise S3StoreError(f"{url}: bucket {self.bucket!r} does not exist") from None
                raise

    def exists(self, name: str) -> bool:
        """A file ``name``, or a complete directory ``name`` (its pointer object exists)."""
        with self._errors(name):
            return self._head(self.key(name)) or self._head(self.key(f"{name}/{POINTER}"))

    def _put(self, name: str, body: bytes | Any) -> None:
        with self._errors(name):
            self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=body)

    def _get(self, name: str) -> bytes:
        with self._errors(name):
            return self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"].read()

    def write_parquet(self, name: str, frame: pl.DataFrame) -> None:
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        self._put(name, buffer.getvalue())

    def read_parquet(self, name: str) -> pl.DataFrame:
        import polars as pl  # the services never read a frame: polars stays out of their memory

        return pl.read_parquet(io.BytesIO(self._get(name)))

    def write_json(self, name: str, document: Any) -> None:
        self._put(name, (json.dumps(document, indent=2, sort_keys=False, default=str) + "\n").encode())

    def read_json(self, name: str) -> Any:
        return json.loads(self._get(name))

    def write_text(self, name: str, text: str) -> None:
        self._put(name, text.encode())

    def copy_file(self, source: Path, name: str) -> None:
        with open(source, "rb") as file:
            self._put(name, file)

    def _download(self, key: str, target: Path, name: str) -> None:
        """Stream one object to ``target`` through a temporary sibling (a crash leaves no partial file)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            with self._errors(name):
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                with open(tmp, "wb") as file:
                    shutil.copyfileobj(body, file, 1 << 20)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def local_file(self, name: str) -> Path:
        """Download file ``name`` into the cache directory (replacing an older copy) and return its path."""
        target = self.cache_root / name
        self._download(self.key(name), target, name)
        return target

    # -- directories ---------------------------------------------------------------------------------

    def _list(self, name: str, prefix: str) -> list[str]:
        keys: list[str] = []
        with self._errors(name):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def _delete(self, name: str, keys: list[str]) -> None:
        with self._errors(name):
            for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
                chunk = [{"Key": key} for key in keys[start:start + 1000]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})

    def _pointer(self, name: str) -> dict[str, Any]:
        try:
            return json.loads(self._get(f"{name}/{POINTER}"))
        except MissingArtifactError:
            pointer = self.describe(f"{name}/{POINTER}")
            raise MissingArtifactError(f"artifact {self.describe(name)} does not exist "
                                       f"(no complete directory: {pointer} is missing)") from None

    def write_dir(self, name: str, writer: Callable[[Path], None]) -> None:
        """``writer(tmp_dir)`` fills a local directory; it is uploaded as a new version, then made current."""
        version = f"v-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:6]}"
        version_prefix = self.key(f"{name}/{version}") + "/"
        with tempfile.TemporaryDirectory(prefix="musicrec-s3-") as tmp:
            local = Path(tmp) / "dir"
            local.mkdir()
            writer(local)
            files = sorted(p for p in local.rglob("*") if p.is_file())
            uploaded: list[str] = []
            try:
                for path in files:
                    relative = path.relative_to(local).as_posix()
                    with open(path, "rb") as file:
                        self._put(f"{name}/{version}/{relative}", file)
                    uploaded.append(version_prefix + relative)
                pointer = {"version": version,
                           "files": {p.relative_to(local).as_posix(): p.stat().st_size for p in files}}
                self.write_json(f"{name}/{POINTER}", pointer)  # the switch: one atomic PUT
            except BaseException:
                try:
                    self._delete(name, uploaded)
                except Exception:  # the original error matters more; the orphan version is unreferenced
                    log.warning("could not delete the partial upload %s", version_prefix)
                raise
        self._prune(name, keep={version, *self._previous_versions(name, version)[-1:]})

    def _previous_versions(self, name: str, current: str) -> list[str]:
        base = self.key(name) + "/"
        versions = {key[len(base):].split("/", 1)[0] for key in self._list(name, base + "v-")}
        return sorted(v for v in versions if v < current)

    def _prune(self, name: str, keep: set[str]) -> None:
        """Delete versions of ``name`` other than ``keep`` (best effort: they are no longer referenced)."""
        base = self.key(name) + "/"
        try:
            stale = [key for key in self._list(name, base + "v-")
                     if key[len(base):].split("/", 1)[0] not in keep]
            self._delete(name, stale)
        except S3StoreError as exc:
            log.warning("old versions of %s not deleted: %s", self.describe(name), exc)

    def sub(self, name: str) -> S3ArtifactStore:
        """The store of the prefix ``<prefix>/<name>`` (e.g. one run), with the same client and cache."""
        return S3ArtifactStore(self.bucket, self.key(name), self.client, cache_dir=self.cache_dir)

    def list_dirs(self, name: str) -> list[str]:
        """The "sub-directories" of ``name``: the common prefixes one level below it."""
        base = self.key(name).rstrip("/") + "/" if self.key(name) else ""
        found: list[str] = []
        with self._errors(name):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/")
            for page in pages:
                found.extend(p["Prefix"][len(base):].rstrip("/") for p in page.get("CommonPrefixes", []))
        return sorted(found)

    def copy_tree(self, source: str, name: str, skip: tuple[str, ...] = ()) -> None:
        """Copy every object under ``source/`` to ``name/`` (server-side copies, nothing downloaded), but
        those under the top-level entries named in ``skip``."""
        base, target = (self.key(source) + "/" if self.key(source) else ""), self.key(name) + "/"
        with self._errors(source):
            for key in self._list(source, base):
                if key[len(base):].split("/", 1)[0] in skip:
                    continue
                self.client.copy_object(Bucket=self.bucket, Key=target + key[len(base):],
                                        CopySource={"Bucket": self.bucket, "Key": key})

    def delete_tree(self, name: str) -> None:
        """Delete every object under ``name/``."""
        self._delete(name, self._list(name, self.key(name) + "/"))

    def local_dir(self, name: str) -> Path:
        """Download the current version of directory ``name`` into the cache and return the local copy.

        The copy is assembled in a temporary sibling and renamed into place, so a local reader never
        sees a mix of two versions either; an up-to-date copy (same version) is not downloaded again.
        """
        pointer = self._pointer(name)
        version, files = pointer["version"], pointer["files"]
        target = self.cache_root / name
        marker = target / f".{POINTER}"
        if marker.exists() and marker.read_text() == version:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            for relative in files:
                self._download(self.key(f"{name}/{version}/{relative}"), tmp / relative, name)
            (tmp / f".{POINTER}").write_text(version)
            replace_path(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target
