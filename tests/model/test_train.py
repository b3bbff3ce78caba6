"""Training: learns, resumes bitwise-identically, stops cleanly on NaN, guards its inputs."""

import logging

import numpy as np
import pytest
import torch

from pcinpaint.errors import InputError, TrainingError
from pcinpaint.model.spec import ModelSpec
from pcinpaint.model.train import (
    RunOptions,
    TrainConfig,
    TrainingTask,
    build_model,
    check_layout,
    load_model,
    read_state,
    save_model,
    train,
)


def tiny_store(n_images=4, per_image=8, seed=0):
    """Blobs in the structural channel; the protein fills the blob (a learnable relation)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    crops = np.zeros((n_images * per_image, 2, 64, 64), np.uint8)
    for i in range(len(crops)):
        cy, cx, r = rng.uniform(24, 40), rng.uniform(24, 40), rng.uniform(8, 16)
        blob = ((yy - cy) ** 2 + (xx - cx) ** 2) < r**2
        crops[i, 0] = blob * 200 + rng.integers(0, 30, (64, 64))
        crops[i, 1] = blob * (100 + 100 * (i // per_image % 2))
    images = np.repeat([f"img{i}" for i in range(n_images)], per_image)
    return crops, images


#: narrow (width 1/16) so the loop runs fast; it still learns the blob relation in a few epochs
SPEC = ModelSpec(n_channels=2, n_structural=1, n_protein=1, width=0.0625)
#: the tiny network predicting channel 1 from channel 0, and the autoencoder baseline on it
TASK = TrainingTask(SPEC, [0], [1])
AE = TrainingTask(SPEC, [0], [1], "autoencoder")
#: no progress bars in tests
QUIET = RunOptions(progress=False)


def _cfg(**kw):
    base = dict(epochs=3, batch_size=8, lr=1e-3, precision="fp32", device="cpu", seed=1)
    return TrainConfig(**{**base, **kw})


def test_a_few_epochs_reduce_the_loss(tmp_path):
    crops, images = tiny_store()
    _, history = train(crops, images, TASK, _cfg(epochs=6), tmp_path / "ckpt.pt", QUIET)
    assert list(history["epoch"]) == list(range(1, 7))
    assert history["loss"].iloc[-1] < 0.7 * history["loss"].iloc[0]
    assert (history["pairs_per_s"] > 0).all()


def test_resume_after_interruption_is_bitwise_identical(tmp_path):
    crops, images = tiny_store()
    full, _ = train(crops, images, TASK, _cfg(), tmp_path / "a.pt", QUIET)
    train(crops, images, TASK, _cfg(), tmp_path / "b.pt", RunOptions(progress=False, stop_after=1))  # "killed"
    resumed, history = train(crops, images, TASK, _cfg(), tmp_path / "b.pt", QUIET)
    assert list(history["epoch"]) == [1, 2, 3]
    for (name, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name


def test_more_epochs_continue_a_finished_training(tmp_path):
    crops, images = tiny_store()
    train(crops, images, TASK, _cfg(epochs=1), tmp_path / "e.pt", QUIET)
    trained = []
    _, history = train(
        crops, images, TASK, _cfg(epochs=2), tmp_path / "e.pt", RunOptions(progress=False, on_epoch=trained.append)
    )
    assert list(history["epoch"]) == [1, 2] and [row["epoch"] for row in trained] == [2]


def test_other_crops_or_fewer_epochs_do_not_resume(tmp_path):
    crops, images = tiny_store()
    train(crops, images, TASK, _cfg(epochs=2), tmp_path / "d.pt", QUIET)
    trained = []
    other = crops.copy()
    other[0, 0, 0, 0] ^= 1  # one pixel differs: e.g. preprocessing changed, same cell count
    train(other, images, TASK, _cfg(epochs=2), tmp_path / "d.pt", RunOptions(progress=False, on_epoch=trained.append))
    assert [row["epoch"] for row in trained] == [1, 2]
    trained.clear()
    train(other, images, TASK, _cfg(epochs=1), tmp_path / "d.pt", RunOptions(progress=False, on_epoch=trained.append))
    assert [row["epoch"] for row in trained] == [1]  # a 2-epoch checkpoint is not a 1-epoch model


def test_changed_config_does_not_resume(tmp_path):
    crops, images = tiny_store()
    train(crops, images, TASK, _cfg(epochs=1), tmp_path / "c.pt", QUIET)
    _, history = train(crops, images, TASK, _cfg(epochs=2, lr=5e-4), tmp_path / "c.pt", QUIET)
    assert list(history["epoch"]) == [1, 2]  # started over: the checkpoint was for another lr


def poison_loss(monkeypatch, at_call: int) -> dict:
    """The training loss made NaN at its ``at_call``-th computation; the calls are counted."""
    real = torch.nn.functional.mse_loss
    calls = {"n": 0}

    def poisoned(pred, target):
        calls["n"] += 1
        loss = real(pred, target)
        return loss * float("nan") if calls["n"] == at_call else loss

    monkeypatch.setattr(torch.nn.functional, "mse_loss", poisoned)
    return calls


def test_nan_loss_names_epoch_and_batch_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    crops, images = tiny_store()
    poison_loss(monkeypatch, 6)  # epoch 2 (4 batches/epoch), batch 2
    ckpt = tmp_path / "n.pt"
    with pytest.raises(TrainingError, match=r"loss is nan at epoch 2, batch 2; last good checkpoint kept: .*n\.pt"):
        train(crops, images, TASK, _cfg(), ckpt, QUIET)
    assert torch.load(ckpt, weights_only=False)["epoch"] == 0  # epoch 1 survives


def test_on_a_gpu_a_nan_loss_is_caught_once_per_window_and_the_checkpoint_kept(tmp_path, monkeypatch):
    """The GPU's path, run on the CPU: the loss is not read back every batch, so a NaN stops the
    run at the end of its window, still before that epoch's checkpoint."""
    crops, images = tiny_store()
    calls = poison_loss(monkeypatch, 6)
    monkeypatch.setattr("pcinpaint.model.train.CHECK_EACH_BATCH", ())
    ckpt = tmp_path / "g.pt"
    with pytest.raises(TrainingError, match=r"loss is not finite in epoch 2 \(by batch 4\); last good checkpoint kept"):
        train(crops, images, TASK, _cfg(), ckpt, QUIET)
    assert calls["n"] == 8 and torch.load(ckpt, weights_only=False)["epoch"] == 0


def test_too_few_images_with_pairs(tmp_path):
    crops, _ = tiny_store(n_images=1, per_image=4)
    images = np.array(["a", "a", "b", "c"])
    with pytest.raises(TrainingError, match=r"store\.zarr: only 1 image\(s\) with two or more cells"):
        train(crops, images, TASK, _cfg(), tmp_path / "x.pt", RunOptions(progress=False, name="store.zarr"))


def test_saved_model_round_trip_and_layout_check(tmp_path):
    crops, images = tiny_store()
    model, _ = train(crops, images, TASK, _cfg(epochs=1), tmp_path / "m.pt", QUIET)
    save_model(model, tmp_path / "model.pt", {"dataset": "tiny", "roles": ["structural", "protein"]})
    loaded, state = load_model(tmp_path / "model.pt")
    assert state["config"]["dataset"] == "tiny" and loaded.spec == SPEC
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a.cpu(), b)
    check_layout(state["config"]["roles"], ("structural", "protein"), "model.pt", "tiny")
    with pytest.raises(
        TrainingError,
        match=r"model.pt: model was trained on channels with roles \['structural', "
        r"'protein'\], dataset 'swapped' has \['protein', 'structural'\]",
    ):
        check_layout(state["config"]["roles"], ("protein", "structural"), "model.pt", "swapped")


def test_autoencoder_reduces_its_loss_resumes_and_round_trips(tmp_path):
    """The baseline: same loop, every cell its own target, all channels reconstructed."""
    from pcinpaint.model.network import Autoencoder

    crops, images = tiny_store()
    images = np.arange(len(crops)).astype(str)  # one cell per image: no pairs, still trainable
    model, history = train(crops, images, AE, _cfg(epochs=6), tmp_path / "ae.pt", QUIET)
    assert isinstance(model, Autoencoder)
    assert history["loss"].iloc[-1] < 0.7 * history["loss"].iloc[0]
    x = torch.from_numpy(crops[:4]).float() / 255
    assert model.eval()(x).shape == x.shape  # reconstructs every channel

    train(crops, images, AE, _cfg(epochs=2), tmp_path / "b.pt", RunOptions(progress=False, stop_after=1))
    resumed, _ = train(crops, images, AE, _cfg(epochs=2), tmp_path / "b.pt", QUIET)
    full, _ = train(crops, images, AE, _cfg(epochs=2), tmp_path / "c.pt", QUIET)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)

    save_model(model, tmp_path / "model.pt", {"roles": ["structural", "protein"]})
    loaded, state = load_model(tmp_path / "model.pt")
    assert state["kind"] == "autoencoder" and isinstance(loaded, Autoencoder)
    torch.testing.assert_close(loaded.eval()(x), model(x))


def test_a_pci_checkpoint_is_not_resumed_as_an_autoencoder(tmp_path):
    crops, images = tiny_store()
    train(crops, images, TASK, _cfg(epochs=1), tmp_path / "x.pt", QUIET)
    _, history = train(crops, images, AE, _cfg(epochs=1), tmp_path / "x.pt", QUIET)
    assert list(history["epoch"]) == [1]  # started over: the checkpoint belongs to another objective


def _store_on_disk(tmp_path, crops):
    from pcinpaint.crops.store import open_crop_store, write_crop_store

    write_crop_store(tmp_path / "crops.zarr", [crops], len(crops), crops.shape[1])
    return open_crop_store(tmp_path / "crops.zarr", memory_limit=None)


def test_a_store_that_fits_trains_exactly_as_the_array(tmp_path):
    crops, images = tiny_store()
    store = _store_on_disk(tmp_path, crops)
    held, _ = train(crops, images, TASK, _cfg(epochs=2), tmp_path / "a.pt", QUIET)
    read, _ = train(store, images, TASK, _cfg(epochs=2), tmp_path / "b.pt", QUIET)
    for a, b in zip(held.state_dict().values(), read.state_dict().values()):
        assert torch.equal(a, b)


def test_a_store_over_the_budget_streams_learns_and_resumes_bitwise(tmp_path, caplog):
    """160 images of 2 cells, windows of ~40 cells: the floor of 64 images per window gives 2.
    The uninterrupted run that must learn is also the one the resumed run must equal."""
    crops, images = tiny_store(n_images=160, per_image=2)
    store = _store_on_disk(tmp_path, crops)
    budget = 2 * 40 * crops[0].nbytes / 2**30
    cfg = _cfg(epochs=2, memory_gb=budget, batch_size=16)
    with caplog.at_level("INFO", logger="pcinpaint.model.windows"):
        full, history = train(store, images, TASK, cfg, tmp_path / "f.pt", QUIET)
    assert "about 40 cells each by the budget" in caplog.text
    assert history["loss"].iloc[-1] < 0.8 * history["loss"].iloc[0]
    assert (history["pairs_per_s"] > 0).all()

    train(store, images, TASK, cfg, tmp_path / "r.pt", RunOptions(progress=False, stop_after=1))  # "killed"
    resumed, history = train(store, images, TASK, cfg, tmp_path / "r.pt", QUIET)
    assert list(history["epoch"]) == [1, 2]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_held_and_streamed_crops_share_one_fingerprint(tmp_path):
    from pcinpaint.model.windows import TrainingCrops

    crops, _ = tiny_store()
    store = _store_on_disk(tmp_path, crops)
    held = TrainingCrops(store, torch.device("cpu"), 1e9)
    streamed = TrainingCrops(store, torch.device("cpu"), 10 * crops[0].nbytes)
    assert not held.streamed and streamed.streamed and streamed.window_cells == 5
    assert held.digest() == streamed.digest() == TrainingCrops(crops, torch.device("cpu"), 1).digest()


def truncate(path):
    """The file cut to half its bytes, as a copy or a crash can leave it; returns what is left."""
    data = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(data)
    return data


def test_a_damaged_checkpoint_is_moved_aside_and_training_resumes_from_the_one_before(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pcinpaint.model.train")
    crops, images = tiny_store(n_images=2)
    ckpt = tmp_path / "checkpoint.pt"
    train(crops, images, TASK, _cfg(epochs=2), ckpt, QUIET)  # keeps epoch 1's as .previous
    left = truncate(ckpt)
    trained = []
    _, history = train(crops, images, TASK, _cfg(epochs=2), ckpt, RunOptions(progress=False, on_epoch=trained.append))
    assert [row["epoch"] for row in trained] == [2] and list(history["epoch"]) == [1, 2]
    (aside,) = tmp_path.glob("checkpoint.pt.corrupt-*")
    assert aside.read_bytes() == left  # kept to look at, never read again
    assert "checkpoint.pt: not a readable checkpoint (PytorchStreamReader failed reading zip archive" in caplog.text
    assert f"moved aside to {aside.name}; training goes on from the last good state" in caplog.text
    assert "resuming from " + str(tmp_path / "checkpoint.pt.previous") + " after epoch 1" in caplog.text


def test_damaged_checkpoints_with_none_good_start_over(tmp_path):
    crops, images = tiny_store(n_images=2)
    ckpt = tmp_path / "checkpoint.pt"
    train(crops, images, TASK, _cfg(epochs=1), ckpt, QUIET)
    truncate(ckpt)
    (tmp_path / "checkpoint.pt.previous").write_bytes(b"")
    trained = []
    train(crops, images, TASK, _cfg(epochs=1), ckpt, RunOptions(progress=False, on_epoch=trained.append))
    assert [row["epoch"] for row in trained] == [1]
    assert len(list(tmp_path.glob("checkpoint.pt*.corrupt-*"))) == 2
    assert torch.load(ckpt, weights_only=False)["epoch"] == 0  # a good one again


def test_a_file_cut_where_torch_fails_a_seek_is_damaged_not_a_crash(tmp_path):
    """Some cut points make torch.load raise OSError (EINVAL) instead of a zip error: still a
    damaged file (moved aside, or named with how to rebuild it), never a crash of the job."""
    path = tmp_path / "state.pt"
    torch.save({"model": torch.zeros(1000), "epoch": 1}, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.9)])
    with pytest.raises(InputError, match=r"state\.pt: not a readable checkpoint \("):
        read_state(path, ["model"], "checkpoint")
    with pytest.raises(FileNotFoundError):  # a missing file is not a damaged one
        read_state(tmp_path / "absent.pt", ["model"], "checkpoint")


def test_a_damaged_model_names_the_file_and_how_to_rebuild_it(tmp_path):
    path = tmp_path / "model.pt"
    # width 1/8: cut in half, its file is one torch reports as a damaged archive (the message below)
    wide = ModelSpec(n_channels=2, n_structural=1, n_protein=1, width=0.125)
    save_model(build_model(wide, 0), path, {"dataset": "tiny"})
    truncate(path)
    with pytest.raises(InputError) as err:
        load_model(path)
    assert str(err.value) == (
        f"{path}: not a readable saved model (PytorchStreamReader failed reading zip archive: failed finding "
        f"central directory); rebuild it with: snakemake --force {path}"
    )
    torch.save({"weights": 1}, path)  # readable, but not a model
    with pytest.raises(InputError, match=r"model\.pt: not a saved model \(no model, spec\); rebuild it with"):
        load_model(path)
