"""Config schema: the shipped configs validate, defaults fill in, violations give one line."""

import copy

import pytest
import yaml
from conftest import REPO, TEST_CONFIG

from pcinpaint.config import (
    DatasetConfig,
    canonical,
    check_queries,
    feature_table_refusals,
    load_config,
    load_schema,
    missing_paths,
    ranking_dataset,
    unknown_targets,
    validate_config,
)
from pcinpaint.errors import ConfigError

MINIMAL = {
    "datasets": {
        "screen": {
            "source": "samplesheet",
            "samplesheet": "sheet.tsv",
            "channels": [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}],
            "segmentation": {"channel": "rfp", "method": "cells_watershed"},
        }
    }
}


@pytest.mark.parametrize("path", [REPO / "config.yaml", TEST_CONFIG])
def test_shipped_configs_validate(path):
    config = load_config(path)
    assert {"sim_human", "sim_yeast"} <= set(config["datasets"])
    human = DatasetConfig.from_config(config, "sim_human")
    assert human.structural == (0, 1) and human.protein == (2,)
    assert human.segmentation_channel == 0
    assert human.crops["model_size"] == 64


def test_defaults_are_filled():
    config = validate_config(copy.deepcopy(MINIMAL))
    ds = config["datasets"]["screen"]
    assert config["seed"] == 0 and config["fields_per_chunk"] == 100
    assert ds["crops"] == {
        "crop_size": 64,
        "crop_diameters": None,
        "model_size": 64,
        "area_fraction": [0.05, 0.95],
        "border": "drop",
    }
    assert ds["preprocess"] == {"clip_structural_below": 0.0, "markers": "per_crop", "reference_max": 255}
    assert ds["min_cells"] == 5
    assert ds["segmentation"]["min_area"] == 400 and ds["segmentation"]["downsample"] == 1


def _broken(mutate):
    config = copy.deepcopy(MINIMAL)
    mutate(config["datasets"]["screen"])
    return config


def _crop_folders_missing_a_token(ds):
    """The screen as crop folders (no segmentation) whose tokens name one of its two channels."""
    ds.pop("segmentation")
    ds.update(source="crop_folders", crop_folders={"root": "x", "tokens": {"gfp": "_g"}})


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (lambda d: d["segmentation"].update(method="otsu"), "datasets.screen.segmentation.method", "is not one of"),
        (lambda d: d.update(crops={"crop_size": 4}), "datasets.screen.crops.crop_size", "minimum"),
        (lambda d: d.update(crops={"area_fraction": [0.05]}), "datasets.screen.crops.area_fraction", "short"),
        (lambda d: d.update(min_cells="many"), "datasets.screen.min_cells", "not of type"),
        (lambda d: d.update(typo=1), "datasets.screen", "typo"),
        (lambda d: d["channels"][0].update(name="protein"), "datasets.screen.channels.0.name", "should not be valid"),
        (
            lambda d: d["segmentation"].update(channel="dapi"),
            "datasets.screen.segmentation.channel",
            "not one of the channels",
        ),
        (lambda d: d["channels"][1].update(role="structural"), "datasets.screen.channels", "need at least one"),
        (lambda d: d.update(crops={"area_fraction": [0.9, 0.1]}), "datasets.screen.crops.area_fraction", "above"),
        (lambda d: d.pop("samplesheet"), "datasets.screen.samplesheet", "required"),
        (lambda d: d.pop("segmentation"), "datasets.screen.segmentation", "required"),
        (lambda d: d.update(source="hpa"), "datasets.screen.hpa", "required"),
        (
            lambda d: d.update(source="hpa", hpa={"proteins": ["TSPAN6"], "colours": {"rfp": "red"}}),
            "datasets.screen.hpa.colours",
            "every channel",
        ),
        (
            lambda d: d.update(
                source="crop_folders", crop_folders={"root": "x", "tokens": {"rfp": "_rfp", "gfp": "_gfp"}}
            ),
            "datasets.screen.segmentation",
            "cropped",
        ),
        (_crop_folders_missing_a_token, "datasets.screen.crop_folders.tokens", "every channel"),
        (
            lambda d: d.update(
                source="yeast_screen", yeast_screen={"root": "x", "layout": "single", "tokens": {"gfp": "_g"}}
            ),
            "datasets.screen.yeast_screen.tokens",
            "every channel",
        ),
        (
            lambda d: d.update(model={"model_from": "published_yeast"}),
            "datasets.screen.model.model_from",
            "no published_weights entry",
        ),
        (
            lambda d: d.update(features={"raw_downsample": 128}),
            "datasets.screen.features.raw_downsample",
            "128 must divide the stored crop side (crops.model_size = 64) into whole blocks; use one of [1, 2, 4,",
        ),
        (
            lambda d: d.update(crops={"model_size": 96}, features={"raw_downsample": 5}),
            "datasets.screen.features.raw_downsample",
            "5 must divide the stored crop side (crops.model_size = 96)",
        ),
        (lambda d: d.update(benchmarks={"ks": [1, 5]}), "datasets.screen.benchmarks.ks", "must include 11"),
    ],
)
def test_violations_name_the_key_in_one_line(mutate, key, words):
    with pytest.raises(ConfigError) as err:
        validate_config(_broken(mutate), where="my.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"my.yaml: {key}")
    assert words in message


CROP_FOLDERS = {"root": "crops", "tokens": {"rfp": "_rfp", "gfp": "_gfp"}}


def _crop_folder_config(**spelling):
    """MINIMAL's screen as a crop-folder dataset, its source and block spelled as given."""
    config = copy.deepcopy(MINIMAL)
    ds = config["datasets"]["screen"]
    for key in ("samplesheet", "segmentation", "source"):
        ds.pop(key)
    ds.update(spelling)
    return config


def test_the_old_crop_folder_spelling_is_read_as_the_new(capsys):
    new = validate_config(_crop_folder_config(source="crop_folders", crop_folders=CROP_FOLDERS))
    assert capsys.readouterr().err == ""
    old = _crop_folder_config(source="crops", precropped=copy.deepcopy(CROP_FOLDERS))
    given = copy.deepcopy(old)
    assert validate_config(old) == new
    assert old == given  # the config given is left as it is
    note = capsys.readouterr().err.splitlines()
    assert note == [
        "note: datasets.screen: 'source: crops' and 'precropped:' are now 'crop_folders' "
        "(the old spelling is read the same way)"
    ]
    assert new["datasets"]["screen"]["crop_folders"]["group"] == "folder"  # the block's defaults filled
    half = validate_config(_crop_folder_config(source="crops", crop_folders=CROP_FOLDERS))
    assert half == new
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(": 'source: crops' is now 'crop_folders' (the old spelling is read the same way)")
    )


def test_both_crop_folder_spellings_at_once_are_an_error():
    config = _crop_folder_config(source="crop_folders", crop_folders=CROP_FOLDERS, precropped=CROP_FOLDERS)
    with pytest.raises(ConfigError) as err:
        validate_config(config, where="my.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("my.yaml: datasets.screen: 'precropped:' is the old name of 'crop_folders:'")


def test_cropped_sources_need_no_segmentation():
    config = copy.deepcopy(MINIMAL)
    ds = config["datasets"]["screen"]
    ds.pop("segmentation")
    ds.update(
        source="labelled_hdf5",
        labelled_hdf5={"paths": ["a.hdf5"], "classes": ["A", "B"]},
        model={"model_from": "published_yeast"},
    )
    config["published_weights"] = {"published_yeast": "model_weights.h5"}
    checked = DatasetConfig.from_config(validate_config(config), "screen")
    assert checked.segmentation == {} and checked.segmentation_channel == 0  # the first structural channel
    assert checked.raw["labelled_hdf5"]["data_key"] == "data1"


def test_simulated_preset_fixes_channel_roles():
    config = load_config(TEST_CONFIG)
    config["datasets"]["sim_yeast"]["channels"].append({"name": "extra", "role": "structural"})
    with pytest.raises(ConfigError, match=r"datasets\.sim_yeast\.channels: preset 'yeast'"):
        validate_config(config)


def test_unreadable_config_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: cannot read config"):
        load_config(bad)
    bad.write_text(yaml.safe_dump(["not", "a", "mapping"]))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(bad)


#: configs given after another one (``--configfile base.yaml overlay.yaml``): overlay -> base
OVERLAYS = {"yeast_paper_published": "yeast_paper"}


def test_config_folder_validates():
    """Runnable configs (*.yaml, an overlay over its base) and the templates users copy
    (*.yaml.example: their own screen, a plate, feature tables from pycytominer and SubCell)."""
    paths = sorted((REPO / "config").glob("*.yaml")) + sorted((REPO / "config").glob("*.yaml.example"))
    examples = {"features_pycytominer.yaml.example", "features_subcell.yaml.example", "plate_ome_zarr.yaml.example"}
    assert examples <= {p.name for p in paths}
    for path in paths:
        base = [REPO / "config" / f"{OVERLAYS[path.stem]}.yaml"] if path.stem in OVERLAYS else []
        config = load_config(*base, path)
        assert config["datasets"], path


def test_an_overlay_drops_a_dataset_by_setting_it_to_null():
    """The published-weights overlay of the yeast protocol: no screen, the labelled set scored
    with the paper's network, everything else as the base config says."""
    base, overlay = REPO / "config" / "yeast_paper.yaml", REPO / "config" / "yeast_paper_published.yaml"
    alone = load_config(base)
    assert set(alone["datasets"]) == {"yeast_wt2", "chong"}
    assert alone["datasets"]["chong"]["model"]["model_from"] == "yeast_wt2"
    both = load_config(base, overlay)
    assert set(both["datasets"]) == {"chong"}
    chong = both["datasets"]["chong"]
    assert chong["model"]["model_from"] == "published_yeast" and chong["model"]["width"] == 1.0
    assert chong["labelled_hdf5"]["expect"] == {"cells": 30889, "classes": 18}
    assert set(both["published_weights"]) == {"published_yeast"}


def test_model_from_must_name_a_training_dataset_of_the_same_layout():
    config = load_config(TEST_CONFIG)
    config["datasets"]["sim_yeast"]["model"]["model_from"] = "sim_human"
    with pytest.raises(
        ConfigError,
        match=r"datasets\.sim_yeast\.model\.model_from: 'sim_human' has channel roles "
        r"\['structural', 'structural', 'protein'\], this dataset \['structural', 'protein'\]",
    ):
        validate_config(config)
    config["datasets"]["sim_yeast"]["model"]["model_from"] = "nope"
    with pytest.raises(ConfigError, match="no dataset named 'nope'"):
        validate_config(config)
    config["datasets"]["other"] = copy.deepcopy(config["datasets"]["sim_yeast"])
    config["datasets"]["sim_yeast"]["model"]["model_from"] = None
    config["datasets"]["other"]["model"]["model_from"] = "sim_yeast"
    validate_config(config)  # a held-out screen using the yeast model: fine


def test_configuration_reference_is_generated_from_the_schema():
    """docs/configuration.md is what `python -m pcinpaint.configdoc` prints: regenerate it after
    editing the schema."""
    from pcinpaint.configdoc import render

    page = (REPO / "docs" / "configuration.md").read_text()
    assert page == render(), "docs/configuration.md is stale: python -m pcinpaint.configdoc > docs/configuration.md"
    schema = load_schema()
    for key in schema["$defs"]["dataset"]["properties"]:
        assert f"| `{key}` |" in page, key


def test_configuration_reference_renders_types_defaults_and_limits():
    from pcinpaint.configdoc import render

    schema = {
        "properties": {
            "n": {"type": "integer", "minimum": 1, "default": 3, "description": "how many"},
            "mode": {"enum": ["a", "b"], "default": "a"},
            "block": {"$ref": "#/$defs/block"},
        },
        "required": ["n"],
        "$defs": {"block": {"type": "object", "properties": {"x": {"type": ["number", "null"]}}}},
    }
    page = render(schema)
    assert "| `n` | integer | `3` | **required.** how many (>= 1) |" in page
    assert '| `mode` | one of `"a"`, `"b"` | `"a"` |  |' in page
    assert "## `block`" in page and "| `x` | number or null |  |  |" in page


def test_missing_input_paths_name_their_keys_and_unused_blocks_are_not_checked(tmp_path):
    (tmp_path / "sheet.tsv").write_text("x")
    config = validate_config(
        {
            "published_weights": {"published_yeast": "gone.h5"},
            "datasets": {
                "screen": {
                    "source": "samplesheet",
                    "samplesheet": "sheet.tsv",
                    "channels": [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}],
                    "segmentation": {"channel": "rfp", "method": "nuclei_otsu"},
                    "yeast_screen": {"root": "not/used"},  # another source's block
                    "baselines": {"run": ["classic"], "vgg16_weights": "not_used.pt"},
                    "benchmarks": {"label_from": "annotation", "annotations": {"path": "huh.csv"}},
                    "exploratory": {"go": {"ontology": "https://x/go.obo", "annotations": "genes.gaf"}},
                },
                "other": {
                    "source": "samplesheet",
                    "samplesheet": "nope.tsv",
                    "channels": [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}],
                    "segmentation": {"channel": "rfp", "method": "nuclei_otsu"},
                },
            },
        }
    )
    here = f"does not exist (looked in the working directory {tmp_path.resolve()})"
    assert missing_paths(config, tmp_path) == [
        f"published_weights.published_yeast: gone.h5 {here}",
        f"datasets.screen.benchmarks.annotations.path: huh.csv {here}",
        f"datasets.screen.exploratory.go.annotations: genes.gaf {here}",
        f"datasets.other.samplesheet: nope.tsv {here}",
    ]
    config["datasets"]["other"]["samplesheet"] = str(tmp_path / "gone.tsv")
    assert missing_paths(config, tmp_path)[-1] == f"datasets.other.samplesheet: {tmp_path / 'gone.tsv'} does not exist"


def test_unknown_dataset_targets_are_read_with_snakemakes_parser():
    argv = ["/venv/bin/snakemake", "--cores", "2", "--configfile=c.yaml", "results/screeen/cells.parquet", "-n"]
    known = ["screen", "published_yeast", "figures"]
    assert unknown_targets(argv, known) == [("results/screeen/cells.parquet", "screeen")]
    assert unknown_targets([*argv[:-2], "results/published_yeast/models/pci/model.pt"], known) == []
    assert unknown_targets([*argv[:-2], "./results/figures/fig3.png", "all"], known) == []
    assert unknown_targets(["pytest", "results/screeen/x"], known) == []  # not a snakemake command line


def test_unknown_queries_are_named_with_their_closest_proteins():
    proteins = ["MKI67", "TSPAN6", "P1", "P2"]
    check_queries(["MKI67", "p2"], proteins, "q", "sheet.tsv")  # all known (any case, as localize_like)
    with pytest.raises(ConfigError) as err:
        check_queries(["MKI76", "mki67", "ZZZ"], proteins, "datasets.x.exploratory.queries", "sheet.tsv")
    assert str(err.value) == (
        "datasets.x.exploratory.queries: 'MKI76' (closest: MKI67), 'ZZZ' are not among the 4 proteins of sheet.tsv"
    )


def test_the_fig3_screens_share_the_paper_protocols_wt2_network():
    """config/yeast_screens.yaml alone, or after config/yeast_paper.yaml: its WT2 screen is the
    paper protocol's (same files, crops and network: trained once for both), labelled per
    protein so never scored; after the protocol, the Chong set scored with its network ranks
    its layers, and the two other screens, trained on their own, have none to rank theirs."""
    paper, screens = REPO / "config" / "yeast_paper.yaml", REPO / "config" / "yeast_screens.yaml"
    alone, protocol = load_config(screens), load_config(paper)
    both = load_config(paper, screens)
    assert set(alone["datasets"]) == {"yeast_wt2", "yeast_nop1", "yeast_nup49"}
    assert set(both["datasets"]) == {"yeast_wt2", "yeast_nop1", "yeast_nup49", "chong"}
    keys = ("source", "yeast_screen", "channels", "segmentation", "crops", "preprocess", "min_cells", "model")
    for config in (alone, both):
        wt2 = config["datasets"]["yeast_wt2"]
        assert {k: wt2[k] for k in keys} == {k: protocol["datasets"]["yeast_wt2"][k] for k in keys}
        assert wt2["benchmarks"]["label_level"] == "protein"
    for name in ("yeast_nop1", "yeast_nup49"):
        ds = alone["datasets"][name]
        assert ds["segmentation"]["method"] == "provided" and ds["yeast_screen"]["masks"]
        assert ds["crops"]["crop_size"] == 64 and ds["crops"]["area_fraction"] == [0.05, 0.95] and ds["min_cells"] == 30
    assert alone["datasets"]["yeast_nop1"]["exploratory"]["feature_set"] == "pci_conv4"  # Supp Fig 5's layer
    assert ranking_dataset(both, "yeast_wt2", ["chong"]) == "chong"
    assert ranking_dataset(both, "chong", ["chong"]) == "chong"
    assert ranking_dataset(both, "yeast_nop1", ["chong"]) is None
    assert ranking_dataset(alone, "yeast_wt2", []) is None
    # a screen and a labelled set featurised by one network (published weights): the set ranks it
    shared = copy.deepcopy(both)
    for name in ("yeast_wt2", "chong"):
        shared["datasets"][name]["model"]["model_from"] = "published_yeast"
    assert ranking_dataset(shared, "yeast_wt2", ["chong"]) == "chong"


def test_params_leave_out_keys_added_at_the_value_older_results_were_made_with():
    """A rule's params are compared with those of the run that made its outputs: keys a newer
    schema adds, at the value that reproduces older results, are left out, so an upgrade
    reruns nothing; any other value is kept, and dicts are key-sorted."""
    config = load_config(REPO / "config" / "yeast_screens.yaml")
    wt2, nop1 = config["datasets"]["yeast_wt2"], config["datasets"]["yeast_nop1"]
    assert "masks" not in canonical(wt2)["yeast_screen"] and canonical(nop1)["yeast_screen"]["masks"] == "_mask"
    bench = canonical(wt2["benchmarks"])
    assert "column" not in bench["annotations"] and set(bench["umap_proteins"]) == {"min_dist", "n_neighbors", "title"}
    assert set(canonical(load_config(TEST_CONFIG)["datasets"]["sim_yeast"]["benchmarks"])["umap_proteins"]) == {
        "min_dist",
        "n_neighbors",
    }
    assert canonical(nop1["benchmarks"])["annotations"]["column"] == "localization"
    assert list(canonical({"b": 1, "a": {"d": 2, "c": [{"f": 3, "e": 4}]}})) == ["a", "b"]
    assert canonical({"nonfinite": "error", "x": 1}) == {"x": 1} and canonical({"nonfinite": "zero"})


def test_a_missing_subset_table_stops_the_run_at_parse_time(tmp_path):
    """Supp Fig 5's own annotation table (Weill et al. 2018's punctate proteins) is an input path."""
    (tmp_path / "sheet.tsv").write_text("x")
    config = copy.deepcopy(MINIMAL)
    subset = {"terms": ["punctate"], "annotations": {"path": "weill2018.csv", "column": "localization"}}
    config["datasets"]["screen"]["exploratory"] = {"suppfig5": subset, "suppfig4": {"terms": ["vesicles"]}}
    assert missing_paths(validate_config(config), tmp_path) == [
        "datasets.screen.exploratory.suppfig5.annotations.path: weill2018.csv does not exist"
        f" (looked in the working directory {tmp_path.resolve()})"
    ]


def test_validation_returns_a_new_config_and_leaves_the_given_one():
    raw = yaml.safe_load(TEST_CONFIG.read_text())
    before = copy.deepcopy(raw)
    validated = validate_config(raw)
    assert raw == before and validated is not raw
    ds = next(iter(validated["datasets"].values()))
    assert ds["benchmarks"]["label_level"] == "cell" and "umap_proteins" in ds["benchmarks"]


def _feature_table_config(**extra):
    ds = {"source": "features", "feature_table": {"path": "profiles.parquet", **extra.pop("table", {})}, **extra}
    return {"datasets": {"profiles": ds}}


def test_a_feature_table_dataset_needs_no_channels_and_analyses_its_one_set():
    ds = validate_config(_feature_table_config(table={"name": "cellprofiler"}))["datasets"]["profiles"]
    assert ds["channels"] == [] and ds["benchmarks"]["label_level"] == "cell"
    assert ds["exploratory"]["feature_set"] == "cellprofiler"
    assert ds["benchmarks"]["umap_proteins"]["feature_set"] == "cellprofiler"
    assert ds["benchmarks"]["umap_cells"]["families"] == ["cellprofiler"]
    chosen = validate_config(
        _feature_table_config(benchmarks={"umap_cells": {"families": ["mine"]}}, exploratory={"feature_set": "x"})
    )["datasets"]["profiles"]
    assert chosen["benchmarks"]["umap_cells"]["families"] == ["mine"] and chosen["exploratory"]["feature_set"] == "x"
    protein = validate_config(_feature_table_config(table={"level": "protein"}))["datasets"]["profiles"]
    assert protein["benchmarks"]["label_level"] == "protein"


@pytest.mark.parametrize(
    "extra, key",
    [
        ({"channels": [{"name": "gfp", "role": "protein"}]}, "datasets.profiles.channels"),
        ({"segmentation": {"channel": "gfp", "method": "nuclei_otsu"}}, "datasets.profiles.segmentation"),
        ({"model": {"width": 0.5}}, "datasets.profiles.model"),
        ({"table": {"obsm": "X_subcell"}}, "feature_table.obsm"),
        ({"table": {"name": "supervised"}}, "feature_table.name"),
        ({"table": {"level": "protein"}, "benchmarks": {"label_level": "cell"}}, "benchmarks.label_level"),
        ({"table": {"level": "protein"}, "exploratory": {"multiloc": {"pairs": [["a", "b"]]}}}, "multiloc.pairs"),
        ({"table": {"level": "protein"}, "exploratory": {"variable_proteins": ["P1"]}}, "variable_proteins"),
        ({"table": {"level": "protein"}, "exploratory": {"level": "image"}}, "exploratory.level"),
    ],
)
def test_a_feature_table_refuses_image_keys_and_a_per_protein_table_single_cell_analyses(extra, key):
    with pytest.raises(ConfigError) as err:
        validate_config(_feature_table_config(**extra))
    assert key in str(err.value) and "\n" not in str(err.value)


def test_a_feature_table_trains_no_model_and_other_datasets_still_need_channels():
    config = load_config(TEST_CONFIG)
    config["datasets"]["profiles"] = _feature_table_config()["datasets"]["profiles"]
    config["datasets"]["sim_yeast_heldout"]["model"]["model_from"] = "profiles"
    with pytest.raises(ConfigError, match="'profiles' is a feature table"):
        validate_config(config)
    del config["datasets"]["sim_yeast"]["channels"]
    with pytest.raises(ConfigError, match="sim_yeast.channels: required"):
        validate_config(config)


def test_a_feature_tables_path_is_checked_and_its_image_targets_are_named(tmp_path):
    config = validate_config(_feature_table_config())
    here = f"(looked in the working directory {tmp_path})"
    assert missing_paths(config, tmp_path) == [
        f"datasets.profiles.feature_table.path: profiles.parquet does not exist {here}"
    ]
    argv = ["snakemake", "-n", "results/profiles/crops.zarr", "results/profiles/tables/table1.tsv", "results/x/qc/a"]
    assert feature_table_refusals(argv, config) == [
        "results/profiles/crops.zarr: not run: the dataset is a feature table (source features; no images)"
    ]
    config["datasets"]["profiles"]["feature_table"]["level"] = "protein"
    refused = feature_table_refusals([*argv, "results/profiles/tables/clusters.tsv"], config)
    assert len(refused) == 2 and refused[1].startswith(
        "results/profiles/tables/table1.tsv: not run: the dataset is a per-protein"
    )


#: the segmentation lengths in pixels: scale fixed reads them, scale auto refuses them
PIXEL_LENGTHS = ("smoothing_sigma", "min_area", "watershed_min_distance", "distance_sigma", "background_radius")


def _segmentation(**block) -> dict:
    config = copy.deepcopy(MINIMAL)
    config["datasets"]["screen"]["segmentation"].update(block)
    return config


def test_scale_fixed_fills_pixels_and_auto_fills_diameters():
    import jsonschema

    fixed = validate_config(_segmentation())
    auto = validate_config(_segmentation(scale="auto", relative={"min_area": 0.2}))
    seg, rel = fixed["datasets"]["screen"]["segmentation"], auto["datasets"]["screen"]["segmentation"]
    assert seg["scale"] == "fixed" and seg["min_area"] == 400 and "relative" not in seg
    assert rel["scale"] == "auto" and not set(PIXEL_LENGTHS) & set(rel)
    assert rel["relative"] == {
        "smoothing_sigma": 0.01,
        "min_area": 0.2,
        "watershed_min_distance": 0.3,
        "distance_sigma": 0.1,
        "background_radius": 1.2,
    }
    assert "relative" in validate_config(_segmentation(scale="auto"))["datasets"]["screen"]["segmentation"]
    for checked in (fixed, auto):  # the workflow validates the filled config once more, as Snakemake does
        jsonschema.validate(checked, load_schema())
    # a config written before scale existed gives the rules the params it gave them then
    assert "scale" not in canonical(seg, "segmentation") and canonical(rel)["scale"] == "auto"


@pytest.mark.parametrize("key", PIXEL_LENGTHS)
def test_scale_auto_refuses_a_length_in_pixels(key):
    with pytest.raises(ConfigError, match=rf"datasets\.screen\.segmentation\.{key}: 3 is in pixels.*under relative"):
        validate_config(_segmentation(scale="auto", **{key: 3}))


@pytest.mark.parametrize("scale", [None, "fixed"])
def test_scale_fixed_refuses_lengths_in_diameters(scale):
    block = {"relative": {"min_area": 0.2}} | ({"scale": scale} if scale else {})
    with pytest.raises(ConfigError, match=r"segmentation\.relative: holds lengths in object diameters.*scale to auto"):
        validate_config(_segmentation(**block))


@pytest.mark.parametrize("method", ["cellpose", "provided"])
def test_scale_auto_is_for_the_thresholding_methods(method):
    with pytest.raises(ConfigError, match=rf"segmentation\.method: '{method}' takes no scale auto"):
        validate_config(_segmentation(method=method, scale="auto"))
