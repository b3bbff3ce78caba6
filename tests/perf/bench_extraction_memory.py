"""Benchmark: peak memory of feature extraction, streamed to its tables or held in memory, against
the number of cells.

Run from the repository root:  python tests/perf/bench_extraction_memory.py [--quick] [--cells N ...]

Writes a synthetic crop store per size (2 channels, incompressible random crops in images of
250 cells, written with the store writer) and its cell table, then in a fresh process per case
extracts the untrained encoder's five layer tables (width 0.25, as the random-encoder rule does)
and the raw-pixel table, either streamed batch by batch to parquet row groups (what the rules do)
or gathered in memory first and written at the end (the previous way). Prints each case's seconds
and peak resident memory (the process's high-water mark), so the growth with the cells can be read
side by side. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CELLS_PER_IMAGE = 250


def make_store(folder: Path, n: int) -> None:
    from pcinpaint.crops.store import write_crop_store

    rng = np.random.default_rng(0)
    batch = 4096

    def batches():
        for at in range(0, n, batch):
            yield rng.integers(0, 256, (min(batch, n - at), 2, 64, 64), dtype=np.uint8)

    write_crop_store(folder / "crops.zarr", batches(), n, 2, 64)
    images = np.arange(n) // CELLS_PER_IMAGE
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


def run_case(folder: Path, mode: str) -> None:
    """One extraction in this process; prints seconds and peak RSS."""
    import torch

    from pcinpaint.crops.store import open_crop_store
    from pcinpaint.features.encoder import (
        encoder_features,
        extract_layer_tables,
        random_encoder,
        raw_batches,
        raw_feature_count,
        raw_features,
    )
    from pcinpaint.features.table import feature_table, feature_table_writer
    from pcinpaint.io import read_table, write_table
    from pcinpaint.model.spec import ENCODER_LAYERS

    torch.set_num_threads(os.cpu_count() or 1)
    cells = read_table(folder / "cells.parquet")
    store = open_crop_store(folder / "crops.zarr", memory_limit=None)
    encoder = random_encoder(2, 0.25, seed=0)
    out = folder / mode
    paths = {name: out / f"random_{name}.parquet" for name in ENCODER_LAYERS}
    start = time.perf_counter()
    if mode == "streamed":
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
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {seconds:.1f} {peak_mb:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[25_000, 100_000])
    parser.add_argument("--quick", action="store_true", help="2,000 and 8,000 cells")
    parser.add_argument("--modes", nargs="+", default=["streamed", "in_memory"], choices=["streamed", "in_memory"])
    parser.add_argument("--case", nargs=2, metavar=("FOLDER", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        run_case(Path(args.case[0]), args.case[1])
        return
    sizes = [2_000, 8_000] if args.quick else args.cells
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(f"{'cells':>10} {'mode':>10} {'seconds':>9} {'peak MB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            make_store(folder, n)
            for mode in args.modes:
                (folder / mode).mkdir()
                proc = subprocess.run(
                    [sys.executable, __file__, "--case", str(folder), mode], capture_output=True, text=True, check=True
                )
                seconds, peak = proc.stdout.split("RESULT")[-1].split()
                print(f"{n:>10,} {mode:>10} {float(seconds):>9.1f} {float(peak):>9,.0f}")


if __name__ == "__main__":
    main()
