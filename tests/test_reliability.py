"""Bad input as a new user meets it, through `snakemake` on a sheet of three real yeast fields:
each case stops with one line naming the file (and row) or output, or finishes with what could
not run marked "not run"; earlier outputs and raw inputs are never changed."""

import hashlib
import os
import shutil

import numpy as np
import pytest
import tifffile
import yaml
from conftest import REPO, TEST_CONFIG, YEAST_FIELD_SEGMENTATION, require_shared, run_snakemake

from pcinpaint.crops.store import read_crops
from pcinpaint.io import read_table

STACK = ("yeast_fields", "handfield_example_gfp_rfp.tif")


def write_screen(folder, proteins=("P1", "P1", "P2"), **dataset):
    """Three real yeast fields (GFP/RFP pages of the Handfield example) as per-channel TIFFs,
    a sample sheet and a config with a tiny network; returns the config path."""
    stack = tifffile.imread(require_shared(*STACK))
    (folder / "fields").mkdir(parents=True)
    rows = ["image_id\tfield_id\tprotein\tgfp\trfp"]
    for f, protein in enumerate(proteins):
        for c, channel in enumerate(("gfp", "rfp")):
            tifffile.imwrite(folder / f"fields/f{f}_{channel}.tif", stack[2 * f + c])
        rows.append(f"img{f}\tf{f}\t{protein}\tfields/f{f}_gfp.tif\tfields/f{f}_rfp.tif")
    (folder / "sheet.tsv").write_text("\n".join(rows) + "\n")
    screen = {
        "source": "samplesheet",
        "samplesheet": "sheet.tsv",
        "channels": [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}],
        "segmentation": dict(YEAST_FIELD_SEGMENTATION),
        "crops": {"crop_size": 64, "area_fraction": [0.02, 0.95], "border": "pad"},
        "min_cells": 1,
        "model": {"width": 0.125, "epochs": 1, "batch_size": 8},
    } | dataset
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({"seed": 1, "fields_per_chunk": 2, "datasets": {"screen": screen}}))
    return path


def snakemake(folder, *targets, check=True):
    return run_snakemake(*targets, "--directory", folder, f"--configfile={folder / 'config.yaml'}", check=check)


def failed_with(proc, *parts):
    """The run failed and printed one `error:` line holding every part."""
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error:")]
    assert lines, proc.stderr[-2000:]
    assert any(all(p in line for p in parts) for line in lines), lines
    return lines


def checksums(folder):
    """sha256 of every file under the folder (results and inputs alike)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".snakemake" not in p.parts and "logs" not in p.parts and "benchmarks" not in p.parts
    }


def inputs(sums):
    """The checksums of the user's files (everything outside results/)."""
    return {k: v for k, v in sums.items() if not k.startswith("results/")}


def poison(path, rows=slice(100, 110)):
    """The file rewritten as float32 with a block of NaN and one Inf: 10 x 10 + 1 pixels."""
    plane = tifffile.imread(path).astype(np.float32)
    plane[rows, rows] = np.nan
    plane[0, 0] = np.inf
    tifffile.imwrite(path, plane)


@pytest.mark.workflow
@pytest.mark.parametrize("channel", ["rfp", "gfp"])
def test_nonfinite_pixels_stop_naming_file_row_channel_and_count(tmp_path, channel):
    """Case 1 (segmentation channel) and case 2 (protein channel, once stored as zeros)."""
    write_screen(tmp_path)
    poison(tmp_path / f"fields/f1_{channel}.tif")
    before = checksums(tmp_path)
    proc = snakemake(tmp_path, "results/screen/cells.parquet", check=False)
    failed_with(proc, "sheet.tsv: row 3 (field_id=f1)", f"channel '{channel}'", f"f1_{channel}.tif", "101 non-finite")
    assert not (tmp_path / "results/screen/cells.parquet").exists()
    assert inputs(checksums(tmp_path)) == before  # raw inputs untouched


@pytest.mark.workflow
def test_nonfinite_zero_reads_them_as_zero_and_counts_them_in_qc(tmp_path):
    write_screen(tmp_path, nonfinite="zero")
    poison(tmp_path / "fields/f1_gfp.tif")
    snakemake(tmp_path, "results/screen/cells.parquet")
    qc = read_table(tmp_path / "results/screen/qc/fields.tsv").set_index("field_id")
    assert qc["n_nonfinite"].astype(int).to_dict() == {"f0": 0, "f1": 101, "f2": 0}
    cells = read_table(tmp_path / "results/screen/cells.parquet")
    crops = read_crops(tmp_path / "results/screen/crops.zarr")
    f1 = cells["field_id"].to_numpy() == "f1"
    assert np.isfinite(crops).all() and f1.any() and crops[f1, 1].max() > 0  # protein channel kept


@pytest.mark.workflow
def test_no_cell_anywhere_stops_the_gather_with_the_drop_reasons(tmp_path):
    """Case 3: every image below min_cells; no empty store for later stages to trip over."""
    write_screen(tmp_path, min_cells=10_000)
    proc = snakemake(tmp_path, "results/screen/cells.parquet", check=False)
    lines = failed_with(proc, "sheet.tsv: no cell kept from 3 fields in 3 images", "image_below_min_cells")
    assert "min_cells=10000" in lines[0] and "objects detected" in lines[0]
    assert not (tmp_path / "results/screen/crops.zarr").exists()
    assert not list((tmp_path / "results/screen").glob(".crops.zarr*"))


@pytest.mark.workflow
def test_a_mistyped_or_changed_sheet_is_never_served_old_results(tmp_path):
    """Case 4: a path that does not exist stops at parse, naming the config key; another sheet
    (even one older than the results) reruns from the sample sheet."""
    config = write_screen(tmp_path)
    snakemake(tmp_path, "results/screen/cells.parquet")
    before = checksums(tmp_path)
    text = config.read_text()
    config.write_text(text.replace("samplesheet: sheet.tsv", "samplesheet: sheeet.tsv"))
    proc = snakemake(tmp_path, "results/screen/cells.parquet", check=False)
    failed_with(proc, "datasets.screen.samplesheet: sheeet.tsv does not exist")
    after = checksums(tmp_path)
    assert {k: v for k, v in after.items() if k != "config.yaml"} == {
        k: v for k, v in before.items() if k != "config.yaml"
    }
    # the sheet edited in place with its old modification time kept (a copy with cp -p, a
    # sync): its checksum, in the params, still reruns it
    sheet = tmp_path / "sheet.tsv"
    stamp = sheet.stat()
    sheet.write_text(sheet.read_text().replace("\tP2\t", "\tP3\t"))
    os.utime(sheet, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    config.write_text(text)
    plan = snakemake(tmp_path, "results/screen/cells.parquet", "-n").stdout
    assert "checkpoint samplesheet:" in plan and "rule gather_crops:" in plan
    assert "Params have changed" in plan


@pytest.mark.workflow
def test_a_screen_of_one_protein_finishes_with_clustering_marked_not_run(tmp_path):
    """Case 6: the default target finishes; fig4 and clusters.tsv say why they were not run."""
    write_screen(tmp_path, proteins=("P1", "P1", "P1"))
    snakemake(tmp_path)
    clusters = read_table(tmp_path / "results/screen/tables/clusters.tsv")
    assert list(clusters.columns) == ["not_run"]
    assert "1 protein profile(s)" in clusters["not_run"].iloc[0] and "needs 2 or more" in clusters["not_run"].iloc[0]
    assert (tmp_path / "results/screen/figures/fig4.png").stat().st_size > 2_000
    assert len(read_table(tmp_path / "results/screen/features/pci_conv3.parquet")) > 10  # features still made


@pytest.mark.workflow
def test_the_whole_sheet_is_checked_before_any_job_and_every_problem_listed(tmp_path):
    """Case 7: every missing or unreadable file in one error, before segmentation starts."""
    write_screen(tmp_path)
    (tmp_path / "fields/f0_gfp.tif").unlink()
    (tmp_path / "fields/f2_rfp.tif").write_bytes(b"not a tiff")
    tifffile.imwrite(tmp_path / "fields/f1_gfp.tif", np.zeros((8, 100, 100), np.uint8))
    proc = snakemake(tmp_path, "results/screen/cells.parquet", check=False)
    failed_with(proc, "sheet.tsv: 3 problem(s) with the sheet's image files")
    out = proc.stdout + proc.stderr
    assert "row 2 (field_id=f0): gfp: file not found" in out
    assert "row 3 (field_id=f1): gfp:" in out and "expected one 2-D plane per file" in out
    assert "row 4 (field_id=f2): rfp: cannot read TIFF header" in out
    assert not (tmp_path / "results/screen/logs/segment").exists()  # no job started


@pytest.mark.workflow
def test_duplicated_field_ids_name_their_rows(tmp_path):
    write_screen(tmp_path)
    sheet = tmp_path / "sheet.tsv"
    sheet.write_text(sheet.read_text().replace("img2\tf2\t", "img2\tf0\t"))
    proc = snakemake(tmp_path, "results/screen/cells.parquet", check=False)
    failed_with(proc, "sheet.tsv: field_id 'f0' appears more than once (rows [2, 4])")


def test_an_unknown_dataset_in_a_target_is_named(tmp_path):
    write_screen(tmp_path)
    proc = snakemake(tmp_path, "results/screeen/cells.parquet", "-n", check=False)
    failed_with(proc, "results/screeen/cells.parquet: no dataset named 'screeen' in the config (have: screen)")


@pytest.mark.workflow
def test_rule_jobs_use_their_own_library_or_stop_naming_both(tmp_path):
    """Another checkout's pcinpaint on the path (as when it is installed in the same venv): a rule
    job imports its own library all the same; where the other is forced ahead of it, the job stops
    with one line naming both folders and writes nothing."""
    other = tmp_path / "other"
    shutil.copytree(
        REPO / "workflow_scripts/pcinpaint", other / "pcinpaint", ignore=shutil.ignore_patterns("__pycache__")
    )
    init = other / "pcinpaint/__init__.py"
    init.write_text("raise ImportError('the other checkout was imported')\n")
    target = "results/sim_yeast_heldout/simulated/samplesheet.tsv"
    env = {**os.environ, "PYTHONPATH": str(other)}
    run_snakemake(target, "--directory", tmp_path / "a", f"--configfile={TEST_CONFIG}", env=env)
    assert (tmp_path / "a" / target).exists()

    init.write_text((REPO / "workflow_scripts/pcinpaint/__init__.py").read_text())
    (tmp_path / "site").mkdir()
    (tmp_path / "site/sitecustomize.py").write_text(f"import sys\nsys.path.insert(0, {str(other)!r})\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = run_snakemake(target, "--directory", tmp_path / "b", f"--configfile={TEST_CONFIG}", env=env, check=False)
    failed_with(
        proc,
        f"this workflow's library is {(REPO / 'workflow_scripts/pcinpaint').resolve()}",
        f"imported pcinpaint from {(other / 'pcinpaint').resolve()}",
    )
    assert not (tmp_path / "b/results/sim_yeast_heldout/simulated").exists()


def test_an_unknown_query_protein_stops_before_any_job(tmp_path):
    """localize_like's queries are checked against the sample sheet when the workflow is read,
    not hours later when localize_like runs."""
    write_screen(tmp_path, exploratory={"queries": ["P2", "P3", "p1", "Q1"]})
    proc = snakemake(tmp_path, check=False)
    failed_with(proc, "datasets.screen.exploratory.queries: 'P3', 'Q1' are not among the 2 proteins of sheet.tsv")
    assert not (tmp_path / "results").exists()
