"""The crop store: every cell's preprocessed crop, uint8 in a sharded zarr array.

One writer (atomic: a temporary folder renamed at the end) and one reader, ``read_crops``,
which every later stage uses and which returns float32 in [0, 1].

The store checks itself, because zarr answers a lost shard file with zeros: every chunk carries
a crc32c checksum (verified on every read) and every chunk is written, even an all-zero one, so
opening a store checks that every shard file exists and that its index lists every chunk, and
any damage stops the reader with one line naming the shard and its cells instead of returning
zeros or changed crops.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from pcinpaint.errors import InputError, one_line
from pcinpaint.io import disk_full_names

log = logging.getLogger(__name__)

#: cells per shard file (one file per 1,024 cells keeps file counts small on cluster file
#: systems); inside a shard, chunks of 16 cells: sequential reads decode few chunks, random
#: reads decode little beyond the cell asked for
SHARD_CELLS = 1024
CHUNK_CELLS = 16
#: stores up to this size are held in memory by CropStore (uint8: 12 KiB per 3-channel cell)
DEFAULT_MEMORY_LIMIT = 4 * 2**30
#: sorted reads go run by run when the runs average at least this many cells
RUN_READ_RATIO = 8
#: the attribute recording that every chunk was written with a checksum (the store's layout)
INTEGRITY = "integrity"
#: how to replace a damaged store (the rule that made it, with everything after it)
REBUILD = "rebuild it: snakemake -R gather_crops (or -R import_crops for a pre-cropped data set)"


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
    temporary folder of a writer that was killed is removed by the next write. Every chunk is
    written with a crc32c checksum.
    """
    return _write_store(path, batches, (n_cells, n_channels, size, size), attrs, checksums=True)


def write_unchecked_crop_store(
    path: str | Path, batches: Iterable[np.ndarray], n_cells: int, n_channels: int, size: int = 64
) -> Path:
    """``write_crop_store`` in the earlier format, without chunk checksums: only to measure their
    cost and to test the reading of old stores."""
    return _write_store(path, batches, (n_cells, n_channels, size, size), None, checksums=False)


def _write_store(
    path: str | Path,
    batches: Iterable[np.ndarray],
    shape: tuple[int, int, int, int],
    attrs: dict | None,
    checksums: bool,
) -> Path:
    """The writer behind ``write_crop_store``: ``shape`` is the store's (cells, C, size, size)."""
    n_cells, n_channels, size, _ = shape
    import zarr
    from zarr.codecs import Crc32cCodec, ZstdCodec

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
                compressors=[ZstdCodec(), Crc32cCodec()] if checksums else [ZstdCodec()],
                config={"write_empty_chunks": checksums},  # all-zero chunks too: a missing one is damage
                overwrite=True,
            )
            (tmp / WRITER).write_text(f"{socket.gethostname()} {os.getpid()}")  # after zarr cleared the folder
            layout = {INTEGRITY: {"checksum": "crc32c", "shards": -(-n_cells // shard)}} if checksums else {}
            arr.attrs.update({**(attrs or {}), **layout})
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
            raise InputError(f"{self.path}: not a readable crop store: {one_line(exc)}") from None
        if self.array.dtype != np.uint8 or self.array.ndim != 4:
            raise InputError(
                f"{self.path}: expected a uint8 (cells, channels, H, W) array, "
                f"got {self.array.dtype} {self.array.shape}"
            )
        self.shards = Shards(self.path, self.array)
        self.shards.check()
        nbytes = int(np.prod(self.array.shape))
        held = memory_limit is not None and nbytes <= memory_limit
        self.memory = self._checked(lambda: self.array[:], self.shards.span(0, len(self))) if held else None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def attrs(self) -> dict:
        """The attributes its writer gave (channels, roles, ...); the store's own layout record is not among them."""
        return {k: v for k, v in self.array.attrs.items() if k != INTEGRITY}

    def __len__(self) -> int:
        return self.shape[0]

    def raw(self, indices: Sequence[int] | slice | None = None) -> np.ndarray:
        """Stored uint8 crops for ``indices`` (any order, repeats allowed), a slice, or all."""
        if indices is None:
            indices = slice(None)
        if isinstance(indices, slice):
            if self.memory is not None:
                return self.memory[indices]
            start, stop, step = indices.indices(len(self))
            if step < 0:  # zarr slices step forward only: read them as indices
                return self.raw(np.arange(start, stop, step))
            return self._checked(lambda: np.asarray(self.array[indices]), self.shards.span(start, stop))
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"{self.path}: crop index out of range 0..{len(self) - 1}")
        if self.memory is not None:
            return self.memory[idx]
        if len(idx) == 0:
            return np.empty((0,) + self.shape[1:], np.uint8)
        if np.all(idx[1:] > idx[:-1]):
            return self._checked(lambda: self._read_sorted(idx), self.shards.of(idx))
        unique, inverse = np.unique(idx, return_inverse=True)
        return self._checked(lambda: self._read_sorted(unique), self.shards.of(unique))[inverse]

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

    def _checked(self, read, shards: np.ndarray) -> np.ndarray:
        """``read()`` of cells in ``shards``; a chunk that fails its checksum or cannot be decoded,
        or a shard file gone since the store was opened (zarr reads it as zeros), stops it with
        one line naming the shard and the cells instead of an answer."""
        try:
            crops = read()
        except Exception:
            damage = self.shards.locate(shards)
            if damage is None:  # not the store's fault: the original error, with its traceback
                raise
            raise InputError(damage) from None
        gone = [(int(s), "is missing") for s in shards if not self.shards.file(s).exists()]
        if gone:
            raise InputError(self.shards.message(gone))
        return crops


class Shards:
    """A crop store's shard files, checked without decoding a crop.

    ``check`` (on opening) finds shard files that are missing, truncated or overwritten at their
    end (the index, at the end, then points past it) and, in a store whose every chunk was
    written, chunks the index lacks: zarr would answer each with zeros. ``locate`` finds the
    shard and cells behind a read that failed (a chunk's checksum, or one that cannot be decoded).
    Stores written before chunks carried checksums are read with one warning.
    """

    def __init__(self, path: Path, array):
        from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec, ShardingCodecIndexLocation

        self.path, self.array = path, array
        if array.metadata.zarr_format != 3:
            raise InputError(f"{path}: a zarr v{array.metadata.zarr_format} array, not a crop store; {REBUILD}")
        self.n_cells = array.shape[0]
        self.shard_cells = (array.shards or array.chunks)[0]
        self.n_shards = -(-self.n_cells // self.shard_cells)
        codec = array.metadata.codecs[0]
        sharded = isinstance(codec, ShardingCodec) and array.shards is not None
        self.chunk_cells = codec.chunk_shape[0] if sharded else self.shard_cells
        # the index layout of the zarr sharding spec as zarr writes it: offset and length (uint64
        # little-endian) per chunk, then the crc32c of those bytes, at the end of the file
        self.indexed = (
            sharded
            and codec.index_location == ShardingCodecIndexLocation.end
            and [type(c) for c in codec.index_codecs] == [BytesCodec, Crc32cCodec]
            and codec.index_codecs[0].endian.value == "little"
        )
        self.chunk_checksums = sharded and isinstance(codec.codecs[-1], Crc32cCodec)
        layout = dict(array.attrs).get(INTEGRITY)
        self.complete = bool(layout) and self.indexed and self.chunk_checksums
        if layout and (not self.complete or layout.get("shards") != self.n_shards):
            raise InputError(
                f"{path}: its zarr.json does not match the store written ({layout.get('shards')} shards recorded, "
                f"{self.n_shards} in its shape, chunk checksums {'on' if self.chunk_checksums else 'off'}); {REBUILD}"
            )
        if not layout and path not in _UNCHECKED:
            _UNCHECKED.add(path)
            log.warning(
                "%s: written before crop stores carried checksums, so a damaged or lost part of it may read as "
                "zeros unnoticed; %s",
                path,
                REBUILD,
            )

    def file(self, shard: int) -> Path:
        return self.path / self.array.metadata.encode_chunk_key((shard, 0, 0, 0))

    def cells(self, shard: int) -> tuple[int, int]:
        return shard * self.shard_cells, min((shard + 1) * self.shard_cells, self.n_cells)

    def check(self) -> None:
        """Every shard file there, its index intact and (complete stores) listing every chunk."""
        damaged = [(s, problem) for s in range(self.n_shards) if (problem := self.problem(s))]
        if damaged:
            raise InputError(self.message(damaged))

    def span(self, start: int, stop: int) -> np.ndarray:
        """The shards holding cells [start, stop)."""
        return np.arange(start // self.shard_cells, -(-max(start, stop) // self.shard_cells))

    def of(self, cells: np.ndarray) -> np.ndarray:
        """The shards holding these (sorted) cells."""
        return np.unique(cells // self.shard_cells)

    def locate(self, shards: np.ndarray) -> str | None:
        """The message for the first damaged one of these shards, or None."""
        for s in shards:
            problem = self.problem(int(s), deep=True)
            if problem:
                return self.message([(int(s), problem)])
        return None

    def message(self, damaged: list[tuple[int, str]]) -> str:
        def one(s, problem):
            lo, hi = self.cells(s)
            return f"shard {self.file(s).relative_to(self.path)} (cells {lo:,}-{hi - 1:,}) {problem}"

        if len(damaged) == 1:
            what = one(*damaged[0])
        else:
            shown = "; ".join(one(*d) for d in damaged[:3])
            more = f"; and {len(damaged) - 3:,} more" if len(damaged) > 3 else ""
            what = f"{len(damaged):,} of {self.n_shards:,} shards are damaged: {shown}{more}"
        return f"{self.path}: {what}; the crop store is damaged, {REBUILD}"

    def problem(self, shard: int, deep: bool = False) -> str | None:
        """What is wrong with one shard file, or None. Reads only its index (zarr verifies that
        index's checksum on every read, not here); ``deep`` also decodes it, chunk by chunk when
        it fails, to name the chunks."""
        path = self.file(shard)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return "is missing"
        lo, hi = self.cells(shard)
        if self.indexed:
            found = self._index_problem(path, size, lo, hi)
            if found:
                return found
        if not deep:
            return None
        return self._decode_problem(lo, hi)

    def _index_problem(self, path: Path, size: int, lo: int, hi: int) -> str | None:
        """What the index at the end of a shard file (of cells ``lo``-``hi``) shows wrong, or None."""
        data = size - self._index_bytes
        if data < 0:
            return f"is truncated ({size:,} bytes)"
        with open(path, "rb") as fh:
            fh.seek(data)
            index = np.frombuffer(fh.read(self._index_bytes - 4), "<u8").reshape(-1, 2)
        present = index[:, 0] != np.iinfo(np.uint64).max
        expected = np.arange(len(index)) * self.chunk_cells < hi - lo
        offsets, lengths = index[present, 0], index[present, 1]
        # zarr's offsets of a truncated or overwritten end: past the end of the file, or zeros
        if (lengths == 0).any() or (offsets > data).any() or (lengths > data - offsets).any():
            return "has a damaged index (truncated or overwritten)"
        if self.complete and not present[expected].all():
            return f"lacks the chunk(s) of {self._spans(lo, ~present & expected)}"
        return None

    def _decode_problem(self, lo: int, hi: int) -> str | None:
        """Which chunks of cells ``lo``-``hi`` fail to decode, or None: the whole shard read first,
        chunk by chunk only when that fails."""
        try:
            self.array[lo:hi]
            return None
        except Exception:
            pass
        bad = np.zeros(-(-(hi - lo) // self.chunk_cells), bool)
        for i in range(len(bad)):
            try:
                self.array[lo + i * self.chunk_cells : min(lo + (i + 1) * self.chunk_cells, hi)]
            except Exception:
                bad[i] = True
        if bad.all():
            return "cannot be read: its index or every chunk fails its checksum"
        failure = "fail their checksum" if self.chunk_checksums else "cannot be decoded"
        return f"is overwritten: the chunk(s) of {self._spans(lo, bad)} {failure}"

    @property
    def _index_bytes(self) -> int:
        return 16 * (self.shard_cells // self.chunk_cells) + 4

    def _spans(self, first: int, chunks: np.ndarray) -> str:
        """Cells of the marked chunks of a shard starting at cell ``first``, as ranges."""
        marked = np.flatnonzero(chunks)
        runs = np.split(marked, np.flatnonzero(np.diff(marked) != 1) + 1)
        spans = []
        for run in runs:
            lo = first + int(run[0]) * self.chunk_cells
            hi = min(first + (int(run[-1]) + 1) * self.chunk_cells, self.n_cells)
            spans.append(f"{lo:,}-{hi - 1:,}")
        return "cells " + ", ".join(spans)


#: stores already warned about (once per process) for carrying no checksums
_UNCHECKED: set[Path] = set()


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
