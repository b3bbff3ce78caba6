"""Single-cell scores of multi-localized proteins (Fig 5, Supp Data 2): planted features with
known answers, and cells of the simulator with its truth."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from simulated_cells import render, simulated_table

from pcinpaint.exploratory import multiloc
from pcinpaint.figures.common import FigureOutput
from pcinpaint.figures.multiloc import fig5
from pcinpaint.inputs import simulate

D = 24


def _centres(rng, d=D):
    mu_a, mu_b = rng.normal(0, 1, d), rng.normal(0, 1, d)
    return mu_a, mu_b


def _planted_screen(rng, mixes, noise=0.15, cells=25):
    """Cells of A-only, B-only, A+B and other images; A+B cells at f*mu_A + (1-f)*mu_B + noise.

    ``mixes``: image_id -> callable(rng, n) giving the per-cell fraction f of A.
    """
    mu_a, mu_b = _centres(rng)
    mu_c = rng.normal(0, 1, D)
    feats, rows, terms = [], [], {}

    def add(image, protein, term, f):
        terms[image] = term
        x = f[:, None] * mu_a + (1 - f[:, None]) * mu_b + noise * rng.standard_normal((len(f), D))
        feats.append(x)
        rows.extend(dict(image_id=image, protein=protein, cell_line="U-2 OS", f=v) for v in f)

    for i in range(3):
        add(f"A{i}", f"PA{i}", "cytosol", np.ones(cells))
        add(f"B{i}", f"PB{i}", "nucleoplasm", np.zeros(cells))
    for image, draw in mixes.items():
        add(image, f"P{image}", "cytosol+nucleoplasm", draw(rng, cells))
    # neither group: a third term, and no annotation at all
    terms["C0"] = "cytosol+nucleoplasm+golgi"
    feats.append(mu_c + noise * rng.standard_normal((cells, D)))
    rows.extend(dict(image_id="C0", protein="PC0", cell_line="A-431", f=np.nan) for _ in range(cells))
    feats.append(mu_c + noise * rng.standard_normal((cells, D)))
    rows.extend(dict(image_id="U0", protein="PU0", cell_line="A-431", f=np.nan) for _ in range(cells))
    meta = pd.DataFrame(rows)
    meta["cell_id"] = [f"c{i}" for i in range(len(meta))]
    return np.vstack(feats).astype(np.float32), meta, pd.Series(terms)


def _uniform(rng, n):
    return rng.uniform(0, 1, n)


def test_score_sign_groups_and_monotone_in_mixing():
    rng = np.random.default_rng(0)
    mixes = {"M0": _uniform, "M1": _uniform, "M2": lambda r, n: np.full(n, 0.5)}
    x, meta, terms = _planted_screen(rng, mixes)
    scores = multiloc.pair_scores(x, meta, terms, "cytosol", "nucleoplasm")
    assert set(scores["group"]) == {"cytosol", "nucleoplasm", "cytosol+nucleoplasm"}
    assert not scores["image_id"].isin(["C0", "U0"]).any()  # a third term, or none: left out
    assert (scores["pair"] == "cytosol+nucleoplasm").all()
    np.testing.assert_array_equal(meta["cell_id"].to_numpy()[scores["cell"]], scores["cell_id"])
    by = scores.groupby("group")["score"]
    assert (scores.loc[scores["group"] == "cytosol", "score"] < 0).all()  # at A's centre: negative
    assert (scores.loc[scores["group"] == "nucleoplasm", "score"] > 0).all()  # at B's centre: positive
    assert by.max()["cytosol"] < by.median()["cytosol+nucleoplasm"] < by.min()["nucleoplasm"]
    even = scores[scores["image_id"] == "M2"]["score"]
    assert abs(even.median()) < 0.35  # an even mix sits near 0
    mixed = scores[scores["image_id"].isin(["M0", "M1"])]
    rho = spearmanr(mixed["score"], meta["f"].to_numpy()[mixed["cell"]])[0]
    assert rho < -0.9  # more of A -> closer to A -> lower score
    # swapping the pair flips the sign exactly
    swapped = multiloc.pair_scores(x, meta, terms, "nucleoplasm", "cytosol")
    np.testing.assert_allclose(swapped.set_index("cell")["score"], -scores.set_index("cell")["score"], atol=1e-9)


def test_summary_matches_pandas_and_top_variable_finds_two_subpopulations():
    rng = np.random.default_rng(1)
    mixes = {
        "M0": lambda r, n: np.clip(r.normal(0.5, 0.05, n), 0, 1),
        "M1": lambda r, n: np.clip(r.normal(0.3, 0.05, n), 0, 1),
        "M2": lambda r, n: np.clip(r.normal(0.7, 0.05, n), 0, 1),
        "V0": lambda r, n: (np.arange(n) % 2).astype(float),  # half at A, half at B
    }
    x, meta, terms = _planted_screen(rng, mixes)
    scores = multiloc.pair_scores(x, meta, terms, "cytosol", "nucleoplasm")
    summary = multiloc.image_summary(scores)
    ref = scores[scores["group"] == "cytosol+nucleoplasm"].groupby("image_id")["score"].agg(["mean", "std", "size"])
    got = summary.set_index("image_id")
    assert set(got.index) == {"M0", "M1", "M2", "V0"}
    np.testing.assert_allclose(got.loc[ref.index, "mean_score"], ref["mean"], rtol=1e-12)
    np.testing.assert_allclose(got.loc[ref.index, "sd_score"], ref["std"], rtol=1e-12)
    np.testing.assert_array_equal(got.loc[ref.index, "n_cells"], ref["size"])
    assert summary["sd_score"].is_monotonic_decreasing
    assert {"pair", "protein", "cell_line"} <= set(summary.columns)
    # more of A (cytosol), lower score: M2 (f=0.7) < M0 (0.5) < M1 (0.3)
    assert got.loc["M2", "mean_score"] < got.loc["M0", "mean_score"] < got.loc["M1", "mean_score"]
    top = multiloc.top_variable(summary, n=2)
    assert list(top["image_id"])[0] == "V0" and len(top) == 2
    everything = multiloc.image_summary(scores, groups="all")
    assert {"A0", "B0", "V0"} <= set(everything["image_id"])


def test_missing_single_compartment_is_a_one_line_error():
    rng = np.random.default_rng(2)
    x, meta, terms = _planted_screen(rng, {"M0": _uniform})
    terms = terms.drop(["B0", "B1", "B2"])
    with pytest.raises(ValueError, match="nucleoplasm") as err:
        multiloc.pair_scores(x, meta, terms, "cytosol", "nucleoplasm")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="cell table"):
        multiloc.pair_scores(x[:-1], meta, terms, "cytosol", "nucleoplasm")
    with pytest.raises(ValueError, match="two different"):
        multiloc.pair_scores(x, meta, terms, "cytosol", "cytosol")


def test_terms_parsing_and_image_terms_from_cell_table():
    assert multiloc.parse_terms("cytosol+nucleoplasm") == frozenset({"cytosol", "nucleoplasm"})
    assert multiloc.parse_terms({"nucleoli"}) == frozenset({"nucleoli"})
    assert multiloc.parse_terms(np.nan) == frozenset()
    meta = pd.DataFrame({"image_id": ["a", "a", "b"], "label": ["x+y", "x+y", "y"]})
    terms = multiloc.terms_by_image(meta)
    assert terms["a"] == frozenset({"x", "y"}) and terms["b"] == frozenset({"y"})
    with pytest.raises(ValueError, match="more than one"):
        multiloc.terms_by_image(pd.DataFrame({"image_id": ["a", "a"], "label": ["x", "y"]}))


# --------------------------------------------------------------------------------------------
# With the simulator's truth
# --------------------------------------------------------------------------------------------


def test_sign_convention_with_simulated_mixing_fractions():
    """Planted features whose mix follows the simulator's cells: mixing_fraction is the share of
    the first class of the *sorted* name ("cytosol+mitochondria": cytosol), whatever the order
    the protein was designed with, so with (A, B) = (cytosol, mitochondria) the score must fall
    as mixing_fraction rises."""
    rng = np.random.default_rng(3)
    truth = []
    for i, mix in enumerate((0.3, 0.7)):  # designed as (mitochondria, cytosol): the sorted name flips
        spec = simulate.ProteinSpec(f"M{i}", ("mitochondria", "cytosol"), "multi", mix)
        for fld in render(spec, 1, seed=10 + i, size=192, cells=8):
            truth.append(fld.truth.assign(image_id=f"M{i}", protein=f"M{i}"))
    truth = pd.concat(truth, ignore_index=True)
    assert (truth["true_class"] == "cytosol+mitochondria").all()
    mu_cyto, mu_mito = _centres(rng)
    f = truth["mixing_fraction"].to_numpy()  # fraction of cytosol
    assert f.std() > 0.1
    mixed = f[:, None] * mu_cyto + (1 - f[:, None]) * mu_mito + 0.2 * rng.standard_normal((len(f), D))
    n = 30
    x = np.vstack([mu_cyto + 0.2 * rng.standard_normal((n, D)), mu_mito + 0.2 * rng.standard_normal((n, D)), mixed])
    meta = pd.concat(
        [
            pd.DataFrame({"image_id": ["C"] * n, "protein": "PC"}),
            pd.DataFrame({"image_id": ["T"] * n, "protein": "PT"}),
            truth[["image_id", "protein"]],
        ],
        ignore_index=True,
    )
    terms = pd.Series({"C": "cytosol", "T": "mitochondria", "M0": "cytosol+mitochondria", "M1": "mitochondria+cytosol"})
    scores = multiloc.pair_scores(x, meta, terms, "cytosol", "mitochondria")
    both = scores[scores["group"] == "cytosol+mitochondria"]
    assert len(both) == len(truth)
    frac = f[both["cell"].to_numpy() - 2 * n]
    assert spearmanr(both["score"], -frac)[0] >= 0.6


def test_scores_follow_simulated_mixing_in_rendered_cells():
    S = simulate.ProteinSpec
    specs = {
        "cyto1": (S("C1", ("cytosol",), "single", 1.0), "cytosol"),
        "cyto2": (S("C2", ("cytosol",), "single", 1.0), "cytosol"),
        "nuc1": (S("N1", ("nucleoplasm",), "single", 1.0), "nucleoplasm"),
        "nuc2": (S("N2", ("nucleoplasm",), "single", 1.0), "nucleoplasm"),
        "mix25": (S("X1", ("cytosol", "nucleoplasm"), "multi", 0.25), "cytosol+nucleoplasm"),
        "mix50": (S("X2", ("nucleoplasm", "cytosol"), "multi", 0.5), "cytosol+nucleoplasm"),
        "mix75": (S("X3", ("cytosol", "nucleoplasm"), "multi", 0.75), "cytosol+nucleoplasm"),
    }
    x, meta, _ = simulated_table(specs)
    scores = multiloc.pair_scores(x, meta, multiloc.terms_by_image(meta), "cytosol", "nucleoplasm")
    means = scores.groupby("group")["score"].mean()
    assert means["cytosol"] < 0 < means["nucleoplasm"]
    both = scores[scores["group"] == "cytosol+nucleoplasm"]
    frac = meta["mixing_fraction"].to_numpy()[both["cell"]]  # share of cytosol, the sorted-first class
    rho = spearmanr(both["score"], -frac)[0]
    assert rho >= 0.6, rho
    summary = multiloc.image_summary(scores).set_index("image_id")
    assert summary.loc["mix75", "mean_score"] < summary.loc["mix50", "mean_score"] < summary.loc["mix25", "mean_score"]


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _nonempty(*paths):
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000, p


def test_fig5_writes_png_and_pdf(tmp_path):
    rng = np.random.default_rng(5)
    mixes = {"M0": _uniform, "V0": lambda r, n: (np.arange(n) % 2).astype(float), "M1": lambda r, n: np.full(n, 0.4)}
    x, meta, terms = _planted_screen(rng, mixes)
    scores = multiloc.pair_scores(x, meta, terms, "cytosol", "nucleoplasm")
    output = FigureOutput(tmp_path / "f5.png", tmp_path / "f5.pdf", "cytosol vs nucleoplasm")
    png, pdf = fig5(scores, ["V0", "M1"], output)
    _nonempty(png, pdf)
    png2, pdf2 = fig5(scores, None, FigureOutput(tmp_path / "a" / "auto.png", tmp_path / "a" / "auto.pdf"))
    _nonempty(png2, pdf2)
    with pytest.raises(ValueError, match="A0") as err:  # an A-only image is no A+B example
        fig5(scores, ["A0"], FigureOutput(tmp_path / "x.png", tmp_path / "x.pdf"))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "x.png").exists()
