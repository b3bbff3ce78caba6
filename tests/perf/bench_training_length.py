"""Study: how the paired cell inpainting features improve with training, beside the classic set.

Run from the repository root, after the demo has built the dataset's crops and classic features
(``snakemake --cores 2 results/sim_human/features/classic.parquet``):

    python tests/perf/bench_training_length.py --dataset sim_human --epochs 4 8 16 32
    python tests/perf/bench_training_length.py --dataset sim_yeast --epochs 6 --precision fp32 bf16

The demo trains for a few epochs on a few thousand cells so that it finishes on a laptop; the
paper trained on hundreds of thousands. This trains the dataset's network once, continuing
from each checkpoint, and after each listed epoch extracts conv1..conv5 and prints the
benchmarks of ``supptable1`` (leave-one-out kNN, k=11, balanced accuracy) and ``fig2b`` (the
overall pairwise-distance score) with the classic features, the autoencoder of the same length
(``--autoencoder``) and the random encoder computed once, so the figures are side by side from
one run. Labels and the pairwise terms come from the dataset's ``benchmarks`` block. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pcinpaint.benchmarks.comparisons import dataset_labels, image_terms
from pcinpaint.benchmarks.knn import loo_knn_accuracy
from pcinpaint.benchmarks.pairwise import PairDraws, pairwise_scores
from pcinpaint.config import DatasetConfig, dataset_seed, load_config
from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.encoder import encoder_features, random_encoder
from pcinpaint.features.table import split_table
from pcinpaint.io import read_table
from pcinpaint.model.spec import ModelSpec
from pcinpaint.model.train import RunOptions, TrainConfig, TrainingTask, train


def scores(features: np.ndarray, labels, image_ids, terms, seed: int) -> tuple[float, float]:
    """(k=11 LOO balanced accuracy on labelled cells, overall pairwise score on scored images)."""
    known = labels.notna().to_numpy()
    acc = loo_knn_accuracy(features[known], labels[known].to_numpy(), k=11)
    inside = np.isin(image_ids, terms.index.to_numpy())
    pair = pairwise_scores(features[inside], image_ids[inside], terms, PairDraws(seed=seed))
    return float(acc), float(pair.set_index("term").loc["overall", "score"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--dataset", default="sim_human")
    p.add_argument("--results", default="results")
    p.add_argument("--epochs", type=int, nargs="+", default=[4, 8, 16, 32])
    p.add_argument("--width", type=float, help="network width (default: the config's)")
    p.add_argument("--autoencoder", action="store_true", help="also train the autoencoder to each length")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--precision", nargs="+", help="train once per precision, side by side (e.g. fp32 bf16); default the config's"
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    config = load_config(args.config)
    cfg = DatasetConfig.from_config(config, args.dataset)
    root = Path(args.results) / args.dataset
    store = open_crop_store(root / "crops.zarr")
    cells = read_table(root / "cells.parquet").sort_values("store_index").reset_index(drop=True)
    bench = cfg.raw["benchmarks"]
    labels = dataset_labels(cells, bench)
    terms = image_terms(cells, bench)
    image_ids = cells["image_id"].astype(str).to_numpy()
    seed = dataset_seed(config, args.dataset, "pairwise")
    print(
        f"{args.dataset}: {len(cells)} cells, {labels.notna().sum()} labelled in {labels.nunique()} classes, "
        f"{len(terms)} images in {terms.nunique()} pairwise terms"
    )

    _, classic = split_table(read_table(root / "features" / "classic.parquet"))
    rows = [("classic", *scores(classic, labels, image_ids, terms, seed))]
    m = cfg.model
    width = args.width or m["width"]
    encoder = random_encoder(len(cfg.channels), width, dataset_seed(config, args.dataset, "train_pci"))
    for layer, x in encoder_features(encoder, store).items():
        rows.append((f"random_{layer}", *scores(x, labels, image_ids, terms, seed)))
    for label, acc, pair in rows:
        print(f"{label:14s} {'':>6s}  kNN {acc:.3f}  pairwise {pair:+.3f}", flush=True)

    spec = ModelSpec(len(cfg.channels), len(cfg.structural), len(cfg.protein), width)
    crops = store.raw()
    objectives = ["pci"] + (["autoencoder"] if args.autoencoder else [])
    runs = [(objective, precision) for objective in objectives for precision in args.precision or [m["precision"]]]
    with tempfile.TemporaryDirectory() as tmp:
        for objective, precision in runs:
            checkpoint = Path(tmp) / f"{objective}_{precision}.pt"
            for epochs in sorted(args.epochs):
                tcfg = TrainConfig(
                    epochs=epochs,
                    batch_size=m["batch_size"],
                    lr=m["lr"],
                    betas=tuple(m["betas"]),
                    precision=precision,
                    device=m["device"],
                    seed=dataset_seed(config, args.dataset, f"train_{objective}"),
                )
                t0 = time.perf_counter()
                # a longer run with the same settings resumes from the shorter one's checkpoint
                task = TrainingTask(spec, cfg.structural, cfg.protein, objective)
                model, history = train(crops, image_ids, task, tcfg, checkpoint, RunOptions(progress=False))
                trained = time.perf_counter() - t0
                layers = encoder_features(model.source, store)
                for layer, x in layers.items():
                    acc, pair = scores(x, labels, image_ids, terms, seed)
                    print(
                        f"{objective}_{layer:9s} {epochs:3d} ep  kNN {acc:.3f}  pairwise {pair:+.3f}  "
                        f"(loss {history['loss'].iloc[-1]:.5f}, {trained:.0f} s training in "
                        f"{history['precision'].iloc[-1]})",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
