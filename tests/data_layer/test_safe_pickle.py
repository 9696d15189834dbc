"""The restricted unpickler: numpy arrays and containers load (Python 2 and 3, numpy 1.x and 2.x
names); anything else is refused without running it."""

from __future__ import annotations

import collections
import os
import pickle

import numpy as np
import pytest

from bpmult.data import CorruptFileError, MissingFileError, UnsafePickleError, py2pickle
from bpmult.data.safe_pickle import safe_load, safe_loads


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_numpy_and_containers_round_trip(protocol):
    value = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": [np.float64(1.5), np.int64(3), None],
             "ids": np.array([["x", "1.5"], ["y", "2.0"]]), "obj": np.array(["s", 1], dtype=object),
             "set": {1, 2}, "bytes": b"\x00\xff", "t": (1, "two", 3.0), "c": 1 + 2j,
             "od": collections.OrderedDict(k=1)}
    loaded = safe_loads(pickle.dumps(value, protocol=protocol))
    np.testing.assert_array_equal(loaded["a"], value["a"])
    assert loaded["a"].dtype == np.float32
    np.testing.assert_array_equal(loaded["ids"], value["ids"])
    assert list(loaded["obj"]) == ["s", 1]
    assert {k: v for k, v in loaded.items() if k not in ("a", "ids", "obj")} == \
        {k: v for k, v in value.items() if k not in ("a", "ids", "obj")}


def test_python2_pickle_with_numpy1_names():
    array = np.random.default_rng(0).normal(size=(1, 5, 7)).astype(np.float32)
    data = py2pickle.dumps({"frames": array, 12: [1.5, None, True]})
    assert b"numpy.core.multiarray\n_reconstruct" in data and data[:2] == b"\x80\x02"
    assert pickle.loads(data, encoding="bytes")[b"frames"].shape == (1, 5, 7)  # what the authors' loader sees
    loaded = safe_loads(data)
    np.testing.assert_array_equal(loaded["frames"], array)
    assert loaded[12] == [1.5, None, True]


class _Shell:
    def __reduce__(self):
        return (os.system, ("touch SHOULD_NOT_EXIST",))


@pytest.mark.parametrize("payload,name", [(_Shell(), "system"), (collections.Counter("ab"), "collections.Counter"),
                                          (pytest.raises, "raises")])
def test_other_globals_are_refused_and_not_run(tmp_path, monkeypatch, payload, name):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"x": payload}, protocol=2))
    with pytest.raises(UnsafePickleError) as caught:
        safe_load(path)
    assert str(path) in str(caught.value) and name in str(caught.value) and "refused" in str(caught.value)
    assert not (tmp_path / "SHOULD_NOT_EXIST").exists()


def test_truncated_and_non_pickle_files(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps(np.zeros((50, 50)), protocol=4)[:500])
    with pytest.raises(CorruptFileError, match="cut.pkl.*truncated"):
        safe_load(path)
    path.write_text("not a pickle at all")
    with pytest.raises(CorruptFileError, match="cut.pkl"):
        safe_load(path)
    with pytest.raises(MissingFileError, match="absent.pkl"):
        safe_load(tmp_path / "absent.pkl")
