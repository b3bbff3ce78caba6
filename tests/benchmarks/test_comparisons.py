"""Benchmark tables: labels and terms from a cell table, kNN over a manifest, best layers, the
sets each figure shows."""

import numpy as np
import pandas as pd
from conftest import require_shared

from pcinpaint.benchmarks.classify import ClassifierSettings
from pcinpaint.benchmarks.comparisons import (
    PAPER_ONLY,
    ClassifierTableSettings,
    best_layers,
    classifier_table,
    dataset_labels,
    fig2a_sets,
    image_terms,
    knn_tables,
    not_run_sets,
    protein_means,
    table1,
    umap_panels,
)
from pcinpaint.benchmarks.pairwise import PairDraws
from pcinpaint.features.manifest import FeatureSet, manifest
from pcinpaint.features.table import feature_table
from pcinpaint.io import write_table

BENCH = {
    "label_from": "column",
    "label_column": "true_class",
    "label_mode": "single",
    "merge": {},
    "min_proteins_per_term": 2,
}


def _cells(n_proteins=6, images=2, per_image=10):
    rows = []
    classes = ["nucleus", "cytoplasm", "nucleus+cytoplasm"]
    for p in range(n_proteins):
        for i in range(images):
            for c in range(per_image):
                rows.append(
                    {
                        "cell_id": f"P{p}_{i}_{c}",
                        "image_id": f"P{p}_{i}",
                        "protein": f"P{p}",
                        "true_class": classes[p % 3],
                    }
                )
    cells = pd.DataFrame(rows)
    return cells.assign(store_index=np.arange(len(cells)))


def test_image_terms_keep_single_term_images_of_common_terms():
    cells = _cells()
    terms = image_terms(cells, BENCH)
    assert set(terms) == {"nucleus", "cytoplasm"}  # the two-term protein's images have no term
    assert len(terms) == 8  # 4 single-term proteins x 2 images
    assert image_terms(cells, {**BENCH, "min_proteins_per_term": 3}).empty


def test_knn_tables_rank_informative_features_and_list_sets_not_run(tmp_path):
    cells = _cells()
    rng = np.random.default_rng(0)
    y = cells["true_class"].to_numpy()
    informative = np.stack([(y == c).astype(float) for c in ("nucleus", "cytoplasm")], 1) + rng.normal(
        0, 0.1, (len(y), 2)
    )
    sets = [
        FeatureSet("pci_conv1", "pci", "conv1"),
        FeatureSet("pci_conv2", "pci", "conv2"),
        FeatureSet("classic", "classic"),
        FeatureSet("vgg16_protein", "vgg16_protein", reason="no weights"),
    ]
    write_table(feature_table(cells, informative, "a"), tmp_path / "pci_conv2.parquet")
    write_table(feature_table(cells, rng.normal(size=(len(y), 4)), "b"), tmp_path / "pci_conv1.parquet")
    write_table(feature_table(cells, rng.normal(size=(len(y), 3)), "c"), tmp_path / "classic.parquet")
    table = manifest(sets, tmp_path)
    labels = dataset_labels(cells, BENCH)
    assert labels.isna().sum() == 40  # the two-term protein's cells are unlabelled in single mode
    wide, per_class = knn_tables(table, labels, [1, 11])
    scores = wide.set_index("feature_set")
    assert scores.loc["pci_conv2", "k11"] == 1.0 and scores.loc["pci_conv1", "k11"] < 0.8
    assert scores.loc["vgg16_protein", "status"] == "not run" and pd.isna(scores.loc["vgg16_protein", "k11"])
    assert list(table1(wide)["layer"]) == ["conv1", "conv2"]
    best = best_layers(wide)
    assert list(best.loc[best["family"] == "pci", "feature_set"]) == ["pci_conv2"]
    assert set(per_class["label"]) == {"nucleus", "cytoplasm"}
    assert set(wide.loc[wide["status"] == "ran", "note"]) == {""}

    # one cell given a class of its own: not scored, named in the note, the rest unchanged
    lonely = labels.copy()
    lonely.iloc[int(np.flatnonzero(labels.notna())[0])] = "golgi"
    wide_lonely, per_class_lonely = knn_tables(table, lonely, [1, 11])
    ran = wide_lonely[wide_lonely["status"] == "ran"].set_index("feature_set")
    assert set(ran["note"]) == {"1 class with fewer than 2 cells not scored (1 cell): golgi"}
    assert (
        ran.loc["pci_conv2", "k11"] == 1.0 and ran.loc["pci_conv2", "n_cells"] == scores.loc["pci_conv2", "n_cells"] - 1
    )
    assert "golgi" not in set(per_class_lonely["label"])


def test_protein_means_average_each_proteins_cells():
    cells = _cells(n_proteins=3, images=1, per_image=4)
    x = np.arange(len(cells) * 2, dtype=float).reshape(-1, 2)
    proteins, means = protein_means(cells, x, cells["true_class"])
    assert list(proteins["protein"]) == ["P0", "P1", "P2"]
    np.testing.assert_allclose(means[0], x[:4].mean(0))
    assert list(proteins["label"]) == ["nucleus", "cytoplasm", "nucleus+cytoplasm"]


def test_image_level_layers_come_from_the_config_or_the_pairwise_score_itself(tmp_path):
    """The paper's human protocol: no kNN ranks layers; conv3 and conv4, the configured VGG16
    layer, and for `best` families the layer the pairwise score separates best."""
    from pcinpaint.benchmarks.comparisons import best_by_pairwise, image_level_candidates, pairwise_tables

    cells = _cells(n_proteins=12, images=2, per_image=6)
    rng = np.random.default_rng(1)
    y = cells["true_class"].to_numpy()
    signal = np.stack([(y == c).astype(float) for c in ("nucleus", "cytoplasm")], 1)
    sets = [FeatureSet(f"pci_{layer}", "pci", layer) for layer in ("conv1", "conv3", "conv4")]
    sets += [FeatureSet(f"ae_{layer}", "ae", layer) for layer in ("conv1", "conv2")]
    sets += [FeatureSet(f"vgg16_protein_{layer}", "vgg16_protein", layer) for layer in ("block1_conv1", "block4_conv1")]
    sets += [FeatureSet("vgg16_rgb_block4_conv1", "vgg16_rgb", "block4_conv1"), FeatureSet("classic", "classic")]
    for s in sets:
        informative = s.name in ("ae_conv2", "pci_conv3")
        x = (signal if informative else 0) + rng.normal(0, 0.3 if informative else 1, (len(y), 2))
        write_table(feature_table(cells, x, s.name), tmp_path / f"{s.name}.parquet")
    table = manifest(sets, tmp_path)
    layers = {"ae": "best", "vgg16_protein": "block4_conv1"}
    candidates = image_level_candidates(table, layers)
    assert candidates == ["pci_conv3", "pci_conv4", "ae_conv1", "ae_conv2", "vgg16_protein_block4_conv1", "classic"]
    terms = image_terms(cells, BENCH)
    scores, _ = pairwise_tables(table, candidates, cells, terms, PairDraws(200, seed=0), PairDraws(100, seed=0))
    chosen = best_by_pairwise(scores, table, layers)
    assert set(chosen.loc[chosen["chosen"], "feature_set"]) == set(candidates) - {"ae_conv1"}
    overall = chosen[chosen["term"] == "overall"].set_index("feature_set")["score"]
    assert overall["ae_conv2"] < overall["ae_conv1"] and overall["pci_conv3"] < -0.3


def _supptable1(rows):
    """A supptable1 from (feature_set, family, k11 or a reason): a number ran, text did not."""
    return pd.DataFrame(
        [
            {
                "feature_set": name,
                "family": family,
                "status": "ran" if isinstance(v, float) else "not run",
                "k11": v if isinstance(v, float) else np.nan,
                "reason": "" if isinstance(v, float) else v,
            }
            for name, family, v in rows
        ]
    )


SUPPTABLE1 = _supptable1(
    [
        ("pci_conv3", "pci", 0.80),
        ("pci_conv4", "pci", 0.88),
        ("random_conv1", "random", 0.50),
        ("raw", "raw", 0.30),
        ("classic", "classic", 0.60),
        ("cellprofiler", "cellprofiler", 0.68),
        ("ae", "ae", "autoencoder is not in baselines.run"),
        ("vgg16_rgb_block4_conv1", "vgg16_rgb", 0.62),
        ("vgg16_concat_block4_conv1", "vgg16_concat", 0.66),
        ("vgg16_protein_block3_conv1", "vgg16_protein", 0.64),
        ("vgg16_protein_block4_conv1", "vgg16_protein", 0.69),
        ("imported_handfield", "imported_handfield", 0.62),
        ("imported_empty", "imported_empty", "no table given (baselines.imported.empty.path is null)"),
        *((name, name, reason) for name, reason in PAPER_ONLY.items()),
    ]
)


def _labelled(tmp_path, sets, n_proteins=6):
    """Cells, their labels and a manifest whose ran sets separate the two single-term classes."""
    cells = _cells(n_proteins=n_proteins)
    y = cells["true_class"].to_numpy()
    x = np.stack([(y == c).astype(float) for c in ("nucleus", "cytoplasm")], 1)
    for s in sets:
        if s.runs:
            noise = np.random.default_rng(len(s.name)).normal(0, 0.1, x.shape)
            write_table(feature_table(cells, x + noise, s.name), tmp_path / f"{s.name}.parquet")
    return cells, dataset_labels(cells, BENCH), manifest(sets, tmp_path)


def test_knn_tables_list_the_papers_rows_this_workflow_cannot_run(tmp_path):
    """Supp Table 1 keeps the paper's designed-features and supervised rows, not run and why."""
    _, labels, table = _labelled(tmp_path, [FeatureSet("pci_conv4", "pci", "conv4")])
    wide, _ = knn_tables(table, labels, [1, 11])
    paper = wide.set_index("feature_set").loc[["designed", "supervised"]]
    assert list(paper["family"]) == ["designed", "supervised"]
    assert set(paper["status"]) == {"not run"} and paper[["k1", "k11", "n_cells", "n_features"]].isna().all().all()
    assert "Handfield" in paper.loc["designed", "reason"] and "baselines.imported" in paper.loc["designed", "reason"]
    assert "trained end to end" in paper.loc["supervised", "reason"]
    assert all("\n" not in r for r in paper["reason"])  # one line each
    # the tables that rank sets never pick them
    assert set(best_layers(wide)["feature_set"]) == {"pci_conv4"}
    assert list(table1(wide)["layer"]) == ["conv4"]


def test_classifier_table_not_run_rows_carry_their_reason(tmp_path):
    sets = [FeatureSet("classic", "classic"), FeatureSet("ae", "ae", reason="autoencoder is not in baselines.run")]
    cells, labels, table = _labelled(tmp_path, sets, n_proteins=9)
    wide, _ = knn_tables(table, labels, [11])
    result = classifier_table(
        table, wide, labels, cells, ClassifierTableSettings(ClassifierSettings(n_estimators=5, seed=0), folds=2)
    )
    not_run = result[result["balanced_accuracy"] == "not run"].set_index("feature_set")
    assert set(not_run.index) == {"ae", "designed", "supervised"}
    assert not_run.loc["ae", "reason"] == "autoencoder is not in baselines.run"
    assert not_run.loc["supervised", "reason"] == PAPER_ONLY["supervised"]
    ran = result[result["feature_set"] == "classic"]
    assert len(ran) == 4 and ran["reason"].isna().all()  # ran rows leave it empty
    assert (ran["balanced_accuracy"].astype(float) > 0.9).all()


def test_fig2a_shows_the_best_set_of_every_family_that_ran():
    best = fig2a_sets(SUPPTABLE1)
    assert set(best["feature_set"]) == {
        "pci_conv4",
        "random_conv1",
        "raw",
        "classic",
        "cellprofiler",
        "vgg16_rgb_block4_conv1",
        "vgg16_concat_block4_conv1",
        "vgg16_protein_block4_conv1",
        "imported_handfield",
    }
    assert list(best["score"]) == sorted(best["score"])  # drawn lowest first
    not_run = not_run_sets(SUPPTABLE1)
    assert list(not_run) == ["ae", "imported_empty", "designed", "supervised"]
    assert not_run["designed"] == PAPER_ONLY["designed"]


def test_umap_panels_take_each_familys_best_set_say_why_not_and_skip_absent_families():
    panels = umap_panels(SUPPTABLE1, ["pci", "cellprofiler", "vgg16", "ae", "imported_empty", "designed", "hpa_cp"])
    assert panels == [
        ("pci", "pci_conv4", ""),
        ("cellprofiler", "cellprofiler", ""),
        ("vgg16", "vgg16_protein_block4_conv1", ""),  # the best of the three input strategies
        ("ae", None, "autoencoder is not in baselines.run"),
        ("imported_empty", None, "no table given (baselines.imported.empty.path is null)"),
        ("designed", None, PAPER_ONLY["designed"]),
    ]  # hpa_cp: no such family in this dataset, no panel
    # a dataset without CellProfiler and without VGG16 weights (the demo): one map, one note
    demo = _supptable1(
        [("pci_conv3", "pci", 0.9)]
        + [(f"vgg16_{s}", f"vgg16_{s}", "no baselines.vgg16_weights file in the config") for s in ("rgb", "concat")]
    )
    assert umap_panels(demo, ["pci", "cellprofiler", "vgg16"]) == [
        ("pci", "pci_conv3", ""),
        ("vgg16", None, "no baselines.vgg16_weights file in the config"),
    ]
    # an explicit strategy is a family of its own
    assert umap_panels(SUPPTABLE1, ["vgg16_rgb"]) == [("vgg16_rgb", "vgg16_rgb_block4_conv1", "")]


def test_annotation_labels_find_a_screen_named_by_gene_or_by_orf():
    """A Huh et al. 2003 table keyed by ORF labels a screen whose folders carry gene names, and
    the reverse (the WT2 screen's folders may be either), as the sample-sheet adapter does."""
    huh = require_shared("annotations") / "yeastgfp_huh2003.csv"
    cells = pd.DataFrame({"protein": ["AAC1", "YMR056C", "aac3", "NOT_A_GENE"]})
    for key in (None, "gene name"):
        bench = {"label_from": "annotation", "annotations": {"path": str(huh), "layout": "huh2003", "key": key}}
        labels = dataset_labels(cells, bench)
        assert labels.iloc[0] == labels.iloc[1] == "mitochondrion" and labels.iloc[2] == "mitochondrion"
        assert labels.iloc[3] is None
