"""The paper's yeast protocol as shipped (config/yeast_paper.yaml): train on the unlabelled screen,
score only the separate labelled set, with the paper's baselines; and the same config with the
paper's published weights in place of the screen. The downloads are built small from the real data
in ../shared/data, at the paths the config names; a second config file shrinks the network and
sets the fixture's cell count, nothing else."""

import re

import pytest
import yaml
from conftest import REPO, require_shared, run_snakemake
from yeast_paper_files import CLASSES, MEASUREMENTS, yeast_paper_downloads

from pcinpaint.io import read_table

PAPER = REPO / "config" / "yeast_paper.yaml"
PUBLISHED = REPO / "config" / "yeast_paper_published.yaml"
TARGETS = ("table1", "supptable1", "fig2a", "suppfig2", "supptable2", "suppfig3")
TINY_WIDTH = 0.125
PUBLISHED_FILTERS = 12  # conv1 filters of the paper's network (96) at TINY_WIDTH


def _jobs(plan: str) -> list[tuple[str, str]]:
    """(rule, dataset) of every job a dry run lists."""
    jobs = []
    for block in plan.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0].strip()
        dataset = re.search(r"wildcards: .*?dataset=([^,\s]+)", block)
        jobs.append((rule, dataset.group(1) if dataset else ""))
    return jobs


@pytest.fixture(scope="module")
def protocol(tmp_path_factory):
    """The working folder with the downloads, and the small-scale config files given after the
    shipped ones."""
    shared = require_shared()
    require_shared("yeast_toy_crops")
    require_shared("yeast_fields")
    work = tmp_path_factory.mktemp("yeast_paper")
    n_cells = yeast_paper_downloads(work, shared, published_filters=PUBLISHED_FILTERS)
    chong = {
        "labelled_hdf5": {"expect": {"cells": n_cells, "classes": len(CLASSES) - 1}},
        "model": {"width": TINY_WIDTH},
        "benchmarks": {"n_estimators": 10, "folds": 2},
    }
    screen = {"model": {"width": TINY_WIDTH, "epochs": 2, "batch_size": 32}}
    small = work / "small.yaml"
    small.write_text(yaml.safe_dump({"datasets": {"yeast_wt2": screen, "chong": chong}}))
    small_published = work / "small_published.yaml"
    small_published.write_text(yaml.safe_dump({"datasets": {"chong": chong}}))
    return work, n_cells, small, small_published


def test_the_plan_trains_on_the_screen_and_scores_the_labelled_set_only(protocol):
    work, _, small, _ = protocol
    jobs = _jobs(run_snakemake(*TARGETS, "-n", "--directory", work, "--configfile", PAPER, small).stdout)
    by_rule = {}
    for rule, dataset in jobs:
        by_rule.setdefault(rule, set()).add(dataset)
    assert by_rule["train_pci"] == {"yeast_wt2"} and by_rule["train_autoencoder"] == {"yeast_wt2"}
    for rule in ("knn_benchmark", "classifier_benchmark", "umap_cells", "extract_pci", "extract_vgg16"):
        assert by_rule[rule] == {"chong"}, rule
    assert by_rule["extract_cellprofiler"] == {"chong"} and "import_features" not in by_rule
    # the screen is segmented and trained on, never featurised nor scored (its sample sheet is a
    # checkpoint: the dry run lists the segmentation jobs only once it has run)
    screen = {r for r, d in jobs if d == "yeast_wt2"}
    assert {"yeast_screen_samplesheet", "gather_crops", "train_pci", "train_autoencoder"} <= screen
    assert screen <= {"yeast_screen_samplesheet", "segment", "gather_crops", "train_pci", "train_autoencoder"}


@pytest.mark.workflow
def test_the_protocol_runs_end_to_end(protocol):
    work, n_cells, small, _ = protocol
    run_snakemake(*TARGETS, "--directory", work, "--configfile", PAPER, small)
    res = work / "results" / "chong"
    cells = read_table(res / "cells.parquet")
    assert len(cells) == n_cells and cells["label"].nunique() == 18  # SPINDLEPOLE merged into SPINDLE
    assert "spindlepole" not in set(cells["label"]) and {"dead", "ghost"} <= set(cells["label"])
    st1 = read_table(res / "tables/supptable1.tsv").set_index("feature_set")
    assert [f"k{k}" for k in (1, 5, 11, 25, 50)] == [c for c in st1.columns if re.fullmatch(r"k\d+", c)]
    ran = st1[st1["status"] == "ran"]
    assert {f"pci_conv{i}" for i in range(1, 6)} <= set(ran.index)
    # Chong et al.'s measurements from the files themselves, and VGG16 from Keras weights
    assert int(ran.loc["cellprofiler", "n_features"]) == len(MEASUREMENTS)
    assert {"vgg16_protein_block4_conv1", "ae_conv4", "raw", "classic"} <= set(ran.index)
    assert (ran["n_cells"].astype(int) == n_cells).all()
    assert st1.loc["designed", "status"] == "not run" and st1.loc["supervised", "status"] == "not run"
    log = (work / "results/chong/logs/extract_vgg16.log").read_text()
    assert "(keras format); input scaling keras (baselines.vgg16_input: keras)" in log
    table1 = read_table(res / "tables/table1.tsv")
    assert table1["layer"].tolist() == [f"conv{i}" for i in range(1, 6)]
    st2 = read_table(res / "tables/supptable2.tsv")
    assert {"pci", "cellprofiler"} <= {name.split("_")[0] for name in st2["feature_set"]}
    for figure in ("fig2a", "suppfig2", "suppfig3"):
        assert (res / "figures" / f"{figure}.png").stat().st_size > 10_000, figure
    assert not (work / "results/yeast_wt2/tables").exists()  # the screen is never scored


@pytest.mark.workflow
def test_published_weights_replace_the_screen(protocol):
    work, _, _, small_published = protocol
    args = ("--directory", work, "--configfile", PAPER, PUBLISHED, small_published)
    jobs = _jobs(run_snakemake("table1", "-n", *args).stdout)
    assert {d for _, d in jobs} == {"chong", ""}
    assert "train_pci" not in {r for r, _ in jobs} and "convert_published_weights" in {r for r, _ in jobs}
    run_snakemake("table1", *args)
    table1 = read_table(work / "results/chong/tables/table1.tsv")
    assert len(table1) == 5 and table1["balanced_accuracy_k11"].astype(float).between(0, 1).all()
    sets = read_table(work / "results/chong/features/feature_sets.tsv").set_index("name")
    assert sets.loc["ae", "status"] == "not run" and "published" in sets.loc["ae", "reason"]
