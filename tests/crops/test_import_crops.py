"""Pre-cropped sets go into the store a block at a time: the block size never changes what is stored."""

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from pcinpaint.crops.import_crops import ImportSettings, LabelledSet, store_crop_folders, store_labelled_hdf5
from pcinpaint.crops.store import open_crop_store
from pcinpaint.inputs.labelled_hdf5 import FileLayout

CLASSES = ["actin", "bud", "dead"]


def _store_bytes(path):
    store = open_crop_store(path, memory_limit=None)
    return store.raw(), store.attrs


@pytest.mark.parametrize("normalise", ["per_crop", "percentile"])
def test_labelled_hdf5_blocks_store_the_same_crops(tmp_path, normalise):
    rng = np.random.default_rng(3)
    n = 37
    with h5py.File(tmp_path / "set.hdf5", "w") as f:
        f.create_dataset("data1", data=(rng.random((n, 2 * 48 * 48)) * 3000).astype(np.float32))
        onehot = np.zeros((n, len(CLASSES)), np.float32)
        onehot[np.arange(n), rng.integers(0, len(CLASSES), n)] = 1
        f.create_dataset("Index1", data=onehot)
    stores = []
    for batch in (1024, 5):  # one block; blocks of 5 crops, some of them all merged away
        labelled = LabelledSet(
            [tmp_path / "set.hdf5"],
            CLASSES,
            merge={"dead": None},
            channels=["gfp", "rfp"],
            roles=["protein", "structural"],
            layout=FileLayout(size=48),  # resized to 64
        )
        cells = store_labelled_hdf5(
            labelled,
            tmp_path / f"crops_{batch}.zarr",
            ImportSettings(normalise=normalise),
            batch_size=batch,
            store_order=["rfp", "gfp"],
        )
        stores.append((cells, *_store_bytes(tmp_path / f"crops_{batch}.zarr")))
    (cells_a, crops_a, attrs_a), (cells_b, crops_b, attrs_b) = stores
    pd.testing.assert_frame_equal(cells_a, cells_b)
    np.testing.assert_array_equal(crops_a, crops_b)
    assert attrs_a == attrs_b and crops_a.shape == (len(cells_a), 2, 64, 64)


def test_crop_folder_blocks_store_the_same_crops(tmp_path):
    rng = np.random.default_rng(4)
    rows = []
    for i in range(11):
        row = {"cell_id": f"P1/c{i}", "image_id": "P1", "field_id": "P1/f", "protein": "P1"}
        for ch in ("rfp", "gfp"):
            tifffile.imwrite(tmp_path / f"c{i}_{ch}.tif", rng.integers(0, 4000, (40, 40), dtype=np.uint16))
            row[ch] = str(tmp_path / f"c{i}_{ch}.tif")
        rows.append(row)
    listing = pd.DataFrame(rows)
    whole = store_crop_folders(listing, tmp_path / "whole.zarr", ["rfp", "gfp"], [0])
    blocks = store_crop_folders(listing, tmp_path / "blocks.zarr", ["rfp", "gfp"], [0], batch_size=3)
    pd.testing.assert_frame_equal(whole, blocks)
    np.testing.assert_array_equal(_store_bytes(tmp_path / "whole.zarr")[0], _store_bytes(tmp_path / "blocks.zarr")[0])
