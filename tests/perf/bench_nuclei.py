"""Benchmark: nuclei detection against hand-labelled nuclei (../shared/data/nuclei_gt/).

Run from the repository root:  python tests/perf/bench_nuclei.py [--tune] [--jobs 2] [--overlay PNG]

97 fields of DNA-stained nuclei with every nucleus drawn by hand (Coelho et al. 2009: 48 U2OS
``gnf_*``, 49 NIH3T3 ``ic100_*``). A detection counts when its centroid falls inside a
hand-drawn nucleus not yet matched (``crops.segment_chunk.match_truth``, the rule the demo's QC uses);
precision is over detections, recall over hand-drawn nuclei, with the seconds each field's
segmentation takes (one process per job). Parameters are chosen on the
even-numbered fields (``--tune`` searches the new method's grid there) and scored on the
odd-numbered ones, per cell line and together, for every method side by side. ``--overlay``
also draws the new method's nuclei on the real human field (../shared/data/human_fields/*d0.tif,
about 280 nuclei of some 10 px) at that field's scale. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
from skimage import measure

from pcinpaint.crops.segment import SegmentationSettings, segment_field
from pcinpaint.crops.segment_chunk import match_truth

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nuclei_gt"
HUMAN_FIELD = DATA.parent / "human_fields"
#: the new method at the human field's scale (nuclei ~10 px across: small areas and distances)
HUMAN_SETTINGS = dict(
    method="nuclei_watershed", smoothing_sigma=1.0, min_area=20, watershed_min_distance=4, distance_sigma=1.0
)

#: every method at the settings compared; the new method's come from --tune on the even fields
METHODS = {
    "nuclei_otsu (the paper's: smoothing 1, min_area 15)": dict(method="nuclei_otsu", smoothing_sigma=1.0, min_area=15),
    "nuclei_otsu (smoothing 2, min_area 300)": dict(method="nuclei_otsu", smoothing_sigma=2.0, min_area=300),
    "cells_watershed (smoothing 2, min_area 300, min distance 10)": dict(
        method="cells_watershed", smoothing_sigma=2.0, min_area=300, watershed_min_distance=10
    ),
    "nuclei_watershed (its defaults, without background subtraction)": dict(
        method="nuclei_watershed", background_radius=0.0
    ),
    "nuclei_watershed (its defaults)": dict(method="nuclei_watershed"),
}
#: the new method's search grid (on the even-numbered fields only)
GRID = dict(
    smoothing_sigma=[2.0],
    min_area=[400],
    watershed_min_distance=[14, 20, 28],
    distance_sigma=[3.0, 5.0],
    background_radius=[60.0, 100.0, 150.0],
)


def fields() -> pd.DataFrame:
    rows = []
    for image in sorted(DATA.glob("*_image.png")):
        number = int(re.search(r"-(\d+)_image", image.name).group(1))
        line = "U2OS (gnf)" if image.name.startswith("gnf") else "NIH3T3 (ic100)"
        rows.append(
            dict(image=image, labels=image.with_name(image.name.replace("_image", "_labels")), number=number, line=line)
        )
    return pd.DataFrame(rows)


def score_field(args) -> tuple[int, int, int, float]:
    """(true positives, detections, hand-drawn nuclei, seconds segmenting) of one field at one setting."""
    image, labels, settings = args
    truth = iio.imread(labels)
    field = iio.imread(image).astype(np.float32)
    start = time.perf_counter()
    found = segment_field(field, SegmentationSettings(clear_border=False, min_contrast=0.0, **settings))
    seconds = time.perf_counter() - start
    props = pd.DataFrame(measure.regionprops_table(found, properties=("centroid",)))
    objects = props.rename(columns={"centroid-0": "centroid_y", "centroid-1": "centroid_x"})
    hits = match_truth(objects, truth)
    return len(np.unique(hits[hits > 0])), len(objects), len(np.unique(truth[truth > 0])), seconds


def score(table: pd.DataFrame, settings: dict, pool) -> pd.Series:
    """Precision, recall and F1 over the fields of ``table`` (pooled counts)."""
    counts = np.array(list(pool.map(score_field, [(r.image, r.labels, settings) for r in table.itertuples()])))
    tp, detected, true = counts[:, :3].sum(axis=0)
    precision, recall = tp / max(detected, 1), tp / max(true, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return pd.Series(dict(precision=precision, recall=recall, f1=f1, nuclei=int(true), seconds=counts[:, 3].mean()))


def human_overlay(path: Path) -> None:
    """The real human field's nuclei, outlined by the new method, drawn as the workflow's
    qc_overlays draws them."""
    import tifffile

    from pcinpaint.figures.common import save_figure
    from pcinpaint.figures.qc import segmentation_overlays

    dna = tifffile.imread(sorted(HUMAN_FIELD.glob("*d0.tif"))[0])
    labels = segment_field(dna, SegmentationSettings(**HUMAN_SETTINGS))
    objects = pd.DataFrame({"object_id": np.arange(1, labels.max() + 1), "kept": True})
    name = f"human_fields d0: {labels.max()} nuclei (nuclei_watershed)"
    fig = segmentation_overlays([(name, dna[None].astype(np.float32), labels, objects)], ["structural"])
    save_figure(fig, path, dpi=200)
    print(f"{name}, {HUMAN_SETTINGS}: overlay written to {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="search the new method's grid on the even fields")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--overlay", type=Path, help="also write the human field's overlay (PNG) here")
    args = parser.parse_args(argv)
    if args.overlay:
        human_overlay(args.overlay)
    table = fields()
    even, odd = table[table["number"] % 2 == 0], table[table["number"] % 2 == 1]
    print(f"{len(table)} fields, {len(even)} even (choosing) and {len(odd)} odd (scoring)")
    methods = dict(METHODS)
    with ProcessPoolExecutor(args.jobs) as pool:
        if args.tune:
            keys = list(GRID)
            results = []
            for values in itertools.product(*GRID.values()):
                settings = dict(method="nuclei_watershed", **dict(zip(keys, values)))
                got = score(even, settings, pool)
                results.append((got["f1"], settings, got))
                print(
                    f"  even {dict(zip(keys, values))}: "
                    f"P {got['precision']:.3f} R {got['recall']:.3f} F1 {got['f1']:.3f}",
                    flush=True,
                )
            best = max(results, key=lambda r: r[0])
            print(f"tuned on the even fields: {best[1]}")
            methods["nuclei_watershed (tuned on the even fields)"] = best[1]
        print(f"\n{'method':70s} {'fields':>16s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'s/field':>7s}")
        for name, settings in methods.items():
            for line, part in [*odd.groupby("line"), ("both", odd)]:
                got = score(part, settings, pool)
                print(
                    f"{name[:70]:70s} {line:>16s} {got['precision']:9.3f} {got['recall']:7.3f} {got['f1']:6.3f} "
                    f"{got['seconds']:7.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
