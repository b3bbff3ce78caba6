"""Training: paired cell inpainting on a crop store, resumable, on GPU when there is one.

The autoencoder baseline goes through the same loop (``objective="autoencoder"``): same
optimiser, precision, checkpoints and resume, with every cell its own target instead of a pair.

Checkpoints are written after every epoch (weights, optimizer, epoch, history) beside — not
inside — the rule's declared outputs, because Snakemake deletes a failed job's outputs: an
interrupted training rerun resumes from its last epoch. Pairs and flips of each epoch come
from (seed, epoch) alone, so a resumed run is bitwise identical to an uninterrupted one on CPU.
The checkpoint before the last is kept too (``<name>.previous``): an unreadable checkpoint is
moved aside and training resumes from the one before, or starts over, never blocked.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import pickle
import shutil
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pcinpaint.crops.store import CropStore
from pcinpaint.errors import InputError, TrainingError, one_line
from pcinpaint.io import atomic_path
from pcinpaint.model.devices import DeviceCrops, select_device
from pcinpaint.model.network import NETWORKS
from pcinpaint.model.pairs import CellSampler, PairSampler
from pcinpaint.model.precision import amp_dtype, choose_precision, probe_seconds
from pcinpaint.model.spec import ModelSpec
from pcinpaint.model.windows import TrainingCrops, describe_windows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    precision: str = "auto"  # auto | bf16 | fp32
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0
    memory_gb: float = 8.0  # RAM for crops: a larger store is streamed in windows (see windows.py)
    compile: bool = False  # torch.compile the network for training (measure first: see bench_model.py)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainingTask:
    """What a network learns: its shape (``spec``), the channels it reads as structural markers
    and predicts as protein (indices into a crop's channels), and the objective (``pci``: paired
    cell inpainting; ``autoencoder``: the baseline, every cell its own target)."""

    spec: ModelSpec
    structural: Sequence[int]
    protein: Sequence[int]
    objective: str = "pci"


@dataclass(frozen=True)
class RunOptions:
    """How one call of ``train`` runs, apart from what it learns: progress bars, the crops'
    name in messages, a callback after each epoch, and ``stop_after`` epochs in this call
    (tests use it to simulate an interruption)."""

    progress: bool = True
    stop_after: int | None = None
    name: str = "crop store"
    on_epoch: Callable[[dict], None] | None = None


@dataclass(frozen=True)
class EpochSettings:
    """What each batch of an epoch computes and how: the objective, the channels read and
    predicted (index tensors on the device), the batch size, the autocast dtype (None: off), the
    checkpoint a failure names as kept, a progress-bar label (None: no bar) and ``max_batches``
    to shorten the epoch (the benchmarks)."""

    objective: str
    structural_idx: torch.Tensor
    protein_idx: torch.Tensor
    batch_size: int
    amp: torch.dtype | None
    checkpoint: Path
    desc: str | None = None
    max_batches: int | None = None


#: devices where a batch's loss is checked at once (free on a CPU); elsewhere once per window
CHECK_EACH_BATCH = ("cpu",)
#: the per-epoch training table (``<network>_history.tsv``); ``precision`` is the one trained in
HISTORY_COLUMNS = ["epoch", "loss", "seconds", "pairs_per_s", "precision"]
#: settings a checkpoint may be resumed under with other values (more epochs continue it)
RESUMABLE_ACROSS = ("device", "epochs", "memory_gb", "compile")


def fingerprint(
    spec: ModelSpec, cfg: TrainConfig, crops_digest: str, image_ids: Sequence[str], objective: str = "pci"
) -> str:
    """What a checkpoint must match to be resumed: the same crops (``crops_digest``), images,
    model and optimiser settings (anything else starts over); more epochs, another device or
    another memory budget continue from it (another budget draws other windows from then on)."""
    images = hashlib.blake2b("\n".join(map(str, image_ids)).encode(), digest_size=16)
    payload = json.dumps(
        {
            "objective": objective,
            "spec": spec.to_dict(),
            "train": {k: v for k, v in cfg.to_dict().items() if k not in RESUMABLE_ACROSS},
            "data": crops_digest + images.hexdigest(),
        },
        sort_keys=True,
        default=list,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def save_atomic(obj, path: Path) -> None:
    """A checkpoint or model, written atomically. Serialised in memory first, then written by
    Python: torch's own file writer reports a full disk only as "unexpected pos", which
    ``atomic_path`` could not name as a full disk."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(buffer.getbuffer())


#: what torch.load raises on a file cut short (a copy, a full disk, a crash) or overwritten
UNREADABLE = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError)
#: what a checkpoint holds to be resumed from
CHECKPOINT_KEYS = ("model", "optimizer", "epoch", "history", "fingerprint")


def read_state(path: Path, keys: Sequence[str], what: str) -> dict:
    """A saved state holding ``keys``, or InputError naming the file and what is wrong with it.

    Read onto the CPU (``load_state_dict`` moves it to the model's device): an error of the
    device (out of memory, a busy GPU) must not read as a damaged file and have it moved aside."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (*UNREADABLE, OSError) as exc:
        # a file cut short can also fail a seek (EINVAL); a missing or forbidden file is not damaged
        if isinstance(exc, OSError) and exc.errno != errno.EINVAL:
            raise
        raise InputError(f"{path}: not a readable {what} ({one_line(exc).split('. ')[0]})") from None
    missing = [k for k in keys if k not in state] if isinstance(state, dict) else list(keys)
    if missing:
        raise InputError(f"{path}: not a {what} (no {', '.join(missing)})")
    return state


def previous(checkpoint: Path) -> Path:
    """Where the checkpoint before the last is kept."""
    return checkpoint.with_name(checkpoint.name + ".previous")


def save_checkpoint(state: dict, checkpoint: Path) -> None:
    """The epoch's checkpoint, written atomically; the last one is kept as ``previous`` (a hard
    link, so that ``checkpoint`` is never missing, even for an instant)."""
    if checkpoint.exists():
        keep = previous(checkpoint)
        keep.unlink(missing_ok=True)
        try:
            os.link(checkpoint, keep)
        except OSError:  # a file system without hard links
            shutil.copyfile(checkpoint, keep)
    save_atomic(state, checkpoint)


def last_good_checkpoint(checkpoint: Path) -> tuple[Path, dict] | None:
    """The newest readable checkpoint (``checkpoint``, else the one before it) and its state. An
    unreadable one is moved aside (``<name>.corrupt-<time>``) with a warning, so a damaged file
    never blocks training and is kept to look at."""
    for path in (checkpoint, previous(checkpoint)):
        if not path.exists():
            continue
        try:
            return path, read_state(path, CHECKPOINT_KEYS, "checkpoint")
        except InputError as exc:
            aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
            path.replace(aside)
            log.warning("%s: moved aside to %s; training goes on from the last good state", exc, aside.name)
    return None


def build_model(spec: ModelSpec, seed: int, objective: str = "pci") -> torch.nn.Module:
    torch.manual_seed(seed)
    return NETWORKS[objective](spec)


def training_step(model, data: DeviceCrops, settings: EpochSettings, sources, targets, flips):
    """(predicted, actual) for one batch: the target cell's protein from the source cell and the
    target's structural markers (pci), or the source cell itself (autoencoder)."""
    src = data.batch(sources, flips[:, 0], flips[:, 1])
    if settings.objective == "autoencoder":
        return model(src), src
    tgt = data.batch(targets, flips[:, 2], flips[:, 3])
    return model(src, tgt.index_select(1, settings.structural_idx)), tgt.index_select(1, settings.protein_idx)


def _sampler(objective: str, image_ids: Sequence[str], seed: int, name: str):
    """The epoch's draws of cells (autoencoder) or pairs (pci); a TrainingError naming the
    crops where the objective is unknown or the images give no pairs to learn from."""
    if objective not in NETWORKS:
        raise TrainingError(f"{name}: unknown training objective '{objective}' (have {sorted(NETWORKS)})")
    try:
        sampler = (CellSampler if objective == "autoencoder" else PairSampler)(image_ids, seed)
    except ValueError as exc:
        raise TrainingError(f"{name}: {exc}") from None
    if objective == "pci" and sampler.n_images_with_pairs < 2:
        raise TrainingError(
            f"{name}: only {sampler.n_images_with_pairs} image(s) with two or more cells; "
            "paired cell inpainting needs at least 2"
        )
    return sampler


def _resume(checkpoint: Path, key: str, epochs: int, model, optimizer) -> tuple[list[dict], int, str | None]:
    """(history, first epoch to train, precision recorded) from the last good checkpoint when it
    belongs to this run (same fingerprint, epochs left), its weights and optimiser state loaded;
    else a fresh start."""
    found = last_good_checkpoint(checkpoint)
    if found is None:
        return [], 0, None
    path, state = found
    if state["fingerprint"] == key and state["epoch"] < epochs:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"] + 1
        log.info("resuming from %s after epoch %d", path, start)
        return state["history"], start, state.get("precision")
    log.info("checkpoint %s belongs to other crops or settings (or more epochs); starting over", path)
    return [], 0, None


def train(
    crops: np.ndarray | CropStore,
    image_ids: Sequence[str],
    task: TrainingTask,
    cfg: TrainConfig,
    checkpoint: str | Path,
    options: RunOptions | None = None,
) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train on all cells of a crop store grouped by ``image_ids`` (one per cell, store order).

    ``crops``: the uint8 crops, or a ``CropStore``, read whole when it fits ``cfg.memory_gb``
    and streamed in windows of whole images otherwise.

    ``task``: the network, its channels and objective (``pci`` or ``autoencoder``).

    Resumes from ``checkpoint`` when it matches this run. ``options``: progress, the crops' name
    in messages, a per-epoch callback and ``stop_after`` (default ``RunOptions()``).
    """
    options = options or RunOptions()
    spec, objective = task.spec, task.objective
    checkpoint = Path(checkpoint)
    device = select_device(cfg.device)
    sampler = _sampler(objective, image_ids, cfg.seed, options.name)
    model = build_model(spec, cfg.seed, objective).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
    data = TrainingCrops(crops, device, cfg.memory_gb * 2**30)
    key = fingerprint(spec, cfg, data.digest(), image_ids, objective)
    history, start, recorded = _resume(checkpoint, key, cfg.epochs, model, optimizer)
    structural_idx = torch.tensor(list(task.structural), device=device)
    protein_idx = torch.tensor(list(task.protein), device=device)

    def loss_of(net, crops):  # the probe's step: a batch paired with itself (same cost as a pair)
        if objective == "autoencoder":
            return torch.nn.functional.mse_loss(net(crops).float(), crops)
        predicted = net(crops, crops.index_select(1, structural_idx))
        return torch.nn.functional.mse_loss(predicted.float(), crops.index_select(1, protein_idx))

    precision = choose_precision(
        cfg.precision,
        device,
        recorded,
        probe=lambda: probe_seconds(model, loss_of, spec.n_channels, cfg.batch_size),
    )
    amp = amp_dtype(precision)
    # the compiled module shares the network's parameters: the optimizer and the checkpoints
    # keep using ``model``
    stepped = torch.compile(model) if cfg.compile else model
    log.info(
        "training %s on %s (autocast %s, crops %s): %d cells in %d images, epochs %d..%d",
        objective,
        device,
        amp,
        "streamed in windows of whole images" if data.streamed else "in memory",
        len(sampler),
        sampler.n_images_with_pairs,
        start + 1,
        cfg.epochs,
    )
    settings = EpochSettings(objective, structural_idx, protein_idx, cfg.batch_size, amp, checkpoint)
    done_here = 0
    for epoch in range(start, cfg.epochs):
        if options.stop_after is not None and done_here >= options.stop_after:
            break
        desc = f"epoch {epoch + 1}/{cfg.epochs}" if options.progress else None
        loss, count, seconds = train_epoch(stepped, optimizer, data, sampler, epoch, replace(settings, desc=desc))
        row = dict(
            epoch=epoch + 1,
            loss=loss,
            seconds=round(seconds, 3),
            pairs_per_s=round(count / seconds, 1),
            precision=precision,
        )
        history.append(row)
        save_checkpoint(
            dict(
                model=model.state_dict(),
                optimizer=optimizer.state_dict(),
                epoch=epoch,
                history=history,
                fingerprint=key,
                spec=spec.to_dict(),
                train=cfg.to_dict(),
                precision=precision,
            ),
            checkpoint,
        )
        log.info("epoch %d: loss %.5f, %.1f s, %.0f pairs/s", row["epoch"], row["loss"], seconds, row["pairs_per_s"])
        if options.on_epoch:
            options.on_epoch(row)
        done_here += 1
    return model, pd.DataFrame(history, columns=HISTORY_COLUMNS)


def train_epoch(
    model, optimizer, data: TrainingCrops, sampler, epoch: int, settings: EpochSettings
) -> tuple[float, int, float]:
    """One epoch, window by window: (mean loss, pairs, seconds). ``settings.desc`` shows a
    progress bar.

    ``settings.max_batches`` shortens the epoch (the benchmarks): held crops stop after that many
    batches; streamed ones at the end of the window that batch falls in, so that every window
    is read whole, as contiguous runs of its images, the way a full epoch reads it (a part of a
    window would be scattered cells, a slower read with other memory)."""
    batch_size, amp, checkpoint = settings.batch_size, settings.amp, settings.checkpoint
    desc, max_batches = settings.desc, settings.max_batches
    model.train()
    device = data.device
    sources, targets, flips, windows = sampler.epoch(epoch, data.window_cells)
    if max_batches is not None:
        stop = max_batches * batch_size
        if data.streamed:
            stop = next((hi for _, hi in windows if hi >= stop), len(sources))
        sources, targets = sources[:stop], targets[:stop]
        windows = [(lo, min(hi, len(sources))) for lo, hi in windows if lo < len(sources)]
    if data.streamed:
        log.info("epoch %d reads %s", epoch + 1, describe_windows(windows))
    t0 = time.perf_counter()
    # the loss is summed on the device and read once; on a GPU its finiteness is checked once per
    # window too (a check per batch would wait for the GPU every step): a NaN stops the run
    # before the epoch's checkpoint is written, so the last good one is kept either way
    total, count, b = torch.zeros((), device=device), 0, 0
    finite = torch.ones((), dtype=torch.bool, device=device)
    each_batch = device.type in CHECK_EACH_BATCH
    kept = f"last good checkpoint kept: {checkpoint if checkpoint.exists() else 'none yet'}"
    bar = tqdm(total=len(sources), desc=desc, disable=desc is None, mininterval=10)
    for crops_here, src, tgt, offset in data.windows(sources, targets, windows):
        src, flip = crops_here.stage(src, flips[offset : offset + len(src)])
        tgt, _ = crops_here.stage(tgt)
        for at in range(0, len(src), batch_size):
            sl = slice(at, at + batch_size)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                predicted, actual = training_step(model, crops_here, settings, src[sl], tgt[sl], flip[sl])
            loss = torch.nn.functional.mse_loss(predicted.float(), actual)
            b += 1
            if each_batch and not torch.isfinite(loss):
                raise TrainingError(f"loss is {loss.item()} at epoch {epoch + 1}, batch {b}; {kept}")
            finite &= torch.isfinite(loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(actual)
            count += len(actual)
            bar.update(len(actual))
        if not bool(finite):
            raise TrainingError(f"loss is not finite in epoch {epoch + 1} (by batch {b}); {kept}")
        del crops_here, src, tgt, flip  # lets the next window's read replace this one
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return float(total) / max(count, 1), count, time.perf_counter() - t0


def save_model(model: torch.nn.Module, path: str | Path, config: dict) -> None:
    """The final model with everything needed to rebuild and use it (network, spec, training config)."""
    kind = next(k for k, cls in NETWORKS.items() if isinstance(model, cls))
    save_atomic(dict(model=model.state_dict(), kind=kind, spec=model.spec.to_dict(), config=config), Path(path))


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict]:
    """A saved model (PCI or autoencoder) and its saved state (``state["config"]`` says what it was trained on).
    A damaged file stops with one line naming it and how to rebuild it."""
    try:
        state = read_state(Path(path), ("model", "spec"), "saved model")
    except InputError as exc:
        raise InputError(f"{exc}; rebuild it with: snakemake --force {path}") from None
    model = NETWORKS[state.get("kind", "pci")](ModelSpec(**state["spec"]))
    model.load_state_dict(state["model"])
    return model.to(device), state


def check_layout(model_roles: Sequence[str], dataset_roles: Sequence[str], model_name: str, dataset: str) -> None:
    """A model extracts features only from crops with the channel roles, in order, it was trained on."""
    if list(model_roles) != list(dataset_roles):
        raise TrainingError(
            f"{model_name}: model was trained on channels with roles {list(model_roles)}, "
            f"dataset '{dataset}' has {list(dataset_roles)}"
        )
