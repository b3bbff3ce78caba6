"""Benchmark: paired cell inpainting training pairs/s and feature extraction cells/s.

Run from the repository root:  python tests/perf/bench_model.py [--quick] [--threads N]

Measures, side by side in one run, training steps (batch 64, Adam, MSE on the target
protein) and source-encoder feature extraction (batch 256, all five layers) at width 1.0
(the paper's network) and at the demo's width 0.25, with fp32 and bf16 autocast,
channels-last. Uses CUDA too when a GPU is present. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from pcinpaint.model.devices import DeviceCrops, autocast_dtype
from pcinpaint.model.network import PairedCellInpainting, count_parameters
from pcinpaint.model.spec import ModelSpec


def train_rate(spec, device, precision, steps, batch=64):
    torch.manual_seed(0)
    model = PairedCellInpainting(spec).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.999))
    rng = np.random.default_rng(0)
    crops = DeviceCrops(rng.integers(0, 256, (1024, spec.n_channels, 64, 64), dtype=np.uint8), device)
    amp = autocast_dtype(device, precision)
    structural = torch.arange(spec.n_structural, device=device)
    protein = torch.arange(spec.n_structural, spec.n_channels, device=device)

    def step():
        idx = rng.integers(0, 1024, (2, batch))
        flips = rng.random((batch, 4)) < 0.5
        src = crops.batch(idx[0], flips[:, 0], flips[:, 1])
        tgt = crops.batch(idx[1], flips[:, 2], flips[:, 3])
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            pred = model(src, tgt.index_select(1, structural))
        loss = torch.nn.functional.mse_loss(pred.float(), tgt.index_select(1, protein))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


@torch.no_grad()
def extract_rate(spec, device, precision, n_cells, batch=256):
    torch.manual_seed(0)
    encoder = PairedCellInpainting(spec).source.to(device).to(memory_format=torch.channels_last).eval()
    amp = autocast_dtype(device, precision)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, CPU threads {torch.get_num_threads()}, "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    )
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    if torch.cuda.is_available():
        print("GPU:", torch.cuda.get_device_name(0))
    rows = []
    for device in devices:
        for width in (1.0, 0.25):
            spec = ModelSpec(3, 2, 1, width)
            for precision in ("fp32", "bf16"):
                if device.type == "cpu":
                    steps = (1 if args.quick else 3) if width == 1.0 else (3 if args.quick else 10)
                    cells = 256 if width == 1.0 or args.quick else 1024
                else:
                    steps, cells = (20, 4096) if args.quick else (100, 32768)
                pairs = train_rate(spec, device, precision, steps)
                cells_s = extract_rate(spec, device, precision, cells)
                rows.append(
                    (device.type, width, count_parameters(PairedCellInpainting(spec)), precision, pairs, cells_s)
                )
                print(
                    f"{device.type:5s} width {width:4.2f} {precision}: training {pairs:9.1f} pairs/s, "
                    f"extraction {cells_s:9.1f} cells/s",
                    flush=True,
                )
    print("\nsummary (human layout: 3 channels, 2 structural, 1 protein; batch 64 training, 256 extraction)")
    print(
        f"{'device':6s} {'width':>5s} {'params':>9s} {'precision':>9s} {'pairs/s':>10s} {'cells/s':>10s} "
        f"{'bf16/fp32':>9s}"
    )
    for device, width, params, precision, pairs, cells_s in rows:
        ref = next(r for r in rows if r[0] == device and r[1] == width and r[3] == "fp32")
        ratio = f"{pairs / ref[4]:.2f}x" if precision == "bf16" else ""
        print(f"{device:6s} {width:5.2f} {params:9d} {precision:>9s} {pairs:10.1f} {cells_s:10.1f} {ratio:>9s}")


if __name__ == "__main__":
    main()
