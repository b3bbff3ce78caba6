"""The exploratory stage's connections: which feature set it analyses, protein annotation terms,
subsets, and the checks against a simulated screen's truth."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.exploratory.analysed import (
    analysed_set,
    cluster_agreement,
    default_n_clusters,
    enrichment_agreement,
    mixing_correlation,
    protein_terms,
    subset_proteins,
)

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


def test_cluster_agreement_and_enrichment_agreement():
    terms = pd.Series({"p1": "x", "p2": "x", "p3": "y", "p4": "y", "p5": "x+y"})
    clusters = pd.DataFrame({"protein": ["p1", "p2", "p3", "p4", "p5"], "cluster": [1, 1, 2, 2, 2]})
    ari, n = cluster_agreement(clusters, terms)
    assert ari == pytest.approx(1.0) and n == 4
    top = pd.DataFrame({"cluster": [1, 2], "name": ["term x", "term z"], "fdr": [0.001, 0.01]})
    agree = enrichment_agreement(clusters, top, terms, {"x": "term x", "y": "term y"}, min_size=2)
    assert list(agree["agrees"]) == [True, False] and list(agree["majority"]) == ["x", "y"]


def test_mixing_correlation_follows_the_simulators_sign_convention():
    """mixing_fraction is the share of the first class of the sorted name: for the pair
    (nucleoplasm, cytosol) the score rises with the cytosol share, i.e. with mixing_fraction."""
    rng = np.random.default_rng(0)
    f = rng.uniform(0.05, 0.95, 50)
    cells = pd.DataFrame(
        {"cell_id": [f"c{i}" for i in range(50)], "true_class": "cytosol+nucleoplasm", "mixing_fraction": f}
    )
    scores = pd.DataFrame(
        {
            "cell_id": cells["cell_id"],
            "group": "nucleoplasm+cytosol",
            "score": np.log(f / (1 - f)) + rng.normal(0, 0.05, 50),
        }
    )  # towards B = cytosol
    rho, n = mixing_correlation(scores, cells, "nucleoplasm", "cytosol")
    assert rho > 0.95 and n == 50
    rho_flipped, _ = mixing_correlation(
        scores.assign(group="cytosol+nucleoplasm", score=-scores["score"]), cells, "cytosol", "nucleoplasm"
    )
    assert rho_flipped == pytest.approx(rho)


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
