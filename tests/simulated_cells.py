"""Cells of the simulator with a few hand measurements as their features, and the simulator's
truth beside them (mixing fractions, sub-populations): shared by the Fig 5 and Fig 6 tests."""

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from pcinpaint.inputs import simulate


def render(spec, n_fields, seed, line="U-2 OS", cells=10, size=256):
    """Fields of one protein in one image: (field channels, truth labels, truth table) each."""
    rng = np.random.default_rng(seed)
    morph = simulate.CELL_LINES["human"][line]
    return [
        simulate.render_field(
            simulate.FieldSettings("human", morph, cells, size), spec, 1.0, np.random.default_rng(rng.integers(2**63))
        )
        for _ in range(n_fields)
    ]


def cell_features(channels: np.ndarray, labels: np.ndarray, truth: pd.DataFrame) -> np.ndarray:
    """A few hand measurements per cell, from the field and the truth outline: where the
    protein sits relative to the nucleus stain and to the cell edge."""
    nucleus = channels[0].astype(np.float64) - 100.0
    protein = channels[-1].astype(np.float64) - 100.0
    objects = ndi.find_objects(labels)
    rows = []
    for lab in truth["truth_label"]:
        sl = objects[lab - 1]
        cell = labels[sl] == lab
        p = np.clip(protein[sl][cell], 0, None)
        p = p / (p.mean() + 1e-9)
        q = nucleus[sl][cell]
        inner = q > threshold_otsu(q)
        depth = ndi.distance_transform_edt(cell)[cell]
        depth = depth / depth.max()
        radial = [p[(depth >= lo) & (depth < lo + 0.25)].mean() for lo in (0, 0.25, 0.5, 0.75)]
        rows.append([p[inner].mean(), p[~inner].mean(), p[inner].sum() / p.sum(), np.corrcoef(p, q)[0, 1], *radial])
    return np.asarray(rows)


def simulated_table(specs: dict, n_fields=2, cells=10):
    """Features, cell table and fields of ``specs`` (image_id -> (ProteinSpec, label)), each
    image rendered in the next cell line."""
    feats, tables, crops = [], [], []
    lines = list(simulate.CELL_LINES["human"])
    for i, (image, (spec, term)) in enumerate(specs.items()):
        for fld in render(spec, n_fields, seed=100 + i, line=lines[i % len(lines)], cells=cells):
            feats.append(cell_features(fld.channels, fld.cells, fld.truth))
            tables.append(fld.truth.assign(image_id=image, protein=spec.name, label=term))
            crops.append((fld.channels, fld.cells, fld.truth))
    return np.vstack(feats), pd.concat(tables, ignore_index=True), crops
