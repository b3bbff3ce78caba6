"""Benchmark: the explorer page of a screen at the paper's scale: seconds, peak memory, size.

Run from the repository root:  python tests/perf/bench_explorer.py --store results/sim_yeast/crops.zarr
                               [--cells 1000000] [--proteins 4000] [--features 128] [--max-cells 20000]
                               [--tmp DIR]

Writes (under ``--tmp``) a synthetic screen's cell table and analysed feature table: ``--cells``
cells of ``--proteins`` proteins in 20 compartments (each protein's cells around its centre,
float32 features). Then builds the page as rule ``explorer_page`` does: the drawn cells (the
benchmarks' subsample of ``--max-cells``), protein profiles over every cell, both UMAPs, every
protein's nearest proteins, thumbnails and the HTML. A synthetic screen has no crops, so the
thumbnails are read from a real crop store (``--store``, e.g. a finished demo's), its cells
taken in turn: their bytes are those of real crops. Prints seconds per step, the process's peak
resident memory and the page's size. Asserts nothing else.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow_scripts"))
ROWS = 50_000


def write_screen(tmp: Path, cells: int, proteins: int, features: int) -> pd.DataFrame:
    """The cell table and the feature table, written a row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    compartments = rng.normal(size=(20, features)).astype(np.float32) * 4
    centres = compartments[np.arange(proteins) % 20] + rng.normal(size=(proteins, features)).astype(np.float32)
    protein = np.sort(rng.integers(0, proteins, cells))
    table = pd.DataFrame(
        {
            "cell_id": [f"c{i}" for i in range(cells)],
            "image_id": [f"P{p:05d}_w1" for p in protein],
            "protein": [f"P{p:05d}" for p in protein],
            "label": [f"compartment{p % 20}" for p in protein],
            "store_index": np.arange(cells),
        }
    )
    table.to_parquet(tmp / "cells.parquet", index=False)
    writer = None
    names = [f"pci_conv3_{i:03d}" for i in range(features)]
    for start in range(0, cells, ROWS):
        part = table.iloc[start : start + ROWS]
        x = centres[protein[start : start + ROWS]] + rng.normal(size=(len(part), features)).astype(np.float32)
        meta = part.drop(columns="label").add_prefix("Metadata_").reset_index(drop=True)
        batch = pa.Table.from_pandas(pd.concat([meta, pd.DataFrame(x, columns=names)], axis=1), preserve_index=False)
        writer = writer or pq.ParquetWriter(tmp / "pci_conv3.parquet", batch.schema)
        writer.write_table(batch)
    writer.close()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="a real crop store the thumbnails are read from")
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--proteins", type=int, default=4_000)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--max-cells", type=int, default=20_000)
    parser.add_argument("--tmp", type=Path, default=None)
    args = parser.parse_args()
    tmp = args.tmp or Path(tempfile.mkdtemp(prefix="explorer_"))
    tmp.mkdir(parents=True, exist_ok=True)

    from pcinpaint.crops.store import open_crop_store
    from pcinpaint.exploratory.analysed import META_COLUMNS
    from pcinpaint.exploratory.explorer import MapSettings, explorer_data
    from pcinpaint.features.reading import FeatureFile, read_cells
    from pcinpaint.figures.explorer import page, thumbnails

    t = time.perf_counter()
    write_screen(tmp, args.cells, args.proteins, args.features)
    took = time.perf_counter() - t
    print(f"wrote {args.cells:,} cells x {args.features} features of {args.proteins:,} proteins in {took:.0f} s")
    steps = {}
    t = time.perf_counter()
    features = FeatureFile(tmp / "pci_conv3.parquet")
    meta = features.metadata(META_COLUMNS)
    cells = read_cells(tmp / "cells.parquet", ["label", "image_id"])
    labels = cells["label"].astype(object)
    terms = pd.Series(labels.to_numpy(), index=meta["protein"].to_numpy()).groupby(level=0).first()
    clusters = pd.DataFrame({"protein": terms.index, "cluster": [int(t[11:]) + 1 for t in terms]})
    umap = {"n_neighbors": 30, "min_dist": 0.3}
    settings = MapSettings(args.max_cells, 10, 1, umap, {"n_neighbors": 20, "min_dist": 0.3}, sample_seed=1, seed=2)
    steps["read metadata"] = time.perf_counter() - t
    t = time.perf_counter()
    data = explorer_data(("pci_conv3", meta, features, cells, terms), labels, clusters, None, settings)
    steps["maps and neighbours"] = time.perf_counter() - t
    t = time.perf_counter()
    store = open_crop_store(args.store)
    real = len(store)
    cell_thumbs = thumbnails(store, data.cells["store_index"].to_numpy() % real, ["structural", "protein"], 48)
    protein_thumbs = thumbnails(store, data.proteins["store_index"].to_numpy() % real, ["structural", "protein"], 48)
    steps["thumbnails"] = time.perf_counter() - t
    t = time.perf_counter()
    html = page(data, "synthetic: pci_conv3", cell_thumbs, protein_thumbs, 48)
    (tmp / "explorer.html").write_text(html, encoding="utf-8")
    steps["page"] = time.perf_counter() - t
    size = (tmp / "explorer.html").stat().st_size
    for step, seconds in steps.items():
        print(f"{step:>22}: {seconds:7.1f} s")
    print(f"drawn: {data.note} cells, {len(data.proteins):,} proteins; not run: {data.not_run or 'none'}")
    print(f"page: {size / 2**20:.1f} MB ({size / (len(data.cells) + len(data.proteins)):.0f} bytes a point)")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"written to {tmp / 'explorer.html'}")


if __name__ == "__main__":
    main()
