"""Chong et al.'s CellProfiler measurements (Info1 of the DeepLoc files) as the cellprofiler set,
and the check that a labelled set holds the cells and classes the paper scored."""

import h5py
import numpy as np
import pandas as pd
import pytest
from yeast_paper_files import CLASSES, FILES, MEASUREMENTS, measurements, write_chong_file

from pcinpaint.crops.import_crops import LabelledSet, store_labelled_hdf5
from pcinpaint.errors import InputError
from pcinpaint.features.cellprofiler import write_cellprofiler_features
from pcinpaint.features.manifest import cellprofiler_set, feature_sets
from pcinpaint.features.table import METADATA_PREFIX
from pcinpaint.inputs.labelled_hdf5 import check_expected, class_counts, missing_dataset

MERGE = {"SPINDLEPOLE": "SPINDLE", "GHOST": None}


def _crops(n, seed):
    rng = np.random.default_rng(seed)
    crops = rng.gamma(2.0, 100.0, (n, 2, 64, 64)).astype(np.float32)
    crops[:, 1, 16:48, 16:48] += 800  # a cell body in the RFP
    return crops


@pytest.fixture
def chong(tmp_path):
    """Two files of the benchmark set: the second's Info1 has a column with a NaN and a
    Metadata_ column; the classes include a merged one and a dropped one (GHOST)."""
    paths, infos, classes = [], [], []
    for i, (name, n) in enumerate(zip(FILES[:2], (40, 21))):
        crops = _crops(n, i)
        classes_of = np.arange(n) % len(CLASSES)
        info = np.column_stack([measurements(crops), np.arange(n, dtype=float), np.full(n, 7.0)])
        if i == 1:
            info[3, -1] = np.nan  # one missing value: the column is not a feature
        names = (*MEASUREMENTS, "Metadata_Plate", "cells_Texture_Gap")
        paths.append(write_chong_file(tmp_path / name, crops, classes_of, info, names))
        infos.append(info)
        classes.append(classes_of)
    return paths, infos, classes


def test_measurements_become_the_feature_set_in_store_order(chong, tmp_path):
    paths, infos, classes = chong
    cells = store_labelled_hdf5(
        LabelledSet(paths, CLASSES, MERGE, ["gfp", "rfp"], ["protein", "structural"]), tmp_path / "crops.zarr"
    )
    ghost = CLASSES.index("GHOST")
    assert len(cells) == sum(int((c != ghost).sum()) for c in classes)  # GHOST's cells left out
    out = tmp_path / "features" / "cellprofiler.parquet"
    assert write_cellprofiler_features(paths, "Info1", cells, out) == len(MEASUREMENTS)
    table = pd.read_parquet(out)
    features = [c for c in table.columns if not c.startswith(METADATA_PREFIX)]
    # every complete numeric column, in the file's order; the Metadata_ and NaN columns are not features
    assert features == list(MEASUREMENTS)
    assert table[f"{METADATA_PREFIX}cell_id"].tolist() == cells.sort_values("store_index")["cell_id"].tolist()
    expected = np.concatenate([info[c != ghost][:, : len(MEASUREMENTS)] for info, c in zip(infos, classes)])
    np.testing.assert_allclose(table[features].to_numpy(), expected.astype(np.float32), rtol=1e-6)


def test_rows_follow_the_cells_whatever_the_table_order(chong, tmp_path):
    paths, infos, _ = chong
    cells = store_labelled_hdf5(
        LabelledSet(paths, CLASSES, {}, ["gfp", "rfp"], ["protein", "structural"]), tmp_path / "crops.zarr"
    )
    shuffled = cells.sample(frac=1.0, random_state=0)  # the writer sorts by store_index
    out = tmp_path / "cp.parquet"
    write_cellprofiler_features(paths, "Info1", shuffled, out)
    got = pd.read_parquet(out, columns=list(MEASUREMENTS)).to_numpy()
    np.testing.assert_allclose(got, np.concatenate(infos)[:, : len(MEASUREMENTS)].astype(np.float32), rtol=1e-6)


def test_a_file_without_measurements_is_named(chong, tmp_path):
    paths, _, _ = chong
    bare = tmp_path / "bare.hdf5"
    with h5py.File(paths[0]) as src, h5py.File(bare, "w") as f:
        for key in ("data1", "Index1", "Index1_columns"):
            f.create_dataset(key, data=src[key][()])
    assert missing_dataset(paths, "Info1") is None
    assert (
        missing_dataset([paths[0], bare], "Info1")
        == f"{bare} holds no 'Info1' dataset (labelled_hdf5.cellprofiler_key)"
    )
    block = {"paths": [str(paths[0]), str(bare)], "cellprofiler_key": "Info1"}
    cp = cellprofiler_set(block)
    assert not cp.runs and "holds no 'Info1'" in cp.reason
    assert cellprofiler_set(block | {"paths": [str(p) for p in paths]}).runs
    cells = store_labelled_hdf5(
        LabelledSet([bare], CLASSES, {}, ["gfp", "rfp"], ["protein", "structural"]), tmp_path / "c.zarr"
    )
    with pytest.raises(InputError, match=r"bare\.hdf5: no dataset 'Info1'"):
        write_cellprofiler_features([bare], "Info1", cells, tmp_path / "x.parquet")


def test_only_labelled_sets_have_the_family():
    ds = {"source": "simulate", "baselines": {"run": ["classic"]}, "model": {}}
    assert "cellprofiler" not in {s.family for s in feature_sets(ds)}


def test_expected_cells_and_classes(chong):
    paths, _, classes = chong
    counts = class_counts(paths, CLASSES, MERGE)
    n = sum(int((c != CLASSES.index("GHOST")).sum()) for c in classes)
    assert sum(counts.values()) == n and "ghost" not in counts and "spindlepole" not in counts
    assert counts["spindle"] == sum(int(np.isin(c, [13, 14]).sum()) for c in classes)
    check_expected(paths, counts, {"cells": n, "classes": 17})
    check_expected(paths, counts, {})
    with pytest.raises(InputError) as err:
        check_expected(paths, counts, {"cells": 30889, "classes": 18}, "datasets.chong.")
    line = str(err.value)
    assert "\n" not in line and str(paths[0]) in line and str(paths[1]) in line
    assert f"{n} cells in 17 classes after the merge map (actin {counts['actin']}, budneck" in line
    assert line.endswith("datasets.chong.labelled_hdf5.expect says 30,889 cells in 18 classes")


def test_storing_a_set_of_the_wrong_size_stops(chong, tmp_path):
    paths, _, _ = chong
    with pytest.raises(InputError, match=r"61 cells in 19 classes .*labelled_hdf5.expect says 30,889 cells$"):
        store_labelled_hdf5(
            LabelledSet(paths, CLASSES, {}, ["gfp", "rfp"], ["protein", "structural"], expect={"cells": 30889}),
            tmp_path / "crops.zarr",
        )
    assert not (tmp_path / "crops.zarr").exists()
