"""Benchmark: a million-cell screen through training, extraction and the benchmarks, with time and
peak memory per stage, beside the same stages at 100,000 cells.

Run from the repository root:
    python tests/perf/bench_million.py [--cells 100000 1000000] [--memory-gb 1] [--batches 400]
                                       [--min-windows 2] [--cells-per-image 250]

For each size, writes a synthetic crop store with the store writer (2 channels, incompressible
random crops, images of ``--cells-per-image`` cells, 1,000 proteins in 12 classes) in a temporary
folder on the disk under --tmp, then runs each stage in a fresh process and reads that process's
peak resident memory (its high-water mark, ``ru_maxrss``):

- ``train``: the training loop of ``model.train`` (``train_epoch``) at width 0.25 for
  ``--batches`` batches of 64 pairs, with ``model.memory_gb`` = ``--memory-gb``: a store over it
  is streamed in windows of whole images with the next window read ahead, and the batches then
  reach into window ``--min-windows`` at least and are rounded up to the end of the window the
  last one falls in, so that windows are read whole, one ahead of the other, as in a full epoch
  (the note gives the windows and cells trained); the first line of the stage is the crops'
  fingerprint (a full pass over the store, done once per training);
- ``extract``: every cell through the trained source encoder, five layer tables streamed to
  parquet (the ``extract_pci`` rule's ``extract_layer_tables``);
- ``knn``: leave-one-out kNN (k = 11) of the five layers on ``benchmarks.max_cells`` cells
  (default 100,000), stratified by class (``knn_benchmark``'s functions);
- ``pairwise``: pairwise-distance scores of conv3 and conv4 (``pairwise_benchmark``'s);
- ``clustering``: per-protein profiles of conv3, z-scored, clustered and cut (``protein_clustering``'s).

Prints a table of seconds and peak MB per stage and size; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from bench_extraction_memory import CELLS_PER_IMAGE, make_store  # noqa: E402

STAGES = ("train", "extract", "knn", "pairwise", "clustering")
WIDTH, CLASSES = 0.25, 12


def write_screen(folder: Path, n: int, cells_per_image: int) -> None:
    """The store and cell table, with one class per protein (the benchmarks' labels)."""
    make_store(folder, n, cells_per_image)
    cells = pd.read_parquet(folder / "cells.parquet")
    protein = cells["protein"].str[1:].astype(int)
    cells["label"] = "class" + (protein % CLASSES).astype(str)
    cells.to_parquet(folder / "cells.parquet", index=False)


def manifest(folder: Path, n: int) -> pd.DataFrame:
    from pcinpaint.model.spec import ENCODER_LAYERS
    from pcinpaint.resources import table_shape

    rows = []
    for layer in ENCODER_LAYERS:
        path = folder / f"pci_{layer}.parquet"
        rows.append(
            dict(
                name=f"pci_{layer}",
                family="pci",
                layer=layer,
                n_features=table_shape(path)[1] - 5,
                n_rows=n,
                status="ran",
                reason="",
                path=str(path),
                level="cell",
            )
        )
    return pd.DataFrame(rows)


def run_stage(folder: Path, stage: str, args) -> str:
    """One stage in this process; returns what it measured beyond time and memory."""
    import torch

    from pcinpaint.crops.store import open_crop_store
    from pcinpaint.io import read_table

    torch.set_num_threads(os.cpu_count() or 1)
    if stage == "train":  # the rule reads only the columns it needs
        cells = read_table(folder / "cells.parquet", columns=["image_id", "store_index"]).sort_values("store_index")
    else:
        cells = read_table(folder / "cells.parquet").sort_values("store_index").reset_index(drop=True)
    if stage == "train":
        from pcinpaint.model.devices import select_device
        from pcinpaint.model.pairs import PairSampler
        from pcinpaint.model.spec import ModelSpec
        from pcinpaint.model.train import EpochSettings, build_model, save_model, train_epoch
        from pcinpaint.model.windows import TrainingCrops, describe_windows

        device = select_device("auto")
        store = open_crop_store(folder / "crops.zarr", memory_limit=None)
        t0 = time.perf_counter()
        data = TrainingCrops(store, device, args.memory_gb * 2**30)
        data.digest()
        digest_s = time.perf_counter() - t0
        spec = ModelSpec(2, 1, 1, WIDTH)
        model = build_model(spec, 0).to(device).to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999))
        sampler = PairSampler(cells["image_id"].to_numpy(), 0)
        idx = torch.tensor([0], device=device), torch.tensor([1], device=device)
        batches = args.batches
        if data.streamed:  # into window --min-windows: one window is read ahead while another trains
            windows = sampler.epoch(0, data.window_cells)[3]
            batches = max(batches, windows[min(args.min_windows, len(windows)) - 1][0] // 64 + 1)
            del windows
        settings = EpochSettings("pci", *idx, 64, None, folder / "ckpt.pt", max_batches=batches)
        loss, pairs, seconds = train_epoch(model, optimizer, data, sampler, 0, settings)
        save_model(model, folder / "model.pt", {"roles": ["structural", "protein"]})
        if data.streamed:  # the same draw as the epoch's (seeded): which windows it read
            windows = sampler.epoch(0, data.window_cells)[3]
            read = sum(lo < pairs for lo, _ in windows)
            held = f"streamed, {read} of {describe_windows(windows)} read whole (budget {data.window_cells:,})"
        else:
            held = "held in memory"
        return (
            f"{held}; {pairs:,} pairs trained; fingerprint {digest_s:.0f} s; "
            f"{pairs / seconds:.0f} pairs/s, loss {loss:.4f}"
        )
    if stage == "extract":
        from pcinpaint.features.encoder import extract_layer_tables
        from pcinpaint.model.spec import ENCODER_LAYERS
        from pcinpaint.model.train import load_model

        model, _ = load_model(folder / "model.pt")
        store = open_crop_store(folder / "crops.zarr", memory_limit=None)
        paths = {name: folder / f"pci_{name}.parquet" for name in ENCODER_LAYERS}
        t0 = time.perf_counter()
        sizes = extract_layer_tables(model.source, store, cells, paths, "pci", "cpu", 512, "fp32")
        return f"{len(cells) / (time.perf_counter() - t0):.0f} cells/s; features {sizes}"
    if stage == "knn":
        from threadpoolctl import threadpool_limits

        from pcinpaint.benchmarks.comparisons import knn_tables
        from pcinpaint.benchmarks.sample import benchmark_cells, sample_note

        labels = cells["label"]
        used = benchmark_cells(labels, args.max_cells, 0)
        with threadpool_limits(os.cpu_count()):
            table, _ = knn_tables(manifest(folder, len(cells)), labels.where(used), [11], sample_note(used, labels))
        return f"{table['cells'].iloc[0]} cells; k11 " + ", ".join(f"{r.layer} {r.k11:.3f}" for r in table.itertuples())
    if stage == "pairwise":
        from pcinpaint.benchmarks.comparisons import pairwise_tables
        from pcinpaint.benchmarks.pairwise import PairDraws

        terms = cells.groupby("image_id")["label"].first()
        sets = ["pci_conv3", "pci_conv4"]
        scores, _ = pairwise_tables(manifest(folder, len(cells)), sets, cells, terms, PairDraws(1000), PairDraws(0))
        overall = scores[scores["term"] == "overall"] if "overall" in set(scores["term"]) else scores
        return f"{len(scores)} scores; " + ", ".join(f"{r.feature_set} {r.score:.3f}" for r in overall.itertuples())
    if stage == "clustering":
        from pcinpaint.exploratory import clustering
        from pcinpaint.features.table import split_table

        meta, x = split_table(read_table(folder / "pci_conv3.parquet"))
        profiles, matrix = clustering.protein_profiles(meta, x, "protein", 1)
        linkage = clustering.cluster(matrix, "average", "correlation")
        clusters = clustering.cut(linkage, n_clusters=CLASSES)
        return f"{len(profiles)} proteins in {clusters.max()} clusters"
    raise ValueError(stage)


def measured(folder: Path, stage: str, args) -> tuple[float, float, str]:
    """(seconds, peak MB, note) of one stage in a fresh process."""
    cmd = [sys.executable, __file__, "--stage", str(folder), stage]
    cmd += ["--memory-gb", str(args.memory_gb), "--batches", str(args.batches), "--max-cells", str(args.max_cells)]
    cmd += ["--min-windows", str(args.min_windows)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"stage {stage} failed:\n{err[-3000:]}")
    note = out.split("RESULT ", 1)[-1].strip()
    peak_mb = float(out.split("PEAK ", 1)[-1].split()[0])
    return seconds, peak_mb, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--memory-gb", type=float, default=1.0, help="model.memory_gb for training")
    parser.add_argument(
        "--batches", type=int, default=400, help="training batches of 64 pairs (streamed: rounded up to whole windows)"
    )
    parser.add_argument(
        "--min-windows", type=int, default=2, help="streamed training reads at least this many windows, whole"
    )
    parser.add_argument("--cells-per-image", type=int, default=CELLS_PER_IMAGE, help="cells of each synthetic image")
    parser.add_argument("--max-cells", type=int, default=100_000, help="benchmarks.max_cells")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--tmp", default=None, help="folder for the synthetic stores (needs ~9 GB at 1M cells)")
    parser.add_argument("--stage", nargs=2, metavar=("FOLDER", "STAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        note = run_stage(Path(args.stage[0]), args.stage[1], args)
        import resource

        print(f"PEAK {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
        print(f"RESULT {note}")
        return
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(
        f"width {WIDTH}, 2 channels, {args.cells_per_image} cells per image, training memory_gb {args.memory_gb}, "
        f"{args.batches} batches of 64 (streamed: at least {args.min_windows} windows, whole); "
        f"benchmarks.max_cells {args.max_cells:,}"
    )
    print(f"{'cells':>10} {'stage':>10} {'seconds':>9} {'peak MB':>9}  note", flush=True)
    for n in args.cells:
        folder = Path(tempfile.mkdtemp(prefix=f"million_{n}_", dir=args.tmp))
        try:
            t0 = time.perf_counter()
            write_screen(folder, n, args.cells_per_image)
            store_gb = sum(f.stat().st_size for f in (folder / "crops.zarr").rglob("*") if f.is_file()) / 2**30
            print(f"{n:>10,} {'store':>10} {time.perf_counter() - t0:>9.1f} {'':>9}  {store_gb:.2f} GiB on disk")
            for stage in args.stages:
                seconds, peak, note = measured(folder, stage, args)
                print(f"{n:>10,} {stage:>10} {seconds:>9.1f} {peak:>9,.0f}  {note}", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
