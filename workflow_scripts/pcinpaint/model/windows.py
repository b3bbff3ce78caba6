"""The crops a training epoch reads: the whole store in memory, or window by window from disk.

A store that fits the RAM budget (``model.memory_gb``) is read once and kept (on the GPU too
when it fits there), as before. A larger one is streamed: the epoch's draw comes in windows of
whole images (``pairs.windowed_permutation``), each window's cells are read from the zarr
store as contiguous runs, and the next window is read in a background thread while the
network trains on the current one. Two windows are in memory at a time, so a window is half
the budget and the job's memory does not grow with the screen.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from pcinpaint.crops.store import CropStore
from pcinpaint.model.devices import DeviceCrops

log = logging.getLogger(__name__)

#: cells per read when a streamed store is hashed for the checkpoint's fingerprint
DIGEST_SLAB = 8192


class TrainingCrops:
    """Crops for training from an in-memory uint8 array or a ``CropStore``.

    ``memory_bytes``: the RAM the crops may take. ``window_cells`` is None when everything is
    held, else the cells of one streamed window.
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
                "crop store %s (%.1f GB) exceeds the %.1f GB budget: streaming windows of ~%d cells",
                crops.path,
                nbytes / 1e9,
                memory_bytes / 1e9,
                self.window_cells,
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
