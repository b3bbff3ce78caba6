"""The training precision: forced, recorded, or chosen by a measured probe on a CPU; the probe
leaves the model, its optimizer and the random streams as they were."""

import numpy as np
import pytest
import torch
from test_train import QUIET, SPEC, TASK, _cfg, tiny_store

from pcinpaint.model.devices import DeviceCrops
from pcinpaint.model.network import PairedCellInpainting
from pcinpaint.model.precision import choose_precision, probe_seconds
from pcinpaint.model.train import RunOptions, train

CPU = torch.device("cpu")


def test_recorded_then_forced_then_probed():
    never = lambda: pytest.fail("no probe when the choice is recorded or forced")  # noqa: E731
    assert choose_precision("auto", CPU, recorded="bf16", probe=never) == "bf16"  # a resumed run keeps it
    assert choose_precision("fp32", CPU, recorded="bf16", probe=never) == "bf16"
    assert choose_precision("bf16", CPU, probe=never) == "bf16"
    assert choose_precision("fp32", CPU, probe=never) == "fp32"
    assert choose_precision("auto", CPU, probe=lambda: {"fp32": 1.0, "bf16": 0.5}) == "bf16"
    assert choose_precision("auto", CPU, probe=lambda: {"fp32": 1.0, "bf16": 0.95}) == "fp32"  # within noise
    assert choose_precision("auto", CPU, probe=lambda: {"fp32": 0.5, "bf16": 1.0}) == "fp32"
    with pytest.raises(ValueError, match="auto, fp32 or bf16"):
        choose_precision("fp16", CPU)


def test_the_probe_times_both_and_touches_nothing():
    torch.manual_seed(3)
    model = PairedCellInpainting(SPEC)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng_state = torch.get_rng_state()

    def loss_of(net, crops):
        return torch.nn.functional.mse_loss(net(crops, crops[:, :1]).float(), crops[:, 1:])

    seconds = probe_seconds(model, loss_of, 2, batch=8, steps=1)
    assert set(seconds) == {"fp32", "bf16"} and all(s > 0 for s in seconds.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng_state, torch.get_rng_state())


def test_training_records_the_probes_choice_and_a_resume_keeps_it(tmp_path, monkeypatch):
    """auto on a CPU: the probe's choice is in every epoch's row and the checkpoint; resumed on
    a machine whose probe would choose otherwise, the run keeps the recorded one."""
    crops, images = tiny_store()
    probes = []

    def fake(answer):
        def probe(*args, **kwargs):
            probes.append(answer)
            return {"fp32": 1.0, "bf16": 0.5} if answer == "bf16" else {"fp32": 0.5, "bf16": 1.0}

        return probe

    monkeypatch.setattr("pcinpaint.model.train.probe_seconds", fake("bf16"))
    ckpt = tmp_path / "p.pt"
    train(crops, images, TASK, _cfg(precision="auto"), ckpt, RunOptions(progress=False, stop_after=1))
    assert torch.load(ckpt, weights_only=False)["precision"] == "bf16"
    monkeypatch.setattr("pcinpaint.model.train.probe_seconds", fake("fp32"))  # "another machine"
    _, history = train(crops, images, TASK, _cfg(precision="auto"), ckpt, QUIET)
    assert probes == ["bf16"] and list(history["precision"]) == ["bf16"] * 3
    _, forced = train(crops, images, TASK, _cfg(epochs=1), tmp_path / "f.pt", QUIET)
    assert list(forced["precision"]) == ["fp32"] and probes == ["bf16"]


def test_staged_batches_equal_batches_from_arrays():
    rng = np.random.default_rng(0)
    data = DeviceCrops(rng.integers(0, 256, (20, 2, 64, 64), dtype=np.uint8), CPU)
    idx = rng.integers(0, 20, 8)
    flips = rng.random((8, 4)) < 0.5
    staged, staged_flips = data.stage(idx, flips)
    assert torch.equal(
        data.batch(staged, staged_flips[:, 0], staged_flips[:, 1]), data.batch(idx, flips[:, 0], flips[:, 1])
    )
