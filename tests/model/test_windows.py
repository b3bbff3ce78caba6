"""Streamed training crops: each window delivers exactly the crops of its sources and targets."""

import numpy as np
import pytest
import torch

from pcinpaint.crops.store import open_crop_store, write_crop_store
from pcinpaint.model.pairs import PairSampler
from pcinpaint.model.windows import TrainingCrops


@pytest.fixture
def numbered_store(tmp_path):
    """600 crops whose first two pixels spell their store index; images of 1-7 cells, interleaved."""
    rng = np.random.default_rng(0)
    n = 600
    crops = rng.integers(0, 256, (n, 2, 64, 64), dtype=np.uint8)
    crops[:, 0, 0, 0], crops[:, 0, 0, 1] = np.arange(n) // 256, np.arange(n) % 256
    images = np.repeat(np.arange(150), rng.multinomial(n - 150, np.ones(150) / 150) + 1)
    images = images[rng.permutation(n)]
    write_crop_store(tmp_path / "crops.zarr", [crops], n, 2)
    return open_crop_store(tmp_path / "crops.zarr", memory_limit=None), images


def _index(batch: torch.Tensor) -> np.ndarray:
    pixels = (batch[:, 0, 0, :2] * 255).round().long().numpy()
    return pixels[:, 0] * 256 + pixels[:, 1]


def test_windows_deliver_the_crops_of_their_sources_and_targets(numbered_store):
    store, images = numbered_store
    data = TrainingCrops(store, torch.device("cpu"), 2 * 100 * 2 * 64 * 64)  # windows of ~100 cells
    assert data.streamed and data.window_cells == 100
    sampler = PairSampler(images, seed=3)
    sources, targets, _, windows = sampler.epoch(0, data.window_cells)
    assert len(windows) == 2  # 150 images: the floor of 64 images per window allows two
    seen = []
    for crops, src, tgt, offset in data.windows(sources, targets, windows):
        assert len(crops.data) < len(store)  # only this window's cells are read
        np.testing.assert_array_equal(_index(crops.batch(src)), sources[offset : offset + len(src)])
        np.testing.assert_array_equal(_index(crops.batch(tgt)), targets[offset : offset + len(tgt)])
        seen.append(offset)
        del crops
    assert seen == [lo for lo, _ in windows]


def test_flips_apply_per_cell(numbered_store):
    store, _ = numbered_store
    data = TrainingCrops(store, torch.device("cpu"), 1e9)
    ((crops, *_),) = data.windows(np.arange(4), np.arange(4), [(0, 4)])
    plain = crops.batch(np.arange(4))
    flipped = crops.batch(np.arange(4), np.array([True, False, True, False]), np.array([False, False, True, True]))
    torch.testing.assert_close(flipped[0], plain[0].flip(-1))
    torch.testing.assert_close(flipped[1], plain[1])
    torch.testing.assert_close(flipped[2], plain[2].flip(-1).flip(-2))
    torch.testing.assert_close(flipped[3], plain[3].flip(-2))
