"""Training pairs: every cell a source once per epoch, its target drawn from its own image.

The paper's sampling: iterate over all cells, set each as the source cell, and draw the target
uniformly from the other cells of the same image (``image_id``). Images with a single cell
cannot form a pair and take no part. Each epoch's draw depends only on (seed, epoch), so a
resumed training sees exactly the pairs an uninterrupted one would.

When the crop store does not fit in memory, training reads it in *windows*: each epoch's images
are shuffled and cut into windows of whole images, and the sources are shuffled within each
window. The pairing rule holds exactly (a target lies in its source's image, hence in the same
window); the only difference from the in-memory draw is that a batch's cells come from the
window's images rather than from all of them (``MIN_WINDOW_IMAGES`` keeps that mix wide).

``CellSampler`` is the autoencoder's counterpart: every cell once per epoch, no partner.
"""

from __future__ import annotations

import numpy as np

#: a streamed window holds at least this many images (when the screen has them), whatever the
#: memory budget, so that a batch mixes many images as it does in memory (batch norm statistics)
MIN_WINDOW_IMAGES = 64


def windowed_permutation(rng, codes: np.ndarray, members: np.ndarray, window_cells: int | None):
    """``members`` (cell indices) shuffled, and the (start, stop) of each window in that order.

    ``window_cells`` None: one window, a plain permutation (the in-memory draw). Otherwise the
    images (``codes`` per cell) are shuffled and cut into windows of about ``window_cells``
    cells each (a window may pass it by less than one image), with at least
    ``MIN_WINDOW_IMAGES`` images in each; cells are shuffled within their window.
    """
    if window_cells is None or window_cells >= len(members):
        return rng.permutation(members), [(0, len(members))]
    images, inverse, counts = np.unique(codes[members], return_inverse=True, return_counts=True)
    n = len(members)
    k = max(1, min(-(-n // int(window_cells)), len(images) // MIN_WINDOW_IMAGES))
    shuffled = rng.permutation(len(images))
    before = np.cumsum(counts[shuffled]) - counts[shuffled]  # cells ahead of each image
    window_of_image = np.empty(len(images), np.int64)
    window_of_image[shuffled] = np.minimum(k - 1, before * k // n)
    window = window_of_image[inverse]
    order = np.lexsort((rng.random(n), window))
    stops = np.cumsum(np.bincount(window, minlength=k))
    bounds = [(int(a), int(b)) for a, b in zip(np.concatenate([[0], stops[:-1]]), stops) if b > a]
    return members[order], bounds


class PairSampler:
    """Pairs (source, target) of store indices, with independent random flips per cell."""

    def __init__(self, image_ids, seed: int):
        image_ids = np.asarray(image_ids)
        _, codes = np.unique(image_ids, return_inverse=True)
        order = np.argsort(codes, kind="stable")  # cells grouped by image
        counts = np.bincount(codes)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.seed = int(seed)
        self.codes = codes
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

    def epoch(self, epoch: int, window_cells: int | None = None):
        """(sources, targets, flips, windows) for one epoch.

        flips is (n, 4) bool: source h/v, target h/v; windows the (start, stop) ranges of the
        sources whose crops are read together (one range when the store is in memory).
        """
        rng = np.random.default_rng([self.seed, int(epoch)])
        sources, windows = windowed_permutation(rng, self.codes, self.eligible, window_cells)
        size = self.group_size[sources]
        # uniform over the other cells of the image: draw among size-1 slots, skip own slot
        slot = (rng.random(len(sources)) * (size - 1)).astype(np.int64)
        slot += slot >= self.position[sources]
        targets = self.order[self.group_start[sources] + slot]
        flips = rng.random((len(sources), 4)) < 0.5
        return sources, targets, flips, windows


class CellSampler:
    """Every cell once per epoch in a seeded order, its own target (the autoencoder's draw)."""

    def __init__(self, image_ids, seed: int):
        self.seed = int(seed)
        self.n = len(image_ids)
        if self.n == 0:
            raise ValueError("no cells to train on")
        _, self.codes = np.unique(np.asarray(image_ids), return_inverse=True)
        self.n_images_with_pairs = int(self.codes.max()) + 1  # every image takes part

    def __len__(self) -> int:
        return self.n

    def epoch(self, epoch: int, window_cells: int | None = None):
        """(sources, targets, flips, windows) with targets = sources and target flips = source flips."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        sources, windows = windowed_permutation(rng, self.codes, np.arange(self.n), window_cells)
        flips = rng.random((self.n, 2)) < 0.5
        return sources, sources, np.concatenate([flips, flips], axis=1), windows
