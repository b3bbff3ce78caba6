"""The real-data input sources as users run them: the shipped configs, the HPA download against a
local atlas through to the crop store, and a yeast screen folder through segmentation. The yeast
protocol with its labelled set and published weights runs in tests/test_yeast_paper.py."""

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, YEAST_FIELD_SEGMENTATION, require_shared, run_snakemake
from local_atlas import Atlas, entry_xml, jpeg
from yeast_paper_files import yeast_paper_downloads
from yeast_screens_files import yeast_screens_downloads

from pcinpaint.io import read_table

CONFIGS = sorted((REPO / "config").glob("*.yaml"))
#: configs given after another one (``--configfile base.yaml overlay.yaml``): overlay -> base
OVERLAYS = {"yeast_paper_published": "yeast_paper"}
#: the human protocol: labels per image, so no classification is scored on them
IMAGE_LABELLED = {"hpa", "human_toy"}
#: screens labelled per protein (Fig 3): nothing is scored on them
PROTEIN_LABELLED = {"yeast_screens"}


snakemake = run_snakemake


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_real_data_configs_plan_a_whole_run(config, tmp_path):
    """Each config in config/ (an overlay after its base) validates and plans `all` in a fresh
    directory: paths into ../shared/data made absolute, the yeast protocol's downloads built small
    where it reads them."""
    shared = require_shared()
    assert {c.stem for c in CONFIGS} >= {
        "hpa",
        "yeast_paper",
        "yeast_paper_published",
        "yeast_screens",
        "yeast_toy",
        "human_toy",
    }
    files = [REPO / "config" / f"{OVERLAYS[config.stem]}.yaml"] if config.stem in OVERLAYS else []
    moved = []
    for path in [*files, config]:
        moved.append(tmp_path / path.name)
        moved[-1].write_text(path.read_text().replace("../shared/data", str(shared)))
    if config.stem.startswith("yeast_paper"):  # the fixture's cell count, not the paper's 30,889
        n_cells = yeast_paper_downloads(tmp_path, shared, vgg16=False, published_filters=8)
        moved.append(tmp_path / "fixture_size.yaml")
        moved[-1].write_text(yaml.safe_dump({"datasets": {"chong": {"labelled_hdf5": {"expect": {"cells": n_cells}}}}}))
    if config.stem == "yeast_screens":
        yeast_screens_downloads(tmp_path, shared)
    plan = snakemake("-n", "--directory", tmp_path, "--configfile", *moved).stdout
    assert ("train_pci" in plan) != (config.stem in OVERLAYS)  # published weights: nothing trained
    if config.stem in IMAGE_LABELLED:  # the paper's human protocol: the pairwise score only
        assert "pairwise_benchmark" in plan
        assert "knn_benchmark" not in plan and "classifier_benchmark" not in plan
    elif config.stem in PROTEIN_LABELLED:  # Fig 3's screens: a protein UMAP and the clustering, no score
        assert "rule umap_proteins:" in plan and "rule subset_clustering:" in plan and "rule go_enrichment:" in plan
        assert not {"knn_benchmark", "classifier_benchmark", "pairwise_benchmark"} & set(plan.split())
    else:
        assert "knn_benchmark" in plan and "classifier_benchmark" in plan
    if config.stem == "hpa":
        # every human item of the paper: fig1c/suppfig1, fig2b/table2, fig4, table3 (GO files
        # fetched), fig5/suppdata2, fig6, suppfig4
        for job in ("inpainting_figure", "protein_clustering", "download_go", "go_enrichment", "multiloc_scores"):
            assert f"rule {job}:" in plan, job
        for item in ("fig2b.png", "table2.tsv", "fig4.png", "table3.tsv", "suppdata2.tsv", "fig6", "suppfig4.png"):
            assert item in plan, item
    if config.stem.startswith("yeast_paper"):  # the labelled set is the only one scored
        assert "results/chong/tables/supptable1.tsv" in plan and "yeast_wt2/tables/supptable1" not in plan


def _planned_jobs(plan: str) -> list[str]:
    """A dry run's jobs, as (rule, outputs) lines in a stable order (job ids and reasons left out)."""
    jobs, rule = [], None
    for line in plan.splitlines():
        if line.startswith("rule ") or line.startswith("localrule "):
            rule = line.split()[1].rstrip(":")
        elif rule and line.strip().startswith("output:"):
            jobs.append(f"{rule} {line.strip()}")
            rule = None
    return sorted(jobs)


def test_the_old_crop_folder_spelling_plans_the_same_run(tmp_path):
    """A config written before ``crop_folders`` (``source: crops`` with a ``precropped:`` block)
    plans the jobs the new spelling does, with one note per dataset naming the new spelling."""
    shared = require_shared()
    text = (REPO / "config" / "yeast_toy.yaml").read_text().replace("../shared/data", str(shared))
    old_text = text.replace("source: crop_folders", "source: crops").replace("crop_folders:", "precropped:")
    assert old_text.count("precropped:") == old_text.count("source: crops") == 2
    plans = []
    for name, config in (("new", text), ("old", old_text)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(config)
        plans.append(snakemake("-n", "--directory", tmp_path / name, "--configfile", tmp_path / name / "config.yaml"))
    new, old = plans
    assert "note:" not in new.stderr
    for dataset in ("yeast_toy", "yeast_toy_proteins"):
        note = (
            f"note: datasets.{dataset}: 'source: crops' and 'precropped:' are now 'crop_folders' "
            "(the old spelling is read the same way)"
        )
        assert old.stderr.count(note) == 1, old.stderr[-2000:]
    assert _planned_jobs(old.stdout) == _planned_jobs(new.stdout) != []
    assert "rule import_crops:" in old.stdout


# --------------------------------------------------------------------------------------------
# source: hpa, through the local atlas
# --------------------------------------------------------------------------------------------


def simulated_composites(n_fields: int, seed: int = 0) -> list[bytes]:
    """blue_red_green JPEGs of simulated human fields (nucleus blue, microtubules red, protein green)."""
    from pcinpaint.inputs.simulate import CELL_LINES, FieldSettings, ProteinSpec, render_field

    rng = np.random.default_rng(seed)
    spec = ProteinSpec("P", ("nucleoli",), "single", 1.0)
    out = []
    for _ in range(n_fields):
        field = render_field(FieldSettings("human", CELL_LINES["human"]["U-2 OS"], 10, 320), spec, 1.0, rng).channels
        scaled = [np.clip(c.astype(np.float32) / np.percentile(c, 99.8) * 255, 0, 255).astype(np.uint8) for c in field]
        nucleus, microtubules, stain = scaled
        out.append(jpeg({"red": microtubules, "green": stain, "blue": nucleus}))
    return out


@pytest.mark.workflow
def test_hpa_source_downloads_splits_and_crops(tmp_path):
    atlas = Atlas()
    try:
        ensg = ["ENSG00000000003", "ENSG00000000457"]
        bodies = simulated_composites(4)
        urls = [atlas.add(f"/images/{i}/1_A{i}_1_blue_red_green.jpg", body) for i, body in enumerate(bodies)]
        gone = atlas.base + "/images/9/9_Z9_1_blue_red_green.jpg"  # listed but 404: recorded, not fatal
        # a maintenance page twice, more than retries: 1 allows: the download stops, a plain rerun heals it
        atlas.add(urls[3].removeprefix(atlas.base), bodies[3], "html", first=2)
        # one antibody annotated differently in two cell lines (the gene: cytosol); SCYL3's image
        # carries no annotation of its own, so it takes the gene's (nucleoli)
        tspan6 = {"HPA004109": [("A-431", urls[:2], ["Cytosol"]), ("U-2 OS", [urls[2]], ["Nucleoli", "Cytosol"])]}
        atlas.add(f"/{ensg[0]}.xml", entry_xml(ensg[0], "TSPAN6", tspan6))
        atlas.add(f"/{ensg[1]}.xml", entry_xml(ensg[1], "SCYL3", {"HPA005948": [("U-2 OS", [urls[3], gone], [])]}))
        table = tmp_path / "locations.tsv"
        pd.DataFrame(
            {
                "Gene": ensg,
                "Gene name": ["TSPAN6", "SCYL3"],
                "Reliability": ["Approved", "Supported"],
                "Validated": ["", ""],
                "Supported": ["", "Nucleoli"],
                "Approved": ["Cytosol", ""],
                "Uncertain": ["", ""],
                "Single-cell variation intensity": ["Cytosol", ""],
                "Single-cell variation spatial": ["", ""],
                "Cell cycle dependency": ["", ""],
                "GO id": ["", ""],
            }
        ).to_csv(table, sep="\t", index=False)
        config = {
            "seed": 1,
            "fields_per_chunk": 1,
            "datasets": {
                "atlas": {
                    "source": "hpa",
                    "hpa": {
                        "proteins": ["TSPAN6", ensg[1]],
                        "base_url": atlas.base,
                        "location_table": str(table),
                        "colours": {"nucleus": "blue", "microtubules": "red", "stain": "green"},
                        "retries": 1,
                        "backoff_s": 0.01,
                        "rate_limit_s": 0.0,
                        "timeout_s": 5,
                    },
                    "channels": [
                        {"name": "nucleus", "role": "structural"},
                        {"name": "microtubules", "role": "structural"},
                        {"name": "stain", "role": "protein"},
                    ],
                    "segmentation": {
                        "channel": "nucleus",
                        "method": "nuclei_otsu",
                        "smoothing_sigma": 2.0,
                        "min_area": 100,
                        "clear_border": True,
                    },
                    "crops": {"crop_size": 80, "area_fraction": [0.0, 1.0], "border": "pad"},
                    "model": {"width": 0.125, "epochs": 1, "batch_size": 8},
                    "exploratory": {"feature_set": "pci_conv3", "multiloc": {"pairs": [["cytosol", "nucleoli"]]}},
                    "min_cells": 2,
                }
            },
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        res = tmp_path / "results" / "atlas"
        failed = snakemake("crops", "--directory", tmp_path, f"--configfile={path}", check=False)
        page = 'got an HTML page ("The Human Protein Atlas - Down for maintenance") instead of a JPEG image'
        assert failed.returncode != 0
        assert f"1 of 5 images and 0 atlas entries failed (first: {urls[3]}: {page}" in failed.stderr
        # the cost is printed once, by the download job as it starts
        assert failed.stderr.count("atlas download of dataset 'atlas': 2 proteins: ~") == 1
        assert "atlas download of dataset 'atlas'" in (res / "logs/download_hpa.log").read_text()
        assert not (res / "hpa/manifest.tsv").exists()  # so a plain rerun runs the download again
        attempt = read_table(res / "hpa/downloads/manifest.tsv").set_index("url")
        assert attempt.loc[[urls[3], gone], ["status", "permanent"]].values.tolist() == [
            ["failed", "False"],
            ["failed", "True"],
        ]
        before = atlas.hits.copy()
        snakemake("crops", "--directory", tmp_path, f"--configfile={path}")
        asked_again = set(atlas.hits - before)  # only what failed; the entries and images kept are not
        assert asked_again == {urls[3].removeprefix(atlas.base), gone.removeprefix(atlas.base)}
        served = atlas.count()
        snakemake("results/atlas/tables/suppdata2.tsv", "--directory", tmp_path, f"--configfile={path}")
    finally:
        atlas.server.shutdown()
        atlas.server.server_close()
    manifest = read_table(res / "hpa/manifest.tsv").set_index("url")
    assert manifest.loc[gone, "status"] == "failed"
    assert manifest.loc[urls, "status"].tolist() == ["cached"] * 3 + ["fetched"]
    assert not (res / "hpa/downloads/manifest.tsv").exists()  # the failed attempt's record is gone
    cells = read_table(res / "cells.parquet")
    assert set(cells["image_id"]) <= {"TSPAN6/HPA004109/A-431", "TSPAN6/HPA004109/U-2 OS", "SCYL3/HPA005948/U-2 OS"}
    assert cells["image_id"].nunique() >= 2 and len(cells) >= 10
    images = cells.drop_duplicates("image_id").set_index("image_id")
    expected = {
        "TSPAN6/HPA004109/A-431": ("cytosol", "image"),
        "TSPAN6/HPA004109/U-2 OS": ("cytosol+nucleoli", "image"),
        "SCYL3/HPA005948/U-2 OS": ("nucleoli", "gene"),
    }
    for image, row in images.iterrows():
        assert (row["label"], row["label_source"]) == expected[image], image
    by_protein = cells.drop_duplicates("protein").set_index("protein")
    assert by_protein.loc["TSPAN6", "sc_variation_intensity"] == "Cytosol"
    assert pd.isna(by_protein.loc["SCYL3", "sc_variation_intensity"])
    assert served >= 6  # 2 entries + 5 images (the 404 once, retried never)
    # Fig 5 / Supp Data 2 group images by their own labels: per gene, TSPAN6 is cytosol alone in
    # every cell line and nothing would be scored as cytosol+nucleoli
    scores = read_table(res / "tables/multiloc_scores.tsv")
    groups = scores.drop_duplicates("image_id").set_index("image_id")["group"].to_dict()
    assert groups == {
        "TSPAN6/HPA004109/A-431": "cytosol",
        "TSPAN6/HPA004109/U-2 OS": "cytosol+nucleoli",
        "SCYL3/HPA005948/U-2 OS": "nucleoli",
    }
    suppdata2 = read_table(res / "tables/suppdata2.tsv")
    assert suppdata2["image_id"].tolist() == ["TSPAN6/HPA004109/U-2 OS"]
    assert suppdata2["cell_line"].tolist() == ["U-2 OS"] and int(suppdata2["n_cells"].iloc[0]) >= 2
    assert np.isfinite(suppdata2["mean_score"].astype(float)).all()


# --------------------------------------------------------------------------------------------
# source: labelled_hdf5 with model_from: published_yeast
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# source: yeast_screen, on real uncropped yeast fields
# --------------------------------------------------------------------------------------------


@pytest.mark.workflow
def test_yeast_screen_folder_through_segmentation(tmp_path):
    """The Handfield example stack (4 fields, GFP/RFP pages interleaved) in an ORF folder, with
    its label looked up by gene name in the Huh 2003 table, segmented and cropped."""
    stack = require_shared("yeast_fields", "handfield_example_gfp_rfp.tif")
    huh = require_shared("annotations", "yeastgfp_huh2003.csv")
    (tmp_path / "screen" / "AAC1").mkdir(parents=True)
    (tmp_path / "screen" / "AAC1" / "plate1_A01.tif").symlink_to(stack)
    config = {
        "seed": 1,
        "fields_per_chunk": 100,
        "datasets": {
            "screen": {
                "source": "yeast_screen",
                "yeast_screen": {
                    "root": "screen",
                    "layout": "interleaved",
                    "page_order": ["gfp", "rfp"],
                    "annotations": str(huh),
                },
                "channels": [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}],
                "segmentation": dict(YEAST_FIELD_SEGMENTATION),
                "crops": {"crop_size": 64, "area_fraction": [0.02, 0.95], "border": "pad"},
                "min_cells": 1,
            }
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake("results/screen/cells.parquet", "--directory", tmp_path, f"--configfile={path}")
    cells = read_table(tmp_path / "results/screen/cells.parquet")
    assert cells["field_id"].nunique() == 4 and len(cells) >= 20
    assert set(cells["protein"]) == {"AAC1"} and set(cells["label"]) == {"mitochondrion"}
