"""Fig 3's three yeast screens and Supp Fig 5 as shipped (config/yeast_screens.yaml): each screen
trains its own network and is never scored (labels per protein); the brightfield and nuclear-pore
screens are cropped from masks made elsewhere; the NOP1pr screen's punctate proteins are
clustered and GO-enriched against all punctate proteins. The downloads are built small from the
real data in ../shared/data at the paths the config names; a second config file shrinks the
networks and points the GO URLs at local copies, nothing else."""

import re

import pytest
import yaml
from conftest import REPO, require_shared, run_snakemake
from test_yeast_paper import _jobs
from yeast_paper_files import yeast_paper_downloads
from yeast_screens_files import NOP1_LOCALIZATIONS, yeast_screens_downloads

from pcinpaint.figures import notrun
from pcinpaint.io import read_table

SCREENS = REPO / "config" / "yeast_screens.yaml"
PAPER = REPO / "config" / "yeast_paper.yaml"
NAMES = ("yeast_wt2", "yeast_nop1", "yeast_nup49")
TINY = {"model": {"width": 0.125, "epochs": 1, "batch_size": 32}}


@pytest.fixture(scope="module")
def screens(tmp_path_factory):
    """The working folder with the three screens' downloads, and the small-scale config (local GO
    files in place of the URLs: no network in tests)."""
    shared = require_shared()
    require_shared("yeast_fields")
    require_shared("go")
    work = tmp_path_factory.mktemp("yeast_screens")
    built = yeast_screens_downloads(work, shared)
    go = {k: str(v) for k, v in built["go"].items()}
    small = work / "small.yaml"
    datasets = {name: TINY for name in NAMES}
    datasets["yeast_nop1"] = TINY | {"exploratory": {"go": go}}
    small.write_text(yaml.safe_dump({"datasets": datasets}))
    return work, built, small


def _inputs(plan: str, rule: str) -> list[str]:
    """The input files of the one job of ``rule`` a dry run lists."""
    block = next(b for b in plan.split("\nrule ")[1:] if b.split(":", 1)[0].strip() == rule)
    return re.search(r"input: (.*)", block).group(1).split(", ")


def test_fig3_plans_the_three_screens_unscored_and_suppfig5_its_go_files(screens):
    work, _, _ = screens
    # the config as shipped: GO files by URL, fetched by download_go
    plan = run_snakemake("fig3", "suppfig5", "-n", "--directory", work, "--configfile", SCREENS).stdout
    jobs = _jobs(plan)
    rules = {rule for rule, _ in jobs}
    assert not rules & {"knn_benchmark", "classifier_benchmark", "pairwise_benchmark", "umap_cells", "feature_sets"}
    assert {d for r, d in jobs if r == "train_pci"} == set(NAMES)
    assert "train_autoencoder" not in rules and "extract_vgg16" not in rules  # fig3 needs the PCI layer only
    inputs = _inputs(plan, "umap_proteins")
    for name in NAMES:  # each screen's conv4 (nothing ranks their layers) and its label table
        assert f"results/{name}/features/pci_conv4.parquet" in inputs and f"results/{name}/cells.parquet" in inputs
    assert {"downloads/yeastgfp.csv", "downloads/weill2018_nop1pr_localizations.csv"} <= set(inputs)
    assert not any("supptable1" in f for f in inputs)
    subset = _inputs(plan, "subset_clustering")
    assert {"results/go/go-basic.obo", "results/go/sgd.gaf.gz"} <= set(subset)
    assert "results/yeast_nop1/features/pci_conv4.parquet" in subset
    assert {d for r, d in jobs if r == "subset_clustering"} == {"yeast_nop1"}
    assert sum(r == "download_go" for r, _ in jobs) == 2


def test_after_the_yeast_protocol_the_chong_cells_rank_the_wt2_layers(screens):
    """Given after config/yeast_paper.yaml: the WT2 panel is ranked by the Chong set's kNN table
    (the labelled set scored with its network), the other screens by none (conv4); the only
    kNN job is Chong's, and Chong itself, whose cells name classes, not proteins, has no panel."""
    work, _, _ = screens
    shared = require_shared()
    require_shared("yeast_toy_crops")
    n_cells = yeast_paper_downloads(work, shared, vgg16=False)
    size = work / "chong_size.yaml"
    size.write_text(yaml.safe_dump({"datasets": {"chong": {"labelled_hdf5": {"expect": {"cells": n_cells}}}}}))
    plan = run_snakemake("fig3", "-n", "--directory", work, "--configfile", PAPER, SCREENS, size).stdout
    inputs = _inputs(plan, "umap_proteins")
    assert [f for f in inputs if "supptable1" in f] == ["results/chong/tables/supptable1.tsv"]
    assert {f"results/yeast_wt2/features/pci_conv{k}.parquet" for k in range(1, 6)} <= set(inputs)
    # Chong's cells are classes, not proteins: no panel of their own
    assert "results/chong/cells.parquet" not in inputs
    assert {d for r, d in _jobs(plan) if r in ("knn_benchmark", "classifier_benchmark")} == {"chong"}


@pytest.mark.workflow
def test_fig3_and_suppfig5_run_end_to_end(screens):
    work, built, small = screens
    run_snakemake("fig3", "suppfig5", "--directory", work, "--configfile", SCREENS, small)
    for name in NAMES:  # every strain an image of its own fields; the masked screens cropped from the masks
        cells = read_table(work / "results" / name / "cells.parquet")
        assert set(cells["image_id"]) == set(built["strains"][name])
        assert cells.groupby("image_id").size().min() >= 30
    sheet = read_table(work / "results" / "yeast_nop1" / "samplesheet.tsv")
    assert sheet["mask"].str.endswith("_mask.tif").all()
    log = (work / "results" / "logs" / "umap_proteins.log").read_text()
    for name in NAMES:  # labelled through the tables' names: the WT2 folders are gene names, the others ORFs
        found = re.search(rf"{name}: (\d+) proteins, (\d+) labelled, from pci_conv4", log)
        assert found and int(found.group(2)) >= int(found.group(1)) - 1, log
    assert (work / "results" / "figures" / "fig3.png").stat().st_size > 0
    res = work / "results" / "yeast_nop1" / "tables"
    clusters = read_table(res / "suppfig5_clusters.tsv")
    punctate_only = {orf for orf, terms in NOP1_LOCALIZATIONS.items() if terms == "punctate"}
    assert set(clusters["protein"]) == punctate_only and (clusters["feature_set"] == "pci_conv4").all()
    # enriched against the punctate proteins (4 here: no term can be significant; the background
    # itself is checked in tests/exploratory/test_subset.py)
    table = read_table(res / "suppfig5_go.tsv")
    assert notrun.reason(table) is None and {"cluster", "go_id", "fdr", "ratio", "pop_n"} <= set(table.columns)
    assert (table["pop_n"] == len(punctate_only)).all()
    log = (work / "results" / "yeast_nop1" / "logs" / "suppfig5.log").read_text()
    assert (
        "go_slim_mapping.tab" in log and f"{len(punctate_only)} proteins in 3 clusters" in log
    )  # the background: every punctate protein
