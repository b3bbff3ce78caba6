"""The explorer page: thumbnails are the crops (protein in green over the markers), colours
name the frequent categories and grey the rest, and the page carries everything it needs."""

import base64
import re

import imageio.v3 as iio
import numpy as np
import pandas as pd

from pcinpaint.crops.store import write_crop_store
from pcinpaint.exploratory.explorer import ExplorerData
from pcinpaint.figures.explorer import OTHER, PALETTE_SIZE, colour_columns, page, thumbnails


def test_frequent_categories_get_their_own_colour_and_the_rest_grey():
    values = pd.Series([f"c{i}" for i in range(25) for _ in range(25 - i)] + [None])
    colours, legend = colour_columns(values)
    assert len(legend) == PALETTE_SIZE and legend[-1] == ["other", OTHER]
    assert [name for name, _ in legend[:3]] == ["c0", "c1", "c2"]  # most frequent first
    assert colours[0] == legend[0][1] and colours[-1] == OTHER and colours[-2] == OTHER  # c24, missing
    assert len({c for _, c in legend[:-1]}) == PALETTE_SIZE - 1
    colours, legend = colour_columns(pd.Series(["a", "b", None]))
    assert legend == [["a", legend[0][1]], ["b", legend[1][1]], ["none", OTHER]] and colours[2] == OTHER


def test_a_thumbnail_is_the_crop_in_the_papers_colours(tmp_path):
    crops = np.zeros((3, 2, 64, 64), np.uint8)
    crops[1, 1, 16:48, 16:48] = 255  # protein: a green square
    crops[2, 0] = 255  # marker everywhere: no green
    write_crop_store(tmp_path / "crops.zarr", [crops], 3, 2)
    uris = thumbnails(tmp_path / "crops.zarr", [2, 1], ["structural", "protein"], size=32)
    assert all(u.startswith("data:image/webp;base64,") for u in uris)
    marker, protein = (iio.imread(base64.b64decode(u.split(",", 1)[1]), extension=".webp") for u in uris)
    assert protein.shape == (32, 32, 3)
    assert protein[16, 16, 1] > 200 and protein[16, 16, 0] < 40 and protein[2, 2].max() < 40
    assert marker[16, 16, 1] < 40 and marker[16, 16].max() > 150


def test_the_page_holds_its_script_data_and_thumbnails_and_fetches_nothing():
    cells = pd.DataFrame(
        {
            "x": [0.0, 1.0, 2.0],
            "y": [0.0, 1.0, 0.5],
            "store_index": [0, 1, 2],
            "cell_id": ["a", "b", "c"],
            "image_id": ["i1", "i1", "i2"],
            "protein": ["NOP1", "NOP1", "TUB1<x>"],
            "label": ["nucleolus", None, "mt"],
            "cluster": pd.array([1, 1, 2], dtype="Int64"),
        }
    )
    proteins = pd.DataFrame(
        {
            "x": [0.0, 1.0],
            "y": [0.0, 1.0],
            "protein": ["NOP1", "TUB1<x>"],
            "n_cells": [2, 1],
            "label": ["nucleolus", "mt"],
            "cluster": [1, 2],
            "neighbours": [["TUB1<x>"], ["NOP1"]],
            "distances": [[1.5], [1.5]],
            "store_index": [0, 2],
        }
    )
    data = ExplorerData(cells, proteins, "all 3", "pci_conv3", {})
    html = page(data, "screen: pci_conv3", ["data:image/webp;base64,AAAA"] * 3, None, 48)
    assert not re.findall(r"<script[^>]+src=|<link[^>]+href=", html)  # BokehJS and the panel inlined
    assert "Bokeh.embed" in html and "explorerSearch" in html and "#explorer" in html
    assert '<option value="NOP1">' in html and '<option value="TUB1&lt;x&gt;">' in html  # names escaped
    assert "TUB1<x>" not in html.split("<script", 1)[0]
    assert html.count("data:image/webp;base64,AAAA") == 3
    assert (
        '<option value="label">' in html
        and '<option value="cluster">' in html
        and '<option value="cell_line">' not in html
    )
