"""Training pairs: every cell a source once per epoch, its target drawn from its own image.

The paper's sampling: iterate over all cells, set each as the source cell, and draw the target
uniformly from the other cells of the same image (``image_id``). Images with a single cell
cannot form a pair and take no part. Each epoch's draw depends only on (seed, epoch), so a
resumed training sees exactly the pairs an uninterrupted one would.

``CellSampler`` is the autoencoder's counterpart: every cell once per epoch, no partner.
"""

from __future__ import annotations

import numpy as np


class PairSampler:
    """Pairs (source, target) of store indices, with independent random flips per cell."""

    def __init__(self, image_ids, seed: int):
        image_ids = np.asarray(image_ids)
        _, codes = np.unique(image_ids, return_inverse=True)
        order = np.argsort(codes, kind="stable")  # cells grouped by image
        counts = np.bincount(codes)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.seed = int(seed)
        self.order = order
        self.group_start = starts[codes]  # per cell: where its image's block begins in `order`
        self.group_size = counts[codes]
        self.position = np.empty(len(codes), np.int64)  # per cell: its place inside its block
        self.position[order] = np.arange(len(codes)) - np.repeat(starts, counts)
        self.eligible = np.flatnonzero(self.group_size >= 2)
        if len(self.eligible) == 0:
            raise ValueError("no image has two or more cells: paired cell inpainting needs pairs within images")

    @property
    def n_images_with_pairs(self) -> int:
        return int(len(np.unique(self.group_start[self.eligible])))

    def __len__(self) -> int:
        return len(self.eligible)

    def epoch(self, epoch: int):
        """(sources, targets, flips) for one epoch; flips is (n, 4) bool: source h/v, target h/v."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        sources = rng.permutation(self.eligible)
        size = self.group_size[sources]
        # uniform over the other cells of the image: draw among size-1 slots, skip own slot
        slot = (rng.random(len(sources)) * (size - 1)).astype(np.int64)
        slot += slot >= self.position[sources]
        targets = self.order[self.group_start[sources] + slot]
        flips = rng.random((len(sources), 4)) < 0.5
        return sources, targets, flips


class CellSampler:
    """Every cell once per epoch in a seeded order, its own target (the autoencoder's draw)."""

    def __init__(self, image_ids, seed: int):
        self.seed = int(seed)
        self.n = len(image_ids)
        if self.n == 0:
            raise ValueError("no cells to train on")
        self.n_images_with_pairs = len(np.unique(np.asarray(image_ids)))  # every image takes part

    def __len__(self) -> int:
        return self.n

    def epoch(self, epoch: int):
        """(sources, targets, flips) with targets = sources and target flips = source flips."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        sources = rng.permutation(self.n)
        flips = rng.random((self.n, 2)) < 0.5
        return sources, sources, np.concatenate([flips, flips], axis=1)
