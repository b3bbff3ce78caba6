"""Single-cell trees of spatially variable proteins (Fig 6): planted sub-populations with known
answers, and cells of the simulator with its truth."""

import numpy as np
import pytest
from simulated_cells import simulated_table

from pcinpaint.crops.cropping import CropSettings, crop_cells
from pcinpaint.crops.preprocess import preprocess_crops
from pcinpaint.crops.store import to_uint8
from pcinpaint.exploratory import dendrograms
from pcinpaint.exploratory.clustering import cut
from pcinpaint.features.matrix import zscore
from pcinpaint.figures.common import FigureOutput
from pcinpaint.figures.multiloc import CropChannels, fig6
from pcinpaint.inputs import simulate

D = 24


def _nonempty(*paths):
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000, p


def test_tree_separates_planted_subpopulations():
    rng = np.random.default_rng(4)
    mu0, mu1 = rng.normal(0, 1, D), rng.normal(0, 1, D)
    sub = rng.permutation(np.r_[np.zeros(40, int), np.ones(25, int)])
    x = np.where(sub[:, None] == 1, mu1, mu0) + 0.2 * rng.standard_normal((len(sub), D))
    tree = dendrograms.single_cell_tree(x)
    reps = dendrograms.representative_cells(tree, x, n_branches=2)
    branches = cut(tree, n_clusters=2)
    assert dendrograms.branch_purity(branches, sub) == pytest.approx(1.0)
    assert set(sub[reps["cell"]]) == {0, 1}  # one representative from each sub-population
    assert sorted(reps["n_cells"]) == [25, 40] and reps["fraction"].sum() == pytest.approx(1.0)
    for _, r in reps.iterrows():  # the cell nearest its branch's mean
        members = np.flatnonzero(branches == r["branch"])
        dist = np.linalg.norm(x[members] - x[members].mean(0), axis=1)
        assert r["cell"] == members[np.argmin(dist)]
    # branches are numbered left to right and tile the leaves
    reps4 = dendrograms.representative_cells(tree, x, n_branches=4)
    assert list(reps4["branch"]) == [1, 2, 3, 4]
    assert reps4["leaf_start"].iloc[0] == 0 and reps4["leaf_stop"].iloc[-1] == len(x)
    assert (reps4["leaf_start"].iloc[1:].to_numpy() == reps4["leaf_stop"].iloc[:-1].to_numpy()).all()
    with pytest.raises(ValueError, match="n_branches"):
        dendrograms.representative_cells(tree, x, n_branches=len(x) + 1)
    with pytest.raises(ValueError, match="at least 2"):
        dendrograms.single_cell_tree(x[:1])


def test_fig6_with_simulated_variable_protein(tmp_path):
    spec = simulate.ProteinSpec("V1", ("nucleoli", "mitochondria"), "variable", 0.5)
    x, meta, fields = simulated_table({"var": (spec, "mitochondria+nucleoli")}, n_fields=3, cells=10)
    crops = []
    for channels, labels, truth in fields:
        raw, objects = crop_cells(channels, labels, CropSettings(crop_size=96, border="pad"))
        kept = objects.loc[objects["kept"], "label"].to_numpy()
        assert set(kept) == set(truth["truth_label"])
        crops.append(to_uint8(preprocess_crops(raw, structural=[0, 1])))
    crops = np.concatenate(crops)
    assert crops.shape == (len(meta), 3, 64, 64) and crops.dtype == np.uint8
    truth = meta["subpopulation"].to_numpy()
    assert set(truth) == {0, 1}
    z = zscore(x)
    tree = dendrograms.single_cell_tree(z)
    reps = dendrograms.representative_cells(tree, z, n_branches=3)
    assert dendrograms.branch_purity(cut(tree, n_clusters=2), truth) > 0.5
    crop_channels = CropChannels(["structural", "structural", "protein"])
    labels = np.where(truth == 1, "mitochondria", "nucleoli")
    png, pdf = fig6(
        tree, crops, reps, crop_channels, FigureOutput(tmp_path / "f6.png", tmp_path / "f6.pdf", "V1"), labels
    )
    _nonempty(png, pdf)
    png2, pdf2 = fig6(
        tree, crops.astype(np.float32) / 255, reps, crop_channels, FigureOutput(tmp_path / "g.png", tmp_path / "g.pdf")
    )
    _nonempty(png2, pdf2)
    unwritten = FigureOutput(tmp_path / "y.png", tmp_path / "y.pdf")
    with pytest.raises(ValueError, match="crops") as err:
        fig6(tree, crops[:-1], reps, crop_channels, unwritten)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="roles"):
        fig6(tree, crops, reps, CropChannels(crop_channels.roles[:2]), unwritten)
