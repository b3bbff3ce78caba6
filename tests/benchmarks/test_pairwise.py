"""Normalised average pairwise distances: brute-force D, score behaviour, sampling rules."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import chisquare

from pcinpaint.benchmarks.pairwise import (
    PairDraws,
    _sample_pairs,
    cell_line_scores,
    image_groups,
    mean_image_distance,
    pairwise_scores,
)
from pcinpaint.features.matrix import zscore


def random_cells(rng, n_images, n_features, min_cells=2, max_cells=8):
    """Cells of n_images images (unequal counts, cells shuffled) and their image ids."""
    counts = rng.integers(min_cells, max_cells + 1, n_images)
    ids = np.repeat(np.array([f"img{i:04d}" for i in range(n_images)]), counts)
    perm = rng.permutation(len(ids))
    return rng.normal(size=(len(ids), n_features)), ids[perm]


def test_image_groups_index_cells_by_image():
    order, starts, counts = image_groups(np.array(["b", "a", "b", "c", "a", "b"]))
    assert counts.tolist() == [2, 3, 1]
    assert [sorted(order[s : s + c].tolist()) for s, c in zip(starts, counts)] == [[1, 4], [0, 2, 5], [3]]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-7), (np.float32, 1e-4)])
def test_mean_image_distance_equals_brute_force(dtype, rtol):
    rng = np.random.default_rng(0)
    x, ids = random_cells(rng, 12, 7, min_cells=1, max_cells=9)
    x = x.astype(dtype)
    groups = image_groups(ids)
    uniq = np.unique(ids)
    pairs = np.vstack([rng.integers(0, 12, (60, 2)), [[3, 3], [4, 9], [9, 4]]])
    expected = [
        cdist(x[ids == uniq[a]].astype(np.float64), x[ids == uniq[b]].astype(np.float64)).mean() for a, b in pairs
    ]
    for batch in (1, 3, 1024):
        np.testing.assert_allclose(mean_image_distance(x, groups, pairs, batch=batch), expected, rtol=rtol)
    assert mean_image_distance(x, groups, np.empty((0, 2), int)).shape == (0,)


def labelled_images(rng, n_images, n_terms):
    return {f"img{i:04d}": f"term{rng.integers(n_terms)}" for i in range(n_images)}


def test_random_labels_score_near_zero():
    rng = np.random.default_rng(1)
    x, ids = random_cells(rng, 600, 16)
    scores = pairwise_scores(x, ids, labelled_images(rng, 600, 6)).set_index("term")
    assert len(scores) == 8
    assert abs(scores.loc["overall", "score"]) < 0.05
    assert abs(scores.loc["pooled", "score"]) < 0.05


def test_clustered_features_score_strongly_negative():
    rng = np.random.default_rng(2)
    n_images, n_terms = 200, 5
    terms = labelled_images(rng, n_images, n_terms)
    centres = {f"term{t}": rng.normal(size=16) * 10 for t in range(n_terms)}
    _, ids = random_cells(rng, n_images, 16)
    x = np.array([centres[terms[i]] for i in ids]) + rng.normal(size=(len(ids), 16)) * 0.1
    scores = pairwise_scores(x, ids, terms).set_index("term")
    assert (scores["score"] < -0.5).all()
    assert scores.loc["overall", "score"] < -0.9


def test_summary_rows_follow_their_formulas_and_skip_single_image_terms():
    rng = np.random.default_rng(3)
    x, ids = random_cells(rng, 40, 6)
    terms = labelled_images(rng, 40, 3)
    terms["img0000"] = "lonely"
    scores = pairwise_scores(x, ids, terms, PairDraws(n_pairs=200)).set_index("term")
    lonely = scores.loc["lonely"]
    assert lonely["n_images"] == 1 and np.isnan(lonely["same_D"]) and np.isnan(lonely["score"])
    assert np.isfinite(lonely["other_D"])
    per_term = scores.drop(index=["overall", "pooled", "lonely"])
    np.testing.assert_allclose(per_term["score"], per_term["same_D"] / per_term["other_D"] - 1)
    assert scores.loc["overall", "score"] == pytest.approx(per_term["score"].mean())
    assert scores.loc["pooled", "score"] == pytest.approx(per_term["same_D"].mean() / per_term["other_D"].mean() - 1)
    assert scores.loc["overall", "n_images"] == 39


def test_other_term_pairs_are_balanced_over_the_other_terms():
    # every cell of a term sits on the term's point, so D(a, b) = |centre(a) - centre(b)| exactly;
    # with very unequal term sizes only n_pairs per other term gives the plain mean over terms
    sizes = {"big": 60, "mid": 8, "small": 2}
    centres = {"big": np.array([0.0, 0.0]), "mid": np.array([3.0, 0.0]), "small": np.array([0.0, 8.0])}
    terms = {f"{t}{i}": t for t, n in sizes.items() for i in range(n)}
    ids = np.repeat(list(terms), 3)
    x = np.array([centres[terms[i]] for i in ids])
    scores = pairwise_scores(x, ids, terms, PairDraws(n_pairs=300, standardise=False)).set_index("term")
    for t in sizes:
        expected = np.mean([np.linalg.norm(centres[t] - centres[u]) for u in sizes if u != t])
        assert scores.loc[t, "other_D"] == pytest.approx(expected, rel=1e-4)
        assert scores.loc[t, "same_D"] < 1e-2


def test_sampling_is_deterministic_per_seed_and_works_with_two_images():
    rng = np.random.default_rng(5)
    x, ids = random_cells(rng, 80, 8)
    terms = labelled_images(rng, 80, 4)
    terms["img0000"] = terms["img0001"] = "pair"
    first = pairwise_scores(x, ids, terms, PairDraws(n_pairs=100, seed=7))
    pd.testing.assert_frame_equal(first, pairwise_scores(x, ids, terms, PairDraws(n_pairs=100, seed=7)))
    other = pairwise_scores(x, ids, terms, PairDraws(n_pairs=100, seed=8))
    assert not np.allclose(first["other_D"], other["other_D"])
    # the two-image term draws (img0000, img0001) or its reverse 100 times, with replacement
    z = zscore(x)
    expected = cdist(z[ids == "img0000"], z[ids == "img0001"]).mean()
    assert first.set_index("term").loc["pair", "same_D"] == pytest.approx(expected, rel=1e-4)


def test_zero_variance_features_do_not_change_scores():
    rng = np.random.default_rng(6)
    x, ids = random_cells(rng, 100, 10)
    terms = labelled_images(rng, 100, 4)
    padded = np.column_stack([x[:, :4], np.zeros(len(x)), x[:, 4:], np.full(len(x), 3.5)])
    a = pairwise_scores(x, ids, terms, PairDraws(n_pairs=200))
    b = pairwise_scores(padded, ids, terms, PairDraws(n_pairs=200))
    np.testing.assert_allclose(a["score"], b["score"], rtol=1e-6)
    np.testing.assert_allclose(a["same_D"], b["same_D"], rtol=1e-6)


def test_images_without_a_term_are_refused():
    rng = np.random.default_rng(7)
    x, ids = random_cells(rng, 10, 3)
    terms = labelled_images(rng, 10, 2)
    del terms["img0003"]
    with pytest.raises(ValueError, match="1 of 10 images have no term"):
        pairwise_scores(x, ids, terms)


@pytest.mark.parametrize(
    "same_term, same_line", [(True, True), (True, False), (False, True), (False, False), (None, True), (None, False)]
)
def test_sampled_pairs_meet_the_rule_uniformly(same_term, same_line):
    rng = np.random.default_rng(8)
    terms = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    lines = np.array([0, 1, 1, 2, 0, 0, 1, 2, 2, 0, 1, 1])
    allowed = {
        (a, b)
        for a in range(12)
        for b in range(12)
        if a != b
        and (same_term is None or (terms[a] == terms[b]) == same_term)
        and (terms[a] == terms[a] if same_line is None else (lines[a] == lines[b]) == same_line)
    }
    pairs, available = _sample_pairs(rng, 20000, terms, lines, same_term, same_line)
    assert available == len(allowed)
    drawn = [tuple(p) for p in pairs.tolist()]
    assert set(drawn) == allowed
    freq = pd.Series(drawn).value_counts()
    assert chisquare(freq.to_numpy()).pvalue > 1e-3


def test_cell_line_scores_see_features_that_encode_the_cell_line():
    rng = np.random.default_rng(9)
    n_images = 300
    lines = {f"img{i:04d}": f"line{rng.integers(4)}" for i in range(n_images)}
    terms = labelled_images(rng, n_images, 3)
    x, ids = random_cells(rng, n_images, 12)
    offsets = {f"line{k}": rng.normal(size=12) * 2 for k in range(4)}
    encoded = x + np.array([offsets[lines[i]] for i in ids])

    plain = cell_line_scores(x, ids, lines, draws=PairDraws(n_pairs=3000)).set_index("comparison")
    assert list(plain.index) == ["cell_line"]
    assert abs(plain.loc["cell_line", "score"]) < 0.05

    scores = cell_line_scores(encoded, ids, lines, terms, PairDraws(n_pairs=3000)).set_index("comparison")
    assert list(scores.index) == ["cell_line", "term_same_cell_line", "term_different_cell_line", "difference"]
    assert scores.loc["cell_line", "score"] < -0.3
    # the terms carry no signal here, within or across cell lines
    assert abs(scores.loc["term_same_cell_line", "score"]) < 0.05
    assert abs(scores.loc["term_different_cell_line", "score"]) < 0.05
    assert scores.loc["difference", "score"] == pytest.approx(
        scores.loc["term_different_cell_line", "score"] - scores.loc["term_same_cell_line", "score"]
    )
    assert scores.loc["cell_line", "same_available"] + scores.loc["cell_line", "other_available"] == n_images * (
        n_images - 1
    )


def test_cell_line_control_measures_robustness_to_cell_line():
    # term signal plus a cell-line effect: same-term pairs are closer within a cell line than
    # across cell lines, so the difference (Table 2's last column) is positive
    rng = np.random.default_rng(10)
    n_images = 300
    lines = {f"img{i:04d}": f"line{rng.integers(3)}" for i in range(n_images)}
    terms = labelled_images(rng, n_images, 3)
    x, ids = random_cells(rng, n_images, 12)
    term_at = {f"term{k}": rng.normal(size=12) * 2 for k in range(3)}
    line_at = {f"line{k}": rng.normal(size=12) * 2 for k in range(3)}
    x = x + np.array([term_at[terms[i]] + line_at[lines[i]] for i in ids])
    scores = cell_line_scores(x, ids, lines, terms, PairDraws(n_pairs=3000)).set_index("comparison")
    assert scores.loc["term_same_cell_line", "score"] < scores.loc["term_different_cell_line", "score"] < -0.1
    assert scores.loc["difference", "score"] > 0.05
    assert cell_line_scores(x, ids, lines, terms, PairDraws(n_pairs=3000)).equals(
        cell_line_scores(x, ids, lines, terms, PairDraws(n_pairs=3000))
    )
