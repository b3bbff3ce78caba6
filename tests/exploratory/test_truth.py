"""The checks of a simulated screen's exploratory results against its truth."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.exploratory.truth import cluster_agreement, enrichment_agreement, mixing_correlation, truth_checks


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


def test_truth_checks_report_every_check_with_its_goal():
    """Perfect clusters, a top term per cluster, a multi-localization pair, a variable protein
    and a look-alike search: one row each, the values they deserve."""
    terms = pd.Series({"A": "x", "B": "x", "E": "x", "C": "y", "D": "y", "F": "y"})
    clusters = pd.DataFrame({"protein": list("ABECDF"), "cluster": ["1", "1", "1", "2", "2", "2"]})
    top = pd.DataFrame({"cluster": ["1", "2", "2.1"], "name": ["term x", "term y", "term y"], "fdr": ["0.01"] * 3})
    cells = pd.DataFrame({"cell_id": ["c1", "c2", "c3"], "true_class": ["x+y"] * 3, "mixing_fraction": [0.1, 0.5, 0.9]})
    scores = pd.DataFrame({"cell_id": ["c1", "c2", "c3"], "group": ["x+y"] * 3, "pair": ["x+y"] * 3})
    scores["score"] = ["2.0", "0.0", "-2.0"]
    branches = pd.DataFrame({"protein": ["A"], "ari_two_branches": ["0.8"]})
    like = pd.DataFrame({"query": ["A", "A", "A"], "protein": ["B", "E", "C"], "tree_rank": ["1", "2", "3"]})
    exploratory = {"go": {"alpha": 0.05}, "multiloc": {"pairs": [["x", "y"]]}}
    tables = {"clusters": clusters, "top": top, "scores": scores, "branches": branches, "likes": [like]}
    table = truth_checks(cells, terms, tables, {"x": "term x", "y": "term y"}, exploratory).set_index("check")
    assert len(table) == 6 and list(table.columns) == ["value", "goal", "n", "detail"]
    assert table.iloc[0]["value"] == pytest.approx(1.0) and table.iloc[0]["n"] == 6
    assert table.iloc[1]["value"] == 1.0 and table.iloc[2]["value"] == 1.0  # both clusters' top term is theirs
    assert np.isfinite(table.iloc[3]["value"]) and table.iloc[3]["n"] == 3
    assert table.iloc[4]["value"] == pytest.approx(0.8)
    assert table.iloc[5]["value"] == 1.0  # A's two nearest proteins are its class-mates
