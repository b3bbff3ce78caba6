"""The workflow as users run it: lint, dry run, the test config through `crops`, bad inputs, envs."""

import ast
import io
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TEST_CONFIG, run_snakemake

from pcinpaint.crops.store import read_crops
from pcinpaint.io import read_table, write_table

snakemake = run_snakemake


def run_config(demo_run) -> Path:
    """The config the module's run was built with (the test config plus files the test wrote)."""
    return demo_run.parent / "config.yaml"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The test config built through every target (`all`) in a fresh directory, with two inputs
    the test writes: a VGG16 state dict of random weights (torchvision layout) for sim_human, and
    an imported per-cell feature table for sim_yeast, made from its cell table once that exists."""
    import torch

    from pcinpaint.features.vgg16 import VGG16Features

    workdir = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    torch.save(VGG16Features().state_dict(), workdir / "vgg16_random.pt")
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["datasets"]["sim_human"]["baselines"] = {
        "vgg16_weights": "vgg16_random.pt",
        "vgg16_rgb": {"red": "microtubules", "green": "stain", "blue": "nucleus"},
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake("results/sim_yeast/cells.parquet", "--directory", workdir, f"--configfile={path}")
    cells = read_table(workdir / "results/sim_yeast/cells.parquet")
    rng = np.random.default_rng(0)
    exported = pd.DataFrame(
        {
            "cell_id": cells["cell_id"],
            "FileName_GFP": "well.tif",
            "Intensity_MeanIntensity_GFP": rng.random(len(cells)),
            "AreaShape_Area": rng.integers(100, 900, len(cells)),
        }
    ).iloc[::-1]
    exported.to_csv(workdir / "cellprofiler.csv", index=False)
    config["datasets"]["sim_yeast"]["baselines"]["imported"]["cellprofiler"] = {"path": "cellprofiler.csv"}
    path.write_text(yaml.safe_dump(config))
    snakemake("all", "--directory", workdir, f"--configfile={path}")
    return workdir / "results"


def test_lint_is_clean():
    proc = snakemake("--lint")
    assert "Congratulations, your workflow is in a good condition" in proc.stdout + proc.stderr


HIDE_INSTALLED_LIBRARY = """
import sys
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("workflow_scripts")]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__name__.lower()
                    and "editable" not in getattr(f, "__name__", "").lower()]
"""


@pytest.mark.workflow
def test_rule_jobs_run_without_the_library_installed(tmp_path):
    """Rule scripts import `pcinpaint` through Snakemake's script path alone: with the installed
    (editable) library hidden from every Python process, a rule job still runs."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_INSTALLED_LIBRARY)
    env = {**os.environ, "PYTHONPATH": str(hide)}
    probe = subprocess.run([sys.executable, "-c", "import pcinpaint"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'pcinpaint'" in probe.stderr  # hidden indeed
    target = "results/sim_yeast_heldout/simulated/samplesheet.tsv"
    snakemake(target, "--directory", tmp_path, f"--configfile={TEST_CONFIG}", env=env)
    assert len(read_table(tmp_path / target)) == 4


def test_dry_run_plans_the_demo(tmp_path):
    proc = snakemake("-n", "--directory", tmp_path)
    out = proc.stdout + proc.stderr
    # the segmentation jobs follow from the sample sheet (a checkpoint): planned once it exists
    assert "checkpoint jobs, which will result in alteration of the DAG" in out
    for rule in (
        "simulate_screen",
        "samplesheet",
        "gather_crops",
        "qc_detection",
        "qc_montage",
        "qc_overlays",
        "train_pci",
        "extract_pci",
        "extract_random",
        "extract_raw",
        "inpainting_figure",
        "loss_curve",
        "extract_classic",
        "train_autoencoder",
        "extract_autoencoder",
        "feature_sets",
        "knn_benchmark",
        "knn_figure",
        "classifier_benchmark",
        "pairwise_benchmark",
        "umap_cells",
        "umap_proteins",
    ):
        assert re.search(rf"^{rule}\s+\d+", out, re.M), rule


@pytest.mark.workflow
def test_crop_stores_and_cell_tables(demo_run):
    for dataset, channels in (("sim_human", 3), ("sim_yeast", 2)):
        cells = read_table(demo_run / dataset / "cells.parquet")
        crops = read_crops(demo_run / dataset / "crops.zarr")
        assert crops.shape == (len(cells), channels, 64, 64)
        assert list(cells["store_index"]) == list(range(len(cells)))
        assert {
            "cell_id",
            "image_id",
            "field_id",
            "protein",
            "centroid_y",
            "centroid_x",
            "area",
            "true_class",
            "mixing_fraction",
            "subpopulation",
        } <= set(cells.columns)
        assert cells["cell_id"].is_unique
        assert cells["true_class"].notna().mean() > 0.95  # the rest are detections on no true cell
        assert cells.groupby("image_id").size().min() >= 5
        fields = read_table(demo_run / dataset / "qc" / "fields.tsv")
        assert int(fields["n_stored"].astype(int).sum()) == len(cells)
        for png in ("montage.png", "overlays.png"):
            assert (demo_run / dataset / "qc" / png).stat().st_size > 10_000
        assert list((demo_run / dataset / "benchmarks").glob("segment/*.tsv"))


@pytest.mark.workflow
@pytest.mark.parametrize("dataset", ["sim_human", "sim_yeast"])
def test_segmentation_precision_and_recall(demo_run, dataset):
    table = read_table(demo_run / dataset / "qc" / "detection.tsv").set_index("field_id")
    precision, recall = float(table.loc["all", "precision"]), float(table.loc["all", "recall"])
    touching = float(table.loc["touching", "recall"])
    print(f"{dataset}: precision {precision:.3f}, recall {recall:.3f}, recall on touching cells {touching:.3f}")
    assert precision >= 0.9 and recall >= 0.9
    assert touching >= 0.85


@pytest.mark.workflow
def test_more_epochs_rerun_training_but_not_segmentation(demo_run, tmp_path):
    config = yaml.safe_load(run_config(demo_run).read_text())
    config["datasets"]["sim_human"]["model"]["epochs"] += 1
    path = tmp_path / "more.yaml"
    path.write_text(yaml.safe_dump(config))
    plan = snakemake("all", "-n", "--directory", demo_run.parent, f"--configfile={path}").stdout
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", plan, re.M))
    assert jobs.get("train_pci") == "1" and "extract_pci" in jobs
    assert jobs.get("train_autoencoder") == "1"  # same budget as paired cell inpainting
    assert not {"simulate_screen", "segment", "gather_crops", "extract_raw", "extract_classic", "extract_vgg16"} & set(
        jobs
    )


def planned_jobs(stdout: str) -> list[tuple[str, str, str]]:
    """(rule, dataset, reason) of each job a dry run plans."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", stdout):
        if m := re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block.strip()):
            reason = re.search(r"^\s+reason: (.*)$", block, re.M)
            dataset = re.search(r"^\s+wildcards: .*?dataset=([^,\s]+)", block, re.M)
            jobs.append((m.group(1), dataset.group(1) if dataset else "", reason.group(1) if reason else ""))
    return jobs


#: one key per block, a new value, and a rule that must rerun for it
RERUN_CASES = [
    ("sim_human", "benchmarks.n_estimators", 7, "classifier_benchmark"),
    ("sim_yeast", "benchmarks.ks", [5, 11], "knn_benchmark"),
    ("sim_yeast", "exploratory.n_branches", 2, "single_cell_dendrograms"),
    ("sim_yeast", "exploratory.query_neighbours", 4, "localize_like"),
    ("sim_yeast", "qc.blank_contrast", 0.5, "qc_overlays"),
    ("sim_human", "figures.inpainting_classes", ["cytosol", "nucleoli"], "inpainting_figure"),
    ("sim_yeast", "features.batch_size", 16, "extract_pci"),
]


@pytest.mark.workflow
@pytest.mark.parametrize("dataset, key, value, rule", RERUN_CASES, ids=[c[1] for c in RERUN_CASES])
def test_one_key_reruns_the_rules_that_read_it_and_what_follows_them(demo_run, tmp_path, dataset, key, value, rule):
    """Params are exactly each rule's keys (pcinpaint.rule_keys): after editing one key, the jobs
    whose params changed are of the rules that read it, on that dataset, and every other job
    planned is downstream of them (its input is updated), nothing else."""
    from pcinpaint.rule_keys import readers

    config = yaml.safe_load(run_config(demo_run).read_text())
    *parents, last = key.split(".")
    node = config["datasets"][dataset]
    for part in parents:
        node = node.setdefault(part, {})
    assert node.get(last) != value
    node[last] = value
    path = tmp_path / "one_key.yaml"
    path.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(snakemake("all", "-n", "--directory", demo_run.parent, f"--configfile={path}").stdout)
    changed = {(r, d) for r, d, reason in jobs if reason.startswith("Params have changed")}
    assert (rule, dataset) in changed
    assert {r for r, _ in changed} <= set(readers(key)) and {d for _, d in changed} == {dataset}
    others = [(r, d, reason) for r, d, reason in jobs if (r, d) not in changed and r != "all"]
    assert all(reason.startswith("Input files updated by another job") for _, _, reason in others), others


@pytest.mark.workflow
def test_report_holds_the_figures(demo_run, tmp_path):
    report = tmp_path / "report.html"
    snakemake("--report", report, "--directory", demo_run.parent, f"--configfile={run_config(demo_run)}")
    assert report.stat().st_size > 100_000


@pytest.mark.workflow
def test_rerun_is_a_no_op_and_deterministic(demo_run, tmp_path):
    proc = snakemake("all", "-n", "--directory", demo_run.parent, f"--configfile={run_config(demo_run)}")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    snakemake("results/sim_yeast/cells.parquet", "--directory", tmp_path, f"--configfile={TEST_CONFIG}")
    again = read_table(tmp_path / "results/sim_yeast/cells.parquet")
    pd.testing.assert_frame_equal(again, read_table(demo_run / "sim_yeast" / "cells.parquet"))
    np.testing.assert_array_equal(
        read_crops(tmp_path / "results/sim_yeast/crops.zarr"), read_crops(demo_run / "sim_yeast" / "crops.zarr")
    )


@pytest.mark.workflow
def test_features_models_and_figures(demo_run):
    from pcinpaint.features.table import split_table

    for dataset, channels in (("sim_human", 3), ("sim_yeast", 2)):
        cells = read_table(demo_run / dataset / "cells.parquet")
        sizes = {}
        for name in [f"pci_conv{i}" for i in range(1, 6)] + [f"random_conv{i}" for i in range(1, 6)] + ["raw"]:
            table = read_table(demo_run / dataset / "features" / f"{name}.parquet")
            meta, x = split_table(table)
            assert list(meta["cell_id"]) == list(cells["cell_id"])  # one row per cell, store order
            assert table.columns[0] == "Metadata_cell_id" and np.isfinite(x).all()
            sizes[name] = x.shape[1]
        assert [sizes[f"pci_conv{i}"] for i in range(1, 6)] == [24, 64, 96, 96, 64]  # width 0.25
        assert sizes["raw"] == channels * 16 * 16
        history = read_table(demo_run / dataset / "models" / "pci" / "training_log.tsv")
        assert float(history["loss"].iloc[-1]) < float(history["loss"].iloc[0])
        for png in ("fig1c.png", "fig1c.pdf", "suppfig1.png", "suppfig1.pdf", "pci_loss.png"):
            assert (demo_run / dataset / "figures" / png).stat().st_size > 5_000
    # a held-out screen takes its features from the sim_yeast model without training one
    held_out = demo_run / "sim_yeast_heldout"
    assert not (held_out / "models").exists()
    meta, x = split_table(read_table(held_out / "features" / "pci_conv3.parquet"))
    assert x.shape == (len(read_table(held_out / "cells.parquet")), 96)
    assert (held_out / "figures" / "suppfig1.png").exists()


@pytest.mark.workflow
def test_trained_features_beat_raw_pixels_and_the_random_encoder(demo_run):
    """The method's claim on the test config's yeast screen (~600 cells, 6 epochs, width 0.25)."""
    from pcinpaint.benchmarks.knn import loo_knn_accuracy
    from pcinpaint.features.table import split_table

    def accuracy(name):
        meta, x = split_table(read_table(demo_run / "sim_yeast" / "features" / f"{name}.parquet"))
        keep = meta["true_class"].notna() & ~meta["true_class"].astype(str).str.contains("+", regex=False)
        return loo_knn_accuracy(x[keep.to_numpy()], meta.loc[keep, "true_class"].to_numpy(), k=11)

    scores = {
        name: accuracy(name) for name in ["raw"] + [f"{s}_conv{i}" for s in ("pci", "random") for i in range(1, 6)]
    }
    print({k: round(v, 3) for k, v in scores.items()})
    best = max(scores["pci_conv3"], scores["pci_conv4"])
    assert best >= scores["raw"] + 0.15
    assert best >= max(scores[f"random_conv{i}"] for i in range(1, 6)) + 0.03  # the control's best layer


@pytest.mark.workflow
def test_baselines_and_the_feature_set_manifest(demo_run):
    from pcinpaint.features.table import split_table

    def table(dataset, name):
        meta, x = split_table(read_table(demo_run / dataset / "features" / f"{name}.parquet"))
        assert list(meta["cell_id"]) == list(read_table(demo_run / dataset / "cells.parquet")["cell_id"])
        assert np.isfinite(x).all()
        return read_table(demo_run / dataset / "features" / f"{name}.parquet"), x

    human, x = table("sim_human", "classic")
    assert "classic_haralick_contrast_d16" in human.columns and not any("cell_area" in c for c in human.columns)
    yeast, _ = table("sim_yeast", "classic")  # whole cells segmented: shape and radial features too
    assert {"classic_cell_area", "classic_cell_solidity", "classic_cell_radial_fracatd_4of4"} <= set(yeast.columns)
    assert [table("sim_yeast", f"ae_conv{i}")[1].shape[1] for i in range(1, 6)] == [24, 64, 96, 96, 64]
    assert table("sim_yeast_heldout", "ae_conv3")[1].shape[1] == 96  # from sim_yeast's autoencoder
    assert not (demo_run / "sim_yeast_heldout" / "models").exists()
    for strategy, factor in (("rgb", 1), ("protein", 1), ("concat", 3)):
        assert table("sim_human", f"vgg16_{strategy}_block4_conv1")[1].shape[1] == 512 * factor
        assert table("sim_human", f"vgg16_{strategy}_block1_conv1")[1].shape[1] == 64 * factor
    imported, x = table("sim_yeast", "imported_cellprofiler")
    source = pd.read_csv(demo_run.parent / "cellprofiler.csv").set_index("cell_id")
    np.testing.assert_allclose(
        imported["Intensity_MeanIntensity_GFP"],
        source.loc[imported["Metadata_cell_id"], "Intensity_MeanIntensity_GFP"],
        rtol=1e-6,
    )
    assert "FileName_GFP" not in imported.columns  # text columns are not features

    human_sets = read_table(demo_run / "sim_human" / "features" / "feature_sets.tsv").set_index("name")
    assert (human_sets.loc["vgg16_protein_block4_conv1", "status"], human_sets.loc["ae_conv3", "status"]) == (
        "ran",
        "ran",
    )
    yeast_sets = read_table(demo_run / "sim_yeast" / "features" / "feature_sets.tsv").set_index("name")
    assert yeast_sets.loc["vgg16_protein", "status"] == "not run"
    assert yeast_sets.loc["imported_kraus_supervised", "status"] == "not run"
    assert int(yeast_sets.loc["imported_cellprofiler", "n_features"]) == 2
    log = (demo_run / "sim_yeast" / "logs" / "feature_sets.log").read_text()
    assert "vgg16_protein: not run: no baselines.vgg16_weights file in the config" in log
    for dataset in ("sim_human", "sim_yeast"):
        assert (demo_run / dataset / "figures" / "autoencoder_loss.png").stat().st_size > 5_000
        history = read_table(demo_run / dataset / "models" / "autoencoder" / "training_log.tsv")
        assert float(history["loss"].iloc[-1]) < float(history["loss"].iloc[0])


@pytest.mark.workflow
def test_a_broken_imported_table_stops_with_one_line(demo_run, tmp_path):
    cells = read_table(demo_run / "sim_yeast" / "cells.parquet")
    broken = pd.DataFrame({"cell_id": list(cells["cell_id"][:-3]) + ["ghost"], "f": 1.0})
    broken.to_csv(tmp_path / "broken.csv", index=False)
    config = yaml.safe_load(run_config(demo_run).read_text())
    config["datasets"]["sim_yeast"]["baselines"]["imported"]["broken"] = {"path": str(tmp_path / "broken.csv")}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake(
        "results/sim_yeast/features/imported_broken.parquet",
        "--directory",
        demo_run.parent,
        f"--configfile={path}",
        check=False,
    )
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "broken.csv: 1 of" in lines[0] and "match no cell" in lines[0], lines
    assert not (demo_run / "sim_yeast" / "features" / "imported_broken.parquet").exists()


@pytest.mark.workflow
def test_benchmark_targets_tables_and_figures(demo_run, tmp_path):
    """Every benchmark target was built by `all`; each named target is known to the workflow."""
    for dataset in ("sim_human", "sim_yeast"):
        tables = demo_run / dataset / "tables"
        supptable1 = read_table(tables / "supptable1.tsv").set_index("feature_set")
        assert {"pci_conv3", "classic", "ae_conv3", "random_conv1", "raw"} <= set(supptable1.index)
        ran = supptable1[supptable1["status"] == "ran"]
        accuracy = ran[["k1", "k5", "k11", "k25", "k50"]].astype(float).to_numpy()
        assert ((accuracy >= 0) & (accuracy <= 1)).all()
        # below benchmarks.max_cells every labelled cell takes part, and the tables say so
        assert set(ran["cells"]) == {f"all {int(ran['n_cells'].iloc[0]):,}"}
        assert list(read_table(tables / "table1.tsv")["layer"]) == [f"conv{i}" for i in range(1, 6)]
        supptable2 = read_table(tables / "supptable2.tsv")
        assert {"logreg", "forest"} <= set(supptable2["model"]) and "grouped by image" in set(supptable2["folds"])
        assert set(supptable2["cells"]) - {""} == set(ran["cells"])  # blank: sets that did not run
        scores = read_table(tables / "fig2b.tsv")
        assert "overall" in set(scores["term"])
        for png in ("fig2a.png", "suppfig2.png", "fig2b.png", "suppfig3.png"):
            assert (demo_run / dataset / "figures" / png).stat().st_size > 5_000, png
    assert (
        read_table(demo_run / "sim_yeast" / "tables" / "supptable1.tsv")
        .set_index("feature_set")
        .loc["vgg16_protein", "status"]
        == "not run"
    )
    human = read_table(demo_run / "sim_human" / "tables" / "supptable1.tsv").set_index("feature_set")
    assert human.loc["vgg16_protein_block4_conv1", "status"] == "ran"  # the random weights the test wrote
    assert set(read_table(demo_run / "sim_human" / "tables" / "table2.tsv")["comparison"]) >= {
        "cell_line",
        "difference",
    }
    assert (demo_run / "figures" / "fig3.png").stat().st_size > 5_000
    proc = snakemake(
        "table1",
        "supptable1",
        "fig2a",
        "suppfig2",
        "supptable2",
        "fig2b",
        "table2",
        "suppfig3",
        "fig3",
        "-n",
        "--directory",
        demo_run.parent,
        f"--configfile={run_config(demo_run)}",
    )
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.workflow
def test_exploratory_targets_tables_and_figures(demo_run):
    """`all` built the exploratory stage: clusters, GO enrichment, multi-localization scores,
    single-cell dendrograms and the truth checks; each named target is known to the workflow."""
    yeast = demo_run / "sim_yeast"
    clusters = read_table(yeast / "tables" / "clusters.tsv")
    cells = read_table(yeast / "cells.parquet")
    assert set(clusters["protein"]) == set(cells["protein"]) and clusters["feature_set"].str.startswith("pci_").all()
    assert clusters["cluster"].astype(int).min() == 1
    table3 = read_table(yeast / "tables" / "table3.tsv")
    assert {"cluster", "level", "go_id", "name", "ratio", "fdr"} <= set(table3.columns)
    assert (table3["fdr"].astype(float) < 0.05).all()
    # two levels: sub-clusters "<cluster>.<k>" of the clusters a finer cut splits
    subs = clusters.loc[clusters["subcluster"].fillna("") != "", ["cluster", "subcluster"]].astype(str)
    assert len(subs) and (subs["subcluster"].str.split(".").str[0] == subs["cluster"]).all()
    assert set(table3["level"]) <= {"cluster", "sub-cluster"}
    like = read_table(yeast / "tables" / "localize_like.tsv")
    assert set(like["query"]) == {"SIMY001"} and like["tree_rank"].notna().sum() == 3
    assert (yeast / "figures" / "localize_like.png").stat().st_size > 5_000
    scores = read_table(yeast / "tables" / "multiloc_scores.tsv")
    assert {"cytoplasm", "nucleus"} <= set(scores["group"])
    truth = read_table(yeast / "tables" / "exploratory_truth.tsv")
    assert truth["check"].str.contains("ARI").any() and len(truth) >= 3
    like_check = truth[truth["check"].str.startswith("localize like X")]
    assert len(like_check) == 1 and int(like_check["n"].iloc[0]) in (0, 1)  # one query; its class may be alone
    assert int(like_check["n"].iloc[0]) == 0 or 0 <= float(like_check["value"].iloc[0]) <= 1
    for png in ("fig4.png", "suppfig5.png", "suppfig5_examples.png", "fig5/cytoplasm_vs_nucleus.png"):
        assert (yeast / "figures" / png).stat().st_size > 5_000, png
    assert (demo_run / "sim_human" / "figures" / "fig4.png").stat().st_size > 5_000
    proc = snakemake(
        "fig4",
        "suppfig5",
        "table3",
        "fig5",
        "suppdata2",
        "fig6",
        "exploratory",
        "-n",
        "--directory",
        demo_run.parent,
        f"--configfile={run_config(demo_run)}",
    )
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _feature_table_formats(table: pd.DataFrame, folder: Path) -> dict[str, dict]:
    """The run's own feature table written as other tools write theirs, as feature_table blocks:
    parquet as the workflow writes it (pycytominer's Metadata_ columns), gzipped CSV with bare
    metadata names, AnnData (obs + X), and pycytominer's plate and well with a gene column and
    compartment-prefixed features beside a per-image count that is not a feature."""
    from h5ad_files import write_h5ad

    meta = table[[c for c in table.columns if c.startswith("Metadata_")]]
    features = table.drop(columns=meta.columns)
    bare = meta.rename(columns=lambda c: c.removeprefix("Metadata_"))
    table.to_parquet(folder / "own.parquet")
    roles = bare[["cell_id", "image_id", "field_id", "protein"]].assign(label=bare["true_class"])
    pd.concat([roles, features], axis=1).to_csv(folder / "own.csv.gz", index=False)
    write_h5ad(folder / "own.h5ad", bare.set_index("cell_id"), features.to_numpy(), features.columns)
    pycytominer = pd.DataFrame(
        {
            "Metadata_Plate": "plate1",
            "Metadata_Well": bare["image_id"],
            "Metadata_gene": bare["protein"],
            "Metadata_true_class": bare["true_class"],
            "Image_Count_Cells": np.arange(len(bare)) % 7,
        }
    )
    pycytominer = pd.concat([pycytominer, features.add_prefix("Cells_")], axis=1)
    pycytominer.to_parquet(folder / "pycytominer.parquet")
    return {
        "parquet": {"path": "own.parquet"},
        "csv": {"path": "own.csv.gz"},
        "h5ad": {"path": "own.h5ad", "name": "subcell"},
        "pycytominer": {
            "path": "pycytominer.parquet",
            "columns": {"protein": "Metadata_gene"},
            "features": {"prefix": ["Cells_"]},
        },
    }


@pytest.mark.workflow
def test_feature_tables_of_the_runs_own_features_give_its_numbers(demo_run, tmp_path):
    """sim_yeast's own PCI layer, written as a table in each format and analysed as a dataset of
    source features, gives the workflow's numbers: under its own name (so every seed is the
    same) its kNN, classifier, pairwise, clustering, GO, multi-localization and Fig 6 tables;
    in the other formats its kNN table (exact, no draw). The demo's protein means, a per-protein
    table, give its protein clusters and GO table."""
    from pcinpaint.features.matrix import group_means

    tables = demo_run / "sim_yeast" / "tables"
    own = read_table(tables / "clusters.tsv")
    layer = own["feature_set"].iloc[0]  # the best PCI layer at k = 11, which every analysis uses
    table = read_table(demo_run / "sim_yeast" / "features" / f"{layer}.parquet")
    blocks = _feature_table_formats(table, tmp_path)
    base = yaml.safe_load(run_config(demo_run).read_text())["datasets"]["sim_yeast"]
    sim = demo_run / "sim_yeast" / "simulated"
    go = {"ontology": str(sim / "compartments.obo"), "annotations": str(sim / "annotations.tsv")}
    analyses = {"benchmarks": base["benchmarks"], "exploratory": {**base["exploratory"], "go": go}}
    truth = read_table(sim / "truth_proteins.tsv")
    analyses["exploratory"]["variable_proteins"] = list(truth.loc[truth["kind"] == "variable", "protein"])
    datasets = {"sim_yeast": {"source": "features", "feature_table": blocks.pop("parquet"), **analyses}}
    for name, block in blocks.items():
        bench = {**base["benchmarks"], "label_column": "label" if name == "csv" else "true_class"}
        datasets[f"yeast_{name}"] = {"source": "features", "feature_table": block, "benchmarks": bench}
    features = [c for c in table.columns if not c.startswith("Metadata_")]
    proteins, _, means = group_means(table["Metadata_protein"].astype(str).to_numpy(), table[features].to_numpy())
    means = pd.concat([pd.DataFrame({"protein": proteins}), pd.DataFrame(means, columns=features)], axis=1)
    means.to_csv(tmp_path / "means.tsv", sep="\t", index=False)
    ex = base["exploratory"]
    n_clusters = int(own["cluster"].astype(int).max())
    datasets["yeast_means"] = {
        "source": "features",
        "feature_table": {"path": "means.tsv", "level": "protein"},
        # every term reported (FDR < 0.99): the test screen's 20 proteins make none significant
        "exploratory": {"n_clusters": n_clusters, "n_subclusters": ex["n_subclusters"], "go": {**go, "alpha": 0.99}},
    }
    config = tmp_path / "features.yaml"
    config.write_text(
        yaml.safe_dump({"seed": yaml.safe_load(run_config(demo_run).read_text())["seed"], "datasets": datasets})
    )
    targets = [f"results/{d}/tables/supptable1.tsv" for d in datasets if d != "yeast_means"]
    targets += [
        f"results/sim_yeast/tables/{t}.tsv" for t in ("supptable2", "fig2b", "table3", "suppdata2", "fig6_branches")
    ]
    targets += ["results/yeast_means/tables/table3.tsv"]
    targets += ["results/sim_yeast/explorer.html", "results/yeast_means/explorer.html"]  # pages without crops
    snakemake(*targets, "--directory", tmp_path, f"--configfile={config}")
    got = tmp_path / "results"
    n_cells = len(read_table(tmp_path / "results/sim_yeast/cells.parquet", columns=["cell_id"]))
    for name, title in (
        ("sim_yeast", f"all {n_cells} single cells"),
        ("yeast_means", f"all {len(means)} single cells"),
    ):
        page = (got / name / "explorer.html").read_text()
        assert title in page and "data:image/webp" not in page and "not run" not in page.split("<script", 1)[0]

    def rows(path, column, name):
        frame = read_table(path)
        return (
            frame[frame[column] == name]
            .drop(columns=[column, "family", "layer"], errors="ignore")
            .reset_index(drop=True)
        )

    for dataset, name in [
        ("sim_yeast", "imported"),
        ("yeast_csv", "imported"),
        ("yeast_h5ad", "subcell"),
        ("yeast_pycytominer", "imported"),
    ]:
        mine = rows(got / dataset / "tables" / "supptable1.tsv", "feature_set", name)
        theirs = rows(tables / "supptable1.tsv", "feature_set", layer)
        assert len(mine) == 1, dataset
        pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=0, atol=1e-9, obj=dataset)
    for name in ("supptable2", "fig2b"):
        mine = rows(got / "sim_yeast" / "tables" / f"{name}.tsv", "feature_set", "imported")
        theirs = rows(tables / f"{name}.tsv", "feature_set", layer)
        assert len(mine) and len(mine) == len(theirs), name
        pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=0, atol=1e-9, obj=name)
    for name in ("table3", "suppdata2", "fig6_branches"):
        mine, theirs = read_table(got / "sim_yeast" / "tables" / f"{name}.tsv"), read_table(tables / f"{name}.tsv")
        assert len(theirs) or name == "table3", name  # no GO term is significant on the test screen
        pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=0, atol=1e-9, obj=name)
    columns = ["protein", "cluster", "subcluster", "leaf_position"]
    for dataset in ("sim_yeast", "yeast_means"):
        mine = read_table(got / dataset / "tables" / "clusters.tsv")
        pd.testing.assert_frame_equal(mine[columns], own[columns], obj=dataset)
    # the per-protein table's GO table is the one the run's own clusters give at the same settings
    from pcinpaint.config import validate_config
    from pcinpaint.exploratory import enrichment

    settings = validate_config({"datasets": datasets})["datasets"]["yeast_means"]["exploratory"]["go"]
    expected = enrichment.enrich_clusters(enrichment.two_levels(own), settings, go["ontology"], go["annotations"])
    write_table(expected, tmp_path / "expected.tsv")
    assert len(expected) >= 3
    mine = read_table(got / "yeast_means" / "tables" / "table3.tsv")
    pd.testing.assert_frame_equal(mine, read_table(tmp_path / "expected.tsv"))


def test_a_feature_table_config_plans_no_crop_training_or_extraction_job(tmp_path):
    """A features-only config: every analysis that needs no pixels is planned, nothing that
    reads or makes crops; a target that needs crops is named as not run at parse time."""
    rng = np.random.default_rng(0)
    n = 60
    pd.DataFrame(
        {
            "Metadata_Plate": "p1",
            "Metadata_Well": [f"A{i % 6:02d}" for i in range(n)],
            "Metadata_protein": [f"P{i % 6}" for i in range(n)],
            "Metadata_label": [f"class{i % 3}" for i in range(n)],
            **{f"Cells_f{j}": rng.random(n) for j in range(5)},
        }
    ).to_parquet(tmp_path / "profiles.parquet")
    config = tmp_path / "features.yaml"
    config.write_text(
        yaml.safe_dump({"datasets": {"cp": {"source": "features", "feature_table": {"path": "profiles.parquet"}}}})
    )
    proc = snakemake("-n", "--directory", tmp_path, f"--configfile={config}")
    planned = set(re.findall(r"^rule (\w+):", proc.stdout, re.M)) | set(
        re.findall(r"^localrule (\w+):", proc.stdout, re.M)
    )
    assert {"feature_table_cells", "feature_table", "knn_benchmark", "protein_clustering", "umap_proteins"} <= planned
    assert not planned & {
        "samplesheet",
        "segment",
        "gather_crops",
        "import_crops",
        "qc_montage",
        "train_pci",
        "extract_pci",
        "extract_random",
        "extract_raw",
        "extract_classic",
        "inpainting_figure",
    }
    assert {"without_images"} <= planned  # fig1c and suppfig1 say "not run: the dataset is a feature table"
    proc = snakemake("results/cp/crops.zarr", "-n", "--directory", tmp_path, f"--configfile={config}", check=False)
    assert proc.returncode != 0
    assert "error: results/cp/crops.zarr: not run: the dataset is a feature table" in proc.stderr


class _Explorer(HTMLParser):
    """What the explorer's panel shows in the page's document: its status, the thumbnail, the
    neighbours listed."""

    def __init__(self):
        super().__init__()
        self.status, self.thumbnail, self.neighbours = {}, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "explorer-status":
            self.status = {k[5:]: v for k, v in attrs.items() if k.startswith("data-")}
        elif tag == "img" and attrs.get("id") == "thumbnail":
            self.thumbnail = attrs.get("src")
        elif tag == "li" and "data-protein" in attrs:
            self.neighbours.append(attrs["data-protein"])


@pytest.mark.workflow
def test_the_explorer_opens_offline_draws_every_point_and_finds_a_proteins_neighbours(demo_run, tmp_path):
    """Headless Chromium, networking off, opens the page built by `all`: both maps drawn with
    the cells (the benchmarks' subsample) and proteins expected; a search shows the protein's
    crop and its nearest proteins, which are those of the analysed layer's profiles."""
    from browser import render, screenshot

    from pcinpaint.exploratory.clustering import protein_profiles
    from pcinpaint.exploratory.neighbours import feature_neighbours
    from pcinpaint.features.reading import FeatureFile

    page = demo_run / "sim_yeast" / "explorer.html"
    assert page.stat().st_size < 30 * 2**20
    clusters = read_table(demo_run / "sim_yeast" / "tables" / "clusters.tsv")
    features = FeatureFile(demo_run / "sim_yeast" / "features" / f"{clusters['feature_set'].iloc[0]}.parquet")
    meta = features.metadata(("store_index", "protein"))
    profiles, matrix = protein_profiles(meta, features, "protein", 1)
    near = dict(zip(profiles.index, feature_neighbours(matrix, profiles.index, 10)[0]))
    query = str(profiles.index[3])
    shown = _Explorer()
    shown.feed(render(page, fragment=f"search={query}"))
    assert shown.status["ready"] == "yes" and int(shown.status["canvases"]) >= 2
    assert int(shown.status["cells"]) == len(meta)  # the test screen is under explorer.max_cells
    assert int(shown.status["proteins"]) == len(profiles) and shown.status["search"] == query
    assert shown.thumbnail.startswith("data:image/webp;base64,") and len(shown.thumbnail) > 200
    assert shown.neighbours == near[query]
    # the search selects the protein and its neighbours on both maps: listed, and what Export CSV saves
    csv = pd.read_csv(io.StringIO(shown.status["csv"]))
    assert list(csv.columns) == ["protein", "n_selected", "label", "cluster"]
    assert set(csv["protein"]) == {query, *near[query]} and int(shown.status["selected"]) == len(csv)
    assert csv["n_selected"].sum() == meta["protein"].isin(csv["protein"]).sum()  # all their cells
    png = screenshot(page, tmp_path / "explorer.png", size=(1400, 900), fragment=f"search={query}")
    import imageio.v3 as iio

    image = iio.imread(png)
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 100  # points, colours and crops drawn


def test_a_plate_is_planned_from_its_metadata_and_gives_the_crops_of_its_tiffs(tmp_path):
    """source plate: `snakemake -n` plans one segmentation job per `fields_per_chunk` fields from
    the plate's metadata (before any job runs); run, an OME-Zarr plate and its plate map give the
    crop store and cell table of the same pixels as one TIFF per channel in a sample sheet."""
    pytest.importorskip("ome_zarr", reason="the ome-zarr package writes the test plate (requirements-dev.txt)")
    sys.path.insert(0, str(REPO / "tests" / "crops"))
    from plate_files import CHANNELS, ome_zarr_plate, plate_map, tiff_sheet
    from synthetic_fields import _field

    wells = {
        w: [_field([(30, 30), (30, 90), (90, 30), (90, 90)], seed=i + k)[0] for k in range(2)]
        for i, w in enumerate(("B03", "B04", "C03"))
    }
    proteins = {"B03": "P1", "B04": "P2", "C03": "P3"}
    ome_zarr_plate(tmp_path / "plate1.ome.zarr", wells, "0.5")
    plate_map(tmp_path / "map.csv", proteins)
    tiff_sheet(tmp_path / "sheet.tsv", wells, proteins, "plate1")
    common = {
        "channels": [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}],
        "segmentation": {"channel": "rfp", "method": "nuclei_otsu", "min_area": 30},
        "crops": {"crop_size": 32, "model_size": 64, "area_fraction": [0.0, 1.0], "border": "pad"},
        "min_cells": 1,
    }
    plate = {"path": "plate1.ome.zarr", "map": "map.csv", "channels": CHANNELS}
    datasets = {
        "plate": {"source": "plate", "plate": plate, **common},
        "tiffs": {"source": "samplesheet", "samplesheet": "sheet.tsv", **common},
    }
    config = tmp_path / "plate.yaml"
    config.write_text(yaml.safe_dump({"fields_per_chunk": 4, "datasets": datasets}))
    targets = ["results/plate/cells.parquet", "results/tiffs/cells.parquet"]
    planned = snakemake(*targets, "-n", "--directory", tmp_path, f"--configfile={config}").stdout
    chunks = sorted(set(re.findall(r"results/plate/chunks/(\d+-of-\d+)\.npy", planned)))
    assert chunks == ["1-of-2", "2-of-2"]  # 6 fields, 4 per job: known before the plate's sheet is written
    assert not (tmp_path / "results").exists()
    snakemake(*targets, "--directory", tmp_path, f"--configfile={config}")
    plate_cells, tiff_cells = (read_table(tmp_path / f"results/{d}/cells.parquet") for d in ("plate", "tiffs"))
    assert len(plate_cells) == 24
    pd.testing.assert_frame_equal(plate_cells, tiff_cells)
    from_plate, from_tiffs = (read_crops(tmp_path / f"results/{d}/crops.zarr") for d in ("plate", "tiffs"))
    assert np.array_equal(from_plate, from_tiffs)
    (tmp_path / "map.csv").write_text("well,protein\nB03,P1\nH12,P9\n")  # a well the plate lacks
    proc = snakemake(*targets, "-n", "--directory", tmp_path, f"--configfile={config}", check=False)
    assert proc.returncode != 0
    assert "error: datasets.plate.plate: map.csv: row 3: well H12 has no field in plate plate1" in proc.stderr


@pytest.mark.workflow
def test_interrupted_training_resumes_from_its_checkpoint(demo_run, tmp_path):
    """Kill the training job mid-way, rerun the rule: it continues from the last epoch."""
    import os
    import signal
    import time

    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["datasets"] = {"sim_human": config["datasets"]["sim_human"]}
    config["datasets"]["sim_human"]["model"]["epochs"] = 12
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(config))
    target = "results/sim_human/models/pci/model.pt"
    snakemake("results/sim_human/cells.parquet", "--directory", tmp_path, f"--configfile={path}")
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--cores",
        "2",
        target,
        "--directory",
        str(tmp_path),
        f"--configfile={path}",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = tmp_path / "results/sim_human/models/pci/checkpoint.pt"
    deadline = time.time() + 300
    import torch

    while time.time() < deadline:
        if checkpoint.exists():
            try:
                if torch.load(checkpoint, weights_only=False)["epoch"] >= 1:
                    break
            except Exception:  # caught mid-write by the reader: try again
                pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # a crash: no chance to clean up
    proc.wait()
    done = torch.load(checkpoint, weights_only=False)["epoch"] + 1
    assert 1 < done < 12 and not (tmp_path / target).exists()
    snakemake("--unlock", "--directory", tmp_path, f"--configfile={path}")  # the lock a crash leaves
    snakemake(target, "--directory", tmp_path, f"--configfile={path}")
    log = (tmp_path / "results/sim_human/logs/train_pci.log").read_text()
    assert f"resuming from results/sim_human/models/pci/checkpoint.pt after epoch {done}" in log
    history = read_table(tmp_path / "results/sim_human/models/pci/training_log.tsv")
    assert list(history["epoch"].astype(int)) == list(range(1, 13))


def _user_config(tmp_path, sheet):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    ds = config["datasets"]["sim_yeast"]
    ds.pop("simulate")
    ds.update(source="samplesheet", samplesheet=str(sheet))
    config["datasets"] = {"screen": ds}
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.workflow
def test_users_sample_sheet_and_a_corrupt_tiff(demo_run, tmp_path):
    """A user's sheet runs the same path as the demo; a corrupt TIFF stops it with one line."""
    sim = demo_run / "sim_yeast" / "simulated"
    sheet = read_table(sim / "samplesheet.tsv").head(4)
    for ch in ("rfp", "gfp"):
        sheet[ch] = [str(sim / p) for p in sheet[ch]]
    sheet_path = tmp_path / "sheet.csv"
    sheet.to_csv(sheet_path, index=False)
    config = _user_config(tmp_path, sheet_path)
    snakemake(
        "results/screen/cells.parquet",
        "--directory",
        tmp_path,
        f"--configfile={config}",
        "--config",
        "fields_per_chunk=1000",
    )
    plan = snakemake("all", "-n", "--directory", tmp_path, f"--configfile={config}").stdout
    assert "results/screen/" in plan and "sim_" not in plan  # the user's config replaces the demo's
    cells = read_table(tmp_path / "results/screen/cells.parquet")
    assert len(cells) > 20 and "true_class" not in cells.columns

    corrupt = tmp_path / "corrupt.tif"
    good = Path(sheet.loc[1, "gfp"]).read_bytes()
    corrupt.write_bytes(good[: len(good) // 3])
    sheet.loc[1, "gfp"] = str(corrupt)
    bad_sheet = tmp_path / "bad.csv"
    sheet.to_csv(bad_sheet, index=False)
    config = _user_config(tmp_path, bad_sheet)
    proc = snakemake(
        "results/screen/cells.parquet",
        "--directory",
        tmp_path / "bad",
        f"--configfile={config}",
        "--config",
        "fields_per_chunk=1000",
        check=False,
    )
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error: ")]
    assert len(lines) == 1
    assert "bad.csv: row 3" in lines[0] and "corrupt.tif" in lines[0]
    assert corrupt.read_bytes() == good[: len(good) // 3]  # the raw input is untouched


def test_schema_violation_fails_at_start_with_one_line(tmp_path):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["datasets"]["sim_human"]["segmentation"]["method"] = "magic"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    proc = snakemake("-n", "--directory", tmp_path, f"--configfile={bad}", check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [errors[0]] and "datasets.sim_human.segmentation.method: 'magic' is not one of" in errors[0]


# ------------------------------------------------------------------------------------------------
# conda envs: parse, and list what each rule's script imports (directly or through the library)
# ------------------------------------------------------------------------------------------------

IMPORT_TO_PACKAGE = {
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "PIL": "pillow",
    "torch": "pytorch",
    "umap": "umap-learn",
}
STDLIB = set(sys.stdlib_module_names) | {"snakemake"}


LIBRARY = REPO / "workflow_scripts" / "pcinpaint"


def _optional_imports(tree: ast.AST) -> set:
    """ids of the nodes inside a ``try`` whose ``except ImportError`` makes its imports optional
    (Cellpose: the user installs it)."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.Try)
        and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        )
        for stmt in node.body
        for inner in ast.walk(stmt)
    }


def _relative_names(node: ast.ImportFrom, path: Path) -> list[str]:
    """A relative import inside the library as absolute ``pcinpaint`` names: the module, then
    each name imported from it."""
    base = path.parent
    for _ in range(node.level - 1):
        base = base.parent
    package = str(base.relative_to(LIBRARY)).replace("/", ".").strip(".")
    names = ["pcinpaint." + ".".join(filter(None, [package, node.module or ""])).strip(".")]
    return names + [f"{names[0]}.{a.name}".replace("..", ".") for a in node.names]


def _imported_names(node: ast.AST, path: Path) -> list[str]:
    """The dotted names an import statement brings in (module, and module.name for a
    from-import); none for any other node."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative import inside the library
            return _relative_names(node, path)
        return [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return []


def _library_files(name: str) -> list[Path]:
    """The library's files a ``pcinpaint`` name may be: a module, or a package's __init__."""
    parts = [p for p in name.split(".")[1:] if p]
    candidates = (LIBRARY.joinpath(*parts).with_suffix(".py"), LIBRARY.joinpath(*parts, "__init__.py"))
    return [c for c in candidates if c.exists()]


def _imports(path: Path, seen: set) -> set:
    """Third-party top-level modules imported by a script, following `pcinpaint` imports."""
    if path in seen:
        return set()
    seen.add(path)
    found = set()
    tree = ast.parse(path.read_text())
    optional = _optional_imports(tree)
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        for name in _imported_names(node, path):
            top = name.split(".")[0]
            if top == "pcinpaint":
                for candidate in _library_files(name):
                    found |= _imports(candidate, seen)
            elif top not in STDLIB:
                found.add(top)
    return found


def _rules():
    """(rule name, conda env path, script path) of every rule with a script."""
    out = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":")[0].strip()
            conda = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            if script:
                out.append(
                    (
                        name,
                        (smk.parent / conda.group(1)).resolve() if conda else None,
                        (smk.parent / script.group(1)).resolve(),
                    )
                )
    return out


def test_every_rule_has_log_conda_and_script():
    for smk in (REPO / "rules").glob("*.smk"):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":")[0].strip()
            if "script:" not in block:  # target rules that only collect inputs
                assert not re.search(r"^\s+(shell|run):", block, re.M), name
                continue
            assert "log:" in block and "conda:" in block, name


@pytest.mark.parametrize("rule, env, script", _rules(), ids=[r[0] for r in _rules()])
def test_conda_env_lists_what_the_rule_imports(rule, env, script):
    assert env is not None and env.exists(), f"rule {rule}: conda env missing"
    spec = yaml.safe_load(env.read_text())
    assert "conda-forge" in spec["channels"]
    deps = {}
    for dep in spec["dependencies"]:
        assert isinstance(dep, str) and re.fullmatch(r"[A-Za-z0-9_.-]+=[0-9][0-9A-Za-z.*]*", dep), (
            f"{env.name}: unpinned {dep}"
        )
        name, version = dep.split("=", 1)
        deps[name] = version
    needed = {IMPORT_TO_PACKAGE.get(m, m) for m in _imports(script, set())}
    missing = sorted(needed - set(deps))
    assert not missing, f"rule {rule}: {env.name} lacks {missing}"
