"""Benchmark: normalised pairwise distance scores (Fig 2B, Table 2) at Human Protein Atlas scale.

Run from the repository root:  python tests/perf/bench_pairwise.py [--quick]

Random float32 features (default 40,000 images x 8 cells x 384 features, about the paper's
41,285 images), 18 terms, 1,000 pairs per term and per other term: 18,000 same-term and
306,000 different-term image pairs. Times z-scoring alone, then pairwise_scores (with and
without z-scoring) and cell_line_scores (30 cell lines, 10,000 pairs per side); prints
seconds, image pairs/s, the peak memory allocated during each call beyond the input features
(tracemalloc) and the process's maximum resident size. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import tracemalloc

import numpy as np

from pcinpaint.benchmarks.pairwise import PairDraws, cell_line_scores, pairwise_scores
from pcinpaint.features.matrix import zscore


def measured(fn, *args, **kwargs):
    """(result, seconds, peak bytes allocated during the call)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 images, 100 pairs (a smoke run)")
    parser.add_argument("--images", type=int, default=None, help="images (default 40,000; 2,000 with --quick)")
    parser.add_argument("--cells", type=int, default=8, help="cells per image")
    parser.add_argument("--features", type=int, default=384)
    parser.add_argument("--terms", type=int, default=18)
    parser.add_argument("--lines", type=int, default=30, help="cell lines")
    parser.add_argument(
        "--pairs", type=int, default=None, help="n_pairs for pairwise_scores (default 1,000; 100 with --quick)"
    )
    args = parser.parse_args()
    n_images = args.images or (2000 if args.quick else 40000)
    n_pairs = args.pairs or (100 if args.quick else 1000)
    line_pairs = 1000 if args.quick else 10000

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other work on the machine slows figures)"
    )
    rng = np.random.default_rng(0)
    n_cells = n_images * args.cells
    features = rng.standard_normal((n_cells, args.features), dtype=np.float32)
    image_ids = np.repeat(np.arange(n_images), args.cells)
    terms = dict(enumerate(rng.integers(0, args.terms, n_images)))
    lines = dict(enumerate(rng.integers(0, args.lines, n_images)))
    mib = 2**20
    print(
        f"{n_images} images x {args.cells} cells x {args.features} features float32 "
        f"({features.nbytes / mib:.0f} MiB), {args.terms} terms, {args.lines} cell lines"
    )

    _, seconds, peak = measured(zscore, features)
    print(f"zscore alone:      {seconds:7.2f} s, peak {peak / mib:7.0f} MiB")

    n_term_pairs = n_pairs * args.terms * args.terms  # same-term + every other term, per term
    scores, seconds, peak = measured(pairwise_scores, features, image_ids, terms, PairDraws(n_pairs))
    print(
        f"pairwise_scores:   {seconds:7.2f} s, peak {peak / mib:7.0f} MiB, {n_term_pairs} image pairs "
        f"({n_pairs * args.terms} same-term), {n_term_pairs / seconds:,.0f} pairs/s including zscore"
    )
    _, seconds, peak = measured(pairwise_scores, features, image_ids, terms, PairDraws(n_pairs, standardise=False))
    print(
        f"  without zscore:  {seconds:7.2f} s, peak {peak / mib:7.0f} MiB, {n_term_pairs / seconds:,.0f} pairs/s "
        f"(sampling and distances only)"
    )
    summary = scores.set_index("term").loc[["overall", "pooled"], "score"]
    print(f"                   overall {summary['overall']:+.4f}, pooled {summary['pooled']:+.4f} (random: ~0)")

    lines_scores, seconds, peak = measured(cell_line_scores, features, image_ids, lines, terms, PairDraws(line_pairs))
    print(f"cell_line_scores:  {seconds:7.2f} s, peak {peak / mib:7.0f} MiB, {6 * line_pairs} image pairs")
    print(
        "                   "
        + ", ".join(f"{c} {s:+.4f}" for c, s in zip(lines_scores["comparison"], lines_scores["score"]))
    )
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"process max resident size {maxrss:.0f} MiB (input features included)")


if __name__ == "__main__":
    main()
