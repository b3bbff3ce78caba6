"""Simulated screens: full fields of multichannel cells whose protein localization is known.

The built-in demo and every ground-truth check rest on this generator. A screen is a set of
proteins, each imaged in one or more *images* (cell line x antibody for the human preset,
replicate wells for yeast), each image made of fields of view. Every cell gets its own
morphology (cell and nucleus outline, nucleoli, MTOC and microtubules for human; nucleus and
vacuole for yeast), and its protein pattern is drawn *relative to that structure* (nucleoli
sit inside its nucleus, the Golgi next to its MTOC), so the structural markers carry the
information paired cell inpainting is meant to exploit.

Nuisance variation is on purpose: per-cell morphology and expression, per-image expression,
per-field illumination gradient, optical blur, Poisson and read noise. Multi-localized
proteins mix two compartment patterns with a per-cell fraction; spatially variable proteins
have two sub-populations of cells in different compartments.

Outputs (``write_screen``): field TIFFs (uint16, one file per channel), the sample sheet in
the user format, ground-truth tables (proteins, cells, fields with their label masks), and a
small GO-style ontology with a protein-to-term annotation file for the enrichment stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from pcinpaint.io import atomic_path, write_table

# --------------------------------------------------------------------------------------------
# Localization classes, their ontology terms, and the morphology of each preset
# --------------------------------------------------------------------------------------------

#: classes per preset, and the GO cellular-component term each stands for
CLASS_TERMS = {
    "human": {
        "nucleoplasm": ("GO:0005654", "nucleoplasm", "nucleus"),
        "nucleoli": ("GO:0005730", "nucleolus", "nucleus"),
        "nuclear_membrane": ("GO:0031965", "nuclear membrane", "nucleus"),
        "nuclear_speckles": ("GO:0016607", "nuclear speck", "nucleus"),
        "cytosol": ("GO:0005829", "cytosol", "cytoplasm"),
        "plasma_membrane": ("GO:0005886", "plasma membrane", "cell periphery"),
        "mitochondria": ("GO:0005739", "mitochondrion", "cytoplasm"),
        "er": ("GO:0005783", "endoplasmic reticulum", "endomembrane system"),
        "golgi": ("GO:0005794", "Golgi apparatus", "endomembrane system"),
        "vesicles": ("GO:0031982", "vesicle", "cytoplasm"),
        "microtubules": ("GO:0005874", "microtubule", "cytoskeleton"),
    },
    "yeast": {
        "cytoplasm": ("GO:0005737", "cytoplasm", "intracellular anatomical structure"),
        "nucleus": ("GO:0005634", "nucleus", "intracellular anatomical structure"),
        "nucleolus": ("GO:0005730", "nucleolus", "nucleus"),
        "mitochondrion": ("GO:0005739", "mitochondrion", "cytoplasm"),
        "er": ("GO:0005783", "endoplasmic reticulum", "endomembrane system"),
        "vacuole": ("GO:0000324", "fungal-type vacuole", "endomembrane system"),
        "vacuolar_membrane": ("GO:0000329", "fungal-type vacuole membrane", "endomembrane system"),
        "cell_periphery": ("GO:0071944", "cell periphery", "cellular_component"),
        "punctate": ("GO:0031410", "cytoplasmic vesicle", "cytoplasm"),
        "spindle_pole": ("GO:0005816", "spindle pole body", "nucleus"),
    },
}

#: the grouping terms above the classes (id, name, parent name)
PARENT_TERMS = {
    "cellular_component": ("GO:0005575", None),
    "intracellular anatomical structure": ("GO:0005622", "cellular_component"),
    "nucleus": ("GO:0005634", "intracellular anatomical structure"),
    "cytoplasm": ("GO:0005737", "intracellular anatomical structure"),
    "endomembrane system": ("GO:0012505", "cytoplasm"),
    "cytoskeleton": ("GO:0005856", "cytoplasm"),
    "cell periphery": ("GO:0071944", "cellular_component"),
}

CLASSES = {preset: tuple(terms) for preset, terms in CLASS_TERMS.items()}

#: common two-compartment combinations (first pairs are the paper's Fig 5 analyses)
MULTI_PAIRS = {
    "human": [
        ("cytosol", "nucleoplasm"),
        ("nucleoli", "nucleoplasm"),
        ("cytosol", "nucleoplasm"),
        ("nucleoli", "nucleoplasm"),
        ("cytosol", "plasma_membrane"),
        ("golgi", "vesicles"),
        ("mitochondria", "cytosol"),
        ("nuclear_speckles", "nucleoplasm"),
    ],
    "yeast": [
        ("cytoplasm", "nucleus"),
        ("nucleus", "nucleolus"),
        ("cytoplasm", "nucleus"),
        ("er", "cell_periphery"),
        ("cytoplasm", "punctate"),
    ],
}
#: sub-population pairs of spatially variable proteins (human: the paper's Fig 6 proteins)
VARIABLE_PAIRS = {
    "human": [("nucleoli", "mitochondria"), ("cytosol", "mitochondria"), ("nucleoli", "nuclear_membrane")],
    "yeast": [("cytoplasm", "nucleus"), ("cytoplasm", "punctate"), ("nucleus", "vacuole")],
}


@dataclass(frozen=True)
class Morphology:
    """Shape parameters of one cell line (human) or strain (yeast), in field pixels."""

    cell_radius: tuple[float, float]  # mean, sd
    elongation: tuple[float, float]  # uniform range of major/minor axis ratio
    wobble: float  # amplitude of the outline's harmonics
    nucleus_fraction: tuple[float, float]  # nucleus radius / cell radius, uniform range
    nucleus_elongation: tuple[float, float]
    nucleoli: tuple[int, int]  # count range
    spacing: float = 1.45  # minimum centre distance, in mean cell radii


CELL_LINES = {
    "human": {
        "U-2 OS": Morphology((30.0, 3.5), (1.15, 1.5), 0.10, (0.40, 0.48), (1.0, 1.25), (2, 4)),
        "A-431": Morphology((24.0, 2.5), (1.0, 1.2), 0.06, (0.52, 0.60), (1.0, 1.15), (1, 2)),
        "U-251 MG": Morphology((31.0, 4.0), (1.6, 2.1), 0.16, (0.36, 0.42), (1.25, 1.6), (2, 3)),
    },
    "yeast": {
        "BY4741": Morphology((17.0, 2.0), (1.0, 1.25), 0.04, (0.34, 0.42), (1.0, 1.1), (1, 1), spacing=2.1),
    },
}

PRESET_CHANNELS = {"human": ("nucleus", "microtubules", "stain"), "yeast": ("rfp", "gfp")}


# --------------------------------------------------------------------------------------------
# Screen design: proteins, images, fields
# --------------------------------------------------------------------------------------------


@dataclass
class ProteinSpec:
    name: str
    classes: tuple[str, ...]  # one class, or two for multi-localized / variable proteins
    kind: str  # "single", "multi" or "variable"
    mixing: float  # multi: mean fraction of the first class; variable: share of sub-population 1


def design_proteins(
    preset: str, n: int, multi_fraction: float, variable_fraction: float, rng: np.random.Generator
) -> list[ProteinSpec]:
    """Balanced classes for single-localized proteins, then multi-localized and variable ones."""
    n_multi = int(round(n * multi_fraction))
    n_var = int(round(n * variable_fraction))
    n_single = max(n - n_multi - n_var, 1)
    classes = list(CLASSES[preset])
    order = np.concatenate([rng.permutation(classes) for _ in range(n_single // len(classes) + 1)])
    specs: list[ProteinSpec] = []
    letter = preset[0].upper()
    for cls in sorted(order[:n_single], key=classes.index):
        specs.append(ProteinSpec("", (str(cls),), "single", 1.0))
    for i in range(n_multi):
        pair = MULTI_PAIRS[preset][i % len(MULTI_PAIRS[preset])]
        specs.append(ProteinSpec("", pair, "multi", float(rng.uniform(0.3, 0.7))))
    for i in range(n_var):
        pair = VARIABLE_PAIRS[preset][i % len(VARIABLE_PAIRS[preset])]
        specs.append(ProteinSpec("", pair, "variable", float(rng.uniform(0.3, 0.6))))
    for i, spec in enumerate(specs[:n]):
        spec.name = f"SIM{letter}{i + 1:03d}"
    return specs[:n]


# --------------------------------------------------------------------------------------------
# Small image helpers
# --------------------------------------------------------------------------------------------


def _smooth_noise(shape, sigma, rng):
    noise = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return noise / (noise.std() + 1e-8)


def _spots(shape, points, amplitudes, sigma):
    """Gaussian spots at integer points: impulses convolved with one Gaussian."""
    img = np.zeros(shape, np.float32)
    if len(points):
        np.add.at(img, (points[:, 0], points[:, 1]), amplitudes)
        img = ndi.gaussian_filter(img, sigma) * (2 * np.pi * sigma**2)
    return img


def _sample_points(mask, n, rng, weights=None):
    idx = np.flatnonzero(mask)
    if idx.size == 0 or n <= 0:
        return np.zeros((0, 2), int)
    p = None
    if weights is not None:
        w = weights.ravel()[idx].astype(np.float64)
        p = w / w.sum() if w.sum() > 0 else None
    pick = rng.choice(idx, size=n, replace=True, p=p)
    return np.stack(np.unravel_index(pick, mask.shape), axis=1)


def _draw_paths(shape, paths, width_sigma=0.7):
    """Rasterise polylines by splatting points every half pixel (bilinear), then blur."""
    img = np.zeros(shape, np.float32)
    pts = []
    for path in paths:
        path = np.asarray(path, np.float32)
        if len(path) < 2:
            continue
        seg = np.diff(path, axis=0)
        n = np.maximum(np.ceil(np.hypot(seg[:, 0], seg[:, 1]) * 2).astype(int), 1)
        t = np.concatenate([np.arange(k) / k for k in n])
        start = np.repeat(path[:-1], n, axis=0)
        pts.append(start + np.repeat(seg, n, axis=0) * t[:, None])
    if pts:
        p = np.concatenate(pts)
        y0, x0 = np.floor(p[:, 0]).astype(int), np.floor(p[:, 1]).astype(int)
        fy, fx = p[:, 0] - y0, p[:, 1] - x0
        for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (1, 0, fy * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 1, fy * fx)):
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < shape[0]) & (xx >= 0) & (xx < shape[1])
            np.add.at(img, (yy[ok], xx[ok]), w[ok] * 0.5)
        img = np.minimum(img, 1.0)
    return ndi.gaussian_filter(img, width_sigma)


def _walk(start, mask, steps, rng, persistence=0.85, direction=None):
    """A persistent random walk that stays inside ``mask`` (tubules, filaments)."""
    pos = np.array(start, float)
    angle = rng.uniform(0, 2 * np.pi) if direction is None else direction
    path = [pos.copy()]
    for _ in range(steps):
        angle = persistence * angle + (1 - persistence) * (angle + rng.normal(0, 1.2))
        step = np.array([np.sin(angle), np.cos(angle)]) * 1.5
        nxt = pos + step
        iy, ix = int(round(nxt[0])), int(round(nxt[1]))
        if not (0 <= iy < mask.shape[0] and 0 <= ix < mask.shape[1]) or not mask[iy, ix]:
            break
        pos = nxt
        path.append(pos.copy())
    return path


def _ring(distance_to_boundary, sigma):
    return np.exp(-(distance_to_boundary**2) / (2 * sigma**2)).astype(np.float32)


def _normalise(img, support):
    """Scale a pattern so its bright part (99th percentile inside the cell) is 1."""
    vals = img[support]
    top = np.percentile(vals, 99) if vals.size else 0.0
    return img / top if top > 0 else img


# --------------------------------------------------------------------------------------------
# Cell geometry
# --------------------------------------------------------------------------------------------


@dataclass
class CellGeometry:
    """One cell in its bounding box: masks and distance maps its patterns are defined on."""

    cell: np.ndarray
    nucleus: np.ndarray
    radius: float
    rng: np.random.Generator
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        self.cyto = self.cell & ~self.nucleus
        self.d_cell = ndi.distance_transform_edt(self.cell).astype(np.float32)
        self.d_nuc_in = ndi.distance_transform_edt(self.nucleus).astype(np.float32)
        self.d_nuc_out = ndi.distance_transform_edt(~self.nucleus).astype(np.float32)
        self.nuc_boundary = np.where(self.nucleus, self.d_nuc_in, self.d_nuc_out)
        self.nuc_radius = max(float(self.d_nuc_in.max()), 1.0)


def _place_centres(n, size, radius: tuple[float, float], spacing, rng, touching_share=0.0):
    """Dart throwing with a minimum distance; some cells placed against a neighbour (yeast)."""
    centres: list[np.ndarray] = []
    radii: list[float] = []
    mean_r, sd_r = radius
    margin = mean_r * 0.3
    attempts = 0
    while len(centres) < n and attempts < n * 200:
        attempts += 1
        r = max(mean_r + sd_r * rng.standard_normal(), mean_r * 0.6)
        if centres and rng.random() < touching_share:
            j = rng.integers(len(centres))
            angle = rng.uniform(0, 2 * np.pi)
            dist = (radii[j] + r) * rng.uniform(0.86, 0.97)
            c = centres[j] + dist * np.array([np.sin(angle), np.cos(angle)])
            min_dist = 0.8
        else:
            c = rng.uniform(0, size, 2)
            min_dist = spacing / 2
        if centres:
            d = np.linalg.norm(np.asarray(centres) - c, axis=1)
            need = (np.asarray(radii) + r) * min_dist
            if np.any(d < need):
                continue
        if np.any(c < -margin) or np.any(c > size + margin):
            continue
        centres.append(c)
        radii.append(r)
    return np.asarray(centres).reshape(-1, 2), np.asarray(radii)


@dataclass(frozen=True)
class Outlines:
    """Perturbed ellipses, one per cell (or nucleus): centre, radius, axis ratio, angle, and the
    amplitudes and phases of the outline's harmonics; what ``_shape_field`` rasterises."""

    centres: np.ndarray
    radii: np.ndarray
    elong: np.ndarray
    angle: np.ndarray
    harm_amp: np.ndarray
    harm_phase: np.ndarray


def _shape_field(grid, outlines: Outlines, k_near=3):
    """Label each pixel with the cell whose normalised outline distance is smallest (< 1 inside).

    Cells are perturbed ellipses; where two overlap the pixel goes to the cell it is 'deeper'
    inside, which gives straight, shared borders between touching cells as in confluent culture.
    """
    centres, radii, elong, angle = outlines.centres, outlines.radii, outlines.elong, outlines.angle
    harm_amp, harm_phase = outlines.harm_amp, outlines.harm_phase
    n = len(centres)
    h, w = grid
    reach = float(np.max(radii * np.sqrt(elong)) * (1 + harm_amp.sum(axis=1).max()) + 1)
    yy, xx = np.mgrid[0:h, 0:w]
    pts = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float32)
    tree = cKDTree(centres)
    first, _ = tree.query(pts, k=1, distance_upper_bound=reach)
    candidates = np.flatnonzero(np.isfinite(first))
    pts = pts[candidates]
    k = min(k_near, n)
    _, near = tree.query(pts, k=k)
    near = near.reshape(-1, k)
    best = np.full(len(pts), np.inf, np.float32)
    label = np.zeros(len(pts), np.int32)
    for j in range(k):
        idx = near[:, j]
        dy = pts[:, 0] - centres[idx, 0]
        dx = pts[:, 1] - centres[idx, 1]
        ca, sa = np.cos(angle[idx]), np.sin(angle[idx])
        u = (dx * ca + dy * sa) / (radii[idx] * np.sqrt(elong[idx]))
        v = (-dx * sa + dy * ca) * np.sqrt(elong[idx]) / radii[idx]
        rho = np.hypot(u, v)
        phi = np.arctan2(v, u)
        outline = np.ones_like(phi)
        for m in range(harm_amp.shape[1]):
            outline += harm_amp[idx, m] * np.cos((m + 2) * phi + harm_phase[idx, m])
        depth = rho / outline
        better = depth < best
        best = np.where(better, depth, best)
        label = np.where(better, idx + 1, label)
    label[best >= 1.0] = 0
    out = np.zeros(h * w, np.int32)
    out[candidates] = label
    return out.reshape(h, w)


@dataclass
class FieldLayout:
    """Label images of one field plus the per-cell parameters needed to render it."""

    cells: np.ndarray  # int32 labels 1..n
    nuclei: np.ndarray  # int32, same labels
    radii: np.ndarray
    touching: np.ndarray  # bool per cell


def _touching_labels(labels):
    touching = set()
    for a, b in ((labels[:-1, :], labels[1:, :]), (labels[:, :-1], labels[:, 1:])):
        sel = (a != b) & (a > 0) & (b > 0)
        touching.update(a[sel].tolist())
        touching.update(b[sel].tolist())
    return touching


def layout_field(preset: str, morph: Morphology, n_cells: int, size: int, rng: np.random.Generator) -> FieldLayout:
    """Place cells and nuclei in one field."""
    touching_share = 0.35 if preset == "yeast" else 0.0
    centres, radii = _place_centres(n_cells, size, morph.cell_radius, morph.spacing, rng, touching_share)
    n = len(centres)
    if n == 0:
        empty = np.zeros((size, size), np.int32)
        return FieldLayout(empty, empty.copy(), np.zeros(0), np.zeros(0, bool))
    n_h = 4
    elong = rng.uniform(*morph.elongation, n)
    angle = rng.uniform(0, np.pi, n)
    amp = rng.uniform(0, morph.wobble, (n, n_h)) / np.arange(1, n_h + 1)
    phase = rng.uniform(0, 2 * np.pi, (n, n_h))
    cells = _shape_field((size, size), Outlines(centres, radii, elong, angle, amp, phase))

    # nuclei: smaller perturbed ellipses, offset from the cell centre, clipped to their cell
    frac = rng.uniform(*morph.nucleus_fraction, n)
    if preset == "yeast":  # the nucleus sits off-centre, leaving room for the vacuole opposite
        theta = rng.uniform(0, 2 * np.pi, n)
        offset = (rng.uniform(0.22, 0.32, n) * radii)[:, None] * np.stack([np.sin(theta), np.cos(theta)], 1)
    else:
        offset = rng.normal(0, 0.12, (n, 2)) * radii[:, None]
    n_elong = rng.uniform(*morph.nucleus_elongation, n)
    n_angle = angle + rng.normal(0, 0.3, n)
    n_amp = rng.uniform(0, morph.wobble * 0.5, (n, n_h)) / np.arange(1, n_h + 1)
    nuclei = _shape_field(
        (size, size), Outlines(centres + offset, radii * frac, n_elong, n_angle, n_amp, phase[:, ::-1])
    )
    # keep nuclei 3 px inside their cell, but not away from the field edge: a cell cut by
    # the edge may have its nucleus cut too (edge padding makes the erosion ignore the edge)
    margin = 3
    padded = np.pad(cells, margin, mode="edge")
    eroded = np.zeros_like(padded)
    for lab, sl in enumerate(ndi.find_objects(padded), start=1):
        if sl is None:
            continue
        sl = tuple(slice(max(s.start - margin, 0), s.stop + margin) for s in sl)
        eroded[sl][ndi.binary_erosion(padded[sl] == lab, iterations=margin)] = lab
    nuclei = np.where(nuclei == eroded[margin:-margin, margin:-margin], nuclei, 0)
    touching = np.zeros(n, bool)
    for lab in _touching_labels(cells):
        touching[lab - 1] = True
    return FieldLayout(cells.astype(np.int32), nuclei.astype(np.int32), radii, touching)


# --------------------------------------------------------------------------------------------
# Structures and protein patterns, per cell, in the cell's bounding box
# --------------------------------------------------------------------------------------------


def _human_structures(geo: CellGeometry, morph: Morphology):
    """Nucleoli, MTOC and microtubule filaments of one human cell; its two marker images."""
    rng = geo.rng
    n_nucleoli = rng.integers(morph.nucleoli[0], morph.nucleoli[1] + 1)
    deep = geo.d_nuc_in > 0.35 * geo.nuc_radius
    nucleoli = np.zeros(geo.cell.shape, np.float32)
    for p in _sample_points(deep, n_nucleoli, rng):
        r = geo.nuc_radius * rng.uniform(0.14, 0.24)
        yy, xx = np.ogrid[: geo.cell.shape[0], : geo.cell.shape[1]]
        nucleoli = np.maximum(nucleoli, np.exp(-((yy - p[0]) ** 2 + (xx - p[1]) ** 2) / (2 * r**2)))
    nucleoli *= geo.nucleus
    # MTOC: just outside the nucleus, on the side with the most cytoplasm
    shell = (geo.d_nuc_out > 1.5) & (geo.d_nuc_out < 4) & geo.cyto
    mtoc = _sample_points(shell, 1, rng, weights=geo.d_cell)[0] if shell.any() else np.array(geo.cell.shape) // 2
    paths = []
    for a in np.linspace(0, 2 * np.pi, rng.integers(40, 60), endpoint=False) + rng.uniform(0, 1):
        paths.append(_walk(mtoc, geo.cell, 120, rng, persistence=0.95, direction=a))
    filaments = _draw_paths(geo.cell.shape, paths, 0.6) * geo.cell
    # a fine meshwork over a diffuse cytoplasmic tubulin pool, as in HPA microtubule images
    tubulin = 0.6 * _normalise(filaments, geo.cell) + 0.4 * geo.cyto * np.clip(geo.d_cell / 6, 0.3, 1)
    chromatin = np.clip(1 + 0.25 * _smooth_noise(geo.cell.shape, 1.2, rng), 0.3, None)
    dna = geo.nucleus * chromatin * (1 - 0.65 * np.clip(nucleoli * 1.5, 0, 1))
    geo.extras.update(nucleoli=nucleoli, mtoc=mtoc, filaments=filaments)
    return [dna.astype(np.float32), tubulin.astype(np.float32)]


def _yeast_structures(geo: CellGeometry, morph: Morphology):
    """Vacuole opposite the nucleus; the cytosolic marker is dark in the vacuole."""
    rng = geo.rng
    cy, cx = ndi.center_of_mass(geo.cell)
    ny, nx = ndi.center_of_mass(geo.nucleus) if geo.nucleus.any() else (cy, cx)
    away = np.array([cy - ny, cx - nx])
    away = (
        away / (np.linalg.norm(away) + 1e-6)
        if np.linalg.norm(away) > 0.5
        else np.array([np.sin(a := rng.uniform(0, 6.3)), np.cos(a)])
    )
    r_vac = geo.radius * rng.uniform(0.3, 0.42)
    vc = np.array([ny, nx]) + away * (geo.nuc_radius + r_vac + 1.0)
    yy, xx = np.ogrid[: geo.cell.shape[0], : geo.cell.shape[1]]
    vacuole = ((yy - vc[0]) ** 2 + (xx - vc[1]) ** 2 < r_vac**2) & (geo.d_cell > 2) & ~ndi.binary_dilation(geo.nucleus)
    geo.extras.update(
        vacuole=vacuole,
        d_vac_in=ndi.distance_transform_edt(vacuole).astype(np.float32),
        d_vac_out=ndi.distance_transform_edt(~vacuole).astype(np.float32),
    )
    texture = np.clip(1 + 0.12 * _smooth_noise(geo.cell.shape, 1.5, rng), 0.5, None)
    rfp = geo.cell * texture * (1 - 0.75 * vacuole) * (1 - 0.15 * geo.nucleus)
    return [rfp.astype(np.float32)]


def _nucleoplasm(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """The nucleus, dimmer over its nucleoli."""
    nucleoli = geo.extras.get("nucleoli", 0)
    return geo.nucleus * tex * (1 - 0.7 * np.clip(np.asarray(nucleoli) * 1.5, 0, 1))


def _nucleoli(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """The human cell's nucleoli, as its structures drew them."""
    return geo.extras["nucleoli"] * tex


def _nucleolus(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """Yeast: a crescent on one side of the nucleus."""
    shape = geo.cell.shape
    edge = _sample_points((geo.nuc_boundary < 1.5) & geo.nucleus, 1, geo.rng)
    if len(edge) == 0:
        return geo.nucleus.astype(np.float32)
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    d = np.hypot(yy - edge[0, 0], xx - edge[0, 1])
    return geo.nucleus * (d < 0.9 * geo.nuc_radius) * tex


def _nuclear_membrane(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """A thin ring on the nucleus's outline."""
    return _ring(geo.nuc_boundary, 1.1) * geo.cell * tex


def _nuclear_speckles(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """Spots in the nucleus away from its nucleoli, over a faint nuclear haze."""
    rng = geo.rng
    inside = geo.nucleus & (np.asarray(geo.extras.get("nucleoli", 0)) < 0.3)
    pts = _sample_points(inside, rng.integers(10, 26), rng)
    return _spots(geo.cell.shape, pts, rng.lognormal(0, 0.3, len(pts)), 1.3) + 0.12 * geo.nucleus


def _cytosol(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """The cytoplasm, fading at the cell's edge and dark in a yeast vacuole."""
    vac = geo.extras.get("vacuole", np.zeros(geo.cell.shape, bool))
    edge = np.clip(geo.d_cell / 4, 0.4, 1)
    return geo.cyto * tex * edge * (1 - 0.85 * vac)


def _plasma_membrane(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """A ring just inside the cell's outline (thinner for yeast's cell periphery)."""
    return _ring(geo.d_cell - 1.0, 1.0 if cls == "cell_periphery" else 1.3) * geo.cell * tex


def _mitochondria(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """Tubules: along the cortex in yeast, crowding round the nucleus in human cells."""
    rng, ex = geo.rng, geo.extras
    if "vacuole" in ex:  # yeast: tubules along the cortex
        region = geo.cyto & (geo.d_cell < 4.5) & ~ex["vacuole"]
        weights, n_tub, steps = None, rng.integers(4, 8), 10
    else:
        region = geo.cyto
        weights, n_tub, steps = np.exp(-geo.d_nuc_out / (0.45 * geo.radius)), rng.integers(14, 26), 9
    paths = [_walk(p, region, steps, rng, 0.8) for p in _sample_points(region, n_tub, rng, weights)]
    return _draw_paths(geo.cell.shape, paths, 0.8) * geo.cell


def _er(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """Yeast: cortical ER and the nuclear envelope; human: a perinuclear network."""
    rng, shape = geo.rng, geo.cell.shape
    if "vacuole" in geo.extras:  # yeast: cortical ER and the nuclear envelope
        cortical = _ring(geo.d_cell - 2.0, 1.2) * (0.6 + 0.4 * (_smooth_noise(shape, 1.0, rng) > 0))
        return (cortical + 0.8 * _ring(geo.nuc_boundary, 1.0)) * geo.cell
    net = _ring(_smooth_noise(shape, 1.6, rng), 0.22)
    perinuclear = np.exp(-geo.d_nuc_out / (0.5 * geo.radius))
    return (net * perinuclear * geo.cyto + 0.5 * _ring(geo.nuc_boundary, 1.0)) * geo.cell


def _golgi(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """A few spots clustered at the MTOC."""
    rng, shape = geo.rng, geo.cell.shape
    mtoc = geo.extras["mtoc"]
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    near = np.exp(-((yy - mtoc[0]) ** 2 + (xx - mtoc[1]) ** 2) / (2 * (0.22 * geo.radius) ** 2))
    pts = _sample_points(geo.cyto, rng.integers(5, 10), rng, weights=near)
    return _spots(shape, pts, rng.lognormal(0, 0.3, len(pts)), 1.8) * geo.cell


def _vesicles(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """Spots over the cytoplasm: many small vesicles (human), a few puncta (yeast)."""
    rng, shape = geo.rng, geo.cell.shape
    n = rng.integers(25, 60) if cls == "vesicles" else rng.integers(2, 7)
    region = geo.cyto & ~geo.extras.get("vacuole", np.zeros(shape, bool))
    pts = _sample_points(region, n, rng)
    return _spots(shape, pts, rng.lognormal(0, 0.35, len(pts)), 1.0 if cls == "vesicles" else 1.2)


def _microtubules(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """The cell's own filaments, over a faint cytoplasmic pool."""
    return geo.extras["filaments"] * tex + 0.05 * geo.cyto


def _vacuole(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """The yeast cell's vacuole lumen."""
    return geo.extras["vacuole"] * tex


def _vacuolar_membrane(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """A ring on the vacuole's outline."""
    ex = geo.extras
    boundary = np.where(ex["vacuole"], ex["d_vac_in"], ex["d_vac_out"])
    return _ring(boundary, 0.9) * geo.cell * tex


def _spindle_pole(cls: str, geo: CellGeometry, tex: np.ndarray) -> np.ndarray:
    """One or two spots on the nuclear edge."""
    rng = geo.rng
    edge = (geo.nuc_boundary < 1.2) & geo.nucleus
    pts = _sample_points(edge, rng.integers(1, 3), rng)
    return _spots(geo.cell.shape, pts, np.ones(len(pts)), 0.9) + 0.03 * geo.cell


#: each localization class's pattern drawer (classes of both presets; a few drawers serve two)
_PATTERNS = {
    "nucleoplasm": _nucleoplasm,
    "nucleus": _nucleoplasm,
    "nucleoli": _nucleoli,
    "nucleolus": _nucleolus,
    "nuclear_membrane": _nuclear_membrane,
    "nuclear_speckles": _nuclear_speckles,
    "cytosol": _cytosol,
    "cytoplasm": _cytosol,
    "plasma_membrane": _plasma_membrane,
    "cell_periphery": _plasma_membrane,
    "mitochondria": _mitochondria,
    "mitochondrion": _mitochondria,
    "er": _er,
    "golgi": _golgi,
    "vesicles": _vesicles,
    "punctate": _vesicles,
    "microtubules": _microtubules,
    "vacuole": _vacuole,
    "vacuolar_membrane": _vacuolar_membrane,
    "spindle_pole": _spindle_pole,
}


def _pattern(cls: str, geo: CellGeometry) -> np.ndarray:
    """The protein pattern of one compartment in one cell (unscaled, >= 0).

    The texture is drawn first for every class (used or not), so each cell's later random
    draws do not depend on which drawer runs."""
    tex = np.clip(1 + 0.15 * _smooth_noise(geo.cell.shape, 1.5, geo.rng), 0.3, None)
    draw = _PATTERNS.get(cls)
    if draw is None:
        raise ValueError(f"unknown localization class '{cls}'")
    return draw(cls, geo, tex)


# --------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------


@dataclass
class SimulatedField:
    channels: np.ndarray  # (C, H, W) uint16
    cells: np.ndarray  # truth label image
    truth: pd.DataFrame  # one row per cell


def _cell_protein(spec: ProteinSpec, rng) -> tuple[str, float, int]:
    """Per-cell localization: (true class, mixing fraction of the first class, sub-population)."""
    if spec.kind == "multi":
        f = float(np.clip(rng.normal(spec.mixing, 0.12), 0.05, 0.95))
        return "+".join(sorted(spec.classes)), f, 0
    if spec.kind == "variable":
        sub = int(rng.random() < spec.mixing)
        return spec.classes[sub], 1.0, sub
    return spec.classes[0], 1.0, 0


@dataclass(frozen=True)
class FieldSettings:
    """What a field of view is drawn with: the preset, its cells' morphology (a cell line or
    strain of ``CELL_LINES``), how many cells are placed and the field's side in pixels."""

    preset: str
    morph: Morphology
    n_cells: int
    size: int


def render_field(
    field_settings: FieldSettings, spec: ProteinSpec, image_level: float, rng: np.random.Generator
) -> SimulatedField:
    """One field of view: layout, per-cell structures and protein, optics and camera."""
    preset, morph, size = field_settings.preset, field_settings.morph, field_settings.size
    layout = layout_field(preset, morph, field_settings.n_cells, size, rng)
    n_struct = 2 if preset == "human" else 1
    planes = np.zeros((n_struct + 1, size, size), np.float32)
    rows = []
    objects = ndi.find_objects(layout.cells)
    for lab, sl in enumerate(objects, start=1):
        if sl is None:
            continue
        at_border = any(s.start == 0 or s.stop == size for s in sl)
        sl = tuple(slice(max(s.start - 2, 0), min(s.stop + 2, size)) for s in sl)
        cell = layout.cells[sl] == lab
        nucleus = (layout.nuclei[sl] == lab) & cell
        geo = CellGeometry(cell, nucleus, float(layout.radii[lab - 1]), rng)
        markers = _human_structures(geo, morph) if preset == "human" else _yeast_structures(geo, morph)
        true_class, mix, sub = _cell_protein(spec, rng)
        if spec.kind == "multi":
            a = _normalise(_pattern(spec.classes[0], geo), cell)
            b = _normalise(_pattern(spec.classes[1], geo), cell)
            first = spec.classes[0] == sorted(spec.classes)[0]
            protein = mix * a + (1 - mix) * b
            mix = mix if first else 1 - mix  # mixing_fraction refers to the first class of the sorted name
        else:
            protein = _normalise(_pattern(true_class, geo), cell)
        expression = image_level * rng.lognormal(0, 0.35)
        layers = markers + [protein * expression + 0.04 * cell]  # + non-specific background staining
        for c, layer in enumerate(layers):
            planes[c][sl] += np.where(cell, layer, 0)
        cy, cx = ndi.center_of_mass(nucleus if nucleus.any() else cell)
        rows.append(
            dict(
                truth_label=lab,
                centroid_y=cy + sl[0].start,
                centroid_x=cx + sl[1].start,
                area=int(cell.sum()),
                true_class=true_class,
                mixing_fraction=mix,
                subpopulation=sub,
                touching=bool(layout.touching[lab - 1]),
                at_border=at_border,
            )
        )
    return SimulatedField(_optics_and_camera(planes, preset, rng), layout.cells, pd.DataFrame(rows))


def _optics_and_camera(planes: np.ndarray, preset: str, rng) -> np.ndarray:
    """Blur, uneven illumination, background, shot and read noise; 12-bit camera counts."""
    c, h, w = planes.shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (yy - 0.5) * np.sin(angle) + (xx - 0.5) * np.cos(angle)
    vignette = (yy - 0.5) ** 2 + (xx - 0.5) ** 2
    illumination = 1 + rng.uniform(0.15, 0.4) * ramp - rng.uniform(0.1, 0.3) * vignette
    out = np.empty((c, h, w), np.uint16)
    blur = 1.0 if preset == "human" else 0.8
    for i in range(c):
        peak = rng.uniform(600, 1500)  # photons at unit intensity
        signal = ndi.gaussian_filter(planes[i], blur * rng.uniform(0.85, 1.2)) * illumination
        counts = rng.poisson(np.clip(signal + 0.03, 0, None) * peak) + rng.normal(100, 6, (h, w))
        out[i] = np.clip(counts, 0, 4095).astype(np.uint16)
    return out


# --------------------------------------------------------------------------------------------
# Whole screens
# --------------------------------------------------------------------------------------------


def write_screen(sim: dict, outdir: str | Path, seed: int, channels: list[str] | None = None) -> dict[str, Path]:
    """Generate a whole screen into ``outdir``; returns the paths of the sheet and truth files.

    ``sim`` is the dataset's ``simulate`` config block; ``channels`` names the channel columns
    of the sample sheet in the config's order (default: the preset's names).
    """
    preset = sim["preset"]
    channels = list(channels or PRESET_CHANNELS[preset])
    outdir = Path(outdir)
    (outdir / "fields").mkdir(parents=True, exist_ok=True)
    (outdir / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    specs = design_proteins(preset, sim["n_proteins"], sim["multi_localized_fraction"], sim["variable_fraction"], rng)
    lines = list(CELL_LINES[preset])
    sheet, truth_cells, truth_fields = [], [], []
    for p_idx, spec in enumerate(specs):
        for i in range(sim["images_per_protein"]):
            cell_line = lines[(p_idx + i) % len(lines)]
            antibody = f"HPA{10000 + 7 * p_idx + i // len(lines):06d}" if preset == "human" else f"{spec.name}-GFP"
            image_id = (
                f"{spec.name}_{antibody}_{cell_line.replace(' ', '')}" if preset == "human" else f"{spec.name}_w{i + 1}"
            )
            level = rng.lognormal(0, 0.3)
            for f in range(sim["fields_per_image"]):
                field_id = f"{image_id}_f{f + 1}"
                fld = render_field(
                    FieldSettings(preset, CELL_LINES[preset][cell_line], sim["cells_per_field"], sim["field_size"]),
                    spec,
                    level,
                    np.random.default_rng(rng.integers(2**63)),
                )
                row = dict(
                    image_id=image_id,
                    field_id=field_id,
                    protein=spec.name,
                    cell_line=cell_line,
                    antibody=antibody,
                    label="+".join(sorted(spec.classes)),
                )
                for c, name in enumerate(channels):
                    rel = f"fields/{field_id}_{name}.tif"
                    tifffile.imwrite(outdir / rel, fld.channels[c], compression="zlib")
                    row[name] = rel
                mask_rel = f"masks/{field_id}_cells.tif"
                tifffile.imwrite(outdir / mask_rel, fld.cells.astype(np.uint16), compression="zlib")
                sheet.append(row)
                truth_fields.append(dict(field_id=field_id, mask=mask_rel, n_cells=len(fld.truth)))
                t = fld.truth.assign(field_id=field_id, image_id=image_id, protein=spec.name, cell_line=cell_line)
                truth_cells.append(t)
    proteins = pd.DataFrame(
        [
            dict(
                protein=s.name,
                kind=s.kind,
                classes="+".join(s.classes),
                label="+".join(sorted(s.classes)),
                mixing=s.mixing,
            )
            for s in specs
        ]
    )
    paths = {
        "samplesheet": outdir / "samplesheet.tsv",
        "truth_proteins": outdir / "truth_proteins.tsv",
        "truth_cells": outdir / "truth_cells.parquet",
        "truth_fields": outdir / "truth_fields.tsv",
        "ontology": outdir / "compartments.obo",
        "annotations": outdir / "annotations.tsv",
    }
    write_table(pd.DataFrame(sheet), paths["samplesheet"])
    write_table(proteins, paths["truth_proteins"])
    cells = pd.concat(truth_cells, ignore_index=True) if truth_cells else pd.DataFrame()
    write_table(cells, paths["truth_cells"])
    write_table(pd.DataFrame(truth_fields), paths["truth_fields"])
    write_ontology(preset, paths["ontology"])
    write_table(annotations(specs, preset), paths["annotations"])
    return paths


def annotations(specs: list[ProteinSpec], preset: str) -> pd.DataFrame:
    """Protein-to-term annotation (two columns), as a GO annotation file would give it."""
    terms = CLASS_TERMS[preset]
    rows = [dict(protein=s.name, go_id=terms[c][0]) for s in specs for c in s.classes]
    return pd.DataFrame(rows).drop_duplicates()


def write_ontology(preset: str, path: Path) -> None:
    """A GO-style OBO file with the preset's compartments and their parents (is_a edges)."""
    terms: dict[str, tuple[str, str | None]] = {}
    for name, (go_id, parent) in PARENT_TERMS.items():
        terms[go_id] = (name, PARENT_TERMS[parent][0] if parent else None)
    for go_id, name, parent in CLASS_TERMS[preset].values():
        terms[go_id] = (name, PARENT_TERMS[parent][0])
    lines = ["format-version: 1.2", f"ontology: pcinpaint-sim-{preset}", ""]
    for go_id, (name, parent) in sorted(terms.items()):
        lines += ["[Term]", f"id: {go_id}", f"name: {name}", "namespace: cellular_component"]
        if parent:
            lines.append(f"is_a: {parent} ! {terms[parent][0]}")
        lines.append("")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
