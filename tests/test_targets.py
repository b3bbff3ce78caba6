"""Which datasets get which analyses (pcinpaint.targets): the lists the workflow's targets are
built from, checked without running Snakemake."""

import copy

import pandas as pd
from conftest import REPO, TEST_CONFIG

from pcinpaint.config import load_config, validate_config
from pcinpaint.io import write_table
from pcinpaint.targets import Targets, has_fig6, has_go, is_labelled


def test_the_test_configs_lists():
    targets = Targets.of(load_config(TEST_CONFIG))
    assert targets.simulated == targets.datasets and targets.segmented == targets.datasets
    assert targets.labelled == targets.scored == targets.cell_labelled == targets.fig3 == targets.datasets
    assert targets.cropped == [] and targets.published == []


def test_the_paper_protocols_lists():
    """Yeast: the Chong cells are scored, the WT2 screen is not labelled; with the Fig 3 screens
    the three screens are labelled per protein (Fig 3, never scored) and Chong has no panel (its
    cells name classes). Human: labels per image, scored by the pairwise score only."""
    paper = Targets.of(load_config(REPO / "config" / "yeast_paper.yaml"))
    assert paper.trained == ["yeast_wt2"] and paper.cropped == ["chong"]
    assert paper.labelled == paper.scored == paper.cell_labelled == ["chong"] and paper.fig3 == []
    both = Targets.of(load_config(REPO / "config" / "yeast_paper.yaml", REPO / "config" / "yeast_screens.yaml"))
    assert set(both.labelled) == {"yeast_wt2", "chong", "yeast_nop1", "yeast_nup49"}
    assert both.scored == both.cell_labelled == ["chong"]
    assert both.fig3 == ["yeast_wt2", "yeast_nop1", "yeast_nup49"]
    hpa = Targets.of(load_config(REPO / "config" / "hpa.yaml"))
    assert hpa.scored == ["hpa"] and hpa.cell_labelled == [] and hpa.fig3 == []
    toy = Targets.of(load_config(REPO / "config" / "yeast_toy.yaml"))  # crop folders: cropped, never segmented
    assert toy.cropped == ["yeast_toy", "yeast_toy_proteins"] and toy.segmented == []


def test_a_sample_sheet_is_labelled_by_its_header(tmp_path):
    """A user's screen is labelled where its sheet has the label column (read from the header;
    an unreadable sheet is unlabelled here, its own rule says why)."""
    config = load_config(TEST_CONFIG)
    ds = copy.deepcopy(config["datasets"]["sim_yeast"])
    ds.update(source="samplesheet", samplesheet=str(tmp_path / "sheet.tsv"))
    ds["benchmarks"].update(label_from="column", label_column="label")
    write_table(pd.DataFrame({"image_id": ["a"], "label": ["er"]}), tmp_path / "sheet.tsv")
    assert is_labelled(ds)
    write_table(pd.DataFrame({"image_id": ["a"]}), tmp_path / "sheet.tsv")
    assert not is_labelled(ds)
    ds["samplesheet"] = str(tmp_path / "missing.tsv")
    assert not is_labelled(ds)


def test_go_and_fig6_need_their_files_or_proteins_outside_the_simulator():
    config = load_config(REPO / "config" / "yeast_screens.yaml")
    assert has_go(config["datasets"]["yeast_nop1"]) and not has_go(config["datasets"]["yeast_wt2"])
    assert not has_fig6(config["datasets"]["yeast_nop1"])
    sim = load_config(TEST_CONFIG)["datasets"]["sim_yeast"]
    assert has_go(sim) and has_fig6(sim)
    hpa = validate_config(load_config(REPO / "config" / "hpa.yaml"))["datasets"]["hpa"]
    assert has_go(hpa) and has_fig6(hpa)


def test_the_snakemake_internals_the_workflow_uses_exist():
    """docs/layout.md, "Two Snakemake internals": the command line's config files
    (``workflow.overwrite_configfiles``) and targets (``snakemake.cli.get_argument_parser``),
    on the pinned Snakemake."""
    from importlib.metadata import version

    import snakemake.api  # noqa: F401  (imports the workflow module in its own order)
    from snakemake.cli import get_argument_parser
    from snakemake.workflow import Workflow

    pinned = next(
        line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("snakemake==")
    )
    assert version("snakemake") == pinned.split("==")[1]
    assert "overwrite_configfiles" in dir(Workflow)
    args = get_argument_parser().parse_known_args(["results/x/cells.parquet", "-n", "--configfile", "a.yaml"])[0]
    assert args.targets == ["results/x/cells.parquet"] and args.configfile


def test_a_feature_table_is_labelled_by_its_header_and_gets_no_image_stages(tmp_path):
    """A feature table (source features) is neither segmented, cropped nor trained; it is
    labelled where its header gives the label column (bare, or Metadata_-prefixed)."""
    config = load_config(TEST_CONFIG)
    path = tmp_path / "profiles.parquet"
    config["datasets"]["profiles"] = {"source": "features", "feature_table": {"path": str(path)}}
    header = {"Metadata_Plate": ["p"], "Metadata_Well": ["A01"], "Metadata_protein": ["P1"], "Metadata_moa": ["x"]}
    header["f"] = [1.0]
    write_table(pd.DataFrame({**header, "Metadata_label": ["er"]}), path)
    targets = Targets.of(validate_config(config))
    assert targets.feature_tables == ["profiles"] and "profiles" not in targets.imaged
    assert "profiles" not in targets.segmented + targets.cropped + targets.trained
    assert "profiles" in targets.cell_labelled and targets.imaged == ["sim_human", "sim_yeast", "sim_yeast_heldout"]
    write_table(pd.DataFrame(header), path)
    assert "profiles" not in Targets.of(validate_config(config)).labelled
    config["datasets"]["profiles"]["benchmarks"] = {"label_column": "moa"}  # a carried Metadata_ column
    assert "profiles" in Targets.of(validate_config(config)).labelled
