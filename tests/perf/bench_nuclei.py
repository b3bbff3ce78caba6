"""Benchmark: nuclei detection against hand-labelled nuclei (../shared/data/nuclei_gt/).

Run from the repository root:  python tests/perf/bench_nuclei.py [--tune] [--jobs 2] [--overlay PNG]
                                python tests/perf/bench_nuclei.py --scales [--tune-relative]

97 fields of DNA-stained nuclei with every nucleus drawn by hand (Coelho et al. 2009: 48 U2OS
``gnf_*``, 49 NIH3T3 ``ic100_*``). A detection counts when its centroid falls inside a
hand-drawn nucleus not yet matched (``crops.segment_chunk.match_truth``, the rule the demo's QC uses);
precision is over detections, recall over hand-drawn nuclei, with the seconds each field's
segmentation takes (one process per job). Parameters are chosen on the
even-numbered fields (``--tune`` searches the new method's grid there) and scored on the
odd-numbered ones, per cell line and together, for every method side by side. ``--overlay``
also draws the new method's nuclei on the real human field (../shared/data/human_fields/*d0.tif,
about 280 nuclei of some 10 px) at that field's scale.

``--scales`` compares ``segmentation.scale`` fixed and auto across magnifications: the fields and
copies of them rescaled by 0.5 and 2 (``skimage.transform.rescale``: images linearly with
anti-aliasing, hand-drawn labels by nearest neighbour), scored on the odd-numbered fields at
each scale; auto's relative lengths are the schema's defaults, or with ``--tune-relative`` the best
of a coordinate search on the even-numbered fields at 1x. It also prints how the measured
diameter (``crops.scale.field_diameter``) compares with the hand-drawn nuclei's median equivalent
diameter, and its seconds per field. Prints figures; asserts nothing.
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
from skimage import measure, transform

from pcinpaint.config import schema_default
from pcinpaint.crops.scale import field_diameter
from pcinpaint.crops.segment import LENGTH_KEYS, RelativeLengths, SegmentationSettings, segment_field
from pcinpaint.crops.segment_chunk import DIAMETER_COLUMN, match_truth, segment_channel

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

#: magnifications ``--scales`` scores, as copies of the fields rescaled by these factors
SCALES = (0.5, 1.0, 2.0)
#: the relative lengths of scale auto as the workflow's schema defaults them
RELATIVE = {key: schema_default("segmentation_relative", key) for key in LENGTH_KEYS}
#: ``--scales``: nuclei_watershed with its pixel defaults, with pixels tuned at 1x (--tune's choice),
#: and with scale auto; nuclei_otsu with the pixels above and with scale auto
SCALE_METHODS = {
    "nuclei_watershed, scale fixed (its defaults)": dict(method="nuclei_watershed"),
    "nuclei_watershed, scale fixed (tuned at 1x: min distance 28, distance sigma 5, background 60)": dict(
        method="nuclei_watershed", watershed_min_distance=28, distance_sigma=5.0, background_radius=60.0
    ),
    "nuclei_watershed, scale auto": dict(method="nuclei_watershed", relative=RELATIVE),
    "nuclei_otsu, scale fixed (smoothing 2, min_area 300)": dict(
        method="nuclei_otsu", smoothing_sigma=2.0, min_area=300
    ),
    "nuclei_otsu, scale auto": dict(method="nuclei_otsu", relative=RELATIVE),
}
#: ``--tune-relative``: one group of keys at a time, each group's best kept (even fields, 1x)
RELATIVE_GRID = [
    dict(watershed_min_distance=[0.25, 0.3, 0.35, 0.42], distance_sigma=[0.05, 0.1]),
    dict(background_radius=[0.65, 0.9, 1.2, 1.6]),
    dict(smoothing_sigma=[0.01, 0.02, 0.04]),
    dict(min_area=[0.06, 0.12, 0.2]),
]


def fields() -> pd.DataFrame:
    rows = []
    for image in sorted(DATA.glob("*_image.png")):
        number = int(re.search(r"-(\d+)_image", image.name).group(1))
        line = "U2OS (gnf)" if image.name.startswith("gnf") else "NIH3T3 (ic100)"
        rows.append(
            dict(image=image, labels=image.with_name(image.name.replace("_image", "_labels")), number=number, line=line)
        )
    return pd.DataFrame(rows)


def load_field(image: Path, labels: Path, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(image, hand-drawn labels) of one field, rescaled by ``scale``: the image linearly with
    anti-aliasing, the labels by nearest neighbour (order 0), so every nucleus keeps its number."""
    field, truth = iio.imread(image).astype(np.float32), iio.imread(labels)
    if scale != 1.0:
        field = transform.rescale(field, scale, order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)
        truth = transform.rescale(truth, scale, order=0, anti_aliasing=False, preserve_range=True).astype(truth.dtype)
    return field, truth


def score_field(args) -> tuple[int, int, int, float, float, float]:
    """(true positives, detections, hand-drawn nuclei, seconds segmenting, the measured diameter over
    the hand-drawn nuclei's median equivalent diameter, seconds measuring it) of one field at one
    setting and scale; the last two NaN and 0 with scale fixed."""
    image, labels, settings, scale = args
    field, truth = load_field(image, labels, scale)
    settings = dict(settings)
    relative = RelativeLengths(**settings.pop("relative")) if "relative" in settings else None
    base = SegmentationSettings(clear_border=False, min_contrast=0.0, **settings)
    ratio, measuring = float("nan"), 0.0
    if relative is not None:  # the diameter measured alone, for its time and accuracy
        start = time.perf_counter()
        field_diameter(field, base.min_contrast)
        measuring = time.perf_counter() - start
    start = time.perf_counter()
    found, record = segment_channel(field, base, relative)
    seconds = time.perf_counter() - start
    if relative is not None:
        areas = np.bincount(truth.ravel())[1:]
        ratio = record[DIAMETER_COLUMN] / float(np.median(2 * np.sqrt(areas[areas > 0] / np.pi)))
    props = pd.DataFrame(measure.regionprops_table(found, properties=("centroid",)))
    objects = props.rename(columns={"centroid-0": "centroid_y", "centroid-1": "centroid_x"})
    hits = match_truth(objects, truth)
    return len(np.unique(hits[hits > 0])), len(objects), len(np.unique(truth[truth > 0])), seconds, ratio, measuring


def score_fields(table: pd.DataFrame, settings: dict, pool, scale: float = 1.0) -> pd.DataFrame:
    """``score_field`` of every field of ``table`` (one row each, with its cell line)."""
    jobs = [(r.image, r.labels, settings, scale) for r in table.itertuples()]
    columns = ["tp", "detected", "true", "seconds", "ratio", "measuring"]
    return pd.DataFrame(list(pool.map(score_field, jobs)), columns=columns).assign(line=table["line"].to_numpy())


def summary(counts: pd.DataFrame) -> pd.Series:
    """Precision, recall and F1 (pooled counts), seconds, and the measured/true diameter ratios."""
    tp, detected, true = counts[["tp", "detected", "true"]].sum()
    precision, recall = tp / max(detected, 1), tp / max(true, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    ratios = counts["ratio"].dropna()
    return pd.Series(
        dict(
            precision=precision,
            recall=recall,
            f1=f1,
            nuclei=int(true),
            seconds=counts["seconds"].mean(),
            ratio=ratios.median() if len(ratios) else np.nan,
            ratio_range=(ratios.min(), ratios.max()) if len(ratios) else (np.nan, np.nan),
            measuring=counts["measuring"].mean(),
        )
    )


def score(table: pd.DataFrame, settings: dict, pool, scale: float = 1.0) -> pd.Series:
    """Precision, recall and F1 over the fields of ``table`` (pooled counts) at one scale."""
    return summary(score_fields(table, settings, pool, scale))


def tune_relative(even: pd.DataFrame, pool) -> dict:
    """The relative lengths with the best F1 on ``even`` at 1x: from the schema's defaults, each
    group of ``RELATIVE_GRID`` searched in turn, its best kept (a tie keeps the current value)."""
    best, seen = dict(RELATIVE), {}

    def f1(relative: dict) -> float:
        key = tuple(sorted(relative.items()))
        if key not in seen:
            got = score(even, dict(method="nuclei_watershed", relative=relative), pool)
            seen[key] = got["f1"]
            print(
                f"  even 1x {relative}: P {got['precision']:.3f} R {got['recall']:.3f} F1 {got['f1']:.4f}", flush=True
            )
        return seen[key]

    for group in RELATIVE_GRID:
        candidates = [best | dict(zip(group, values)) for values in itertools.product(*group.values())]
        best = max(candidates, key=lambda c: (f1(c), c == best))
    print(f"relative lengths chosen on the even fields at 1x: {best}")
    return best


def compare_scales(table: pd.DataFrame, pool, tune: bool) -> None:
    """``--scales``: every ``SCALE_METHODS`` entry on the odd-numbered fields at each of ``SCALES``."""
    even, odd = table[table["number"] % 2 == 0], table[table["number"] % 2 == 1]
    methods = dict(SCALE_METHODS)
    if tune:
        chosen = tune_relative(even, pool)
        methods["nuclei_watershed, scale auto (tuned on the even fields)"] = dict(
            method="nuclei_watershed", relative=chosen
        )
    print(f"\nscale auto's relative lengths (schema defaults): {RELATIVE}")
    print(
        f"\n{'setting':72s} {'scale':>5s} {'fields':>16s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'s/field':>7s} "
        f"{'measured/true diameter':>26s} {'s measuring':>11s}"
    )
    for name, settings in methods.items():
        for scale in SCALES:
            counts = score_fields(odd, settings, pool, scale)
            for line, part in [*counts.groupby("line"), ("both", counts)]:
                got = summary(part)
                lo, hi = got["ratio_range"]
                ratio = f"{got['ratio']:.2f} ({lo:.2f}-{hi:.2f})" if np.isfinite(got["ratio"]) else "-"
                print(
                    f"{name[:72]:72s} {scale:5.1f} {line:>16s} {got['precision']:9.3f} {got['recall']:7.3f} "
                    f"{got['f1']:6.3f} {got['seconds']:7.2f} {ratio:>26s} {got['measuring']:11.2f}",
                    flush=True,
                )


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
    parser.add_argument("--scales", action="store_true", help="scale fixed and auto at 0.5x, 1x and 2x")
    parser.add_argument("--tune-relative", action="store_true", help="with --scales: search auto's lengths too")
    args = parser.parse_args(argv)
    if args.overlay:
        human_overlay(args.overlay)
    table = fields()
    if args.scales:
        with ProcessPoolExecutor(args.jobs) as pool:
            compare_scales(table, pool, args.tune_relative)
        return
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
