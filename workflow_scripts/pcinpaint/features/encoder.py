"""Per-layer features of every cell from an encoder (trained, random or autoencoder), and raw pixels.

Feature table: one row per cell in store order, the cell table's columns copied first with a
``Metadata_`` prefix, feature columns after them. Sets built here: the paired cell inpainting
encoder's layers (``pci_conv1..5``), the same encoder with seeded untrained weights
(``random_conv1..5``: the control every self-supervised claim needs), and downsampled raw
pixels (``raw``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from skimage.transform import downscale_local_mean
from tqdm import tqdm

from pcinpaint.crops.store import CropStore
from pcinpaint.features.table import feature_table
from pcinpaint.io import write_table
from pcinpaint.model.devices import autocast_dtype
from pcinpaint.model.network import SourceEncoder
from pcinpaint.model.spec import ENCODER_LAYERS


@torch.no_grad()
def encoder_features(
    encoder: SourceEncoder,
    store: CropStore,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    precision: str = "auto",
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Per layer, the spatial maximum of the ReLU output for every cell of the store (store order)."""
    device = torch.device(device)
    amp = autocast_dtype(device, precision)
    encoder = encoder.to(device).to(memory_format=torch.channels_last).eval()
    out = {name: np.empty((len(store), size), np.float32) for name, size in encoder.layer_sizes.items()}
    for at in tqdm(range(0, len(store), batch_size), desc="extracting", disable=not progress, mininterval=10):
        raw = torch.from_numpy(store.raw(slice(at, at + batch_size))).to(device, non_blocking=True)
        x = raw.float().div_(255.0).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            _, pooled = encoder(x, features=True)
        for name, value in pooled.items():
            out[name][at : at + len(raw)] = value.float().cpu().numpy()
    return out


def random_encoder(n_channels: int, width: float, seed: int) -> SourceEncoder:
    """The source encoder with seeded, untrained weights (batch norm at its initial identity)."""
    torch.manual_seed(seed)
    return SourceEncoder(n_channels, width)


def raw_features(store: CropStore, factor: int = 4, batch_size: int = 2048) -> np.ndarray:
    """Raw pixels of all channels, each ``factor`` x ``factor`` block averaged (64 -> 16 by default)."""
    parts = []
    for at in range(0, len(store), batch_size):
        crops = store.raw(slice(at, at + batch_size)).astype(np.float32) / 255.0
        parts.append(downscale_local_mean(crops, (1, 1, factor, factor)).reshape(len(crops), -1))
    n_feat = store.shape[1] * (store.shape[2] // factor) * (store.shape[3] // factor)
    return np.concatenate(parts) if parts else np.zeros((0, n_feat), np.float32)


def write_layer_tables(
    cells: pd.DataFrame, layers: dict[str, np.ndarray], paths: dict[str, str | Path], prefix: str
) -> None:
    """One parquet per layer: ``paths`` maps layer name (conv1..) to its output file."""
    for name in ENCODER_LAYERS:
        if name in paths:
            write_table(feature_table(cells, layers[name], f"{prefix}_{name}"), paths[name])
