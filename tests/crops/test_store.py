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


KILLED_WRITER = """
import sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
from pcinpaint.crops.store import write_crop_store

def batches():
    for i in range(8):
        yield np.full((1024, 2, 64, 64), i, np.uint8)
        if i == 2:
            Path(sys.argv[3]).touch()  # midway: three of eight shards written
            time.sleep(60)

write_crop_store(sys.argv[2], batches(), 8 * 1024, 2, 64)
"""


def test_a_writer_killed_midway_leaves_no_store_and_the_good_one_stays(tmp_path):
    """gather_crops killed (SIGKILL: no cleanup runs) halfway through the store: the earlier
    store is still whole, no half store exists, and the next write removes the leftovers."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    path, ready = tmp_path / "crops.zarr", tmp_path / "midway"
    good = np.full((5, 2, 64, 64), 7, np.uint8)
    write_crop_store(path, [good], 5, 2, 64)
    lib = Path(__file__).resolve().parents[2] / "workflow_scripts"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(lib), str(path), str(ready)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the writer did not reach the middle of the store"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    np.testing.assert_array_equal(read_crops(path), np.full((5, 2, 64, 64), 7 / 255, np.float32))
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".crops.zarr.")]
    assert len(leftovers) == 1  # the killed writer's temporary folder, never renamed
    write_crop_store(path, [good[:2]], 2, 2, 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops.zarr", "midway"]
    assert read_crops(path).shape == (2, 2, 64, 64)
