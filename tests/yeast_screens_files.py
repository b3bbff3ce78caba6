"""The downloads of the paper's three yeast screens (config/yeast_screens.yaml), built small from the
real data in ``../shared/data``, each in its real layout: the CyCLOPS WT2 screen (GFP/RFP stacks,
as config/yeast_paper.yaml's), a NOP1pr-GFP screen (Weill et al. 2018: GFP and brightfield) and a
Nup49-RFP screen (Tkach et al. 2012: GFP and a nuclear-pore marker), the last two with a label
mask per field; the Huh 2003 table, a Weill 2018 localization table and local GO files.

Every screen is cut from the same four real fields (the Handfield example, GFP and cytosolic RFP
pages interleaved). Brightfield and a nuclear-pore marker are what the real screens image instead
of a cytosolic RFP, and neither can be thresholded into cells, which is why those screens come
with masks: the fields are segmented once on their RFP with the project's ``cells_watershed`` at
the WT2 dataset's settings (read from the config), those labels are the masks, and the cells they
outline draw the brightfield plane (bright background, dark cell outlines with a halo, a textured
interior) and the pore plane (a thin ring around a disc near each cell's centre). Each strain's
fields are turned or flipped its own way, so no two images are the same. Every image keeps at
least 30 cells after the 64 px crop filters (the configs' ``min_cells``): the four fields give
31 to 33 cells per image, in every screen (the masks are the WT2 segmentation's cells).
"""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import yaml
from scipy import ndimage as ndi
from skimage import measure, segmentation
from yeast_paper_files import SCREEN, STRAINS, screen_folder

CONFIG = Path(__file__).resolve().parents[1] / "config" / "yeast_screens.yaml"
#: where config/yeast_screens.yaml reads each download, relative to the folder snakemake runs in
NOP1 = Path("downloads/yeast_nop1")
NUP49 = Path("downloads/yeast_nup49")
HUH = Path("downloads/yeastgfp.csv")
WEILL = Path("downloads/weill2018_nop1pr_localizations.csv")
#: local stand-ins for the GO files the NOP1 dataset names by URL (the caller puts them in the config)
GO_ONTOLOGY = Path("downloads/go/goslim_yeast.obo")
GO_ANNOTATIONS = Path("downloads/go/go_slim_mapping.tab")

#: the WT2 screen's strains past the toy set's five (gene names, as STRAINS)
WT2_MORE = ("ABP1", "ANP1", "PEX3")
#: the NOP1pr screen's strains (systematic ORF names, as the real screen) and their localization in
#: the Weill et al. 2018 style; the table also lists one strain the screen does not hold
NOP1_LOCALIZATIONS = {
    "YMR056C": "mitochondria",  # AAC1
    "YBR085W": "mitochondria",  # AAC3
    "YNL141W": "cytosol;nucleus",  # AAH1
    "YBL074C": "cytosol",  # AAR2
    "YNL121C": "mitochondria",  # TOM70
    "YDR329C": "punctate",  # PEX3
    "YGL153W": "punctate",  # PEX14
    "YDR170C": "punctate",  # SEC7
    "YPL004C": "punctate",  # LSP1
    "YLR025W": "punctate;vacuole",  # SNF7
}
NOP1_UNSCREENED = {"YOR270C": "vacuole"}  # VPH1
#: the Nup49-RFP screen's strains (systematic ORF names), all labelled in Huh et al. 2003
NUP49_STRAINS = (
    "YMR056C",  # AAC1
    "YBR085W",  # AAC3
    "YNL141W",  # AAH1
    "YBL074C",  # AAR2
    "YCR088W",  # ABP1
    "YEL036C",  # ANP1
    "YDR329C",  # PEX3
    "YAL002W",  # VPS8
    "YKL042W",  # SPC42
    "YML008C",  # ERG6
)


def turn(plane: np.ndarray, k: int) -> np.ndarray:
    """The k-th of the eight turns and flips of a plane; 0-4 are those of ``screen_folder``."""
    return np.ascontiguousarray(np.rot90(plane, k) if k < 4 else np.rot90(np.fliplr(plane), k - 4))


def wt2_segmentation() -> dict:
    """The WT2 dataset's segmentation settings, as segment_field takes them."""
    seg = yaml.safe_load(CONFIG.read_text())["datasets"]["yeast_wt2"]["segmentation"]
    keys = ("smoothing_sigma", "min_area", "clear_border", "watershed_min_distance")
    return {"method": seg["method"], **{k: seg[k] for k in keys}}


def brightfield(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A brightfield-like uint16 plane of a label image: bright background, dark outlines with a
    bright halo outside them, a slightly darker, textured interior, camera noise."""
    height, width = cells.shape
    yy, xx = np.mgrid[:height, :width]
    plane = 3000.0 + 150.0 * (xx / width - 0.5)  # uneven lamp
    inside = cells > 0
    texture = ndi.gaussian_filter(rng.normal(0, 1, cells.shape), 1.5)
    plane[inside] = 2600.0 + 400.0 * texture[inside]
    outline = segmentation.find_boundaries(cells, mode="thick")
    halo = ndi.binary_dilation(outline, iterations=1) & ~inside & ~outline
    plane[halo] = 3500.0
    plane[outline] = 1300.0
    plane = ndi.gaussian_filter(plane, 0.8) + rng.normal(0, 40, cells.shape)
    return np.clip(plane, 0, 65535).astype(np.uint16)


def nuclear_pores(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A nuclear-pore-like uint16 plane: in each cell a thin bright ring (the nuclear envelope)
    around a dim disc centred on the cell's most interior point, its pores uneven along the ring."""
    plane = np.full(cells.shape, 200.0)  # camera offset
    plane[cells > 0] = 260.0  # autofluorescence
    for region in measure.regionprops(cells):
        y0, x0, y1, x1 = region.bbox
        own = np.pad(region.image, 1)  # a margin, so the distance to the outline is right at the bbox edge
        depth = ndi.distance_transform_edt(own)
        cy, cx = np.unravel_index(np.argmax(depth), depth.shape)
        radius = max(2.0, 0.55 * depth[cy, cx])
        yy, xx = np.mgrid[: own.shape[0], : own.shape[1]]
        r = np.hypot(yy - cy, xx - cx)
        angle = np.arctan2(yy - cy, xx - cx)
        pores = 1.0 + 0.4 * np.sin(5 * angle + rng.uniform(0, 2 * np.pi))
        bright = rng.uniform(0.7, 1.3)
        value = np.where(np.abs(r - radius) < 0.8, 260.0 + 700.0 * bright * pores, np.where(r < radius, 300.0, 0))
        value = value[1:-1, 1:-1]
        sub = plane[y0:y1, x0:x1]
        keep = region.image & (value > 0)
        sub[keep] = value[keep]
    plane = ndi.gaussian_filter(plane, 0.8) + rng.normal(0, 15, cells.shape)
    return np.clip(plane, 0, 65535).astype(np.uint16)


def real_fields(stack_path: Path) -> list[dict]:
    """The four real fields: GFP and RFP as recorded, the mask (cells_watershed on the RFP at the
    WT2 settings) and the brightfield and pore planes drawn from every cell found (the ones the
    field's edge cuts too, which a camera sees and the mask leaves out)."""
    from pcinpaint.crops.segment import SegmentationSettings, segment_field

    stack = tifffile.imread(stack_path)
    settings = wt2_segmentation()
    method = settings.pop("method")
    fields = []
    for k in range(len(stack) // 2):
        gfp, rfp = stack[2 * k], stack[2 * k + 1]
        mask = segment_field(rfp.astype(np.float32), SegmentationSettings(method, **settings))
        cells = segment_field(
            rfp.astype(np.float32), SegmentationSettings(method, **settings | {"clear_border": False})
        )
        rng = np.random.default_rng(k)
        fields.append(
            {
                "gfp": gfp,
                "rfp": rfp,
                "mask": mask.astype(np.uint16),
                "brightfield": brightfield(cells, rng),
                "pores": nuclear_pores(cells, rng),
            }
        )
    return fields


def masked_screen(root: Path, strains, fields: list[dict], planes: dict[str, str]) -> dict[str, int]:
    """Per strain, the four fields ``site<n>_<token>.tif`` (``planes``: token -> plane of
    ``real_fields``) and ``site<n>_mask.tif``, turned the strain's own way (strain s: turn s mod 8;
    past eight strains the protein plane is also dimmed, so no two images are the same).
    Returns the turn per strain."""
    turns = {}
    for s, orf in enumerate(strains):
        folder = root / orf
        folder.mkdir(parents=True, exist_ok=True)
        for n, field in enumerate(fields, start=1):
            for token, plane in (*planes.items(), ("_mask", "mask")):
                pixels = turn(field[plane], s % 8)
                if plane == "gfp" and s >= 8:
                    pixels = (pixels * (1 - 0.1 * (s // 8))).astype(pixels.dtype)
                tifffile.imwrite(folder / f"site{n}{token}.tif", pixels)
        turns[orf] = s % 8
    return turns


def yeast_screens_downloads(work: Path, shared: Path) -> dict:
    """Every file config/yeast_screens.yaml reads, under ``work`` (paths relative to it, as the
    config names them). Returns the strains per screen (``strains``), the NOP1 screen's
    punctate strains (``punctate``), the fields per strain (``fields_per_strain``) and local GO
    files (``go``: ontology and annotations, relative to ``work``) to put in place of the NOP1
    dataset's GO URLs."""
    work = Path(work)
    stack_path = shared / "yeast_fields" / "handfield_example_gfp_rfp.tif"
    screen_folder(work / SCREEN, stack_path)
    stack = tifffile.imread(stack_path)
    for k, gene in enumerate(WT2_MORE, start=len(STRAINS)):
        (work / SCREEN / gene).mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(work / SCREEN / gene / "plate1_A01.tif", np.stack([turn(p, k) for p in stack]))

    fields = real_fields(stack_path)
    masked_screen(work / NOP1, list(NOP1_LOCALIZATIONS), fields, {"_gfp": "gfp", "_bf": "brightfield"})
    masked_screen(work / NUP49, NUP49_STRAINS, fields, {"_gfp": "gfp", "_rfp": "pores"})

    (work / HUH).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared / "annotations" / "yeastgfp_huh2003.csv", work / HUH)
    table = NOP1_LOCALIZATIONS | NOP1_UNSCREENED
    pd.DataFrame({"ORF": list(table), "localization": list(table.values())}).to_csv(work / WEILL, index=False)
    (work / GO_ONTOLOGY).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared / "go" / "goslim_yeast.obo", work / GO_ONTOLOGY)
    shutil.copyfile(shared / "go" / "go_slim_mapping.tab", work / GO_ANNOTATIONS)
    return {
        "strains": {
            "yeast_wt2": [*STRAINS, *WT2_MORE],
            "yeast_nop1": list(NOP1_LOCALIZATIONS),
            "yeast_nup49": list(NUP49_STRAINS),
        },
        "fields_per_strain": {name: len(fields) for name in ("yeast_wt2", "yeast_nop1", "yeast_nup49")},
        "punctate": [orf for orf, terms in NOP1_LOCALIZATIONS.items() if "punctate" in terms.split(";")],
        "go": {"ontology": GO_ONTOLOGY, "annotations": GO_ANNOTATIONS},
    }
