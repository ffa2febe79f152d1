"""Where training artifacts live. Every write is atomic: a failed run never leaves a half-written file.

:class:`ArtifactStore` is the interface the pipeline and the services use; :class:`LocalArtifactStore`
keeps artifacts in a directory; :class:`~musicrec.storage.s3.S3ArtifactStore` keeps them in S3-compatible
object storage. :func:`musicrec.storage.location.open_store` picks one from a user-given location.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from musicrec.storage.errors import MissingArtifactError

if TYPE_CHECKING:
    import polars as pl


class ArtifactStore(Protocol):
    """Named artifacts: parquet frames, JSON documents and whole directories (models)."""

    def exists(self, name: str) -> bool: ...
    def describe(self, name: str) -> str: ...
    def write_parquet(self, name: str, frame: pl.DataFrame) -> None: ...
    def read_parquet(self, name: str) -> pl.DataFrame: ...
    def write_json(self, name: str, document: Any) -> None: ...
    def read_json(self, name: str) -> Any: ...
    def write_text(self, name: str, text: str) -> None: ...
    def copy_file(self, source: Path, name: str) -> None: ...
    def write_dir(self, name: str, writer: Callable[[Path], None]) -> None: ...
    def local_dir(self, name: str) -> Path: ...
    def local_file(self, name: str) -> Path: ...
    def sub(self, name: str) -> ArtifactStore: ...
    def list_dirs(self, name: str) -> list[str]: ...
    def copy_tree(self, source: str, name: str, skip: tuple[str, ...] = ()) -> None: ...
    def delete_tree(self, name: str) -> None: ...


def fsync_file(path: Path) -> None:
    """Flush ``path`` to the disk, so a rename that follows cannot expose an empty file after a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_path(tmp: Path, final: Path) -> None:
    """Put the finished ``tmp`` (file or directory) at ``final`` by renaming."""
    if tmp.is_dir() and final.exists():
        # a directory cannot be replaced in one rename: move the old one aside first
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


class LocalArtifactStore:
    """Artifacts as files under ``root``; each write goes to a temporary sibling, then is renamed."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, name: str) -> Path:
        return self.root / name

    def describe(self, name: str) -> str:
        return str(self.path(name))

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def _require(self, name: str) -> Path:
        path = self.path(name)
        if not path.exists():
            raise MissingArtifactError(f"artifact {path} does not exist")
        return path

    @contextmanager
    def _atomic(self, name: str) -> Iterator[Path]:
        """Yield a temporary path; on success it replaces ``name`` in one rename."""
        final = self.path(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            yield tmp
            replace_path(tmp, final)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists():
                tmp.unlink()

    def write_parquet(self, name: str, frame: pl.DataFrame) -> None:
        with self._atomic(name) as tmp:
            frame.write_parquet(tmp)

    def read_parquet(self, name: str) -> pl.DataFrame:
        import polars as pl  # the services never read a frame: polars stays out of their memory

        return pl.read_parquet(self._require(name))

    def write_json(self, name: str, document: Any) -> None:
        with self._atomic(name) as tmp:
            tmp.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
            fsync_file(tmp)  # small files, among them the run pointer: on disk before the rename

    def read_json(self, name: str) -> Any:
        return json.loads(self._require(name).read_text())

    def write_text(self, name: str, text: str) -> None:
        with self._atomic(name) as tmp:
            tmp.write_text(text)

    def copy_file(self, source: Path, name: str) -> None:
        with self._atomic(name) as tmp:
            shutil.copyfile(source, tmp)

    def write_dir(self, name: str, writer: Callable[[Path], None]) -> None:
        """``writer(tmp_dir)`` fills a fresh directory that then replaces ``name``."""
        with self._atomic(name) as tmp:
            tmp.mkdir()
            writer(tmp)

    def local_dir(self, name: str) -> Path:
        """A local directory holding artifact ``name`` (here: the directory itself)."""
        return self._require(name)

    def local_file(self, name: str) -> Path:
        """A local path of file artifact ``name`` (here: the file itself)."""
        return self._require(name)

    def sub(self, name: str) -> LocalArtifactStore:
        """The store of the sub-directory ``name`` (e.g. one run)."""
        return LocalArtifactStore(self.path(name))

    def list_dirs(self, name: str) -> list[str]:
        """Names of the sub-directories of ``name`` (none when it does not exist), hidden ones left out."""
        base = self.path(name)
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))

    def copy_tree(self, source: str, name: str, skip: tuple[str, ...] = ()) -> None:
        """Make ``name`` a copy of directory ``source`` made of hard links (no data copied), leaving out
        the entries of ``source`` named in ``skip``.

        Safe because no artifact is ever modified in place: every write renames a new file over the old
        one, so the source keeps its own inodes.
        """
        def link(src: str, dst: str) -> None:
            try:
                os.link(src, dst)
            except OSError:  # another file system, or links not supported
                shutil.copy2(src, dst)

        root = self._require(source)

        def ignore(directory: str, names: list[str]) -> list[str]:
            return [n for n in names if n in skip or n.startswith(".")] if Path(directory) == root else []

        with self._atomic(name) as tmp:
            shutil.copytree(root, tmp, copy_function=link, ignore=ignore)

    def delete_tree(self, name: str) -> None:
        """Remove directory ``name`` (renamed aside first, so nobody sees it half deleted)."""
        path = self.path(name)
        if not path.exists():
            return
        trash = path.with_name(f".{path.name}.deleted-{uuid.uuid4().hex[:8]}")
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
