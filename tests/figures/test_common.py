"""Colour composites and saving (``pcinpaint.figures.common``): the paper's channel colours, an
additive composite in [0, 1], figures written whole and closed, and the not-run panel."""

import numpy as np
import pytest

from pcinpaint.figures.common import (
    PROTEIN_COLOUR,
    STRUCTURAL_COLOURS,
    FigureOutput,
    channel_colours,
    composite,
    not_run_figure,
    plt,
    save_figure,
)

PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF-"


def test_the_protein_is_green_and_markers_blue_then_red():
    assert channel_colours(["protein", "structural", "structural"]) == [PROTEIN_COLOUR, *STRUCTURAL_COLOURS[2]]
    assert channel_colours(["structural", "protein"]) == [STRUCTURAL_COLOURS[1][0], PROTEIN_COLOUR]
    assert (
        channel_colours(["protein", "structural", "structural", "structural", "structural"])[1:]
        == [(0.6, 0.6, 0.6)] * 4
    )  # more markers than the paper had: grey


def test_a_composite_adds_channel_colours_and_clips():
    image = np.zeros((2, 3, 4), np.float32)
    image[0, 0, 0] = 1.0  # protein only: green
    image[1, 1, 1] = 1.0  # marker only: red
    image[:, 2, 2] = 1.0  # both: their sum
    rgb = composite(image, ["protein", "structural"])
    assert rgb.shape == (3, 4, 3)
    np.testing.assert_allclose(rgb[0, 0], PROTEIN_COLOUR)
    np.testing.assert_allclose(rgb[1, 1], STRUCTURAL_COLOURS[1][0])
    np.testing.assert_allclose(rgb[2, 2], np.clip(np.add(PROTEIN_COLOUR, STRUCTURAL_COLOURS[1][0]), 0, 1))
    assert composite(image * 0.4, ["protein", "structural"], gain=10).max() == 1.0


def test_a_figure_output_lists_the_files_given_png_first():
    assert FigureOutput().paths() == []
    assert FigureOutput(pdf="a.pdf", png="a.png", title="t").paths() == ["a.png", "a.pdf"]
    assert FigureOutput(pdf="a.pdf").paths() == ["a.pdf"]


def test_save_figure_writes_each_format_and_closes_the_figure(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, tmp_path / "f.png", tmp_path / "sub" / "f.pdf")
    assert (tmp_path / "f.png").read_bytes().startswith(PNG)
    assert (tmp_path / "sub" / "f.pdf").read_bytes().startswith(PDF)
    assert (tmp_path / "f.png").stat().st_size > 1000
    assert not plt.fignum_exists(fig.number)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "sub"]  # no temporary left


def test_a_failed_save_leaves_no_file_and_still_closes(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "f.unknownformat")
    assert list(tmp_path.iterdir()) == []
    assert not plt.fignum_exists(fig.number)


def test_the_not_run_panel_says_why(tmp_path):
    fig = not_run_figure("one protein in the screen " * 5, title="Fig 4")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 1
    assert texts[0].startswith("not run:\none protein in the screen")
    assert fig.axes[0].get_title() == "Fig 4"
    save_figure(fig, tmp_path / "n.png")
    assert (tmp_path / "n.png").read_bytes().startswith(PNG)
