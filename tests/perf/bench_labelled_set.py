"""Benchmark: the paper's labelled yeast set at its real size, from files to the cellprofiler set.

Run from the repository root:  python tests/perf/bench_labelled_set.py [--measurements M] [--tmp DIR]

Writes three files in the Chong et al. / DeepLoc layout with the real cell counts (4,516, 4,491 and
21,882 cells: 30,889; ``data1`` float32 cells x 8,192, ``Index1`` one-hot over 19 classes, ``Info1``
M measurements, 500 by default), then times, each in this process: the ``expect`` check the
workflow runs when it starts (the label datasets only), storing the crops (``store_labelled_hdf5``,
what ``import_crops`` runs) and the ``cellprofiler`` feature set (``write_cellprofiler_features``),
with the peak memory each adds. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from pcinpaint.crops.import_crops import LabelledSet, store_labelled_hdf5
from pcinpaint.features.cellprofiler import write_cellprofiler_features
from pcinpaint.inputs.labelled_hdf5 import check_expected, class_counts

SIZES = {"Chong_test_set.hdf5": 4_516, "Chong_valid_set.hdf5": 4_491, "Chong_train_set.hdf5": 21_882}
CLASSES = [f"CLASS{i}" for i in range(17)] + ["DEAD", "GHOST"]
MERGE = {"CLASS14": "CLASS13"}  # as SPINDLEPOLE into SPINDLE


def write_files(folder: Path, measurements: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for name, n in SIZES.items():
        path = folder / name
        with h5py.File(path, "w") as f:
            data = f.create_dataset("data1", (n, 8192), np.float32, chunks=(256, 8192))
            for start in range(0, n, 2048):
                rows = min(2048, n - start)
                data[start : start + rows] = rng.gamma(2.0, 200.0, (rows, 8192)).astype(np.float32)
            f.create_dataset("Index1", data=np.eye(len(CLASSES), dtype=np.float32)[rng.integers(0, len(CLASSES), n)])
            f.create_dataset("Index1_columns", data=np.array([c.encode() for c in CLASSES], dtype="S16"))
            f.create_dataset("Info1", data=rng.normal(size=(n, measurements)))
            names = [f"cells_Measurement_{i}".encode() for i in range(measurements)]
            f.create_dataset("Info1_columns", data=np.array(names, dtype="S64"))
        paths.append(path)
    return paths


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measurements", type=int, default=500)
    parser.add_argument("--tmp", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        paths = write_files(tmp, args.measurements)
        size = sum(p.stat().st_size for p in paths) / 2**30
        print(f"files: {sum(SIZES.values()):,} cells, {size:.2f} GiB, written in {time.perf_counter() - t:.1f} s")

        before, t = peak_mb(), time.perf_counter()
        counts = class_counts(paths, CLASSES, MERGE)
        check_expected(paths, counts, {"cells": sum(SIZES.values()), "classes": 18})
        print(f"expect check: {time.perf_counter() - t:.3f} s, {sum(counts.values()):,} cells in {len(counts)} classes")

        before, t = peak_mb(), time.perf_counter()
        cells = store_labelled_hdf5(
            LabelledSet(paths, CLASSES, MERGE, ["gfp", "rfp"], ["protein", "structural"]),
            tmp / "crops.zarr",
            store_order=["rfp", "gfp"],
        )
        print(
            f"store the crops: {time.perf_counter() - t:.1f} s, peak memory +{max(0.0, peak_mb() - before):.0f} MB "
            f"(peak {peak_mb():.0f} MB)"
        )

        before, t = peak_mb(), time.perf_counter()
        n = write_cellprofiler_features(paths, "Info1", cells, tmp / "cellprofiler.parquet")
        print(
            f"cellprofiler set: {len(cells):,} cells x {n} features in {time.perf_counter() - t:.1f} s, "
            f"peak memory +{max(0.0, peak_mb() - before):.0f} MB (peak {peak_mb():.0f} MB)"
        )


if __name__ == "__main__":
    main()
