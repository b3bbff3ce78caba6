"""Benchmark: baseline feature extraction throughput (classic features, ImageNet VGG16).

Run from the repository root:  python tests/perf/bench_baselines.py [--quick] [--threads N]

Measures, side by side in one run on the same synthetic crops (blobs and noise, uint8):
classic features per crop without and with the centre-cell shape measurements (one core,
as the rule runs), and VGG16 extraction crops/s per input strategy and for all three at once
(CPU threads as given; CUDA too when present). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from pcinpaint.features.classic import ClassicSettings, classic_features
from pcinpaint.features.vgg16 import STRATEGIES, VGG16Features, vgg16_features


def synthetic_crops(n: int, channels: int, seed: int = 0) -> np.ndarray:
    """A bright disc per crop in the structural channels, a textured protein inside it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    crops = rng.integers(0, 20, (n, channels, 64, 64)).astype(np.uint8)
    for i in range(n):
        r = rng.uniform(10, 20)
        disc = (yy - 32 + rng.normal(0, 2)) ** 2 + (xx - 32 + rng.normal(0, 2)) ** 2 < r**2
        for c in range(channels - 1):
            crops[i, c][disc] = 180
        crops[i, -1][disc & (rng.random((64, 64)) < 0.3)] = 250
    return crops


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few crops, for a smoke run")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_classic, n_vgg = (64, 32) if args.quick else (1000, 256)
    print(
        f"machine: {platform.processor() or platform.machine()}, torch threads {args.threads}, "
        f"cuda {torch.cuda.is_available()}"
    )

    yeast, human = synthetic_crops(n_classic, 2), synthetic_crops(n_classic, 3)
    rows = [
        ("human (2 structural + protein), no shape", human, [0, 1], [2], False),
        ("yeast (structural + protein), no shape", yeast, [0], [1], False),
        ("yeast, with centre-cell shape + radial", yeast, [0], [1], True),
    ]
    print(f"\nclassic features, {n_classic} crops, one core")
    for label, crops, structural, protein, shape in rows:
        seconds = timed(
            lambda c=crops, s=structural, p=protein, shape=shape: classic_features(
                c, ClassicSettings(s, p, cell_shape=shape)
            )
        )
        print(f"  {label:45s} {1000 * seconds / n_classic:6.2f} ms/crop  {n_classic / seconds:7.0f} crops/s")

    torch.manual_seed(0)
    model = VGG16Features().eval()
    crops = synthetic_crops(n_vgg, 3)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        print(f"\nVGG16, {n_vgg} crops of 3 channels, 13 layers, {device}")
        vgg16_features(model, crops[:8], rgb=(1, 2, 0), protein=2, device=device)  # warm-up
        for strategies in [(s,) for s in STRATEGIES] + [STRATEGIES]:
            seconds = timed(
                lambda s=strategies, d=device: vgg16_features(
                    model, crops, strategies=s, rgb=(1, 2, 0), protein=2, device=d
                )
            )
            print(f"  {'+'.join(strategies):22s} {n_vgg / seconds:8.1f} crops/s")


if __name__ == "__main__":
    main()
