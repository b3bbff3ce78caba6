"""Class labels: the real Huh 2003 and HPA tables, the simulator's truth, cell-table columns."""

import numpy as np
import pandas as pd
import pytest
from conftest import require_shared

from pcinpaint.errors import InputError
from pcinpaint.inputs import annotations, simulate
from pcinpaint.io import read_table, write_table

HUH = ("annotations", "yeastgfp_huh2003.csv")
HPA = ("annotations", "hpa_subcellular_location_v18.tsv")


def _is_unlabelled(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


# --------------------------------------------------------------------------------------------
# Huh et al. 2003
# --------------------------------------------------------------------------------------------


def test_huh2003_by_gene_name():
    path = require_shared(*HUH)
    terms = annotations.read_annotations(path, key="gene name")
    combined = annotations.protein_classes(terms)
    single = annotations.protein_classes(terms, mode="single")
    assert combined["AAC1"] == "mitochondrion" and combined["AAC3"] == "mitochondrion"
    assert combined["AAH1"] == "cytoplasm+nucleus" and combined["AAR2"] == "cytoplasm+nucleus"
    assert single["AAC1"] == "mitochondrion"
    assert "AAH1" not in single.index and "AAR2" not in single.index
    assert "AAP1" not in combined.index  # absent from the table


def test_huh2003_by_orf_and_aliases():
    path = require_shared(*HUH)
    raw = read_table(path)
    orf = raw.loc[raw["gene name"] == "AAC1", "yORF"].iloc[0]
    assert annotations.detect_layout(raw) == "huh2003"
    terms = annotations.read_annotations(path)  # yORF is the default key
    classes = annotations.protein_classes(terms)
    assert classes[orf] == "mitochondrion"
    assert "AAC1" not in classes.index
    alias = annotations.aliases(path)
    assert alias["AAC1"] == orf and alias[orf.upper()] == orf
    cells = pd.DataFrame({"protein": ["AAC1", " aac3", orf.lower(), "AAH1", "AAP1", None]}, index=[5, 6, 7, 8, 9, 10])
    got = annotations.cell_labels(cells, annotations=terms, aliases=alias)
    assert list(got.index) == [5, 6, 7, 8, 9, 10]
    assert got.iloc[:4].tolist() == ["mitochondrion"] * 3 + ["cytoplasm+nucleus"]
    assert _is_unlabelled(got.iloc[4]) and _is_unlabelled(got.iloc[5])
    assert annotations.unmatched_report(cells, terms, aliases=alias) == (1, 4)
    assert annotations.unmatched_report(cells, terms) == (4, 5)  # gene names do not match ORF keys


def test_huh2003_terms_are_compartments_only():
    path = require_shared(*HUH)
    terms = annotations.read_annotations(path)
    found = set(terms["term"])
    assert "ambiguous" not in found and "abundance" not in found
    assert len(found) == 22 and "spindle pole" in found and "er" in found
    assert (terms["term"] == terms["term"].str.strip().str.lower()).all()
    merged = annotations.merge_terms(terms, {"Spindle Pole": "spindle"})
    assert "spindle pole" not in set(merged["term"]) and "spindle" in set(merged["term"])
    assert not merged.duplicated().any()
    assert (merged["term"] == "spindle").sum() == (terms["term"] == "spindle pole").sum()


def test_huh2003_pairwise_terms():
    path = require_shared(*HUH)
    terms = annotations.read_annotations(path)
    single = annotations.protein_classes(terms, mode="single")
    pairwise = annotations.terms_for_pairwise(terms, min_proteins_per_term=30)
    counts = single.value_counts()
    assert set(pairwise.unique()) == set(counts.index[counts >= 30])
    assert pairwise.value_counts().min() >= 30
    raw = read_table(path)
    aac1, aah1 = (raw.loc[raw["gene name"] == g, "yORF"].iloc[0] for g in ("AAC1", "AAH1"))
    assert pairwise[aac1] == "mitochondrion" and aah1 not in pairwise.index
    assert "microtubule" not in set(pairwise) and counts["microtubule"] < 30


# --------------------------------------------------------------------------------------------
# Human Protein Atlas
# --------------------------------------------------------------------------------------------


def test_hpa_reliability():
    path = require_shared(*HPA)
    assert annotations.detect_layout(read_table(path)) == "hpa"
    terms = annotations.read_annotations(path)
    classes = annotations.protein_classes(terms)
    assert classes["TSPAN6"] == "cytosol"
    assert "SCYL3" not in classes.index
    cells = pd.DataFrame({"protein": ["TSPAN6", "SCYL3"]})
    got = annotations.cell_labels(cells, annotations=terms)
    assert got.iloc[0] == "cytosol" and _is_unlabelled(got.iloc[1])
    every = annotations.read_annotations(path, reliability=("Validated", "Supported", "Approved", "Uncertain"))
    assert annotations.protein_classes(every)["SCYL3"] == "microtubules+nuclear bodies"


def test_hpa_by_ensembl_id():
    path = require_shared(*HPA)
    terms = annotations.read_annotations(path, key="Gene")
    assert annotations.protein_classes(terms)["ENSG00000000003"] == "cytosol"
    alias = annotations.aliases(path)
    assert alias["ENSG00000000003"] == "TSPAN6"


def test_hpa_pairwise_terms():
    path = require_shared(*HPA)
    terms = annotations.read_annotations(path)
    pairwise = annotations.terms_for_pairwise(terms, min_proteins_per_term=30)
    single = annotations.protein_classes(terms, mode="single")
    counts = single.value_counts()
    assert set(pairwise.unique()) == set(counts.index[counts >= 30])
    assert {"nucleoplasm", "cytosol", "mitochondria"} <= set(pairwise.unique())
    assert len(pairwise) == counts[counts >= 30].sum()


# --------------------------------------------------------------------------------------------
# The simulator's truth and plain long tables
# --------------------------------------------------------------------------------------------


def test_simulated_truth(tmp_path):
    sim = dict(
        preset="yeast",
        n_proteins=6,
        images_per_protein=1,
        fields_per_image=1,
        cells_per_field=3,
        multi_localized_fraction=0.34,
        variable_fraction=0.17,
        field_size=96,
    )
    paths = simulate.write_screen(sim, tmp_path, seed=1)
    truth = read_table(paths["truth_proteins"])
    assert annotations.detect_layout(truth) == "simulated"
    terms = annotations.read_annotations(paths["truth_proteins"])
    classes = annotations.protein_classes(terms)
    expected = dict(zip(truth["protein"], truth["label"]))
    assert classes.to_dict() == expected
    assert any("+" in v for v in expected.values())  # multi-localized proteins are there
    single = annotations.protein_classes(terms, mode="single")
    assert set(single.index) == set(truth.loc[truth["kind"] == "single", "protein"])
    # the per-cell truth column gives the same classes for single and multi proteins
    cells = read_table(paths["truth_cells"])
    from_column = annotations.cell_labels(cells, annotations.LabelSettings(label_from="column", column="true_class"))
    assert (from_column == cells["true_class"]).all()
    from_annotation = annotations.cell_labels(cells, annotations=terms)
    fixed = cells["protein"].map(dict(zip(truth["protein"], truth["kind"]))) != "variable"
    assert (from_annotation[fixed] == cells.loc[fixed, "true_class"]).all()
    # the GO annotation the simulator writes is a two-column long table
    go = annotations.read_annotations(paths["annotations"])
    assert set(go["protein"]) == set(truth["protein"]) and go["term"].str.startswith("go:").all()


def test_long_tables(tmp_path):
    rows = tmp_path / "rows.tsv"
    write_table(
        pd.DataFrame({"protein": ["A", "A", "B", " C ", "D"], "term": ["Nucleus", "cytosol", "ER", "er", " "]}), rows
    )
    terms = annotations.read_annotations(rows, layout="long")
    assert annotations.protein_classes(terms).to_dict() == {"A": "cytosol+nucleus", "B": "er", "C": "er"}
    listed = tmp_path / "listed.csv"
    write_table(pd.DataFrame({"protein": ["A", "B"], "terms": ["Nucleus; cytosol;", ""], "note": ["x", "y"]}), listed)
    terms = annotations.read_annotations(listed)
    assert annotations.protein_classes(terms).to_dict() == {"A": "cytosol+nucleus"}


def test_a_published_tables_named_columns(tmp_path):
    """A screen's own table (Weill et al. 2018 style): the protein and term columns are named in
    the config, whatever else the table holds; a column it lacks is named in the error."""
    table = tmp_path / "weill.csv"
    write_table(
        pd.DataFrame(
            {
                "ORF": ["YAL001C", "YAL002W", "YAL003W"],
                "Gene": ["TFC3", "VPS8", "EFB1"],
                "localization": ["Punctate", "punctate; nucleus", ""],
                "note": ["a", "b", "c"],
            }
        ),
        table,
    )
    terms = annotations.read_annotations(table, layout="long", key="ORF", column="localization")
    assert annotations.protein_classes(terms).to_dict() == {"YAL001C": "punctate", "YAL002W": "nucleus+punctate"}
    with pytest.raises(InputError, match=r"weill\.csv: no term column 'location'; columns are"):
        annotations.read_annotations(table, layout="long", key="ORF", column="location")
    huh = tmp_path / "huh.csv"
    write_table(pd.DataFrame({"yORF": ["YAL001C"], "gene name": ["TFC3"], "nucleus": ["T"]}), huh)
    with pytest.raises(
        InputError, match="a term column .'nucleus'. is read from long tables only; this one is layout huh2003"
    ):
        annotations.read_annotations(huh, column="nucleus")  # a column a Huh table would ignore


# --------------------------------------------------------------------------------------------
# Cells and classes
# --------------------------------------------------------------------------------------------


def _cells():
    return pd.DataFrame(
        {
            "protein": ["P1", "P1", "P2", "P3", "P4", "P5"],
            "label": ["cytosol+nucleoplasm", "Nucleoplasm + cytosol", "mitochondria", None, "", "spindle pole+spindle"],
        },
        index=[10, 11, 12, 13, 14, 15],
    )


def test_cell_labels_from_column():
    cells = _cells()
    combined = annotations.cell_labels(cells, annotations.LabelSettings(label_from="column", column="label"))
    assert list(combined.index) == [10, 11, 12, 13, 14, 15]
    assert combined[[10, 11, 12, 15]].tolist() == [
        "cytosol+nucleoplasm",
        "cytosol+nucleoplasm",
        "mitochondria",
        "spindle+spindle pole",
    ]
    assert _is_unlabelled(combined[13]) and _is_unlabelled(combined[14])
    single = annotations.cell_labels(
        cells, annotations.LabelSettings(label_from="column", column="label", mode="single")
    )
    assert single[12] == "mitochondria"
    assert all(_is_unlabelled(single[i]) for i in (10, 11, 13, 14, 15))
    merged = annotations.cell_labels(
        cells, annotations.LabelSettings(label_from="column", mode="single", merge={"spindle pole": "spindle"})
    )
    assert merged[15] == "spindle"  # both terms merge into one class


def test_cell_labels_from_annotations_and_protein():
    cells = _cells()
    terms = pd.DataFrame(
        {
            "protein": ["p1", "P1", "P2", "P4", "P4"],
            "term": ["cytosol", "nucleoplasm", "mitochondria", "golgi", "golgi"],
        }
    )
    combined = annotations.cell_labels(cells, annotations=terms)
    assert combined[[10, 11, 12, 14]].tolist() == ["cytosol+nucleoplasm"] * 2 + ["mitochondria", "golgi"]
    assert _is_unlabelled(combined[13]) and _is_unlabelled(combined[15])
    single = annotations.cell_labels(cells, annotations.LabelSettings(mode="single"), annotations=terms)
    assert _is_unlabelled(single[10]) and single[12] == "mitochondria" and single[14] == "golgi"
    merged = annotations.cell_labels(
        cells, annotations.LabelSettings(mode="single", merge={"Nucleoplasm": "cytosol"}), annotations=terms
    )
    assert merged[10] == "cytosol"
    assert annotations.unmatched_report(cells, terms) == (2, 5)
    proteins = annotations.cell_labels(cells, annotations.LabelSettings(label_from="protein"))
    assert proteins.tolist() == ["P1", "P1", "P2", "P3", "P4", "P5"] and list(proteins.index) == list(cells.index)


def test_terms_for_pairwise_threshold():
    rows = [(f"a{i}", "alpha") for i in range(4)] + [(f"b{i}", "beta") for i in range(3)]
    rows += [("m1", "alpha"), ("m1", "beta"), ("g1", "gamma")]
    terms = pd.DataFrame(rows, columns=["protein", "term"])
    kept = annotations.terms_for_pairwise(terms, min_proteins_per_term=3)
    assert set(kept.unique()) == {"alpha", "beta"}
    assert "m1" not in kept.index and "g1" not in kept.index and len(kept) == 7
    assert set(annotations.terms_for_pairwise(terms, min_proteins_per_term=4).unique()) == {"alpha"}


def test_bad_modes():
    with pytest.raises(ValueError):
        annotations.protein_classes(pd.DataFrame({"protein": ["a"], "term": ["x"]}), mode="multi")
    with pytest.raises(ValueError):
        annotations.cell_labels(_cells(), annotations.LabelSettings(label_from="somewhere"))


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.tsv"
    with pytest.raises(InputError) as err:
        annotations.read_annotations(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message and "not found" in message


def test_undetectable_layout(tmp_path):
    path = tmp_path / "odd.tsv"
    write_table(pd.DataFrame({"name": ["A"], "where": ["nucleus"], "score": ["1"]}), path)
    with pytest.raises(InputError) as err:
        annotations.read_annotations(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message and "layout" in message
    with pytest.raises(InputError) as err:
        annotations.aliases(path)
    assert str(path) in str(err.value)


def test_missing_key_column():
    path = require_shared(*HUH)
    with pytest.raises(InputError) as err:
        annotations.read_annotations(path, key="Gene symbol")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
