"""The paper's Keras weights in our network: checked against a NumPy forward pass of the
published architecture, read straight from a file in Keras's ``model.save`` layout."""

import numpy as np
import pytest
import torch
from keras_files import (
    BN_ORDER,
    DEC,
    HUMAN_ROLES,
    KERAS_FROM_OURS,
    SRC,
    TGT,
    KerasLayout,
    published_arrays,
    write_keras,
)

from pcinpaint.crops.store import open_crop_store, write_crop_store
from pcinpaint.errors import InputError
from pcinpaint.features.encoder import encoder_features
from pcinpaint.model.network import count_parameters
from pcinpaint.model.published import convert, read_keras_h5, save_published
from pcinpaint.model.spec import ENCODER_LAYERS
from pcinpaint.model.train import load_model

# --------------------------------------------------------------------------------------------
# The published network in NumPy (NHWC, Keras kernels as stored)
# --------------------------------------------------------------------------------------------


def conv_same(x, k, b):
    """Keras Conv2D, stride 1, 'same' padding: cross-correlation, one kernel tap at a time."""
    kh, kw = k.shape[:2]
    h, w = x.shape[1:3]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros(x.shape[:3] + (k.shape[3],))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i : i + h, j : j + w, :] @ k[i, j].astype(np.float64)
    return out + b


def relu(x):
    return np.maximum(x, 0)


def batch_norm(x, gamma, beta, mean, var, eps=1e-3):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def max_pool(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def upsample(x):
    return x.repeat(2, axis=1).repeat(2, axis=2)


def reference(conv, bn, x, y):
    """(ReLU output of conv1_1..conv5_1, predicted protein) for Keras inputs x (protein first), y."""

    def block(name, h):
        a = relu(conv_same(h, *conv[name]))
        return a, batch_norm(a, *bn[name])

    acts = {}
    h = x.astype(np.float64)
    for name in SRC:
        acts[name], h = block(name, h)
        if name in ("conv1_1", "conv2_1"):
            h = max_pool(h)
    t = y.astype(np.float64)
    for name in TGT:
        _, t = block(name, t)
        if name != "rfpconv3_1":
            t = max_pool(t)
    d = np.concatenate([h, t], axis=-1)
    for name in DEC:
        if name in ("conv9_1", "conv10_1"):
            d = upsample(d)
        d = relu(conv_same(d, *conv[name]))
    return acts, conv_same(d, *conv["y_gfp"])


def nhwc(t):
    return np.transpose(t.numpy(), (0, 2, 3, 1))


def close(ours, ref, tol=1e-4):
    """Agreement to ``tol`` relative to the reference's scale."""
    err = np.abs(np.asarray(ours, np.float64) - ref).max()
    assert err <= tol * max(1.0, np.abs(ref).max()), f"max error {err:.3g}"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    conv, bn = published_arrays(12)
    path = write_keras(tmp_path_factory.mktemp("keras") / "model_weights.h5", conv, bn)
    rng = np.random.default_rng(1)
    ours = rng.random((3, 3, 64, 64)).astype(np.float32)  # our channel order: nucleus, microtubules, protein
    return path, conv, bn, ours


def _inputs(ours):
    x = torch.from_numpy(ours)
    return x, x[:, :2]


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_source_encoder_layers_and_pooled_features_match_numpy(published, tmp_path):
    path, conv, bn, ours = published
    model, spec = convert(path, 2, 1, roles=HUMAN_ROLES)
    assert spec.width == 12 / 96 and not model.training
    acts, _ = reference(
        conv, bn, np.transpose(ours[:, KERAS_FROM_OURS], (0, 2, 3, 1)), np.transpose(ours[:, :2], (0, 2, 3, 1))
    )
    maps = {}
    hooks = [
        getattr(model.source, layer).relu.register_forward_hook(lambda m, i, o, layer=layer: maps.__setitem__(layer, o))
        for layer in ENCODER_LAYERS
    ]
    with torch.no_grad():
        _, pooled = model.source(torch.from_numpy(ours), features=True)
    for h in hooks:
        h.remove()
    for ours_name, keras_name in zip(ENCODER_LAYERS, SRC):
        close(nhwc(maps[ours_name]), acts[keras_name])
        close(pooled[ours_name].numpy(), acts[keras_name].max(axis=(1, 2)))

    # the same through features.encoder_features, from a uint8 crop store
    crops = (ours * 255).round().astype(np.uint8)
    write_crop_store(tmp_path / "crops.zarr", [crops], len(crops), 3, 64)
    feats = encoder_features(model.source, open_crop_store(tmp_path / "crops.zarr"), precision="fp32")
    x8 = np.transpose(crops[:, KERAS_FROM_OURS], (0, 2, 3, 1)) / 255.0
    acts8, _ = reference(conv, bn, x8, x8[..., 1:])
    for ours_name, keras_name in zip(ENCODER_LAYERS, SRC):
        close(feats[ours_name], acts8[keras_name].max(axis=(1, 2)))


def test_inpainting_forward_matches_numpy_and_needs_keras_epsilon(published):
    path, conv, bn, ours = published
    model, _ = convert(path, 2, 1, roles=HUMAN_ROLES)
    x, y = _inputs(ours)
    _, pred = reference(
        conv, bn, np.transpose(ours[:, KERAS_FROM_OURS], (0, 2, 3, 1)), np.transpose(ours[:, :2], (0, 2, 3, 1))
    )
    with torch.no_grad():
        out = model(x, y)
    close(nhwc(out), pred)
    for m in model.modules():  # torch's default epsilon would not reproduce the published outputs
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-5
    with torch.no_grad():
        assert np.abs(nhwc(model(x, y)) - pred).max() > 1e-3 * np.abs(pred).max()


def test_published_channel_order_without_roles(published):
    path, conv, bn, ours = published
    model, _ = convert(path, 2, 1)  # inputs in Keras order: protein, then structural
    xk = ours[:, KERAS_FROM_OURS]
    _, pred = reference(conv, bn, np.transpose(xk, (0, 2, 3, 1)), np.transpose(xk[:, 1:], (0, 2, 3, 1)))
    with torch.no_grad():
        close(nhwc(model(torch.from_numpy(xk), torch.from_numpy(xk[:, 1:]))), pred)


def test_weights_only_and_renumbered_batch_norms(published, tmp_path):
    """Root layout without model_config or weight_names (BN by creation number), and BN names
    that only the config's inbound nodes can place."""
    path, conv, bn, ours = published
    x, y = _inputs(ours)
    with torch.no_grad():
        expected = convert(path, 2, 1, roles=HUMAN_ROLES)[0](x, y)
    bare = write_keras(
        tmp_path / "weights.h5",
        conv,
        bn,
        KerasLayout(
            bn_names={c: f"batch_normalization_{i + 9}" for i, c in enumerate(BN_ORDER)},
            with_config=False,
            at_root=True,
            weight_names=False,
        ),
    )
    shuffled = write_keras(
        tmp_path / "shuffled.h5",
        conv,
        bn,
        KerasLayout(bn_names={c: f"batch_normalization_{8 - i}" for i, c in enumerate(BN_ORDER)}),
    )
    assert set(read_keras_h5(bare)["conv1_1"]) == {"kernel", "bias"}
    assert set(read_keras_h5(path)["batch_normalization_1"]) == {"gamma", "beta", "moving_mean", "moving_variance"}
    for other in (bare, shuffled):
        with torch.no_grad():
            torch.testing.assert_close(convert(other, 2, 1, roles=HUMAN_ROLES)[0](x, y), expected)


@pytest.mark.parametrize("filters,width", [(8, 8 / 96), (96, 1.0)])
def test_width_is_inferred_from_conv1(tmp_path, filters, width):
    conv, bn = published_arrays(filters)
    model, spec = convert(write_keras(tmp_path / "w.h5", conv, bn), 2, 1)
    assert spec.width == width
    assert model.source.layer_sizes["conv1"] == filters
    if filters == 96:
        assert count_parameters(model) == 7_321_617  # the paper's ~7.3M


def test_save_published_round_trip(published, tmp_path):
    path, conv, bn, ours = published
    x, y = _inputs(ours)
    converted, spec = convert(path, 2, 1, roles=HUMAN_ROLES)
    out = tmp_path / "published.pt"
    save_published(path, out, "human", ["nucleus", "microtubules", "stain"], list(HUMAN_ROLES))
    loaded, state = load_model(out)
    loaded.eval()
    assert state["config"]["published"] == "model_weights.h5"
    assert state["config"]["roles"] == list(HUMAN_ROLES) and state["config"]["keras_bn_eps"] == 1e-3
    assert loaded.spec == spec
    with torch.no_grad():
        a, b = loaded(x, y), converted(x, y)  # same up to float32 rounding of var + eps
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))
    with torch.no_grad():
        a = loaded.source(x, features=True)[1]
        b = converted.source(x, features=True)[1]
    torch.testing.assert_close(a["conv1"], b["conv1"], rtol=0, atol=0)  # before any batch norm: exact
    for name in ENCODER_LAYERS[1:]:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-5 * float(b[name].abs().max()))
    _, pred = reference(
        conv, bn, np.transpose(ours[:, KERAS_FROM_OURS], (0, 2, 3, 1)), np.transpose(ours[:, :2], (0, 2, 3, 1))
    )
    with torch.no_grad():
        close(nhwc(loaded(x, y)), pred)


def _one_line_naming(exc, path):
    msg = str(exc.value)
    assert str(path) in msg and "\n" not in msg
    return msg


def test_errors_name_the_file(published, tmp_path):
    _, conv, bn, _ = published
    partial = dict(conv)
    del partial["conv4_1"]
    missing = write_keras(tmp_path / "missing.h5", partial, bn)
    with pytest.raises(InputError) as exc:
        read_keras_h5(missing)
    assert "conv4_1" in _one_line_naming(exc, missing)
    with pytest.raises(InputError) as exc:
        convert(missing, 2, 1)
    assert "conv4_1" in _one_line_naming(exc, missing)

    wrong = dict(conv)
    k, b = conv["conv3_1"]
    wrong["conv3_1"] = (np.zeros((5, 5) + k.shape[2:], np.float32), b)
    bad = write_keras(tmp_path / "shape.h5", wrong, bn)
    with pytest.raises(InputError) as exc:
        convert(bad, 2, 1)
    assert "conv3_1" in _one_line_naming(exc, bad)

    good = write_keras(tmp_path / "good.h5", conv, bn)
    with pytest.raises(InputError) as exc:  # yeast layout (1 structural) against a human file
        convert(good, 1, 1)
    assert "conv1_1" in _one_line_naming(exc, good)

    text = tmp_path / "model_weights.h5"
    text.write_text("not a model\n")
    for call in (lambda: read_keras_h5(text), lambda: convert(text, 2, 1)):
        with pytest.raises(InputError) as exc:
            call()
        assert "HDF5" in _one_line_naming(exc, text)
