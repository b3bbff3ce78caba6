"""Benchmark: peak memory and seconds of a feature-table dataset's two jobs on a large table.

Run from the repository root:  python tests/perf/bench_feature_table.py [--rows 100000 400000]
                               [--features 1000] [--tmp DIR]

Writes (once per size, under ``--tmp``) a pycytominer-style parquet table: ``Metadata_Plate``,
``Metadata_Well`` (the image), ``Metadata_gene``, ``Metadata_label`` and ``--features`` float32
columns ``Cells_<i>`` of random values, in row groups of 10,000 rows, as pycytominer and
CytoTable write theirs. Then runs, each in a fresh process so its peak resident memory
(the child's own ``ru_maxrss``) is the job's: ``feature_table_cells`` (the cell table from the
metadata columns) and ``feature_table`` (the features joined on the row number and written in
the feature-table contract). Prints rows, input MB, seconds and peak MB per job, and checks the
written features against the table (a sample of rows). Asserts nothing else.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
GROUP_ROWS = 10_000


def write_table(path: Path, rows: int, features: int) -> None:
    """The synthetic table, one row group at a time (never whole in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    names = [f"Cells_{i}" for i in range(features)]
    writer = None
    for start in range(0, rows, GROUP_ROWS):
        n = min(GROUP_ROWS, rows - start)
        at = np.arange(start, start + n)
        columns = {
            "Metadata_Plate": pa.array([f"plate{i // 100_000}" for i in at]),
            "Metadata_Well": pa.array([f"W{(i // 250) % 384:03d}" for i in at]),
            "Metadata_gene": pa.array([f"G{(i // 250) % 4000:04d}" for i in at]),
            "Metadata_label": pa.array([f"class{(i // 250) % 17}" for i in at]),
        }
        values = rng.random((n, features), dtype=np.float32)
        columns.update({name: pa.array(values[:, j]) for j, name in enumerate(names)})
        table = pa.table(columns)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


JOB = """
import json, resource, sys, time
sys.path.insert(0, {lib!r})
from pcinpaint.config import validate_config
from pcinpaint.features.feature_table import write_cell_table, write_feature_set
from pcinpaint.io import read_table
table = {{"path": {path!r}, "columns": {{"protein": "Metadata_gene"}}}}
config = validate_config({{"datasets": {{"d": {{"source": "features", "feature_table": table}}}}}})
block = config["datasets"]["d"]["feature_table"]
start = time.perf_counter()
if {job!r} == "feature_table_cells":
    rows = write_cell_table(block, {cells!r})
else:
    rows = write_feature_set(block, read_table({cells!r}), {out!r})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"rows": rows, "seconds": time.perf_counter() - start, "peak_mb": peak}}))
"""


def run_job(job: str, path: Path, folder: Path) -> dict:
    """One job in a fresh process: its rows, seconds and peak resident MB (its own ``ru_maxrss``)."""
    code = JOB.format(
        lib=str(REPO / "workflow_scripts"),
        path=str(path),
        job=job,
        cells=str(folder / "cells.parquet"),
        out=str(folder / "features.parquet"),
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check(path: Path, folder: Path, features: int) -> None:
    """A sample of rows of the written feature set equals the table's."""
    import pyarrow.parquet as pq

    rows = [0, 1, GROUP_ROWS - 1, GROUP_ROWS, pq.read_metadata(path).num_rows - 1]
    names = [f"Cells_{i}" for i in (0, features // 2, features - 1)]
    source = pq.read_table(path, columns=names).take(rows).to_pandas()
    written = pq.read_table(folder / "features.parquet", columns=names).take(rows).to_pandas()
    assert np.array_equal(source.to_numpy(), written.to_numpy()), "written features differ from the table"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()) / "bench_feature_table")
    args = parser.parse_args()
    args.tmp.mkdir(parents=True, exist_ok=True)
    print(f"{'rows':>9} {'input MB':>9} {'job':<20} {'seconds':>8} {'peak MB':>8}")
    for rows in args.rows:
        folder = args.tmp / f"{rows}x{args.features}"
        folder.mkdir(exist_ok=True)
        path = folder / "profiles.parquet"
        if not path.exists():
            start = time.perf_counter()
            write_table(path, rows, args.features)
            print(f"(wrote {path} in {time.perf_counter() - start:.0f} s)")
        mb = path.stat().st_size / 2**20
        for job in ("feature_table_cells", "feature_table"):
            result = run_job(job, path, folder)
            print(f"{rows:>9,} {mb:>9.0f} {job:<20} {result['seconds']:>8.1f} {result['peak_mb']:>8.0f}")
        check(path, folder, args.features)
        (folder / "features.parquet").unlink()


if __name__ == "__main__":
    main()
