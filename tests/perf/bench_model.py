"""Benchmark: paired cell inpainting training pairs/s and feature extraction cells/s.

Run from the repository root:  python tests/perf/bench_model.py [--quick] [--threads 1,2]

Measures, side by side in one run, training through the workflow's own epoch loop
(``train_epoch``: pairs drawn by the sampler, indices and flips staged on the device once,
batches cut there, Adam, MSE on the target protein) at batch 64 (the paper's) and 256, and
source-encoder feature extraction (batch 256 on CPU, 4096 on a GPU; all five layers), at width
1.0 (the paper's network) and the demo's 0.25, in fp32 and bf16 autocast, channels-last; on
CPU at each thread count given (a Snakemake job with N threads runs torch with N). Then what
``precision: auto``'s probe chooses on this machine. Uses CUDA too when a GPU is present, with
its peak memory. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pcinpaint.model.network import PairedCellInpainting, count_parameters
from pcinpaint.model.pairs import PairSampler
from pcinpaint.model.precision import amp_dtype, choose_precision, probe_seconds
from pcinpaint.model.spec import ModelSpec
from pcinpaint.model.train import EpochSettings, build_model, train_epoch
from pcinpaint.model.windows import TrainingCrops

#: a synthetic screen for the training loop: images of 32 cells
CELLS_PER_IMAGE = 32


@dataclass(frozen=True)
class TrainTiming:
    """How a training rate is measured: the batch size, the cells of the synthetic screen, and
    whether the network is ``torch.compile``'d."""

    batch: int = 64
    n_cells: int = 4096
    compiled: bool = False


def train_rate(spec, device, precision, batches, timing: TrainTiming | None = None):
    """Pairs/s of ``train_epoch`` over ``batches`` batches (after one warm-up epoch slice)."""
    timing = timing or TrainTiming()
    batch, n_cells, compiled = timing.batch, timing.n_cells, timing.compiled
    model = build_model(spec, 0).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999))
    stepped = torch.compile(model) if compiled else model
    crops = np.random.default_rng(0).integers(0, 256, (n_cells, spec.n_channels, 64, 64), dtype=np.uint8)
    images = np.repeat(np.arange(n_cells // CELLS_PER_IMAGE), CELLS_PER_IMAGE)
    data = TrainingCrops(crops, device, 64 * 2**30)
    sampler = PairSampler(images, 0)
    structural = torch.arange(spec.n_structural, device=device)
    protein = torch.arange(spec.n_structural, spec.n_channels, device=device)
    checkpoint = Path(tempfile.gettempdir()) / "bench_model_unused.pt"

    def run(epoch, n):
        settings = EpochSettings("pci", structural, protein, batch, amp_dtype(precision), checkpoint, max_batches=n)
        return train_epoch(stepped, optimizer, data, sampler, epoch, settings)

    run(0, 2)  # warm-up: kernels picked (compiled), memory allocated
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    _, count, seconds = run(1, batches)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return count / seconds, peak


@torch.no_grad()
def extract_rate(spec, device, precision, n_cells, batch=256):
    """Cells/s of the source encoder's five pooled layers, crops moved to the device per batch."""
    torch.manual_seed(0)
    encoder = PairedCellInpainting(spec).source.to(device).to(memory_format=torch.channels_last).eval()
    amp = amp_dtype(precision)
    data = np.random.default_rng(0).integers(0, 256, (n_cells, spec.n_channels, 64, 64), dtype=np.uint8)

    def run():
        for at in range(0, n_cells, batch):
            x = (
                torch.from_numpy(data[at : at + batch])
                .to(device)
                .float()
                .div_(255)
                .contiguous(memory_format=torch.channels_last)
            )
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                _, pooled = encoder(x, features=True)
            [v.float().cpu() for v in pooled.values()]

    run() if n_cells <= 512 else None
    t0 = time.perf_counter()
    run()
    return n_cells / (time.perf_counter() - t0)


def pci_loss(net, crops):
    """The probe's loss for the human layout (2 structural channels, then the protein)."""
    return torch.nn.functional.mse_loss(net(crops, crops[:, :2]).float(), crops[:, 2:])


def device_configs(threads: list[int]) -> list[tuple[torch.device, int]]:
    """(device, torch threads) to measure: the CPU at each thread count, then the GPU if any."""
    configs = [(torch.device("cpu"), n) for n in threads]
    if torch.cuda.is_available():
        print("GPU:", torch.cuda.get_device_name(0))
        configs.append((torch.device("cuda"), torch.get_num_threads()))
    return configs


def run_sizes(device: torch.device, width: float, quick: bool) -> tuple[int, int, int]:
    """(training batches, extraction cells, extraction batch) of one measurement: short on a
    CPU, and shorter for the full-width network."""
    if device.type == "cpu":
        batches = (1 if quick else 3) if width == 1.0 else (3 if quick else 10)
        cells = 256 if width == 1.0 or quick else 1024
        return batches, cells, 256
    return (20, 8192, 4096) if quick else (200, 65536, 4096)


def measure(configs, quick: bool) -> list[tuple]:
    """Training and extraction rates per device, threads, width, precision and batch, printed
    as they come."""
    rows = []
    for device, n_threads in configs:
        torch.set_num_threads(n_threads)
        for width in (1.0, 0.25):
            spec = ModelSpec(3, 2, 1, width)
            for precision in ("fp32", "bf16"):
                for batch in (64, 256):
                    if device.type == "cpu" and batch == 256:
                        continue  # the CPU's rate per pair hardly depends on the batch
                    batches, cells, ext_batch = run_sizes(device, width, quick)
                    pairs, peak = train_rate(spec, device, precision, batches, TrainTiming(batch, n_cells=8192))
                    cells_s = extract_rate(spec, device, precision, cells, ext_batch)
                    rows.append((device.type, n_threads, width, precision, batch, pairs, cells_s, peak))
                    print(
                        f"{device.type:4s} threads {n_threads} width {width:4.2f} {precision} batch {batch}: "
                        f"training {pairs:9.1f} pairs/s, extraction {cells_s:9.1f} cells/s"
                        + (f", peak {peak:.1f} GiB" if device.type == "cuda" else ""),
                        flush=True,
                    )
    return rows


def print_summary(rows: list[tuple]) -> None:
    """The rates side by side, with bf16's speed-up over fp32 and each width's parameters."""
    print("\nsummary (human layout: 3 channels, 2 structural, 1 protein)")
    print(
        f"{'device':6s} {'threads':>7s} {'width':>5s} {'params':>9s} {'precision':>9s} {'batch':>5s} "
        f"{'pairs/s':>10s} {'cells/s':>10s} {'bf16/fp32':>9s} {'peak GiB':>8s}"
    )
    for device, n_threads, width, precision, batch, pairs, cells_s, peak in rows:
        ref = next(r for r in rows if r[:3] == (device, n_threads, width) and r[3] == "fp32" and r[4] == batch)
        ratio = f"{pairs / ref[5]:.2f}x" if precision == "bf16" else ""
        params = count_parameters(PairedCellInpainting(ModelSpec(3, 2, 1, width)))
        print(
            f"{device:6s} {n_threads:7d} {width:5.2f} {params:9d} {precision:>9s} {batch:5d} {pairs:10.1f} "
            f"{cells_s:10.1f} {ratio:>9s} {peak:8.1f}"
        )


def compare_compiled(configs, quick: bool) -> None:
    """torch.compile'd training against the same run uncompiled (``model.compile``)."""
    print("\ntorch.compile (model.compile: true), batch 64, against the same run uncompiled:")
    for device, n_threads in configs:
        torch.set_num_threads(n_threads)
        for width in (0.25, 1.0) if device.type == "cuda" else (0.25,):
            for precision in ("fp32", "bf16"):
                n = 3 if quick else (200 if device.type == "cuda" else 10)
                plain = train_rate(ModelSpec(3, 2, 1, width), device, precision, n, TrainTiming(n_cells=8192))[0]
                compiled = TrainTiming(n_cells=8192, compiled=True)
                fast = train_rate(ModelSpec(3, 2, 1, width), device, precision, n, compiled)[0]
                print(
                    f"  {device.type} threads {n_threads} width {width:4.2f} {precision}: "
                    f"{fast:9.1f} against {plain:9.1f} pairs/s ({fast / plain:.2f}x)",
                    flush=True,
                )


def probe_auto(n_threads: int) -> None:
    """What ``precision: auto``'s probe measures and chooses on this CPU, per width."""
    print("\nprecision: auto on this CPU (the probe training runs when it starts; batch 64):")
    torch.set_num_threads(n_threads)
    for width in (0.25, 1.0):
        model = build_model(ModelSpec(3, 2, 1, width), 0).to(memory_format=torch.channels_last)
        seconds = probe_seconds(model, pci_loss, 3, 64)
        choice = choose_precision("auto", torch.device("cpu"), probe=lambda s=seconds: s)
        print(
            f"  width {width:4.2f}: fp32 {seconds['fp32']:.3f} s, bf16 {seconds['bf16']:.3f} s per probe step "
            f"(bf16 {seconds['fp32'] / seconds['bf16']:.2f}x) -> {choice}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.add_argument("--threads", default=None, help="CPU thread counts to compare, e.g. 1,2 (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd training (batch 64)")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")] if args.threads else [torch.get_num_threads()]
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, CPU cores {torch.get_num_threads()}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    configs = device_configs(threads)
    print_summary(measure(configs, args.quick))
    if args.compile:
        compare_compiled(configs, args.quick)
    probe_auto(threads[-1])


if __name__ == "__main__":
    main()
