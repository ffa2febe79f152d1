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


@pytest.mark.parametrize("high", [5_000, 10_000_000])  # dense ids (a lookup table), sparse (binary search)
def test_dense_and_sparse_ids_map_alike(high):
    rng = np.random.default_rng(0)
    ids = IdMap.from_values(rng.integers(100, high, 4_000))
    assert (ids._table is not None) == (high == 5_000)
    queries = np.concatenate([ids.external, rng.integers(-10, high + 10, 20_000), [0, 99, high + 10**6]])
    position = {int(e): i for i, e in enumerate(ids.external.tolist())}
    expected = np.array([position.get(q, -1) for q in queries.tolist()])
    for dtype in (np.int64, np.int32):
        assert ids.to_internal(queries.astype(dtype), strict=False).tolist() == expected.tolist()
    assert ids.to_internal(ids.external[::-1]).tolist() == list(range(len(ids)))[::-1]
    with pytest.raises(UnknownIdError):
        ids.to_internal(np.array([ids.external[0], high + 5]))
