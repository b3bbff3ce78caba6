"""The exploratory stage's connections: which feature set it analyses, protein annotation terms
and subsets."""

import pandas as pd

from pcinpaint.exploratory.analysed import analysed_set, default_n_clusters, protein_terms, subset_proteins

BENCH = {"label_from": "column", "label_column": "true_class", "label_mode": "single"}


def supptable(scores):
    rows = [dict(feature_set=f"pci_conv{i + 1}", family="pci", status="ran", k11=s) for i, s in enumerate(scores)]
    rows.append(dict(feature_set="classic", family="classic", status="ran", k11=0.99))
    return pd.DataFrame(rows)


def test_analysed_set_is_the_best_pci_layer_or_the_named_one():
    assert analysed_set({}, supptable([0.5, 0.6, 0.9, 0.8, 0.7])) == "pci_conv3"  # classic is not a PCI layer
    assert analysed_set({"exploratory": {"feature_set": "imported_x"}}, supptable([0.9] * 5)) == "imported_x"
    assert analysed_set({}, None) == "pci_conv4"
    # labels per image (the atlas): the paper's human layer, never a classification's choice
    assert analysed_set({"benchmarks": {"label_level": "image"}}, None) == "pci_conv3"
    # labels per protein (a screen never scored): the layers ranked on the labelled set scored
    # with the screen's network where there is one, else conv4
    screen = {"benchmarks": {"label_level": "protein"}}
    assert analysed_set(screen, supptable([0.5, 0.9, 0.6, 0.7, 0.8])) == "pci_conv2"
    assert analysed_set(screen, None) == "pci_conv4"


def test_protein_terms_join_the_compartments_of_a_proteins_cells():
    cells = pd.DataFrame(
        {
            "protein": ["A", "A", "B", "B", "C"],
            "true_class": ["nucleoli", "mitochondria", "cytosol+nucleoplasm", "cytosol+nucleoplasm", "er"],
        }
    )
    terms = protein_terms(cells, BENCH)
    assert terms.to_dict() == {"A": "mitochondria+nucleoli", "B": "cytosol+nucleoplasm", "C": "er"}
    assert default_n_clusters(terms) == 20  # one single-term protein: no compartments to count
    assert default_n_clusters(pd.Series({"a": "x", "b": "y", "c": "x+y"})) == 2
    assert subset_proteins(["A", "B", "C"], terms, ["cytosol", "nucleoplasm", "er"]) == ["B", "C"]


def test_fig5_images_carry_their_own_labels_where_labels_are_per_image():
    """The atlas fixture's case: one antibody annotated cytosol in A-431 and nucleoli+cytosol in
    U-2 OS; per image, Fig 5 sees each image's own annotation, not the gene's union."""
    from pcinpaint.exploratory.analysed import image_annotations

    cells = pd.DataFrame(
        {
            "image_id": ["T/A-431", "T/A-431", "T/U-2 OS", "S/U-2 OS"],
            "protein": ["TSPAN6", "TSPAN6", "TSPAN6", "SCYL3"],
            "label": ["cytosol", "cytosol", "cytosol+nucleoli", "nucleoli"],
        }
    )
    bench = {"label_from": "column", "label_column": "label", "label_level": "image"}
    terms = protein_terms(cells, bench)
    assert terms["TSPAN6"] == "cytosol+nucleoli"
    per_image = image_annotations(cells, cells, bench, terms)
    assert per_image.to_dict() == {"T/A-431": "cytosol", "T/U-2 OS": "cytosol+nucleoli", "S/U-2 OS": "nucleoli"}
    per_protein = image_annotations(cells, cells, {**bench, "label_level": "cell"}, terms)
    assert per_protein["T/A-431"] == "cytosol+nucleoli"  # cell-labelled data: the protein's terms
