"""Streamed training crops: each window delivers exactly the crops of its sources and targets."""

from pathlib import Path

import numpy as np
import pytest
import torch

from pcinpaint.crops.store import open_crop_store, write_crop_store
from pcinpaint.model.pairs import PairSampler
from pcinpaint.model.windows import TrainingCrops, describe_windows


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


def _epoch(data, sampler, caplog, max_batches=None, batch_size=64):
    """One training epoch of a small network on ``data``, with the training log captured; the
    network is only the vehicle of the epoch here, so the narrowest one that runs (width 1/32)."""
    from pcinpaint.model.spec import ModelSpec
    from pcinpaint.model.train import EpochSettings, build_model, train_epoch

    model = build_model(ModelSpec(n_channels=2, n_structural=1, n_protein=1, width=0.03125), 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    idx, unused = (torch.tensor([0]), torch.tensor([1])), Path("unused.pt")
    with caplog.at_level("INFO", logger="pcinpaint.model.train"):
        settings = EpochSettings("pci", *idx, batch_size, None, unused, max_batches=max_batches)
        _, pairs, _ = train_epoch(model, optimizer, data, sampler, 0, settings)
    return pairs


def test_the_log_gives_the_windows_cut_not_the_budget(numbered_store, caplog):
    """A budget of ~100 cells, but the floor of 64 images per window cuts windows of ~300 cells:
    the log names the budget in enough digits and the windows as read."""
    store, images = numbered_store
    with caplog.at_level("INFO", logger="pcinpaint.model.windows"):
        data = TrainingCrops(store, torch.device("cpu"), 2 * 100 * 2 * 64 * 64)
    assert "exceeds the 0.00153 GiB budget" in caplog.text
    assert "about 100 cells each by the budget (at least 64 images each)" in caplog.text
    sampler = PairSampler(images, seed=5)  # windows of 301 and 295 cells
    sources, targets, _, windows = sampler.epoch(0, data.window_cells)
    read = []  # the cells each window actually brings into memory
    for crops, *_ in data.windows(sources, targets, windows):
        read.append(len(crops.data))
        del crops
    assert read == [hi - lo for lo, hi in windows] and min(read) > 2 * data.window_cells
    caplog.clear()
    assert _epoch(data, sampler, caplog) == len(sources)
    assert f"epoch 1 reads 2 windows of {min(read):,}-{max(read):,} cells" in caplog.text


def test_a_small_budget_is_logged_with_its_digits(numbered_store, caplog):
    store, _ = numbered_store
    with caplog.at_level("INFO", logger="pcinpaint.model.windows"):
        TrainingCrops(store, torch.device("cpu"), 0.001 * 2**30)
    assert "(0.00458 GiB) exceeds the 0.001 GiB budget" in caplog.text


def test_describe_windows():
    assert describe_windows([(0, 2132), (2132, 4292), (4292, 6430)]) == "3 windows of 2,132-2,160 cells"
    assert describe_windows([(0, 300)]) == "1 window of 300 cells"


def test_a_shortened_streamed_epoch_reads_whole_windows(numbered_store, caplog):
    """``max_batches`` ends a streamed epoch at the end of the window its last batch falls in
    (one window here, read as a full epoch reads it); held crops stop at the batch."""
    store, images = numbered_store
    sampler = PairSampler(images, seed=5)  # windows of 301 and 295 cells
    streamed = TrainingCrops(store, torch.device("cpu"), 2 * 100 * 2 * 64 * 64)
    _, _, _, windows = sampler.epoch(0, streamed.window_cells)
    first = windows[0][1] - windows[0][0]
    assert _epoch(streamed, sampler, caplog, max_batches=1, batch_size=16) == first
    assert f"epoch 1 reads 1 window of {first:,} cells" in caplog.text
    held = TrainingCrops(store, torch.device("cpu"), 1e9)
    assert _epoch(held, sampler, caplog, max_batches=1, batch_size=16) == 16
