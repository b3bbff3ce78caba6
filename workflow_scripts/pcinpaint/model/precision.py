"""The float format training runs in: bf16 autocast or fp32, chosen per machine by measuring.

Which one is faster depends on the CPU, not on the code: bf16 autocast measured 0.77x of fp32
on one CPU, 1.7-1.8x on an AMD EPYC with AVX512-BF16, and about 7x (with channels-last) on an
Intel CPU with AMX. So ``precision: auto`` on a CPU times a few training steps each way on the
network being trained (a copy of it, on random crops: dense convolutions cost the same whatever
the pixels) when training starts, and keeps bf16 only where it is clearly faster. On a GPU,
``auto`` is bf16 where the GPU supports it. The choice is recorded in the checkpoint and the
model, and a resumed training reuses it on whatever machine it resumes.
"""

from __future__ import annotations

import copy
import logging
import statistics
import time

import torch

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
#: bf16 must be at least this much faster than fp32 in the probe to be chosen (a few timed
#: steps carry some noise; a near tie is not worth features computed in lower precision)
PROBE_MARGIN = 1.1
#: cells per probe step (capped by the batch size): a width-1.0 step of 16 pairs takes ~1 s
PROBE_BATCH = 16
PROBE_STEPS = 3


def amp_dtype(precision: str):
    """The autocast dtype of a chosen precision (None: plain fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return torch.bfloat16 if precision == "bf16" else None


def choose_precision(requested: str, device: torch.device, recorded: str | None = None, probe=None) -> str:
    """``fp32`` or ``bf16`` for a training run.

    ``recorded``: the choice a checkpoint holds (a resumed run keeps it, whatever it asks now).
    ``requested``: ``fp32`` / ``bf16`` force it; ``auto`` is bf16 on a GPU that supports it
    and, on a CPU, the ``probe()`` result (seconds per step for each precision).
    """
    if recorded in PRECISIONS:
        return recorded
    if requested in PRECISIONS:
        return requested
    if requested != "auto":
        raise ValueError(f"precision must be auto, fp32 or bf16, got {requested!r}")
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if probe is None:
        return "fp32"
    seconds = probe()
    speedup = seconds["fp32"] / seconds["bf16"]
    choice = "bf16" if speedup >= PROBE_MARGIN else "fp32"
    log.info(
        "precision probe: fp32 %.3f s, bf16 %.3f s per step (bf16 %.2fx): %s",
        seconds["fp32"],
        seconds["bf16"],
        speedup,
        choice,
    )
    return choice


def probe_seconds(model: torch.nn.Module, loss_of, n_channels: int, batch: int, steps: int = PROBE_STEPS) -> dict:
    """Median seconds per training step in fp32 and in bf16 autocast, timed alternately (so a
    machine's drift hits both alike) on a copy of ``model`` with its own Adam: the model being
    trained, its optimizer and every random stream are left as they were.

    ``loss_of(model, crops)``: the training loss of a float batch (n, C, 64, 64) in [0, 1].
    """
    device = next(model.parameters()).device
    trial = copy.deepcopy(model).train()
    optimizer = torch.optim.Adam(trial.parameters(), lr=1e-6)
    generator = torch.Generator().manual_seed(0)
    crops = torch.randint(0, 256, (min(batch, PROBE_BATCH), n_channels, 64, 64), generator=generator)
    crops = crops.float().div_(255).to(device).contiguous(memory_format=torch.channels_last)

    def step(precision):
        dtype = amp_dtype(precision)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = loss_of(trial, crops)
        optimizer.zero_grad(set_to_none=True)
        loss.float().backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    times = {p: [] for p in PRECISIONS}
    for p in PRECISIONS:  # warm-up: first calls pick kernels and allocate
        step(p)
    for _ in range(steps):
        for p in PRECISIONS:
            times[p].append(step(p))
    return {p: statistics.median(t) for p, t in times.items()}
