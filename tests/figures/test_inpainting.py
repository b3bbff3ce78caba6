"""Choosing cells for the inpainting figures: same-image pairs, targets from other images."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.figures.inpainting import pick_pair, pick_sources_and_targets


def _cells(n_images, per_image, labels):
    rows = []
    for i in range(n_images):
        for _ in range(per_image):
            rows.append(dict(image_id=f"img{i}", protein=f"P{i}", true_class=labels[i % len(labels)]))
    return pd.DataFrame(rows).assign(store_index=lambda d: np.arange(len(d)))


def test_pair_comes_from_one_image_and_prefers_the_asked_label():
    cells = _cells(6, 3, ["a", "b", "c"])
    for seed in range(20):
        s, t = pick_pair(cells, "true_class", np.random.default_rng(seed), prefer=["c"])
        assert s != t and cells.loc[s, "image_id"] == cells.loc[t, "image_id"]
        assert cells.loc[s, "true_class"] == "c"


def test_targets_never_share_an_image_with_a_source():
    cells = _cells(12, 4, ["a", "b", "c", "d", "a+b"])
    for seed in range(20):
        sources, targets = pick_sources_and_targets(
            cells, "true_class", ["a", "b", "c", "d"], np.random.default_rng(seed)
        )
        assert [c for c, _ in sources] == ["a", "b", "c", "d"]
        source_images = {cells.loc[i, "image_id"] for _, i in sources}
        assert all(cells.loc[i, "image_id"] not in source_images for _, i in targets)
        assert len({label for label, _ in targets}) == len(targets) and "a+b" not in {label for label, _ in targets}


def test_small_screens_show_fewer_sources_rather_than_same_image_pairs():
    cells = _cells(4, 3, ["a", "b", "c", "d"])
    sources, targets = pick_sources_and_targets(cells, "true_class", ["a", "b", "c", "d"], np.random.default_rng(0))
    assert len(sources) == 3 and len(targets) == 1
    with pytest.raises(ValueError, match="at least two images"):
        pick_sources_and_targets(_cells(1, 5, ["a"]), "true_class", ["a"], np.random.default_rng(0))


def test_unlabelled_screens_use_proteins():
    cells = _cells(8, 3, ["a", "b"]).drop(columns="true_class")
    sources, targets = pick_sources_and_targets(cells, "label", [], np.random.default_rng(0))
    assert len(sources) == 4 and all(c.startswith("P") for c, _ in sources)
    with pytest.raises(ValueError, match="two or more cells"):
        pick_pair(_cells(3, 1, ["a"]), "label", np.random.default_rng(0))
