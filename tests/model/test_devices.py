"""Devices and precision (``pcinpaint.model.devices``): which device a run asks for, the dtype
features are extracted in, and training batches cut from the crop store as flipped floats."""

import numpy as np
import pytest
import torch

from pcinpaint.errors import TrainingError
from pcinpaint.model import devices
from pcinpaint.model.devices import DeviceCrops, autocast_dtype, select_device

CPU = torch.device("cpu")


def test_auto_picks_cpu_without_a_gpu_and_cuda_without_one_is_an_error(monkeypatch):
    monkeypatch.setattr(devices.torch.cuda, "is_available", lambda: False)
    assert select_device("auto") == CPU
    assert select_device() == CPU
    assert select_device("cpu") == CPU
    with pytest.raises(TrainingError, match="device 'cuda' requested but no CUDA GPU is available"):
        select_device("cuda")


def test_auto_picks_the_gpu_where_there_is_one(monkeypatch):
    monkeypatch.setattr(devices.torch.cuda, "is_available", lambda: True)
    assert select_device("auto") == torch.device("cuda")


def test_features_on_a_cpu_are_fp32_unless_bf16_is_forced():
    assert autocast_dtype(CPU, "auto") is None
    assert autocast_dtype(CPU, "fp32") is None
    assert autocast_dtype(CPU, "bf16") is torch.bfloat16
    with pytest.raises(ValueError, match="precision must be auto, fp32 or bf16"):
        autocast_dtype(CPU, "fp16")


def _crops():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(5, 2, 4, 6), dtype=np.uint8)


def test_a_batch_is_the_crops_as_floats_in_unit_range():
    raw = _crops()
    store = DeviceCrops(raw, CPU)
    assert store.on_device
    x = store.batch(np.array([3, 0]))
    assert x.dtype == torch.float32 and x.shape == (2, 2, 4, 6)
    assert x.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(x.numpy(), raw[[3, 0]] / 255.0, rtol=1e-6)


def test_flips_apply_to_the_flagged_crops_only():
    raw = _crops()
    store = DeviceCrops(raw, CPU)
    x = store.batch([1, 2, 4], hflip=np.array([True, False, False]), vflip=np.array([False, True, True])).numpy()
    np.testing.assert_allclose(x[0], raw[1, :, :, ::-1] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x[1], raw[2, :, ::-1, :] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x[2], raw[4, :, ::-1, :] / 255.0, rtol=1e-6)


def test_staged_indices_and_flips_give_the_same_batch():
    raw = _crops()
    store = DeviceCrops(raw, CPU)
    idx, flips = store.stage(np.array([4, 1]), np.array([True, False]))
    assert torch.is_tensor(idx) and idx.dtype == torch.int64 and flips.dtype == torch.bool
    assert torch.equal(store.batch(idx, hflip=flips), store.batch([4, 1], hflip=np.array([True, False])))
    assert store.stage(np.array([0]))[1] is None
