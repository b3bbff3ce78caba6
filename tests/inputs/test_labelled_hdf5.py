"""Labelled HDF5 benchmark sets (DeepLoc / Chong et al. layout): reading, merging classes, bad files."""

import h5py
import numpy as np
import pytest
import tifffile
from conftest import require_shared

from pcinpaint.crops.import_crops import ImportSettings, LabelledSet, store_labelled_hdf5
from pcinpaint.crops.preprocess import preprocess_crops
from pcinpaint.crops.store import open_crop_store, to_uint8
from pcinpaint.errors import ConfigError, InputError
from pcinpaint.inputs.labelled_hdf5 import FileLayout, class_map, read_labelled

CLASSES = ["ACTIN", "SPINDLE", "SPINDLE_POLE", "DEAD"]


def _write(path, crops, classes_of, order="channels_first", names=CLASSES, extra=None):
    """A file as DeepLoc ships them: flattened crops in data1, one-hot rows in Index1 (a column
    per name; without names, one per class of ``CLASSES``)."""
    n, c, s, _ = crops.shape
    flat = crops.reshape(n, -1) if order == "channels_first" else crops.transpose(0, 2, 3, 1).reshape(n, -1)
    onehot = np.zeros((n, len(CLASSES if names is None else names)), np.float32)
    onehot[np.arange(n), classes_of] = 1
    with h5py.File(path, "w") as f:
        f.create_dataset("data1", data=flat)
        f.create_dataset("Index1", data=onehot)
        if names is not None:
            f.attrs["Index1_columns"] = np.array([x.encode() for x in names])
        for key, value in (extra or {}).items():
            f.create_dataset(key, data=value)
    return path


def _planted(n=24, c=2, s=64, seed=0):
    rng = np.random.default_rng(seed)
    crops = (rng.random((n, c, s, s)) * 3000).astype(np.float32)
    crops[:, :, 20:40, 20:40] += 2000  # a bright "cell" in the middle
    return crops, rng.integers(0, len(CLASSES), n)


@pytest.mark.parametrize("order", ["channels_first", "channels_last"])
def test_round_trip_of_planted_crops_and_labels(tmp_path, order):
    crops, classes_of = _planted()
    path = _write(tmp_path / "Chong_test_set.hdf5", crops, classes_of, order=order)
    read, labels = read_labelled(path, CLASSES, FileLayout(channel_order=order))
    assert read.shape == (24, 2, 64, 64) and read.dtype == np.float32
    np.testing.assert_array_equal(read, crops)
    assert labels == [CLASSES[i] for i in classes_of]


def test_store_with_merge_map(tmp_path):
    crops, classes_of = _planted(seed=1)
    classes_of[:4] = [0, 1, 2, 3]
    a = _write(tmp_path / "Chong_train_set.hdf5", crops, classes_of)
    b = _write(tmp_path / "Chong_valid_set.hdf5", crops[:5], classes_of[:5])
    merge = {"spindle_pole": "spindle", "dead": None}
    cells = store_labelled_hdf5(
        LabelledSet([a, b], CLASSES, merge, channels=["gfp", "rfp"], roles=["protein", "structural"]),
        tmp_path / "crops.zarr",
        ImportSettings(dataset="chong"),
        batch_size=7,
    )
    assert list(cells.columns) == [
        "cell_id",
        "image_id",
        "field_id",
        "protein",
        "label",
        "centroid_y",
        "centroid_x",
        "area",
        "store_index",
    ]
    keep = classes_of != 3
    assert len(cells) == keep.sum() + keep[:5].sum()
    assert cells["cell_id"].is_unique
    assert set(cells["label"]) <= {"actin", "spindle"}  # Spindle + Spindle Pole merged, dead cells left out
    expected = ["actin" if k == 0 else "spindle" for k in classes_of[keep]]
    assert cells["label"].tolist()[: keep.sum()] == expected
    train = cells[cells["field_id"] == "Chong_train_set"]
    assert (train["protein"] == train["label"]).all()  # no protein names in the file: the class stands in
    assert (train["image_id"] == "Chong_train_set:" + train["label"]).all()
    valid = cells[cells["field_id"] == "Chong_valid_set"]
    assert valid["cell_id"].tolist() == [f"Chong_valid_set:{i}" for i in range(5) if keep[i]]

    store = open_crop_store(tmp_path / "crops.zarr")
    assert store.shape == (len(cells), 2, 64, 64)
    assert store.attrs == {"channels": ["gfp", "rfp"], "roles": ["protein", "structural"], "dataset": "chong"}
    np.testing.assert_array_equal(store.raw(slice(0, int(keep.sum()))), to_uint8(preprocess_crops(crops[keep], [1])))


def test_protein_names_from_an_index_dataset(tmp_path):
    crops, classes_of = _planted(n=3, seed=2)
    classes_of[:] = 0
    path = _write(tmp_path / "set.h5", crops, classes_of, extra={"orf": np.array([b"A", b"B", b"C"])})
    cells = store_labelled_hdf5(
        LabelledSet([path], CLASSES, None, layout=FileLayout(protein_key="orf")), tmp_path / "crops.zarr"
    )
    assert cells["protein"].tolist() == ["A", "B", "C"] and cells["label"].tolist() == ["actin"] * 3


def test_label_width_disagreeing_with_the_classes(tmp_path):
    crops, classes_of = _planted(n=6)
    path = _write(tmp_path / "Chong_test_set.hdf5", crops, classes_of, names=None)
    with pytest.raises(
        InputError, match=r"Chong_test_set\.hdf5: 'Index1' has 4 label columns but the config lists 3 classes"
    ) as err:
        read_labelled(path, CLASSES[:3])
    assert "\n" not in str(err.value)


def test_rows_that_are_not_one_hot(tmp_path):
    crops, classes_of = _planted(n=8)
    path = _write(tmp_path / "bad.hdf5", crops, classes_of)
    with h5py.File(path, "r+") as f:
        f["Index1"][5, :] = [1, 1, 0, 0]
        f["Index1"][6, :] = 0
    with pytest.raises(InputError, match=r"bad\.hdf5: 'Index1' row 5 is not one-hot .*2 of 8 rows are not"):
        read_labelled(path, CLASSES)


def test_data_width_and_class_names_are_checked(tmp_path):
    crops, classes_of = _planted(n=4, s=32)
    path = _write(tmp_path / "small.hdf5", crops, classes_of)
    with pytest.raises(
        InputError, match=r"'data1' rows hold 2048 values; expected channels x size x size = 2 x 64 x 64 = 8192"
    ):
        read_labelled(path, CLASSES)
    read, _ = read_labelled(path, CLASSES, FileLayout(size=32))
    assert read.shape == (4, 2, 32, 32)
    with pytest.raises(InputError, match=r"the file's classes .* differ from the config's"):
        read_labelled(path, ["ACTIN", "SPINDLE_POLE", "SPINDLE", "DEAD"], FileLayout(size=32))
    read_labelled(path, ["actin", "Spindle", "spindle pole", "dead"], FileLayout(size=32))  # case, spaces, '_' aside
    read_labelled(path, ["a", "b", "c", "d"], FileLayout(size=32, class_key=None))  # no check asked for
    with pytest.raises(InputError, match="no dataset 'cells'"):
        read_labelled(path, CLASSES, FileLayout(data_key="cells", size=32))
    with pytest.raises(ConfigError, match=r"merge: \['golgi'\] not among the classes"):
        class_map(CLASSES, {"golgi": "er"})


def test_real_yeast_crops_packed_as_deeploc(tmp_path):
    """Real cells (the reference code's yeast toy set) written in the benchmark's layout read back intact."""
    root = require_shared("yeast_toy_crops")
    files = (
        sorted((root / "AAC1").glob("AAC1_1_rfp_*_gfp.tif"))[:10]
        + sorted((root / "AAH1").glob("AAH1_1_rfp_*_gfp.tif"))[:10]
    )
    crops = np.stack(
        [np.stack([tifffile.imread(f), tifffile.imread(str(f).replace("_gfp.tif", "_rfp.tif"))]) for f in files]
    )
    classes = ["mitochondrion", "cytoplasm", "nucleus"]
    classes_of = np.array([0] * 10 + [1] * 10)
    path = _write(tmp_path / "toy.hdf5", crops, classes_of, names=classes)
    read, labels = read_labelled(path, classes)
    np.testing.assert_array_equal(read, crops)
    cells = store_labelled_hdf5(
        LabelledSet([path], classes, {"cytoplasm": "cytoplasm+nucleus"}), tmp_path / "crops.zarr"
    )
    assert cells["label"].value_counts().to_dict() == {"mitochondrion": 10, "cytoplasm+nucleus": 10}
    raw = open_crop_store(tmp_path / "crops.zarr").raw()
    assert raw.shape == (20, 2, 64, 64) and raw.max(axis=(2, 3)).min() == 255 and raw.min(axis=(2, 3)).max() == 0
