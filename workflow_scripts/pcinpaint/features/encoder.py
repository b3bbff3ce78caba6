"""Per-layer features of every cell from an encoder (trained, random or autoencoder), and raw pixels.

Feature table: one row per cell in store order, the cell table's columns copied first with a
``Metadata_`` prefix, feature columns after them. Sets built here: the paired cell inpainting
encoder's layers (``pci_conv1..5``), the same encoder with seeded untrained weights
(``random_conv1..5``: the control every self-supervised claim needs), and downsampled raw
pixels (``raw``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from skimage.transform import downscale_local_mean
from tqdm import tqdm

from pcinpaint.crops.store import CropStore
from pcinpaint.features.table import collect_batches, stream_feature_tables
from pcinpaint.model.devices import autocast_dtype
from pcinpaint.model.network import SourceEncoder


@torch.no_grad()
def encoder_batches(
    encoder: SourceEncoder,
    store: CropStore,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    precision: str = "auto",
    progress: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """Per layer, the spatial maximum of the ReLU output, one batch of cells at a time (store order)."""
    device = torch.device(device)
    amp = autocast_dtype(device, precision)
    encoder = encoder.to(device).to(memory_format=torch.channels_last).eval()
    for at in tqdm(range(0, len(store), batch_size), desc="extracting", disable=not progress, mininterval=10):
        raw = torch.from_numpy(store.raw(slice(at, at + batch_size))).to(device, non_blocking=True)
        x = raw.float().div_(255.0).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            _, pooled = encoder(x, features=True)
        yield {name: value.float().cpu().numpy() for name, value in pooled.items()}


def encoder_features(encoder: SourceEncoder, store: CropStore, *args, **kwargs) -> dict[str, np.ndarray]:
    """Every cell's per-layer features in memory (see ``encoder_batches``; the rules stream them
    to their tables with ``extract_layer_tables`` instead)."""
    return collect_batches(encoder_batches(encoder, store, *args, **kwargs), encoder.layer_sizes, len(store))


def extract_layer_tables(
    encoder: SourceEncoder,
    store: CropStore,
    cells: pd.DataFrame,
    paths: dict[str, str | Path],
    prefix: str,
    *args,
    **kwargs,
) -> dict[str, int]:
    """One parquet per layer (``paths``: layer name -> file), written batch by batch as the
    encoder runs, so memory holds a row group per table rather than every cell's features (the
    parquet writer still keeps each row group's metadata until the file closes). Returns each
    layer's feature count."""
    sizes = {name: size for name, size in encoder.layer_sizes.items() if name in paths}
    tables = {name: (paths[name], f"{prefix}_{name}", size) for name, size in sizes.items()}
    stream_feature_tables(cells, encoder_batches(encoder, store, *args, **kwargs), tables)
    return sizes


def random_encoder(n_channels: int, width: float, seed: int) -> SourceEncoder:
    """The source encoder with seeded, untrained weights (batch norm at its initial identity)."""
    torch.manual_seed(seed)
    return SourceEncoder(n_channels, width)


def raw_batches(store: CropStore, factor: int = 4, batch_size: int = 2048) -> Iterator[np.ndarray]:
    """Raw pixels of all channels, each ``factor`` x ``factor`` block averaged (64 -> 16 by
    default), one batch of cells at a time."""
    for at in range(0, len(store), batch_size):
        crops = store.raw(slice(at, at + batch_size)).astype(np.float32) / 255.0
        yield downscale_local_mean(crops, (1, 1, factor, factor)).reshape(len(crops), -1)


def raw_feature_count(store: CropStore, factor: int = 4) -> int:
    return store.shape[1] * (store.shape[2] // factor) * (store.shape[3] // factor)


def raw_features(store: CropStore, factor: int = 4, batch_size: int = 2048) -> np.ndarray:
    """Every cell's downsampled raw pixels in memory (see ``raw_batches``)."""
    parts = list(raw_batches(store, factor, batch_size))
    return np.concatenate(parts) if parts else np.zeros((0, raw_feature_count(store, factor)), np.float32)
