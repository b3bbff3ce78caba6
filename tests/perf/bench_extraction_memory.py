"""Benchmark: peak memory of feature extraction, streamed to its tables or held in memory, against
the number of cells.

Run from the repository root:  python tests/perf/bench_extraction_memory.py [--quick] [--cells N ...]

Writes a synthetic crop store per size (2 channels, incompressible random crops in images of
250 cells, written with the store writer) and its cell table, then in a fresh process per case
extracts the untrained encoder's five layer tables (width 0.25, as the random-encoder rule does)
and the raw-pixel table, either streamed batch by batch to parquet row groups (what the rules do)
or gathered in memory first and written at the end (the previous way). The ``tables`` mode writes
the same five layer tables from constant features without running the encoder: the table writers'
share alone, fast enough for large stores. Prints each case's seconds and peak resident memory (the
process's high-water mark), and how far the resident memory's floor (its lowest value, sampled
every 0.05 s, between the batches' transient peaks) rose from the first tenth of the run to the last:
a memory that creeps during a run shows there even when the peak hides it (on runs of a few seconds
the batches' own ups and downs swamp it).
``--group-rows N`` writes row groups of N rows whatever their bytes (``features.table``'s
``GROUP_ROWS``, its byte cap lifted), to size them: the parquet writer keeps every row group's
column metadata until the file is closed. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

CELLS_PER_IMAGE = 250


def make_store(folder: Path, n: int, cells_per_image: int = CELLS_PER_IMAGE) -> None:
    from pcinpaint.crops.store import write_crop_store

    rng = np.random.default_rng(0)
    batch = 4096

    def batches():
        for at in range(0, n, batch):
            yield rng.integers(0, 256, (min(batch, n - at), 2, 64, 64), dtype=np.uint8)

    write_crop_store(folder / "crops.zarr", batches(), n, 2, 64)
    images = np.arange(n) // cells_per_image
    cells = pd.DataFrame(
        {
            "cell_id": [f"c{i}" for i in range(n)],
            "image_id": [f"img{i}" for i in images],
            "field_id": [f"img{i}_f1" for i in images],
            "protein": [f"P{i % 1000}" for i in images],
            "store_index": np.arange(n),
        }
    )
    cells.to_parquet(folder / "cells.parquet", index=False)


def resident_mb() -> float:
    """The process's resident memory now (not its high-water mark)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class FloorSampler(threading.Thread):
    """Samples the resident memory every ``every`` seconds while the extraction runs."""

    def __init__(self, every: float = 0.05):
        super().__init__(daemon=True)
        self.every, self.samples, self.done = every, [], threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while not self.done.wait(self.every):
            self.samples.append((time.perf_counter() - start, resident_mb()))

    def creep(self) -> float:
        """MB the floor rose from the run's first tenth (after the first 5%: imports, warm-up) to its last."""
        self.done.set()
        self.join()
        if len(self.samples) < 20:
            return float("nan")
        end = self.samples[-1][0]
        early = [mb for t, mb in self.samples if 0.05 * end <= t <= 0.15 * end]
        late = [mb for t, mb in self.samples if t >= 0.9 * end]
        return min(late) - min(early)


def constant_batches(sizes: dict[str, int], n: int, batch_size: int = 512):
    """Per batch of cells, ``{layer: features}`` of the encoder's widths without running it."""
    for at in range(0, n, batch_size):
        m = min(batch_size, n - at)
        yield {name: np.full((m, size), at, np.float32) for name, size in sizes.items()}


def run_case(folder: Path, mode: str, group_rows: int | None = None) -> None:
    """One extraction in this process; prints seconds, peak RSS and the floor's creep."""
    import torch

    if group_rows:
        from pcinpaint.features import table as table_module

        table_module.GROUP_ROWS, table_module.ROW_GROUP_BYTES = group_rows, 2**62

    from pcinpaint.crops.store import open_crop_store
    from pcinpaint.features.encoder import (
        encoder_features,
        extract_layer_tables,
        random_encoder,
        raw_batches,
        raw_feature_count,
        raw_features,
    )
    from pcinpaint.features.table import feature_table, feature_table_writer, stream_feature_tables
    from pcinpaint.io import read_table, write_table
    from pcinpaint.model.spec import ENCODER_LAYERS

    torch.set_num_threads(os.cpu_count() or 1)
    cells = read_table(folder / "cells.parquet")
    store = open_crop_store(folder / "crops.zarr", memory_limit=None)
    encoder = random_encoder(2, 0.25, seed=0)
    out = folder / mode
    paths = {name: out / f"random_{name}.parquet" for name in ENCODER_LAYERS}
    floor = FloorSampler()
    floor.start()
    start = time.perf_counter()
    if mode == "tables":
        sizes = encoder.layer_sizes
        tables = {name: (paths[name], f"random_{name}", size) for name, size in sizes.items()}
        stream_feature_tables(cells, constant_batches(sizes, len(cells)), tables)
    elif mode == "streamed":
        extract_layer_tables(encoder, store, cells, paths, "random", "cpu", 512, "fp32")
        with feature_table_writer(cells, out / "raw.parquet", "raw", raw_feature_count(store)) as table:
            for x in raw_batches(store):
                table.write(x)
    else:
        layers = encoder_features(encoder, store, "cpu", 512, "fp32")
        for name in ENCODER_LAYERS:
            write_table(feature_table(cells, layers[name], f"random_{name}"), paths[name])
        write_table(feature_table(cells, raw_features(store), "raw"), out / "raw.parquet")
    seconds = time.perf_counter() - start
    creep = floor.creep()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {seconds:.1f} {peak_mb:.0f} {creep:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[25_000, 100_000])
    parser.add_argument("--quick", action="store_true", help="2,000 and 8,000 cells")
    parser.add_argument(
        "--modes", nargs="+", default=["streamed", "in_memory"], choices=["streamed", "in_memory", "tables"]
    )
    parser.add_argument("--group-rows", type=int, default=None, help="rows per parquet row group")
    parser.add_argument("--case", nargs=2, metavar=("FOLDER", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(Path(args.case[0]), args.case[1], args.group_rows)
        return
    sizes = [2_000, 8_000] if args.quick else args.cells
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(f"parquet row groups: {f'{args.group_rows:,} rows' if args.group_rows else 'the table writer default'}")
    print(f"{'cells':>10} {'mode':>10} {'seconds':>9} {'peak MB':>9} {'floor rise MB':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            make_store(folder, n)
            for mode in args.modes:
                (folder / mode).mkdir()
                proc = subprocess.run(
                    [sys.executable, __file__, "--case", str(folder), mode]
                    + (["--group-rows", str(args.group_rows)] if args.group_rows else []),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                seconds, peak, creep = proc.stdout.split("RESULT")[-1].split()
                print(f"{n:>10,} {mode:>10} {float(seconds):>9.1f} {float(peak):>9,.0f} {float(creep):>14.1f}")


if __name__ == "__main__":
    main()
