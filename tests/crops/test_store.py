"""The crop store: round trip, atomic writes, one-line errors, any size."""

import numpy as np
import pytest

from pcinpaint.crops.store import open_crop_store, read_crops, to_uint8, write_crop_store
from pcinpaint.errors import InputError


def test_crop_store_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    crops = rng.random((2500, 3, 64, 64), dtype=np.float32)
    stored = to_uint8(crops)
    batches = (stored[i : i + 300] for i in range(0, len(stored), 300))  # not shard-aligned on purpose
    path = write_crop_store(tmp_path / "crops.zarr", batches, len(stored), 3, 64, attrs={"channels": ["a", "b", "c"]})
    on_disk = open_crop_store(path, memory_limit=None)
    in_memory = open_crop_store(path)
    assert on_disk.memory is None and in_memory.memory is not None
    assert in_memory.shape == (2500, 3, 64, 64) and in_memory.array.dtype == np.uint8
    assert in_memory.array.chunks == (16, 3, 64, 64) and in_memory.array.shards == (1024, 3, 64, 64)
    assert in_memory.attrs["channels"] == ["a", "b", "c"]
    everything = read_crops(path)
    assert everything.dtype == np.float32 and everything.min() >= 0 and everything.max() <= 1
    assert np.abs(everything - crops).max() <= 0.5 / 255 + 1e-6
    idx = np.array([2499, 3, 3, 1024, 0, 1500])  # unsorted, repeated, across shards
    for store in (on_disk, in_memory, path):
        np.testing.assert_array_equal(read_crops(store, idx), stored[idx].astype(np.float32) / 255)
        np.testing.assert_array_equal(read_crops(store, slice(10, 20)), stored[10:20].astype(np.float32) / 255)
        assert read_crops(store, []).shape == (0, 3, 64, 64)
        with pytest.raises(IndexError, match="out of range"):
            read_crops(store, [2500])


def test_failed_store_write_leaves_nothing(tmp_path):
    good = np.zeros((4, 2, 64, 64), np.uint8)
    with pytest.raises(ValueError, match="expected 10"):
        write_crop_store(tmp_path / "crops.zarr", [good], 10, 2, 64)
    with pytest.raises(ValueError, match="must be uint8"):
        write_crop_store(tmp_path / "crops.zarr", [good.astype(np.float32)], 4, 2, 64)
    assert list(tmp_path.iterdir()) == []


def test_missing_store_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="crop store not found"):
        read_crops(tmp_path / "nope.zarr")


@pytest.mark.parametrize("n", [0, 1, 17, 1100])
def test_crop_store_of_any_size(tmp_path, n):
    crops = np.random.default_rng(n).integers(0, 256, (n, 2, 64, 64), dtype=np.uint8)
    path = write_crop_store(tmp_path / "crops.zarr", [crops[: n // 2], crops[n // 2 :]], n, 2, 64)
    np.testing.assert_array_equal(read_crops(path), crops.astype(np.float32) / 255)
