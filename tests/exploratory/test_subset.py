"""Supp Figs 4-5: the subset's proteins from its own annotation table (checked at parse time),
each cluster's GO enrichment against the subset (the paper: "relative to all punctate
proteins") named on the examples figure, and the not-run table where no GO files are configured."""

import numpy as np
import pandas as pd
import pytest
from conftest import require_shared

from pcinpaint.crops.store import write_crop_store
from pcinpaint.errors import NotRun
from pcinpaint.exploratory.analysed import NO_GO_FILES, subset_enrichment, subset_proteins, subset_terms
from pcinpaint.exploratory.enrichment import top_terms
from pcinpaint.figures import notrun
from pcinpaint.figures.clustering import NO_CROPS, ExampleSettings, cluster_examples_figure, go_notes
from pcinpaint.figures.common import plt
from pcinpaint.io import read_table

GO = {"layout": "auto", "namespace": "CC", "alpha": 0.05, "min_cluster_size": 2}
#: real yeast ORFs of the SGD GO slim: Golgi apparatus (not peroxisome), peroxisome (not Golgi), nucleolus
GOLGI = ["YAL026C", "YAL030W", "YAL042W", "YAR033W", "YAR042W", "YBL017C", "YBL069W", "YBL102W"]
PEROXISOME = ["YAL055W", "YBR041W", "YBR168W", "YBR222C", "YCL056C", "YCR005C", "YDL022W", "YDL065C"]
NUCLEOLUS = ["YAL025C", "YAL033W", "YAL059W", "YBL004W"]


def weill_table(path):
    """A Weill et al. 2018-like table: ORF, gene and a ';'-separated localization column."""
    rows = [
        ("yal026c", "DRS2", "punctate"),  # lower case: the feature table says YAL026C
        ("YAL030W", "SNC1", "Punctate"),
        ("YAL042W", "ERV46", "punctate;cytosol"),  # two terms: in only when both are chosen
        ("YAL055W", "PEX22", "punctate"),
        ("YAL025C", "MAK16", "cytosol"),
        ("YAR033W", "MST28", "punctate"),  # not in the feature table
    ]
    pd.DataFrame(rows, columns=["ORF", "gene", "localization"]).to_csv(path, sep="\t", index=False)
    return path


def test_subset_from_a_named_table_and_column(tmp_path):
    table = weill_table(tmp_path / "weill2018.tsv")
    chosen = {
        "terms": ["punctate"],
        "annotations": {"path": str(table), "layout": "long", "key": "ORF", "column": "localization"},
    }
    own_labels = pd.Series({"YAL026C": "golgi"})
    proteins = ["YAL026C", "yal030w", "YAL042W", "YAL055W", "YAL025C", "YBL004W"]
    terms = subset_terms(chosen, own_labels, proteins)
    assert terms.to_dict() == {
        "YAL026C": "punctate",
        "yal030w": "punctate",
        "YAL042W": "cytosol+punctate",
        "YAL055W": "punctate",
        "YAL025C": "cytosol",
    }  # keyed by the feature table's names; YBL004W has no row
    assert subset_proteins(proteins, terms, ["punctate"]) == ["YAL026C", "yal030w", "YAL055W"]
    assert subset_proteins(proteins, terms, ["Punctate", "cytosol"]) == proteins[:5]
    # without a table of its own the subset comes from the dataset's labels
    assert subset_terms({"terms": ["golgi"]}, own_labels, proteins) is own_labels


def test_subset_from_huh2003_by_gene_name():
    """A Huh 2003 table is keyed by ORF; a screen named by gene finds its terms through the aliases."""
    huh = require_shared("annotations", "yeastgfp_huh2003.csv")
    chosen = {"terms": ["mitochondrion"], "annotations": {"path": str(huh), "layout": "huh2003"}}
    terms = subset_terms(chosen, pd.Series(dtype=str), ["aac1", "AAC3", "AAH1", "AAP1"])
    assert terms["aac1"] == "mitochondrion" and terms["AAC3"] == "mitochondrion"
    assert set(terms["AAH1"].split("+")) == {"cytoplasm", "nucleus"} and "AAP1" not in terms.index
    assert subset_proteins(terms.index, terms, chosen["terms"]) == ["aac1", "AAC3"]


def test_enrichment_against_the_subset_on_the_real_go_slim():
    obo = require_shared("go", "goslim_yeast.obo")
    mapping = require_shared("go", "go_slim_mapping.tab")
    clusters = pd.DataFrame(
        {
            "protein": [p.lower() for p in GOLGI] + PEROXISOME + NUCLEOLUS,  # names in any case
            "cluster": [1] * len(GOLGI) + [2] * len(PEROXISOME) + [3] * len(NUCLEOLUS),
        }
    )
    table = subset_enrichment(clusters, GO, obo, mapping)
    assert list(table.columns[:2]) == ["cluster", "level"] and set(table["level"]) == {"cluster"}
    assert (table["fdr"] < GO["alpha"]).all()
    assert (table["pop_n"] == len(clusters)).all()  # the background is the subset, not the whole screen
    named = table.groupby("cluster")["name"].agg(set)
    assert "Golgi apparatus" in named[1] and "Golgi apparatus" not in named.get(2, set())
    assert "peroxisome" in named[2] and "peroxisome" not in named[1]

    top = top_terms(table).set_index("cluster")
    assert top.loc[1, "name"] == "Golgi apparatus" and top.loc[1, "ratio"] == "8/8"
    assert top.loc[2, "name"] == "peroxisome" and top.loc[2, "ratio"] == "8/8"
    notes = go_notes(top_terms(table))
    assert notes[1].startswith("Golgi apparatus, q=") and notes[1].endswith(", 8/8")


def test_go_table_not_run_without_go_files(tmp_path):
    clusters = pd.DataFrame({"protein": GOLGI[:2] + PEROXISOME[:2], "cluster": [1, 1, 2, 2]})
    with pytest.raises(NotRun, match="no GO files configured"):
        subset_enrichment(clusters, GO, None, None)
    path = tmp_path / "suppfig5_go.tsv"
    with notrun.outputs_not_run([path]):
        subset_enrichment(clusters, GO, [], [])
    assert notrun.reason(read_table(path)) == NO_GO_FILES
    assert NO_GO_FILES == "no GO files configured (exploratory.go.ontology and exploratory.go.annotations)"


def test_examples_figure_names_each_clusters_top_term(tmp_path):
    top = pd.DataFrame({"cluster": [1, 2], "name": ["Golgi apparatus", "peroxisome"], "fdr": [1.2e-4, 0.031]})
    notes = go_notes(top.assign(ratio=["5/7", "3/4"]))
    assert notes == {1: "Golgi apparatus, q=1e-4, 5/7", 2: "peroxisome, q=0.031, 3/4"}
    crops = np.random.default_rng(0).integers(0, 255, size=(12, 2, 16, 16), dtype=np.uint8)
    store = write_crop_store(
        tmp_path / "crops.zarr", [crops], 12, 2, size=16, attrs={"roles": ["protein", "structural"]}
    )
    cells = pd.DataFrame({"protein": [f"P{i % 4}" for i in range(12)], "store_index": np.arange(12)})
    table = pd.DataFrame({"protein": ["P0", "P1", "P2", "P3"], "cluster": [1, 1, 2, 3]})
    fig = cluster_examples_figure(store, cells, table, examples=ExampleSettings(n_examples=2, notes=notes))
    labels = [" ".join(t.get_text().split()) for ax in fig.axes for t in ax.texts]  # notes are wrapped
    assert any("Golgi apparatus" in t and "q=1e-4, 5/7" in t for t in labels)
    assert any(t.startswith("cluster 3") and "q=" not in t for t in labels)  # no enrichment: as before
    plt.close(fig)
    # a dataset that is a feature table: no store; the same clusters and notes, proteins listed
    fig = cluster_examples_figure(None, cells, table, examples=ExampleSettings(n_examples=2, notes=notes))
    listed = [" ".join(t.get_text().split()) for ax in fig.axes for t in ax.texts]
    assert [t for t in listed if t.startswith("cluster")] == [t for t in labels if t.startswith("cluster")]
    assert "P0, P1" in listed and NO_CROPS in fig._suptitle.get_text()
    plt.close(fig)
