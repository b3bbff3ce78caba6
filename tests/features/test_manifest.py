"""The feature-set list: what runs, what shows as "not run" and why, and the manifest."""

import numpy as np
import pandas as pd
from conftest import TEST_CONFIG

from pcinpaint.config import load_config
from pcinpaint.features.manifest import (
    NOT_RUN,
    VGG16_LAYERS,
    baseline_sets,
    feature_sets,
    manifest,
    unknown_named_sets,
)
from pcinpaint.features.table import feature_table
from pcinpaint.io import write_table


def _dataset(**baselines):
    ds = load_config(TEST_CONFIG)["datasets"]["sim_yeast"]
    ds["baselines"].update(baselines)
    return ds


def test_default_sets_and_vgg16_without_weights_is_not_run():
    sets = {s.name: s for s in feature_sets(_dataset())}
    for name in ["pci_conv3", "random_conv1", "raw", "classic", "ae_conv5"]:
        assert sets[name].runs, name
    for strategy in ("rgb", "concat", "protein"):
        assert sets[f"vgg16_{strategy}"].reason == "no baselines.vgg16_weights file in the config"
    assert {s.name for s in baseline_sets(_dataset())} == {"classic"} | {f"ae_conv{i}" for i in range(1, 6)}


def test_weights_and_imported_tables_add_sets():
    ds = _dataset(
        vgg16_weights="w.pt",
        imported={"cp": {"path": "cp.csv", "level": "cell"}, "kraus": {"path": None, "level": "cell"}},
    )
    names = {s.name: s for s in feature_sets(ds)}
    assert sum(n.startswith("vgg16_") for n in names) == 3 * len(VGG16_LAYERS) == 39
    assert names["vgg16_protein_block4_conv1"].layer == "block4_conv1"
    assert names["imported_cp"].runs and not names["imported_kraus"].runs
    ds["baselines"]["run"] = ["classic"]
    names = {s.name: s for s in feature_sets(ds)}
    assert names["ae"].reason == "autoencoder is not in baselines.run"
    assert names["imported_cp"].reason == "imported is not in baselines.run"


def test_manifest_counts_rows_and_features(tmp_path):
    ds = _dataset(run=["classic"])
    cells = pd.DataFrame({"cell_id": ["a", "b"], "store_index": [0, 1]})
    for s in feature_sets(ds):
        if s.runs:
            write_table(feature_table(cells, np.zeros((2, 7)), s.name), tmp_path / f"{s.name}.parquet")
    table = manifest(feature_sets(ds), tmp_path)
    ran = table[table["status"] == "ran"]
    assert (ran["n_rows"] == 2).all() and (ran["n_features"] == 7).all()
    assert set(table.loc[table["status"] == NOT_RUN, "name"]) == {
        "ae",
        "vgg16_rgb",
        "vgg16_concat",
        "vgg16_protein",
        "imported_kraus_supervised",
    }


def test_a_named_analysis_set_must_be_one_that_runs():
    """exploratory.feature_set and Fig 3's umap_proteins.feature_set are checked before anything
    runs: a typo or a set that cannot run is one line with the sets there are."""
    ds = _dataset()
    assert unknown_named_sets("sim_yeast", ds) == []
    ds["exploratory"]["feature_set"] = "pci_conv6"
    ds["benchmarks"]["umap_proteins"]["feature_set"] = "vgg16_protein_block4_conv1"  # no weights: not run
    lines = unknown_named_sets("sim_yeast", ds)
    assert [line.split(":")[0] for line in lines] == [
        "datasets.sim_yeast.exploratory.feature_set",
        "datasets.sim_yeast.benchmarks.umap_proteins.feature_set",
    ]
    assert "'pci_conv6' is not a feature set of this dataset that runs (have: pci_conv1, " in lines[0]
