"""Benchmark: proteome-wide Ward clustering and its heat map at the paper's Fig 4 size.

Run from the repository root:  python tests/perf/bench_clustering.py [--quick] [--threads N]

The paper clusters 11,995 Human Protein Atlas proteins (mean Conv3 features of each protein's
cells) and draws them as one clustered heat map (Fig 4). This times, on random float32 cell
features (256 dimensions; 12,000 proteins of 1-20 cells each, 30 weakly shifted group means),
each step of ``pcinpaint.exploratory.clustering``: protein profiles (means + z-score), Ward linkage,
the cut at 20 clusters, leaf order, the membership table, the iterative dendrogram
coordinates and the heat map PNG; with each step's peak resident memory above its start
(sampled every 5 ms from /proc) and the process's maximum. For comparison: scipy's
``linkage`` on the observations (``pdist`` then merge), and ``scipy.cluster.hierarchy.
dendrogram`` on the same tree (leaf list only, and drawn) and on a chained tree of the same
size (single linkage, depth n - 1), where it exceeds Python's recursion limit. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import matplotlib
import numpy as np
import pandas as pd
import scipy
from scipy.cluster import hierarchy
from threadpoolctl import threadpool_info, threadpool_limits  # a scikit-learn dependency

from pcinpaint.exploratory.clustering import cluster, cut, dendrogram_coords, leaf_order, memberships, protein_profiles
from pcinpaint.figures.clustering import HeatmapRows, heatmap_figure
from pcinpaint.figures.common import FigureOutput, plt

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss() -> int:
    """Resident bytes now (0 where /proc is absent)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


def max_rss() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


class Measure:
    """Wall time and peak RSS above the starting RSS of a block."""

    def __enter__(self):
        self.start, self.peak, self.running = rss(), rss(), True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.t0 = time.perf_counter()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, rss())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, rss())
        return False

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def row(name: str, m: Measure, note: str = "") -> None:
    print(f"{name:44s} {m.seconds:8.2f} {m.extra_mb:10.0f}   {note}", flush=True)


def make_cells(n_proteins: int, d: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 21, n_proteins)
    protein = np.repeat(np.arange(n_proteins), counts)
    centres = rng.normal(size=(30, d)).astype(np.float32) * 0.5
    group = rng.integers(0, 30, n_proteins)
    x = rng.normal(size=(len(protein), d)).astype(np.float32) + centres[group[protein]]
    width = len(str(n_proteins))
    names = np.array([f"P{i:0{width}d}" for i in range(n_proteins)])
    meta = pd.DataFrame({"protein": names[protein], "image_id": [f"{names[p]}_{i % 3}" for i, p in enumerate(protein)]})
    return meta, x


def tree_depth(z: np.ndarray) -> int:
    n = len(z) + 1
    depth = np.zeros(2 * n - 1, np.int64)
    for k, (a, b) in enumerate(z[:, :2].astype(np.int64)):
        depth[n + k] = 1 + max(depth[a], depth[b])
    return int(depth[-1])


def scipy_dendrogram(z: np.ndarray, out: Path | None):
    """scipy's dendrogram: leaf list only, or drawn to the left of an empty heat map and saved."""
    if out is None:
        return hierarchy.dendrogram(z, no_plot=True)
    fig, ax = plt.subplots(figsize=(2, 9))
    hierarchy.dendrogram(z, ax=ax, orientation="left", no_labels=True, color_threshold=0, above_threshold_color="0.15")
    fig.savefig(out, dpi=150)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3,000 proteins, no scipy linkage reference (a smoke run)")
    parser.add_argument("--proteins", type=int, default=None, help="proteins (default 12,000, the paper's Fig 4)")
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all)")
    args = parser.parse_args()
    n = args.proteins or (3_000 if args.quick else 12_000)
    d = args.features
    if args.threads:
        threadpool_limits(args.threads)
    blas = ", ".join(f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)" for i in threadpool_info())
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"matplotlib {matplotlib.__version__}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    print(f"thread pools: {blas}; recursion limit {sys.getrecursionlimit()}")

    meta, x = make_cells(n, d)
    print(
        f"data: {len(x)} cells of {n} proteins x {d} float32 features ({x.nbytes / 2**20:.0f} MiB); "
        f"condensed distances {n * (n - 1) // 2 * 8 / 2**30:.2f} GiB\n"
    )
    print(f"{'step':44s} {'seconds':>8s} {'+peak MiB':>10s}   note")
    total = 0.0
    with TemporaryDirectory() as tmp:
        with Measure() as m:
            profiles, matrix = protein_profiles(meta, x)
        row("profiles: means + z-score", m, f"{matrix.shape[0]} x {matrix.shape[1]}")
        total += m.seconds
        del x, meta
        with Measure() as m:
            z = cluster(matrix)
        row("Ward linkage (blockwise distances + merge)", m, f"tree depth {tree_depth(z)}")
        total += m.seconds
        with Measure() as m:
            ids = cut(z, n_clusters=20)
        row("cut at 20 clusters", m, f"sizes {np.bincount(ids)[1:].min()}-{np.bincount(ids)[1:].max()}")
        total += m.seconds
        with Measure() as m:
            order = leaf_order(z)
        row("leaf order (leaves_list)", m)
        total += m.seconds
        with Measure() as m:
            table = memberships(profiles, ids, order)
        row("memberships table", m, f"{len(table)} rows")
        total += m.seconds
        with Measure() as m:
            dendrogram_coords(z, order)
        row("dendrogram coordinates (iterative)", m)
        with Measure() as m:
            heatmap_figure(matrix, z, order, HeatmapRows(ids), FigureOutput(Path(tmp) / "heatmap.png"))
        size = (Path(tmp) / "heatmap.png").stat().st_size
        row("heat map PNG (dendrogram + strips)", m, f"{size / 2**20:.1f} MiB")
        total += m.seconds
        print(f"{'total: profiles to heat map':44s} {total:8.2f}\n")

        print("for comparison")
        if not args.quick:
            with Measure() as m:
                ref = hierarchy.linkage(matrix, method="ward")
            same = np.array_equal(hierarchy.leaves_list(ref), order)
            row(
                "scipy linkage(observations, 'ward')",
                m,
                f"same leaf order: {same}, max |height difference| {np.abs(ref[:, 2] - z[:, 2]).max():.1e}",
            )
            del ref
        for name, out in (
            ("scipy dendrogram(no_plot=True), Ward tree", None),
            ("scipy dendrogram drawn + PNG, Ward tree", Path(tmp) / "scipy.png"),
        ):
            try:
                with Measure() as m:
                    scipy_dendrogram(z, out)
                row(name, m)
            except RecursionError:
                print(f"{name:44s} {'RecursionError':>19s}")
        chain = np.cumsum(1.0 + np.arange(n) * 1e-3)[:, None]
        zc = cluster(chain, method="single")
        with Measure() as m:
            leaf_order(zc)
            dendrogram_coords(zc)
        row("chained tree: leaf order + coordinates", m, f"tree depth {tree_depth(zc)}")
        try:
            with Measure() as m:
                scipy_dendrogram(zc, None)
            row("chained tree: scipy dendrogram(no_plot)", m)
        except RecursionError:
            print(
                f"{'chained tree: scipy dendrogram(no_plot)':44s} {'RecursionError':>19s}   "
                f"(depth {tree_depth(zc)} > recursion limit {sys.getrecursionlimit()})"
            )
    print(f"\nprocess maximum resident memory: {max_rss() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
