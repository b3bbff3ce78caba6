"""The crops a training epoch reads: the whole store in memory, or window by window from disk.

A store that fits the RAM budget (``model.memory_gb``) is read once and kept (on the GPU too
when it fits there), as before. A larger one is streamed: the epoch's draw comes in windows of
whole images (``pairs.windowed_permutation``), each window's cells are read from the zarr
store as contiguous runs, and the next window is read in a background thread while the
network trains on the current one. Two windows are in memory at a time, so a window is half
the budget and the job's memory does not grow with the screen; the floor of
``pairs.MIN_WINDOW_IMAGES`` images per window may make the windows cut larger than that, so
the log reports the windows of each epoch's draw (``describe_windows``), not the budget.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from pcinpaint.crops.store import CropStore
from pcinpaint.model.devices import DeviceCrops
from pcinpaint.model.pairs import MIN_WINDOW_IMAGES

log = logging.getLogger(__name__)

#: cells per read when a streamed store is hashed for the checkpoint's fingerprint
DIGEST_SLAB = 8192


def gib(nbytes: float) -> str:
    """Bytes as GiB with three significant digits (``model.memory_gb`` counts GiB): a budget of
    0.01 must not read as 0.0."""
    return f"{nbytes / 2**30:.3g}"


def describe_windows(bounds) -> str:
    """The windows an epoch reads, as cut (``[(start, stop), ...]`` of its sources): how many and
    their smallest and largest in cells, e.g. "17 windows of 2,132-2,160 cells"."""
    sizes = [hi - lo for lo, hi in bounds]
    if not sizes:
        return "no windows"
    low, high = min(sizes), max(sizes)
    span = f"{low:,}" if low == high else f"{low:,}-{high:,}"
    return f"{len(sizes):,} window{'s' if len(sizes) != 1 else ''} of {span} cells"


class TrainingCrops:
    """Crops for training from an in-memory uint8 array or a ``CropStore``.

    ``memory_bytes``: the RAM the crops may take. ``window_cells`` is None when everything is
    held, else the cells a streamed window aims at (half the budget); the windows an epoch
    actually cuts hold whole images and at least ``MIN_WINDOW_IMAGES`` of them.
    """

    def __init__(self, crops: np.ndarray | CropStore, device: torch.device, memory_bytes: float):
        self.device = device
        self.shape = tuple(crops.shape)
        cell_bytes = int(np.prod(self.shape[1:]))
        nbytes = self.shape[0] * cell_bytes
        if isinstance(crops, CropStore) and nbytes > memory_bytes:
            self.store, self.whole = crops, None
            self.window_cells = max(1, int(memory_bytes // (2 * cell_bytes)))
            log.info(
                "crop store %s (%s GiB) exceeds the %s GiB budget: streamed in windows of whole images, "
                "about %s cells each by the budget (at least %d images each)",
                crops.path,
                gib(nbytes),
                gib(memory_bytes),
                f"{self.window_cells:,}",
                MIN_WINDOW_IMAGES,
            )
        else:
            array = crops.raw() if isinstance(crops, CropStore) else np.asarray(crops)
            self.store, self.whole, self.window_cells = None, array, None
            self.held = DeviceCrops(array, device)  # on the GPU too when it fits there

    @property
    def streamed(self) -> bool:
        return self.store is not None

    def digest(self) -> str:
        """A hash of every crop's bytes in store order, the same whether held or streamed."""
        h = hashlib.blake2b(digest_size=16)
        if self.whole is not None:
            h.update(np.ascontiguousarray(self.whole).data)
        else:
            for at in range(0, self.shape[0], DIGEST_SLAB):
                h.update(np.ascontiguousarray(self.store.raw(slice(at, at + DIGEST_SLAB))).data)
        return h.hexdigest()

    def windows(self, sources: np.ndarray, targets: np.ndarray, bounds):
        """(crops on the device, sources, targets, start) per window, indices local to the crops.

        The caller drops its references to a window before asking for the next, so that at most
        two windows (the current and the one being read) are in memory.
        """
        if not self.streamed:
            ((lo, hi),) = bounds
            yield self.held, sources[lo:hi], targets[lo:hi], lo
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="window") as reader:
            pending = reader.submit(self._read, sources, targets, bounds[0])
            for i, (lo, hi) in enumerate(bounds):
                cells, block = pending.result()
                if i + 1 < len(bounds):
                    pending = reader.submit(self._read, sources, targets, bounds[i + 1])
                crops = DeviceCrops(block, self.device)
                yield crops, np.searchsorted(cells, sources[lo:hi]), np.searchsorted(cells, targets[lo:hi]), lo
                del cells, block, crops

    def _read(self, sources, targets, bound):
        lo, hi = bound
        cells = np.union1d(sources[lo:hi], targets[lo:hi])
        return cells, self.store.raw(cells)
