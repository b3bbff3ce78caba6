"""Keras files written with h5py: ``model.save`` files in the layout of the paper's published
weights, and Keras's ImageNet VGG16 weight files.

Shared by the conversion tests and the end-to-end runs that score a labelled set with them.
"""

import json
from dataclasses import dataclass

import h5py
import numpy as np

from pcinpaint.features.manifest import VGG16_LAYERS
from pcinpaint.features.vgg16 import LAYER_SIZES

SRC = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
TGT = ("rfpconv1_1", "rfpconv2_1", "rfpconv3_1")
DEC = ("conv6_1", "conv7_1", "conv8_1", "conv9_1", "conv10_1")
BN_ORDER = ("conv1_1", "conv2_1", "rfpconv1_1", "rfpconv2_1", "conv3_1", "conv4_1", "conv5_1", "rfpconv3_1")
PAPER = dict(zip(SRC + TGT + DEC, (96, 256, 384, 384, 256, 16, 32, 32, 256, 384, 384, 256, 96)))
HUMAN_ROLES = ("structural", "structural", "protein")  # our channel order; Keras takes protein first
KERAS_FROM_OURS = [2, 0, 1]


def published_arrays(conv1_filters, n_source=3, n_structural=2, n_protein=1, seed=0):
    """Seeded weights with the published layer shapes at conv1_1 = ``conv1_filters``."""
    rng = np.random.default_rng(seed)
    f = {k: max(1, int(round(v * conv1_filters / 96))) for k, v in PAPER.items()}
    cin = dict(
        zip(
            SRC + TGT + DEC,
            (
                n_source,
                f["conv1_1"],
                f["conv2_1"],
                f["conv3_1"],
                f["conv4_1"],
                n_structural,
                f["rfpconv1_1"],
                f["rfpconv2_1"],
                f["conv5_1"] + f["rfpconv3_1"],
                f["conv6_1"],
                f["conv7_1"],
                f["conv8_1"],
                f["conv9_1"],
            ),
        )
    )
    conv = {}
    for name in SRC + TGT + DEC:
        k = rng.normal(0, np.sqrt(2 / (9 * cin[name])), (3, 3, cin[name], f[name])).astype(np.float32)
        conv[name] = (k, rng.normal(0, 0.05, f[name]).astype(np.float32))
    conv["y_gfp"] = (
        rng.normal(0, 0.3, (1, 1, f["conv10_1"], n_protein)).astype(np.float32),
        rng.normal(0, 0.05, n_protein).astype(np.float32),
    )
    bn = {}
    for name in BN_ORDER:
        n = f[name]
        bn[name] = (
            rng.uniform(0.5, 1.5, n),
            rng.normal(0, 0.1, n),
            rng.uniform(0, 0.5, n),
            rng.uniform(1e-4, 2, n),
        )  # small variances make the epsilon matter
        bn[name] = tuple(a.astype(np.float32) for a in bn[name])
    return conv, bn


@dataclass(frozen=True)
class KerasLayout:
    """How a ``model.save`` file is laid out: the batch norms' names (conv layer -> name; None:
    numbered in ``BN_ORDER``), whether it holds the model config, whether the weights sit at the
    root (a weights-only save) rather than under ``model_weights``, and whether each layer lists
    its ``weight_names``."""

    bn_names: dict | None = None
    with_config: bool = True
    at_root: bool = False
    weight_names: bool = True


def _keras_layers(conv, bn, bn_names) -> list:
    """(name, class, layer config, inbound layer, [(weight, array)]) per layer, in model order."""
    layers = [("x_in", "InputLayer", {}, None, []), ("y_rfp", "InputLayer", {}, None, [])]
    for name, (k, b) in conv.items():
        act = "linear" if name == "y_gfp" else "relu"
        pad = "valid" if name == "y_gfp" else "same"
        layers.append(
            (
                name,
                "Conv2D",
                dict(padding=pad, strides=[1, 1], activation=act, data_format="channels_last"),
                "?",
                [("kernel", k), ("bias", b)],
            )
        )
        if name in bn:
            layers.append(
                (
                    bn_names[name],
                    "BatchNormalization",
                    dict(epsilon=0.001, axis=-1),
                    name,
                    list(zip(("gamma", "beta", "moving_mean", "moving_variance"), bn[name])),
                )
            )
    return layers


def _model_config(layers) -> bytes:
    """The ``model_config`` attribute: each layer's class, config and inbound node."""
    cfg = {
        "class_name": "Model",
        "config": {
            "name": "model_1",
            "layers": [
                {
                    "name": n,
                    "class_name": c,
                    "config": dict(name=n, **lc),
                    "inbound_nodes": [] if src is None else [[[src, 0, 0, {}]]],
                }
                for n, c, lc, src, _ in layers
            ],
        },
    }
    return json.dumps(cfg).encode()


def write_keras(path, conv, bn, layout: KerasLayout | None = None):
    """``conv``: layer -> (kernel, bias); ``bn``: conv layer -> (gamma, beta, mean, var) of the BN
    after it; ``layout``: how the file is laid out (default ``KerasLayout()``, a full model save)."""
    layout = layout or KerasLayout()
    bn_names = layout.bn_names or {c: f"batch_normalization_{i + 1}" for i, c in enumerate(BN_ORDER)}
    layers = _keras_layers(conv, bn, bn_names)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.1.6-tf"
        f.attrs["backend"] = b"tensorflow"
        if layout.with_config:
            f.attrs["model_config"] = _model_config(layers)
        root = f if layout.at_root else f.create_group("model_weights")
        root.attrs["layer_names"] = np.array([n.encode() for n, *_ in layers])
        for name, _, _, _, weights in layers:
            g = root.create_group(name)
            if layout.weight_names:
                g.attrs["weight_names"] = np.array([f"{name}/{w}:0".encode() for w, _ in weights], dtype="S")
            for w, a in weights:
                g.create_dataset(f"{name}/{w}:0", data=a)
    return path


# --------------------------------------------------------------------------------------------
# Keras's ImageNet VGG16 (keras.applications' weight files)
# --------------------------------------------------------------------------------------------

VGG16_OUT = tuple(LAYER_SIZES[name] for name in VGG16_LAYERS)
VGG16_IN = (3,) + VGG16_OUT[:-1]


def vgg16_keras_arrays(seed=0):
    """Seeded weights of the true VGG16 shapes in Keras's layout: layer -> (HWIO kernel, bias)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, cin, cout in zip(VGG16_LAYERS, VGG16_IN, VGG16_OUT):
        kernel = rng.standard_normal((3, 3, cin, cout), dtype=np.float32) * np.float32(np.sqrt(2 / (9 * cin)))
        out[name] = (kernel, rng.standard_normal(cout, dtype=np.float32) * np.float32(0.1))
    return out


def write_vgg16_keras(path, kernels, naming="keras2", whole_model=False, skip=()):
    """A Keras VGG16 weights file as keras.applications ships it (``save_weights`` layout, pooling
    layers without weights, Keras 1 or 2 weight names) or as ``model.save`` writes it."""
    layer_names = ["input_1"]
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if whole_model else f
        for block in range(1, 6):
            convs = [n for n in VGG16_LAYERS if n.startswith(f"block{block}_")]
            for name in convs + [f"block{block}_pool"]:
                layer_names.append(name)
                group = root.create_group(name)
                if name not in kernels or name in skip:
                    group.attrs["weight_names"] = np.array([], dtype="S1")
                    continue
                if naming == "keras1":
                    names = [f"{name}_W_1:0", f"{name}_b_1:0"]
                else:
                    names = [f"{name}/kernel:0", f"{name}/bias:0"]
                group.attrs["weight_names"] = np.array([n.encode() for n in names])
                for wname, value in zip(names, kernels[name]):
                    group.create_dataset(wname, data=value)  # "a/b:0" makes the nested group a
        root.attrs["layer_names"] = np.array([n.encode() for n in layer_names])
        if whole_model:
            f.attrs["model_config"] = '{"class_name": "Functional", "config": {"layers": []}}'
    return path
