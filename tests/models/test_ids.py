import numpy as np
import pytest

from musicrec.models.ids import IdMap, UnknownIdError


def test_from_values_sorts_and_dedups():
    ids = IdMap.from_values(np.array([30, 10, 20, 10, 30]))
    assert ids.external.tolist() == [10, 20, 30]
    assert len(ids) == 3


def test_round_trip_internal_external():
    ids = IdMap.from_values(np.array([7, 3, 11]))
    internal = ids.to_internal(np.array([11, 3, 7, 3]))
    assert internal.tolist() == [2, 0, 1, 0]
    assert ids.to_external(internal).tolist() == [11, 3, 7, 3]


def test_unknown_ids_raise_or_map_to_minus_one():
    ids = IdMap.from_values(np.array([5, 6]))
    with pytest.raises(UnknownIdError, match="1 unknown id"):
        ids.to_internal(np.array([5, 99]))
    assert ids.to_internal(np.array([99, 6, 1, 5]), strict=False).tolist() == [-1, 1, -1, 0]
    assert ids.contains(np.array([5, 4])).tolist() == [True, False]


def test_empty_map_knows_nothing():
    ids = IdMap.from_values(np.array([], dtype=np.int32))
    assert len(ids) == 0
    assert ids.to_internal(np.array([1, 2]), strict=False).tolist() == [-1, -1]


def test_out_of_range_internal_id_raises():
    with pytest.raises(IndexError):
        IdMap.from_values(np.array([1, 2])).to_external(np.array([2]))


def test_is_frozen_and_rejects_unsorted():
    ids = IdMap.from_values(np.array([1, 2]))
    with pytest.raises(ValueError):
        ids.external[0] = 5
    with pytest.raises(ValueError, match="sorted and unique"):
        IdMap(np.array([2, 1]))


def test_save_load(tmp_path):
    ids = IdMap.from_values(np.array([4, 2, 9], dtype=np.int32))
    ids.save(tmp_path / "ids.npy")
    loaded = IdMap.load(tmp_path / "ids.npy")
    assert loaded == ids
    assert loaded.external.dtype == np.int32
