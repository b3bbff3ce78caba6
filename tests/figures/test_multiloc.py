"""Single-cell figures (``pcinpaint.figures.multiloc``): Fig 5's score violins and chosen images,
Fig 6's tree with a representative crop per branch, and the per-protein folder with its names
table; each refuses input that does not fit with a message naming what is wrong."""

import logging
import re

import numpy as np
import pandas as pd
import pytest

from pcinpaint.exploratory.dendrograms import representative_cells, single_cell_tree
from pcinpaint.figures.clustering import NO_CROPS
from pcinpaint.figures.common import FigureOutput, plt
from pcinpaint.figures.multiloc import (
    CropChannels,
    Fig6Settings,
    FigureFolder,
    fig5,
    fig6,
    fig6_per_protein,
)
from pcinpaint.io import NAMES_TABLE, read_table

PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF-"
PAIR = "nucleus+cytosol"
ROLES = ["protein", "structural"]


def _scores():
    rng = np.random.default_rng(0)
    rows = []
    for group, n_images in (("nucleus", 2), ("cytosol", 2), (PAIR, 3)):
        for i in range(n_images):
            spread = 0.1 + i  # image 2 of the pair varies most
            for _ in range(8):
                rows.append(
                    dict(pair=PAIR, group=group, image_id=f"{group}_{i}", protein=f"P{i}", score=rng.normal(0, spread))
                )
    return pd.DataFrame(rows)


def _files(tmp_path, name="f"):
    return FigureOutput(tmp_path / f"{name}.png", tmp_path / f"{name}.pdf", "title")


def _assert_written(png, pdf):
    assert png.read_bytes().startswith(PNG) and png.stat().st_size > 3000
    assert pdf.read_bytes().startswith(PDF)


def test_fig5_draws_the_three_groups_then_the_most_variable_images(tmp_path, monkeypatch):
    png, pdf = fig5(_scores(), None, _files(tmp_path), max_images=2)
    _assert_written(png, pdf)
    drawn = {}
    monkeypatch.setattr("pcinpaint.figures.multiloc.save_figure", lambda fig, *paths: drawn.update(fig=fig))
    fig5(_scores(), None, _files(tmp_path), max_images=2)
    labels = [t.get_text() for t in drawn["fig"].axes[0].get_xticklabels()]
    assert labels[3:] == ["P2\n(n=8)", "P1\n(n=8)"]  # largest score SD first
    plt.close(drawn["fig"])


def test_fig5_shows_the_chosen_images_and_refuses_others(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr("pcinpaint.figures.multiloc.save_figure", lambda fig, *paths: drawn.update(fig=fig))
    fig5(_scores(), [f"{PAIR}_0"], _files(tmp_path))
    labels = [t.get_text() for t in drawn["fig"].axes[0].get_xticklabels()]
    assert labels == ["nucleus only\n(n=16)", "cytosol only\n(n=16)", f"{PAIR}\n(n=24)", "P0\n(n=8)"]
    plt.close(drawn["fig"])
    with pytest.raises(ValueError, match=re.escape(f"fig5: chosen image(s) nucleus_0 have no cells in group '{PAIR}'")):
        fig5(_scores(), ["nucleus_0"], _files(tmp_path))


def test_fig5_refuses_an_empty_table_or_two_pairs(tmp_path):
    with pytest.raises(ValueError, match="fig5: the score table is empty"):
        fig5(_scores().iloc[:0], None, _files(tmp_path))
    two = pd.concat([_scores(), _scores().assign(pair="a+b")])
    with pytest.raises(ValueError, match="fig5 draws one compartment pair, got 2: nucleus\\+cytosol, a\\+b"):
        fig5(two, None, _files(tmp_path))
    assert list(tmp_path.iterdir()) == []


def _cells(n=24, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    x[: n // 2] += 4  # two sub-populations
    crops = rng.integers(0, 255, size=(n, 2, 12, 12), dtype=np.uint8)
    return x, crops


def test_fig6_draws_the_tree_with_a_crop_per_branch_and_the_truth_bar(tmp_path):
    x, crops = _cells()
    tree = single_cell_tree(x)
    reps = representative_cells(tree, x, 3)
    truth = ["a"] * 12 + ["b"] * 12
    png, pdf = fig6(tree, crops, reps, CropChannels(ROLES), _files(tmp_path), truth=truth)
    _assert_written(png, pdf)


def test_fig6_refuses_input_that_does_not_fit_the_tree(tmp_path):
    x, crops = _cells()
    tree = single_cell_tree(x)
    reps = representative_cells(tree, x, 2)
    out = _files(tmp_path)
    cases = [
        (
            dict(crops=crops[:-1]),
            r"fig6: need 24 crops \(n, C, H, W\) for a tree of 24 cells, got shape \(23, 2, 12, 12\)",
        ),
        (dict(channels=CropChannels(["protein"])), "fig6: crops have 2 channels but 1 roles were given"),
        (dict(representatives=reps.iloc[:0]), "fig6: no representative cells"),
        (dict(representatives=reps.assign(cell=[0, 24])), r"fig6: representative cell 24 outside 0\.\.23"),
        (dict(truth=["a"] * 3), "fig6: truth has 3 values for 24 cells"),
        (dict(channels=CropChannels(ROLES, colours=[(1, 0, 0)])), "fig6: 1 channel colours for 2 channels"),
    ]
    for change, message in cases:
        args = dict(linkage=tree, crops=crops, representatives=reps, channels=CropChannels(ROLES), output=out) | change
        with pytest.raises(ValueError, match=message):
            fig6(**args)
    plt.close("all")
    assert list(tmp_path.iterdir()) == []


def test_fig6_per_protein_draws_each_protein_and_skips_one_with_too_few_cells(tmp_path, caplog):
    x, crops = _cells()
    x = np.vstack([x, x[:2]])
    crops = np.concatenate([crops, crops[:2]])
    meta = pd.DataFrame(
        {
            "protein": ["A/B"] * 24 + ["tiny", "tiny"],
            "store_index": np.arange(26),
            "subpopulation": ["a"] * 12 + ["b"] * 12 + ["a", "a"],
        }
    )
    settings = Fig6Settings(ROLES, n_branches=3, rng=np.random.default_rng(0))
    with caplog.at_level(logging.WARNING):
        table = fig6_per_protein(
            ["A/B", "tiny"],
            meta,
            x,
            lambda idx: crops[idx],
            settings,
            FigureFolder(tmp_path, "conv5", logging.getLogger("t")),
        )
    assert table[["protein", "n_cells", "n_branches"]].values.tolist() == [["A/B", 24, 3]]
    assert table["ari_two_branches"].iloc[0] == pytest.approx(1.0)  # the tree's two branches are the two groups
    assert "tiny: 2 cells, fewer than n_branches=3; skipped" in caplog.text
    names = read_table(tmp_path / NAMES_TABLE)
    assert names["protein"].tolist() == ["A/B"]
    stem = names["file"].iloc[0]
    _assert_written(tmp_path / f"{stem}.png", tmp_path / f"{stem}.pdf")


def test_fig6_without_crops_draws_the_tree_and_branches_and_says_so(tmp_path, monkeypatch):
    """A dataset that is a feature table: the same tree, truth bar and branch captions, no images."""
    x, crops = _cells()
    tree = single_cell_tree(x)
    reps = representative_cells(tree, x, 3)
    truth = ["a"] * 12 + ["b"] * 12
    png, pdf = fig6(tree, None, reps, None, _files(tmp_path), truth=truth)
    _assert_written(png, pdf)
    drawn = []
    monkeypatch.setattr("pcinpaint.figures.multiloc.save_figure", lambda fig, *paths: drawn.append(fig))
    fig6(tree, crops, reps, CropChannels(ROLES), _files(tmp_path), truth=truth)
    fig6(tree, None, reps, None, _files(tmp_path), truth=truth)
    with_crops, without = drawn
    assert without.axes[0].get_title() == f"title\n{NO_CROPS}" and with_crops.axes[0].get_title() == "title"
    assert len(without.axes) == len(with_crops.axes) == 2 + len(reps)  # tree, truth bar, one panel per branch
    assert [ax.get_xlabel() for ax in without.axes] == [ax.get_xlabel() for ax in with_crops.axes]
    assert not any(ax.images for ax in without.axes[2:]) and all(ax.images for ax in with_crops.axes[2:])
    plt.close("all")
    with pytest.raises(ValueError, match="fig6: no representative cells"):
        fig6(tree, None, reps.iloc[:0], None, _files(tmp_path))


def test_fig6_per_protein_without_crops_gives_the_same_table(tmp_path):
    x, crops = _cells()
    meta = pd.DataFrame({"protein": "A", "store_index": np.arange(24), "subpopulation": ["a"] * 12 + ["b"] * 12})

    def run(crops_of, folder):
        settings = Fig6Settings(ROLES, n_branches=3, rng=np.random.default_rng(0))
        return fig6_per_protein(["A"], meta, x, crops_of, settings, FigureFolder(tmp_path / folder, "conv5"))

    with_crops = run(lambda idx: crops[idx], "crops")
    without = run(None, "none")
    pd.testing.assert_frame_equal(without, with_crops)
    stem = read_table(tmp_path / "none" / NAMES_TABLE)["file"].iloc[0]
    _assert_written(tmp_path / "none" / f"{stem}.png", tmp_path / "none" / f"{stem}.pdf")
