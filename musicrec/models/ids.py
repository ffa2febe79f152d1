"""External <-> internal id maps: internal indices (matrix rows/columns) never leak into an API."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np


class UnknownIdError(KeyError):
    """Some external ids are not in the map; the message lists the first few."""


# ids mapped per slice by IdMap.to_internal (bounded temporaries)
_SLICE = 8_000_000
# integer ids spanning at most this many values per id (plus a little) are mapped through a lookup
# table (4 bytes per value in the span) instead of a binary search: the synthetic and Yandex user ids
# (0..n) are dense; sparse ids (Yandex track ids: 1M of a 100M range) keep the binary search
_DENSE_SPAN = 4

@dataclass(frozen=True, eq=False)
class IdMap:
    """A frozen, sorted set of external ids; the internal id of an external id is its position.

    >>> ids = IdMap.from_values(np.array([30, 10, 20, 10]))
    >>> len(ids), ids.to_internal(np.array([20, 30])).tolist()
    (3, [1, 2])
    >>> ids.to_internal(np.array([20, 99]), strict=False).tolist()
    [1, -1]
    >>> ids.to_external(np.array([0, 2])).tolist()
    [10, 30]
    """

    external: np.ndarray

    def __post_init__(self) -> None:
        values = np.asarray(self.external)
        if values.ndim != 1:
            raise ValueError(f"IdMap needs a 1-d array of ids, found shape {values.shape}")
        if len(values) > 1 and not np.all(values[1:] > values[:-1]):
            raise ValueError("IdMap ids must be sorted and unique; build it with IdMap.from_values")
        values = values.copy()
        values.flags.writeable = False  # frozen all the way down
        object.__setattr__(self, "external", values)

    @classmethod
    def from_values(cls, values: np.ndarray) -> IdMap:
        """Build a map from any array of external ids (duplicates allowed, order ignored)."""
        return cls(np.unique(np.asarray(values)))

    def __len__(self) -> int:
        return len(self.external)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and np.array_equal(self.external, other.external)

    def __hash__(self) -> int:
        return hash(self.external.tobytes())

    def contains(self, ext: np.ndarray) -> np.ndarray:
        """Boolean mask: which external ids are known."""
        return self.to_internal(ext, strict=False) >= 0

    def to_internal(self, ext: np.ndarray, strict: bool = True) -> np.ndarray:
        """Internal ids (int32 positions) of external ids.

        Unknown ids raise :class:`UnknownIdError` when ``strict`` (the default), else map to ``-1``.
        """
        ext = np.asarray(ext)
        out = np.empty(ext.shape, dtype=np.int32)
        flat_in, flat_out = ext.reshape(-1), out.reshape(-1)
        unknown, example = 0, []
        # in slices: the int64 positions and masks of 200M ids at once were ~3 GB of temporaries
        for start in range(0, len(flat_in), _SLICE):
            part = flat_in[start:start + _SLICE]
            if len(self.external) == 0:
                pos, found = np.zeros(part.shape, dtype=np.int64), np.zeros(part.shape, dtype=bool)
            elif self._table is not None and part.dtype.kind in "iu":
                offset = part.astype(np.int64) - int(self.external[0])
                inside = (offset >= 0) & (offset < len(self._table))
                pos = self._table[np.where(inside, offset, 0)]
                found = inside & (pos >= 0)
            else:
                pos = np.searchsorted(self.external, part)
                found = self.external[np.minimum(pos, len(self.external) - 1)] == part
            if strict and not found.all():
                unknown += int((~found).sum())
                example += part[~found][:5 - len(example)].tolist()
            flat_out[start:start + _SLICE] = np.where(found, pos, -1)
        if unknown:
            raise UnknownIdError(f"{unknown} unknown id(s), e.g. {example}")
        return out

    @cached_property
    def _table(self) -> np.ndarray | None:
        """Internal id at ``external id - first id`` (-1 between ids), for dense integer ids; else None."""
        ids = self.external
        if len(ids) == 0 or ids.dtype.kind not in "iu":
            return None
        span = int(ids[-1]) - int(ids[0]) + 1
        if span > _DENSE_SPAN * len(ids) + 1024:
            return None
        table = np.full(span, -1, dtype=np.int32)
        table[ids.astype(np.int64) - int(ids[0])] = np.arange(len(ids), dtype=np.int32)
        return table

    def to_external(self, internal: np.ndarray) -> np.ndarray:
        """External ids of internal ids; an out-of-range internal id raises IndexError."""
        internal = np.asarray(internal)
        if internal.size and (internal.min() < 0 or internal.max() >= len(self.external)):
            raise IndexError(f"internal ids must be in [0, {len(self.external)}), found {internal.min()}..")
        return self.external[internal]

    def save(self, path: str | Path) -> None:
        """Write the ids as a ``.npy`` file (the path is used as given)."""
        with open(path, "wb") as fh:
            np.save(fh, self.external, allow_pickle=False)

    @classmethod
    def load(cls, path: str | Path) -> IdMap:
        """Read a map written by :meth:`save`."""
        with open(path, "rb") as fh:
            return cls(np.load(fh, allow_pickle=False))
