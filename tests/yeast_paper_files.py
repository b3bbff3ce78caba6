"""The downloads of the paper's yeast protocol (config/yeast_paper.yaml), built small from the real
data in ``../shared/data``: a CyCLOPS-style screen folder, the labelled benchmark set, Keras's
VGG16 weights and the paper's published weights, each in its real layout.

The benchmark set (Chong et al. 2015, as released with DeepLoc: ``Chong_{train,valid,test}_set.hdf5``)
is written with h5py.

The layout as DeepLoc's and the paper's reference code read it: ``data1`` one row per cell of
2 x 64 x 64 values, the GFP plane then the RFP plane (float32, raw intensities); ``Index1`` the
class one-hot over 19 columns named in ``Index1_columns`` (byte strings); ``label_names`` the
class per cell; ``Info1`` Chong et al.'s CellProfiler measurements per cell, named in
``Info1_columns``. The real files hold 4,516 (test), 4,491 (valid) and 21,882 (train) cells.
The measurement names here follow CellProfiler's naming; the real files' list is longer.
"""

from pathlib import Path

import h5py
import numpy as np

#: the files' 19 label columns, in order
CLASSES = (
    "ACTIN",
    "BUDNECK",
    "BUDTIP",
    "CELLPERIPHERY",
    "CYTOPLASM",
    "ENDOSOME",
    "ER",
    "GOLGI",
    "MITOCHONDRIA",
    "NUCLEARPERIPHERY",
    "NUCLEI",
    "NUCLEOLUS",
    "PEROXISOME",
    "SPINDLE",
    "SPINDLEPOLE",
    "VACUOLARMEMBRANE",
    "VACUOLE",
    "DEAD",
    "GHOST",
)
FILES = ("Chong_test_set.hdf5", "Chong_valid_set.hdf5", "Chong_train_set.hdf5")
MEASUREMENTS = (
    "cells_AreaShape_Area",
    "cells_Intensity_MeanIntensity_GFP",
    "cells_Intensity_StdIntensity_GFP",
    "cells_Intensity_IntegratedIntensity_GFP",
    "cells_Intensity_MeanIntensity_RFP",
    "cells_Location_Center_X",
)


def measurements(crops: np.ndarray) -> np.ndarray:
    """CellProfiler-like measurements of (n, 2, 64, 64) crops (GFP, RFP): the cell is where the
    RFP is above its mean."""
    gfp, rfp = crops[:, 0].reshape(len(crops), -1), crops[:, 1].reshape(len(crops), -1)
    cell = rfp > rfp.mean(axis=1, keepdims=True)
    area = cell.sum(axis=1).astype(np.float64)
    inside = np.where(cell, gfp, np.nan)
    return np.stack(
        [
            area,
            np.nanmean(inside, axis=1),
            np.nanstd(inside, axis=1),
            np.nansum(inside, axis=1),
            np.nanmean(np.where(cell, rfp, np.nan), axis=1),
            np.full(len(crops), 32.0),
        ],
        axis=1,
    )


def write_chong_file(path, crops: np.ndarray, classes_of: np.ndarray, info: np.ndarray | None = None, names=None):
    """One file: ``crops`` (n, 2, 64, 64) GFP then RFP, ``classes_of`` column indices into
    ``CLASSES``; ``info`` (n, m) measurements named ``names`` (default ``MEASUREMENTS``)."""
    n = len(crops)
    info = measurements(crops) if info is None else info
    names = MEASUREMENTS if names is None else names
    with h5py.File(path, "w") as f:
        f.create_dataset("data1", data=crops.reshape(n, -1).astype(np.float32))
        f.create_dataset("Index1", data=np.eye(len(CLASSES), dtype=np.float32)[classes_of])
        f.create_dataset("Index1_columns", data=np.array([c.encode() for c in CLASSES], dtype="S16"))
        f.create_dataset("label_names", data=np.array([CLASSES[c].encode() for c in classes_of], dtype="S16"))
        f.create_dataset("Info1", data=np.asarray(info, np.float64))
        f.create_dataset("Info1_columns", data=np.array([m.encode() for m in names], dtype="S64"))
    return Path(path)


def toy_cells(root: Path, per_class: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Real yeast crops (the reference code's toy set under ``root``: <ORF>/..._{gfp,rfp}.tif)
    as (n, 2, 64, 64) GFP, RFP intensities, and a class per cell: each class takes ``per_class``
    cells of one strain (classes cycle over the strains), so classes of different strains differ."""
    import tifffile

    rng = np.random.default_rng(seed)
    strains = sorted(p for p in Path(root).iterdir() if p.is_dir())
    gfp_files = {s: sorted(s.glob("*_gfp.tif")) for s in strains}
    crops, classes_of = [], []
    for c in range(len(CLASSES)):
        files = gfp_files[strains[c % len(strains)]]
        for i in rng.choice(len(files), per_class, replace=False):
            gfp = tifffile.imread(files[i]).astype(np.float32)
            rfp = tifffile.imread(str(files[i]).replace("_gfp.tif", "_rfp.tif")).astype(np.float32)
            crops.append(np.stack([gfp, rfp]) * 1000)  # raw-intensity-like values, not [0, 1]
            classes_of.append(c)
    return np.stack(crops), np.asarray(classes_of)


def write_chong_set(folder: Path, crops: np.ndarray, classes_of: np.ndarray, split=(0.2, 0.2)) -> list[Path]:
    """The three files (test, valid, train) of a set, cells dealt out in order; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(crops)
    order = np.random.default_rng(1).permutation(n)
    a, b = int(n * split[0]), int(n * (split[0] + split[1]))
    parts = (order[:a], order[a:b], order[b:])
    return [write_chong_file(folder / name, crops[p], classes_of[p]) for name, p in zip(FILES, parts)]


#: where config/yeast_paper.yaml reads each download, relative to the folder snakemake runs in
SCREEN = Path("downloads/yeast_wt2")
CHONG = Path("downloads/DeepLoc_full_datasets/datasets")
VGG16 = Path("downloads/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
PUBLISHED = Path("downloads/yeast_model/model_weights.h5")
#: the toy set's strains, one screen folder each
STRAINS = ("AAC1", "AAC3", "AAH1", "AAP1", "AAR2")


def screen_folder(root: Path, stack_path: Path) -> Path:
    """A per-ORF screen: each strain's folder holds the real 4-field example stack (GFP and RFP
    pages interleaved), turned a different way per strain so no two images are the same."""
    import tifffile

    stack = tifffile.imread(stack_path)
    for k, orf in enumerate(STRAINS):
        pages = [np.rot90(p, k) if k < 4 else np.fliplr(p) for p in stack]
        (root / orf).mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(root / orf / "plate1_A01.tif", np.stack(pages))
    return root


def yeast_paper_downloads(work: Path, shared: Path, vgg16: bool = True, published_filters: int | None = None) -> int:
    """Every file config/yeast_paper.yaml reads, under ``work``; returns the labelled cells.
    ``vgg16``: real-shaped seeded Keras VGG16 weights (58 MB), else an empty placeholder (enough
    to plan a run); ``published_filters``: also the published weights at that conv1 width."""
    from keras_files import published_arrays, vgg16_keras_arrays, write_keras, write_vgg16_keras

    screen_folder(work / SCREEN, shared / "yeast_fields" / "handfield_example_gfp_rfp.tif")
    crops, classes_of = toy_cells(shared / "yeast_toy_crops")
    write_chong_set(work / CHONG, crops, classes_of)
    (work / VGG16).parent.mkdir(parents=True, exist_ok=True)
    if vgg16:
        write_vgg16_keras(work / VGG16, vgg16_keras_arrays(), naming="keras1")
    else:
        (work / VGG16).write_bytes(b"")
    if published_filters:
        (work / PUBLISHED).parent.mkdir(parents=True, exist_ok=True)
        write_keras(work / PUBLISHED, *published_arrays(published_filters, n_source=2, n_structural=1, n_protein=1))
    return len(crops)
