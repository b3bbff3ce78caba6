"""Quality-control figures of the crop store (``pcinpaint.figures.qc``): the crop montage, the
display stretch of a raw field and the segmentation overlays with kept and dropped outlines."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.figures.common import plt, save_figure
from pcinpaint.figures.qc import crop_montage, normalise_field, segmentation_overlays

ROLES = ["protein", "structural"]


def _field():
    """A 2-channel field with two objects: 1 kept, 2 dropped."""
    field = np.random.default_rng(0).uniform(0, 1000, size=(2, 40, 40))
    labels = np.zeros((40, 40), np.int32)
    labels[5:15, 5:15] = 1
    labels[25:35, 25:35] = 2
    objects = pd.DataFrame({"object_id": [1, 2], "kept": [True, False]})
    return field, labels, objects


def test_a_montage_lays_crops_in_rows_titled_by_protein_and_class(tmp_path):
    crops = np.random.default_rng(1).random((10, 2, 8, 8))
    cells = pd.DataFrame({"protein": [f"P{i}" for i in range(10)], "true_class": ["nucleus"] * 9 + [None]})
    fig = crop_montage(crops, cells, ROLES, "sim_human", columns=4)
    assert len(fig.axes) == 12  # 3 rows of 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "P0\nnucleus" and titles[9] == "P9" and titles[10:] == ["", ""]
    assert sum(bool(ax.images) for ax in fig.axes) == 10
    save_figure(fig, tmp_path / "montage.png")
    assert (tmp_path / "montage.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "montage.png").stat().st_size > 2000


def test_an_empty_montage_still_draws_one_row():
    fig = crop_montage(np.zeros((0, 2, 8, 8)), pd.DataFrame({"protein": []}), ROLES, "empty")
    assert len(fig.axes) == 8
    plt.close(fig)


def test_a_field_is_stretched_per_channel_to_unit_range():
    field = np.stack([np.linspace(0, 100, 400).reshape(20, 20), np.full((20, 20), 5.0)])
    out = normalise_field(field, low=0, high=100)
    assert out.shape == field.shape and out.min() == 0 and out.max() == 1
    np.testing.assert_allclose(out[0], field[0] / 100)
    assert not out[1].any()  # a flat channel is black, not NaN
    hot = np.linspace(0, 100, 10_000).reshape(1, 100, 100)
    hot[0, 0, 0] = 1e9
    assert np.median(normalise_field(hot)) > 0.4  # the default stretch ignores one hot pixel in 10,000


def test_overlays_outline_kept_cells_white_and_dropped_objects_red(tmp_path):
    field, labels, objects = _field()
    fig = segmentation_overlays([("A1_f1", field, labels, objects)], ROLES)
    ax = fig.axes[0]
    assert ax.get_title() == "A1_f1\n1 cells kept, 1 dropped"
    rgb = ax.images[0].get_array()
    assert tuple(rgb[5, 10]) == (1, 1, 1)  # the kept object's inner edge
    assert tuple(rgb[25, 30]) == (1, 0, 0)  # the dropped object's
    save_figure(fig, tmp_path / "overlays.png")
    assert (tmp_path / "overlays.png").stat().st_size > 2000


def test_one_note_per_field_is_required():
    field, labels, objects = _field()
    with pytest.raises(ValueError):
        segmentation_overlays([("a", field, labels, objects)], ROLES, notes=["x", "y"])
    plt.close("all")
