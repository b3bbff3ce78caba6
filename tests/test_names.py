"""Names from a sheet or the config never become paths outside their folder: hostile names (parent
folders, absolute paths, separators, unicode, control characters, very long) through the one
safe-name function and every writer of per-name files, and config names that become folders
refused when the config is read."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from conftest import TEST_CONFIG, run_snakemake
from local_atlas import jpeg, planted, running_atlas

from pcinpaint.config import validate_config
from pcinpaint.errors import ConfigError
from pcinpaint.exploratory.go_files import local_path
from pcinpaint.figures.multiloc import Fig6Settings, FigureFolder, fig5_per_pair, fig6_per_protein
from pcinpaint.inputs import hpa
from pcinpaint.inputs.http import ClientSettings
from pcinpaint.inputs.yeast_screen import write_samplesheet
from pcinpaint.io import MAX_NAME, NAMES_TABLE, named_path, read_table, safe_name

#: names as a sheet or a config may hold them; ``{abs}`` becomes a folder of the test's own
HOSTILE = [
    "../../escape",
    "..",
    ".",
    "",
    "{abs}/x",
    "a/b",
    "a\\b",
    ".hidden",
    "-rf",
    "é-tubulin",
    "α-tubulin",
    "a\x00b\nc",
    "x" * 300,
]
SAFE = ["ENSG00000000003", "HPA012345", "YGR000W", "cytoplasm_vs_nucleus", "a.b-c_d"]


def hostile(tmp_path):
    return [n.replace("{abs}", str(tmp_path / "abs")) for n in HOSTILE]


def files_under(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def only_in(root, folder):
    """Every file under ``root`` (the test's folder) lies directly in ``folder``."""
    stray = [p for p in files_under(root) if p.parent != folder]
    assert not stray, stray


def test_safe_name_is_one_bounded_file_name_and_distinct_per_name(tmp_path):
    names = hostile(tmp_path)
    safe = [safe_name(n) for n in names]
    for name, got in zip(names, safe):
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", got), (name, got)
        assert ".." not in got and 1 <= len(got) <= MAX_NAME, (name, got)
        assert safe_name(name) == got  # the same on every call
    assert len(set(safe)) == len(safe)  # distinct names, distinct files
    assert safe[names.index("é-tubulin")].startswith("e-tubulin-")  # accents dropped, readable
    assert [safe_name(n) for n in SAFE] == SAFE  # names that are already safe stay as they are
    assert safe_name("a/b") != safe_name("a_b") == "a_b"  # a changed name never takes a safe one's file


def test_named_path_stays_in_its_folder(tmp_path):
    for name in hostile(tmp_path):
        assert named_path(tmp_path, name, ".png").parent == tmp_path
    with pytest.raises(ValueError, match="would land outside"):
        named_path(tmp_path, "x", "/../../escape.png")


def test_fig6_files_of_hostile_proteins_land_in_the_folder_with_names_tsv(tmp_path):
    rng = np.random.default_rng(0)
    names = hostile(tmp_path)[::2]  # every kind of name, at two figures per name
    proteins = np.repeat(names + ["P0"], 6)
    meta = pd.DataFrame({"protein": proteins, "store_index": np.arange(len(proteins))})
    features = rng.normal(size=(len(proteins), 8)).astype(np.float32)
    crops = rng.integers(0, 255, (len(proteins), 2, 16, 16), dtype=np.uint8)
    folder = tmp_path / "results" / "ds" / "figures" / "fig6"
    branches = fig6_per_protein(
        names,
        meta,
        features,
        lambda rows: crops[rows],
        Fig6Settings(["structural", "protein"], 2, rng),
        FigureFolder(folder),
    )
    only_in(tmp_path, folder)
    table = read_table(folder / NAMES_TABLE)
    assert table["protein"].tolist() == names and branches["protein"].tolist() == names
    assert table["file"].tolist() == [safe_name(n) for n in names]
    assert {p.name for p in files_under(folder)} == {NAMES_TABLE} | {
        f"{f}{s}" for f in table["file"] for s in (".png", ".pdf")
    }


def test_fig5_files_of_hostile_compartments_land_in_the_folder_with_names_tsv(tmp_path):
    rng = np.random.default_rng(1)
    a, b, c, d = hostile(tmp_path)[:2] + [f"{tmp_path}/abs/c", "α" * 150]
    terms = {"A0": a, "A1": a, "B0": b, "B1": b, "M0": f"{a}+{b}", "C0": c, "D0": d, "CD": f"{c}+{d}"}
    images = np.repeat(list(terms), 8)
    meta = pd.DataFrame({"image_id": images, "protein": [f"p{i}" for i in images]})
    features = rng.normal(size=(len(meta), 6)).astype(np.float32)
    folder = tmp_path / "results" / "ds" / "figures" / "fig5"
    scores = fig5_per_pair(features, meta, pd.Series(terms), [[a, b], [c, d]], FigureFolder(folder))
    only_in(tmp_path, folder)
    table = read_table(folder / NAMES_TABLE)
    assert table["pair"].tolist() == [f"{a}+{b}", f"{c}+{d}"] == scores["pair"].unique().tolist()
    assert {p.name for p in files_under(folder)} == {NAMES_TABLE} | {
        f"{f}{s}" for f in table["file"] for s in (".png", ".pdf")
    }


def test_split_yeast_fields_of_hostile_ids_land_in_the_fields_folder(tmp_path):
    stack = tmp_path / "screen" / "stack.tif"
    stack.parent.mkdir()
    tifffile.imwrite(
        stack, np.arange(2 * len(HOSTILE) * 12, dtype=np.uint16).reshape(-1, 3, 4), photometric="minisblack"
    )
    ids = hostile(tmp_path)
    listing = pd.DataFrame(
        {"image_id": "img", "field_id": ids, "protein": "P", "layout": "interleaved", "gfp": str(stack)}
        | {"gfp_page": 2 * np.arange(len(ids)), "rfp": str(stack), "rfp_page": 2 * np.arange(len(ids)) + 1}
    )
    folder = tmp_path / "results" / "ds" / "yeast_screen" / "fields"
    sheet = write_samplesheet(listing, folder)
    assert [p for p in files_under(tmp_path) if p != stack and p.parent != folder] == []
    assert sheet["field_id"].tolist() == ids  # the sheet keeps the ids and says which file is which
    files = [Path(f) for f in sheet["gfp"]]
    assert all(f.parent == folder.resolve() and f.is_file() for f in files) and len(set(files)) == len(ids)
    assert len(files_under(folder)) == 2 * len(ids)
    # a plain "<stack>/<page>" id keeps the name such files always had
    plain = listing.iloc[:1].assign(field_id="stack.tif/3")
    assert write_samplesheet(plain, folder)["gfp"].tolist() == [str(folder.resolve() / "stack.tif__3_gfp.tif")]


def test_atlas_downloads_and_split_fields_of_hostile_ids_stay_in_their_folders(tmp_path):
    names = hostile(tmp_path)[:6]
    with running_atlas() as atlas:
        urls = [atlas.add(f"/images/{i}/1_A1_{i}_blue_red_green.jpg", jpeg(planted(i))) for i in range(len(names))]
        listing = pd.DataFrame(
            {"url": urls, "ensg": names, "protein": "P", "antibody": names[::-1], "cell_line": "U-2 OS"}
        )
        images = tmp_path / "results" / "ds" / "hpa" / "images"
        manifest = hpa.download_images(
            listing, images, polite=ClientSettings(retries=0, backoff_s=0, rate_limit_s=0, timeout_s=5)
        )
    assert set(manifest["status"]) == {"fetched"}
    fields = tmp_path / "results" / "ds" / "hpa" / "fields"
    sheet = hpa.write_fields(manifest, images, fields, {"dna": "blue", "tubulin": "red", "stain": "green"})
    downloaded = files_under(images)
    assert len(downloaded) == len(names) and all(len(p.relative_to(images).parts) == 3 for p in downloaded)
    assert len(files_under(fields)) == 3 * len(names) and sheet["field_id"].is_unique
    only_in(tmp_path / "results" / "ds" / "hpa" / "fields", fields)
    assert files_under(tmp_path) == sorted(downloaded + files_under(fields))


def test_go_downloads_are_named_safely_under_results_go():
    assert local_path("http://purl.obolibrary.org/obo/go/go-basic.obo") == "results/go/go-basic.obo"
    for url in ("https://example.org/a/..", "https://example.org/", "https://example.org/%2e%2e/x y"):
        path = local_path(url)
        assert path.startswith("results/go/") and "/" not in path.removeprefix("results/go/"), path


NOT_A_DATASET = (
    "is not a dataset name: it names the folder results/<name>/; use letters, digits, '_', '.' and '-', "
    "starting with a letter or digit"
)


def _config(**changes):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    for key, value in changes.items():
        config[key] = value
    return config


@pytest.mark.parametrize("name", ["../escape", "/tmp/x", "a/b", ".hidden", "é"])
def test_dataset_names_that_are_no_plain_folder_name_are_refused(name):
    config = _config()
    config["datasets"][name] = config["datasets"].pop("sim_human")
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert str(err.value) == f"config: datasets: '{name}' {NOT_A_DATASET}"


def test_names_of_shared_folders_and_feature_sets_are_refused():
    config = _config()
    config["datasets"]["go"] = config["datasets"].pop("sim_human")
    with pytest.raises(ConfigError, match=r"^config: datasets\.go: results/go/ holds the outputs shared by all"):
        validate_config(config)
    config = _config(published_weights={"published_yeast": "w.h5"})
    config["datasets"]["published_yeast"] = config["datasets"].pop("sim_human")
    with pytest.raises(ConfigError, match=r"^config: datasets\.published_yeast: also a published_weights name"):
        validate_config(config)
    config = _config()
    config["datasets"]["sim_yeast"]["exploratory"]["feature_set"] = "../../pci_conv4"
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert str(err.value).startswith(
        "config: datasets.sim_yeast.exploratory.feature_set: '../../pci_conv4' is not a feature-set name"
    )
    config = _config()
    config["datasets"]["sim_yeast"]["baselines"] = {"imported": {"a/b": {"path": "t.tsv"}}}
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert str(err.value).startswith("config: datasets.sim_yeast.baselines.imported: 'a/b' is not a feature-set name")


def test_a_hostile_dataset_name_stops_the_workflow_at_parse_time(tmp_path):
    config = _config()
    config["datasets"]["../escape"] = config["datasets"].pop("sim_human")
    (tmp_path / "run").mkdir()
    path = tmp_path / "run" / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = run_snakemake("-n", "--directory", tmp_path / "run", f"--configfile={path}", check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {path}: datasets: '../escape' {NOT_A_DATASET}"], proc.stderr[-2000:]
    assert files_under(tmp_path) == [path] and not (tmp_path / "escape").exists()
