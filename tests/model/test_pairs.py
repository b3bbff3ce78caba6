"""Pair sampling as the paper: each cell a source once per epoch, targets from its own image."""

import numpy as np
import pytest

from pcinpaint.model.pairs import PairSampler

IMAGES = np.array(["a"] * 5 + ["b"] * 2 + ["c"] + ["d"] * 7 + ["a"] * 2)  # cells of 'a' not contiguous


def test_pairs_stay_within_images_and_cover_every_eligible_cell_once():
    sampler = PairSampler(IMAGES, seed=3)
    eligible = np.flatnonzero(IMAGES != "c")  # the single cell of image c cannot pair
    assert sorted(sampler.eligible) == list(eligible)
    for epoch in range(20):
        sources, targets, flips = sampler.epoch(epoch)
        assert sorted(sources) == list(eligible)
        assert np.all(IMAGES[sources] == IMAGES[targets])
        assert np.all(sources != targets)
        assert flips.shape == (len(sources), 4) and flips.dtype == bool


def test_targets_are_uniform_over_the_other_cells():
    sampler = PairSampler(IMAGES, seed=0)
    source = 0  # image 'a' has 7 cells: 6 possible targets
    seen = []
    for epoch in range(3000):
        s, t, _ = sampler.epoch(epoch)
        seen.append(t[s == source][0])
    others = np.flatnonzero(IMAGES == "a")
    others = others[others != source]
    counts = np.array([np.sum(np.asarray(seen) == o) for o in others])
    assert set(seen) == set(others)
    assert np.all(np.abs(counts / 3000 - 1 / 6) < 0.03)


def test_epochs_are_reproducible_from_seed_and_epoch_alone():
    a, b = PairSampler(IMAGES, seed=5), PairSampler(IMAGES, seed=5)
    for x, y in zip(a.epoch(4), b.epoch(4)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.epoch(4)[0], a.epoch(5)[0])


def test_no_pairs_is_an_error():
    with pytest.raises(ValueError, match="no image has two or more cells"):
        PairSampler(["a", "b", "c"], seed=0)
