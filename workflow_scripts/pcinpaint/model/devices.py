"""Devices and precision: where a network runs and in which float format.

Shared by training, feature extraction and the inpainting figures, so that every step that
runs a network picks the device and the autocast dtype the same way, and training batches are
assembled on the device that holds the crops.
"""

from __future__ import annotations

import numpy as np
import torch

from pcinpaint.errors import TrainingError


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' requested but no CUDA GPU is available")
    return torch.device(name)


def autocast_dtype(device: torch.device, precision: str):
    """The autocast dtype of feature extraction, or None for plain fp32.

    ``auto``: bf16 on GPUs that support it; fp32 on CPU, so features do not depend on which CPU
    extracted them (training's ``auto`` measures instead: ``model.precision``). ``bf16``
    forces it on either device.
    """
    from pcinpaint.model.precision import amp_dtype, choose_precision

    return amp_dtype(choose_precision(precision, device))  # no probe: auto on a CPU is fp32


class DeviceCrops:
    """The uint8 crop store on the training device (GPU memory when it fits), batches as floats."""

    def __init__(self, crops_uint8: np.ndarray, device: torch.device, gpu_fraction: float = 0.3):
        self.device = device
        data = torch.from_numpy(np.ascontiguousarray(crops_uint8))
        on_gpu = (
            device.type == "cuda"
            and data.numel() < gpu_fraction * torch.cuda.get_device_properties(device).total_memory
        )
        self.data = data.to(device) if on_gpu else data
        self.on_device = on_gpu or device.type == "cpu"

    def stage(self, indices: np.ndarray, flips: np.ndarray | None = None):
        """An epoch's (or window's) cell indices and flips, copied once to where batches are
        cut from them (indices beside the crops, flips on the device), so that assembling a
        batch needs no transfer from the host and no wait for the GPU."""
        idx = torch.from_numpy(np.ascontiguousarray(indices, np.int64)).to(self.data.device)
        return idx, None if flips is None else torch.from_numpy(np.ascontiguousarray(flips)).to(self.device)

    def batch(self, indices, hflip=None, vflip=None):
        """Crops ``indices`` as floats in [0, 1], flipped where ``hflip`` / ``vflip``; arrays or
        tensors staged by ``stage``."""
        idx = indices if torch.is_tensor(indices) else torch.from_numpy(np.asarray(indices, np.int64))
        x = self.data[idx.to(self.data.device)]
        if not self.on_device:
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = x.float().div_(255.0)
        for flip, dim in ((hflip, -1), (vflip, -2)):
            if flip is not None:
                flip = (flip if torch.is_tensor(flip) else torch.from_numpy(flip)).to(self.device)
                x = torch.where(flip[:, None, None, None], x.flip(dim), x)
        return x.contiguous(memory_format=torch.channels_last)
