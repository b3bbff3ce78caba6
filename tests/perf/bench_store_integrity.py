"""Benchmark: what the crop store's checksums and checks cost, with and without them side by side.

Run from the repository root:  python tests/perf/bench_store_integrity.py [--quick] [--cells N] [--tmp DIR]

Writes a synthetic store (2 channels, 64 x 64, uint8, incompressible crops; ~8 GiB at the default
1,000,000 cells) twice: in the earlier format (``write_unchecked_crop_store``: no chunk checksums,
all-zero chunks not written) and in the current one (``write_crop_store``: crc32c on every chunk,
every chunk written). For each it prints the write time, the full sequential read time (``open_crop_store(...,
memory_limit=None)`` read in store order in slices, as extraction does) with the page cache
dropped for the store's files first (cold) and again at once (warm, when it fits in memory), the
open-time shard check (cold and warm) and the bytes on disk. The formats alternate (``--repeats``
runs of each, best shown) so that other load on the machine favours neither. One store exists at
a time; each is deleted after it is measured. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from pcinpaint.crops.store import SHARD_CELLS, open_crop_store, write_crop_store, write_unchecked_crop_store

CHANNELS, SIZE = 2, 64
BATCH = 4 * SHARD_CELLS
READ_SLICE = 8 * SHARD_CELLS
LABELS = {"earlier": False, "checksums": True}


def batches(n_cells: int, seed: int = 0):
    """Incompressible crops: one random block, XORed with the batch number (chunks compress
    independently, so a repeated block does not help zstd)."""
    pool = np.random.default_rng(seed).integers(0, 256, (BATCH, CHANNELS, SIZE, SIZE), dtype=np.uint8)
    out = np.empty_like(pool)
    for i, at in enumerate(range(0, n_cells, BATCH)):
        np.bitwise_xor(pool, np.uint8(i % 256), out=out)
        yield out[: min(BATCH, n_cells - at)]


def drop_cache(path: Path) -> None:
    """Ask the kernel to forget the store's pages (no root needed for clean pages)."""
    for root, _, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def disk_bytes(path: Path) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def read_all(path: Path) -> tuple[float, float]:
    """(seconds to open with the shard check, seconds to read every crop in store order)."""
    t0 = time.perf_counter()
    store = open_crop_store(path, memory_limit=None)
    t1 = time.perf_counter()
    total = 0
    for at in range(0, len(store), READ_SLICE):
        total += int(store.raw(slice(at, at + READ_SLICE))[:, 0, 0, 0].sum())
    return t1 - t0, time.perf_counter() - t1


def write_store(checksums: bool):
    """The store's writer in the format measured: with chunk checksums, or the earlier one."""
    return write_crop_store if checksums else write_unchecked_crop_store


def measure(folder: Path, n_cells: int, checksums: bool) -> dict:
    path = folder / f"crops_{'crc' if checksums else 'old'}.zarr"
    t0 = time.perf_counter()
    write_store(checksums)(path, batches(n_cells), n_cells, CHANNELS, SIZE)
    write_s = time.perf_counter() - t0
    drop_cache(path)
    open_cold, read_cold = read_all(path)
    open_warm, read_warm = read_all(path)
    store = open_crop_store(path, memory_limit=None)
    t0 = time.perf_counter()
    store.shards.check()
    check_warm = time.perf_counter() - t0
    row = {
        "write s": write_s,
        "read s (cold)": read_cold,
        "read s (warm)": read_warm,
        "open + check s (cold)": open_cold,
        "open + check s (warm)": open_warm,
        "check alone s (warm)": check_warm,
        "GiB on disk": disk_bytes(path) / 2**30,
        "shards": store.shards.n_shards,
    }
    shutil.rmtree(path)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 cells")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each format, interleaved; the best is shown")
    parser.add_argument("--tmp", default=tempfile.gettempdir())
    args = parser.parse_args()
    n = 20_000 if args.quick else args.cells
    need = 2.2 * n * CHANNELS * SIZE * SIZE
    if shutil.disk_usage(args.tmp).free < need:
        raise SystemExit(f"{args.tmp}: needs {need / 2**30:.1f} GiB free")
    print(f"{platform.node()}: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    print(f"{n:,} cells, {CHANNELS} x {SIZE} x {SIZE} uint8, incompressible, read in slices of {READ_SLICE:,}")
    logging.getLogger("pcinpaint").setLevel(logging.ERROR)  # the earlier format's warning
    folder = Path(tempfile.mkdtemp(prefix="bench_store_integrity.", dir=args.tmp))
    try:
        for checksums in (False, True):  # imports and first-call costs, outside the figures
            write_store(checksums)(folder / "warmup.zarr", batches(2 * BATCH), 2 * BATCH, CHANNELS, SIZE)
            read_all(folder / "warmup.zarr")
        runs = {False: [], True: []}
        for r in range(args.repeats):  # ABBA order, so that a drift in the machine's load favours neither
            for checksums in (False, True) if r % 2 == 0 else (True, False):
                runs[checksums].append(measure(folder, n, checksums))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = {label: {k: min(run[k] for run in runs[c]) for k in runs[c][0]} for label, c in LABELS.items()}
    old, new = rows["earlier"], rows["checksums"]
    print(f"best of {args.repeats} interleaved runs of each format; every run:")
    for label, c in LABELS.items():
        for key in ("write s", "read s (cold)"):
            print(f"  {label:10} {key:14} " + "  ".join(f"{run[key]:8.2f}" for run in runs[c]))
    print(f"{'':24} {'no checksums':>13} {'checksums':>10} {'ratio':>6}")
    for key in old:
        ratio = new[key] / old[key] if old[key] else float("nan")
        print(f"{key:24} {old[key]:13.3f} {new[key]:10.3f} {ratio:6.2f}")
    rate = n * CHANNELS * SIZE * SIZE / 2**20
    for label, row in rows.items():
        print(f"{label}: write {rate / row['write s']:.0f} MiB/s, cold read {rate / row['read s (cold)']:.0f} MiB/s")


if __name__ == "__main__":
    main()
