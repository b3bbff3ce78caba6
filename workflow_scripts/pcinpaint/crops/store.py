"""The crop store: every cell's preprocessed crop, uint8 in a sharded zarr array.

One writer (atomic: a temporary folder renamed at the end) and one reader, ``read_crops``,
which every later stage uses and which returns float32 in [0, 1].
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from pcinpaint.errors import InputError
from pcinpaint.io import disk_full_names

#: cells per shard file (one file per 1,024 cells keeps file counts small on cluster file
#: systems); inside a shard, chunks of 16 cells: sequential reads decode few chunks, random
#: reads decode little beyond the cell asked for
SHARD_CELLS = 1024
CHUNK_CELLS = 16
#: stores up to this size are held in memory by CropStore (uint8: 12 KiB per 3-channel cell)
DEFAULT_MEMORY_LIMIT = 4 * 2**30
#: sorted reads go run by run when the runs average at least this many cells
RUN_READ_RATIO = 8


def to_uint8(crops: np.ndarray) -> np.ndarray:
    """Preprocessed float crops in [0, 1] -> stored uint8 (value x 255, rounded)."""
    return np.clip(np.rint(np.asarray(crops, np.float32) * 255.0), 0, 255).astype(np.uint8)


def write_crop_store(
    path: str | Path,
    batches: Iterable[np.ndarray],
    n_cells: int,
    n_channels: int,
    size: int = 64,
    attrs: dict | None = None,
) -> Path:
    """Write uint8 crop batches (n, C, size, size), in order, to a sharded zarr array.

    Written to a temporary folder beside the target and renamed at the end, so a failed or
    interrupted write never leaves a half store behind (nor replaces a good one); the
    temporary folder of a writer that was killed is removed by the next write.
    """
    import zarr

    path = Path(path)
    with disk_full_names(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_writers(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            shard = min(SHARD_CELLS, max(CHUNK_CELLS, -(-n_cells // CHUNK_CELLS) * CHUNK_CELLS))
            arr = zarr.create_array(
                store=str(tmp),
                shape=(n_cells, n_channels, size, size),
                dtype="uint8",
                chunks=(CHUNK_CELLS, n_channels, size, size),
                shards=(shard, n_channels, size, size),
                fill_value=0,
                overwrite=True,
            )
            (tmp / WRITER).write_text(f"{socket.gethostname()} {os.getpid()}")  # after zarr cleared the folder
            arr.attrs.update(attrs or {})
            buffer, start = [], 0
            buffered = 0

            def flush(final=False):
                nonlocal buffer, start, buffered
                if not buffer:
                    return
                block = np.concatenate(buffer)
                # write whole shards only (partial shard writes are read-modify-write)
                n_full = len(block) if final else (len(block) // shard) * shard
                if n_full:
                    arr[start : start + n_full] = block[:n_full]
                    start += n_full
                buffer = [block[n_full:]] if n_full < len(block) else []
                buffered = len(block) - n_full

            for batch in batches:
                batch = np.asarray(batch)
                if batch.dtype != np.uint8 or batch.shape[1:] != (n_channels, size, size):
                    raise ValueError(
                        f"crop batch must be uint8 (n, {n_channels}, {size}, {size}), got {batch.dtype} {batch.shape}"
                    )
                buffer.append(batch)
                buffered += len(batch)
                if buffered >= shard:
                    flush()
            flush(final=True)
            if start != n_cells:
                raise ValueError(f"crop store {path}: wrote {start} crops, expected {n_cells}")
            (tmp / WRITER).unlink(missing_ok=True)
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    return path


#: the file in a store's temporary folder naming the process that writes it (host, pid)
WRITER = ".writer"
#: a temporary folder whose writer cannot be checked (another host) is left alone this long
STALE_S = 24 * 3600


def remove_dead_writers(path: Path) -> None:
    """Remove the temporary folders of writers of ``path`` that were killed midway (SIGKILL,
    out of memory): those whose process on this host is gone, or, from another host or
    unmarked, untouched for a day. A live writer's folder (a cluster job still running after
    its workflow was restarted) is never removed."""
    host = socket.gethostname()
    for stale in path.parent.glob(f".{path.name}.*"):
        try:
            owner, pid = (stale / WRITER).read_text().split()
            dead = owner == host and not _alive(int(pid))
        except (OSError, ValueError):
            dead = False
        if dead or time.time() - stale.stat().st_mtime > STALE_S:
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class CropStore:
    """Read access to a crop store, held in memory when it fits.

    Zarr pays about a millisecond per chunk read, so random training batches straight from
    disk reach only ~1,000 crops/s; a store under ``memory_limit`` bytes is loaded once
    (sequentially, tens of thousands of crops/s) and batches are then plain array indexing.
    Larger stores are read from disk batch by batch.
    """

    def __init__(self, path: str | Path, memory_limit: int | None = DEFAULT_MEMORY_LIMIT):
        import zarr

        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: crop store not found")
        try:
            self.array = zarr.open_array(str(self.path), mode="r")
        except Exception as exc:
            raise InputError(f"{self.path}: not a readable crop store: {' '.join(str(exc).split())[:200]}") from None
        if self.array.dtype != np.uint8 or self.array.ndim != 4:
            raise InputError(
                f"{self.path}: expected a uint8 (cells, channels, H, W) array, "
                f"got {self.array.dtype} {self.array.shape}"
            )
        nbytes = int(np.prod(self.array.shape))
        self.memory = self.array[:] if memory_limit is not None and nbytes <= memory_limit else None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def attrs(self) -> dict:
        return dict(self.array.attrs)

    def __len__(self) -> int:
        return self.shape[0]

    def raw(self, indices: Sequence[int] | slice | None = None) -> np.ndarray:
        """Stored uint8 crops for ``indices`` (any order, repeats allowed), a slice, or all."""
        source = self.memory if self.memory is not None else self.array
        if indices is None:
            return np.asarray(source[:])
        if isinstance(indices, slice):
            return np.asarray(source[indices])
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"{self.path}: crop index out of range 0..{len(self) - 1}")
        if self.memory is not None:
            return self.memory[idx]
        if len(idx) == 0:
            return np.empty((0,) + self.shape[1:], np.uint8)
        if np.all(idx[1:] > idx[:-1]):
            return self._read_sorted(idx)
        unique, inverse = np.unique(idx, return_inverse=True)
        return self._read_sorted(unique)[inverse]

    def _read_sorted(self, idx: np.ndarray) -> np.ndarray:
        """Crops of increasing indices: contiguous runs (whole images of a training window) as
        slices, which zarr reads ~20x faster than the same cells as a coordinate selection."""
        starts = np.flatnonzero(np.diff(idx, prepend=-2) != 1)
        if len(starts) * RUN_READ_RATIO > len(idx):  # mostly isolated cells
            return self.array.get_orthogonal_selection((idx,))
        out = np.empty((len(idx),) + self.shape[1:], np.uint8)
        for a, b in zip(starts, np.append(starts[1:], len(idx))):
            out[a:b] = self.array[idx[a] : idx[a] + (b - a)]
        return out


def open_crop_store(path: str | Path, memory_limit: int | None = DEFAULT_MEMORY_LIMIT) -> CropStore:
    """Open a crop store for repeated reads (training, extraction): see ``CropStore``."""
    return CropStore(path, memory_limit)


def read_crops(store, indices: Sequence[int] | slice | None = None) -> np.ndarray:
    """Crops as float32 in [0, 1], shape (n, C, H, W): the one reader every stage uses.

    ``store`` is a path (read once, nothing kept) or a ``CropStore`` from
    ``open_crop_store`` (for repeated reads); ``indices`` selects cells in any order (a
    random training batch), a slice, or None for all.
    """
    if not isinstance(store, CropStore):
        store = CropStore(store, memory_limit=None)
    return store.raw(indices).astype(np.float32) / np.float32(255.0)
