"""The paper's published Keras weights (``model_weights.h5``) in our PyTorch network.

The reference code (``pair_model.py``) saves a Keras 2 functional model with ``model.save``.
Its layers map one to one onto ``model.network.PairedCellInpainting``:

=================  ==========================================================
Keras layer        our module
=================  ==========================================================
conv1_1..conv5_1   ``source.conv1..conv5`` (``.conv``; the BN after it: ``.bn``)
rfpconv1_1..3_1    ``target.net[0]``, ``[2]``, ``[4]`` (``.conv`` / ``.bn``)
conv6_1..conv10_1  ``decoder.net[0]``, ``[2]``, ``[4]``, ``[7]``, ``[10]``
y_gfp (1x1)        ``decoder.net[12]``
=================  ==========================================================

Batch-norm layers carry Keras's default names (``batch_normalization_N``). The layer feeding
each one is read from the file's ``model_config``; a weights-only file without it falls back
to creation order (the number in the name), which in the reference code is
conv1, conv2, rfpconv1, rfpconv2, conv3, conv4, conv5, rfpconv3.

Two differences from our network's conventions, handled in the conversion:

* channel order: the published source input is ``[protein..., structural...]`` (yeast GFP,
  RFP; human antibody, nucleus, microtubules), while our datasets list channels in any order
  (``roles``); conv1_1's input channels are permuted to ours. The target-marker input is the
  structural channels in their own order in both.
* batch-norm epsilon: Keras's default is 1e-3, torch's 1e-5. ``convert`` sets 1e-3 on our
  modules. ``train.load_model`` rebuilds modules with torch's default, so ``save_published``
  stores ``moving_variance + (1e-3 - 1e-5)`` as ``running_var``: in eval mode
  ``sqrt(var' + 1e-5) == sqrt(var + 1e-3)`` (to float32 rounding), so the saved model gives
  the published outputs through the unchanged ``load_model``. The config records both numbers.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pcinpaint.errors import InputError, listed, one_line
from pcinpaint.model.network import ConvReluBN, PairedCellInpainting
from pcinpaint.model.spec import SOURCE_FILTERS, ModelSpec

SOURCE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
TARGET_LAYERS = ("rfpconv1_1", "rfpconv2_1", "rfpconv3_1")
DECODER_LAYERS = ("conv6_1", "conv7_1", "conv8_1", "conv9_1", "conv10_1", "y_gfp")
CONV_LAYERS = SOURCE_LAYERS + TARGET_LAYERS + DECODER_LAYERS
#: the convolution each batch norm follows, in the order the reference code creates them
BN_CREATION_ORDER = ("conv1_1", "conv2_1", "rfpconv1_1", "rfpconv2_1", "conv3_1", "conv4_1", "conv5_1", "rfpconv3_1")
BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")
KERAS_BN_EPS = 1e-3  # keras.layers.BatchNormalization default
TORCH_BN_EPS = 1e-5  # nn.BatchNorm2d default, what load_model rebuilds


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _short(weight_name: str) -> str:
    """``conv1_1/kernel:0`` -> ``kernel`` (TF scopes and the output index dropped)."""
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _open(path: Path):
    try:
        import h5py
    except ImportError:
        raise InputError(f"{path}: reading Keras weights needs the h5py package, which is not installed") from None
    if not path.is_file():
        raise InputError(f"{path}: Keras weights file not found")
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not an HDF5 file (expected a Keras model_weights.h5)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: cannot open as HDF5: {one_line(exc)}") from None


def read_h5_layers(
    path: Path, layers: Collection[str] | None = None
) -> tuple[dict[str, dict[str, np.ndarray]], dict | None]:
    """All weights per layer (only ``layers`` where given, so unused weights stay on disk), and
    the parsed ``model_config`` (None in a weights-only file). Shared with the VGG16 baseline."""
    import h5py

    with _open(path) as f:
        config = _model_config(f, path)
        root = f["model_weights"] if "model_weights" in f else f  # model.save vs model.save_weights
        names = [_text(n) for n in root.attrs["layer_names"]] if "layer_names" in root.attrs else list(root)
        weights: dict[str, dict[str, np.ndarray]] = {}
        for name in names:
            if layers is not None and name not in layers:
                continue
            group = root.get(name)
            if not isinstance(group, h5py.Group):
                continue
            found = _layer_weights(group, name, path)
            if found:
                weights[name] = found
    return weights, config


def _model_config(f, path: Path) -> dict | None:
    """The file's parsed ``model_config`` attribute (None when absent): it says which layer feeds
    which, where a weights-only file leaves that to creation order."""
    if "model_config" not in f.attrs:
        return None
    try:
        return json.loads(_text(f.attrs["model_config"]))
    except ValueError:
        raise InputError(f"{path}: model_config attribute is not valid JSON") from None


def _layer_weights(group, name: str, path: Path) -> dict[str, np.ndarray]:
    """One layer's weights by short name: those its ``weight_names`` list, in that order, else
    every dataset under its group (files written without the list)."""
    import h5py

    found: dict[str, np.ndarray] = {}
    if "weight_names" in group.attrs:
        for wname in (_text(w) for w in group.attrs["weight_names"]):
            if wname not in group:
                raise InputError(f"{path}: layer '{name}' lists weight '{wname}' that is not in the file")
            found[_short(wname)] = np.asarray(group[wname])
        return found

    def collect(key, obj):
        if isinstance(obj, h5py.Dataset):
            found.setdefault(_short(key), np.asarray(obj))  # returns None: keep visiting

    group.visititems(collect)
    return found


def _bn_number(name: str) -> int:
    match = re.search(r"_(\d+)$", name)
    return int(match.group(1)) if match else 0


def _inbound(nodes) -> str | None:
    """The first inbound layer name in a Keras ``inbound_nodes`` entry (Keras 2 lists or Keras 3 dicts)."""
    if isinstance(nodes, dict):
        if "keras_history" in nodes:
            return nodes["keras_history"][0]
        items = nodes.values()
    elif isinstance(nodes, (list, tuple)):
        if nodes and isinstance(nodes[0], str):
            return nodes[0]
        items = nodes
    else:
        return None
    for item in items:
        found = _inbound(item)
        if found:
            return found
    return None


def _config_layers(config: dict | None) -> list[dict]:
    layers = (config or {}).get("config", {}).get("layers", [])
    return layers if isinstance(layers, list) else []


def _batch_norms(path: Path, weights: dict, config: dict | None) -> dict[str, tuple[str, float]]:
    """Conv layer -> (its batch-norm layer, that layer's epsilon)."""
    bns = [n for n, w in weights.items() if set(BN_WEIGHTS) <= set(w)]
    owners: dict[str, tuple[str, float]] = {}
    for layer in _config_layers(config):
        name = layer.get("name") or layer.get("config", {}).get("name")
        if name in bns:
            source = _inbound(layer.get("inbound_nodes", []))
            eps = float(layer.get("config", {}).get("epsilon", KERAS_BN_EPS))
            if source in owners:
                raise InputError(f"{path}: two batch-norm layers follow '{source}'")
            if source is not None:
                owners[source] = (name, eps)
    if not owners:  # weights-only file: creation order, from the number Keras gave each name
        if len(bns) != len(BN_CREATION_ORDER):
            raise InputError(
                f"{path}: {len(bns)} batch-norm layers, the published network has "
                f"{len(BN_CREATION_ORDER)}: {listed(bns)}"
            )
        ordered = sorted(bns, key=_bn_number)
        owners = {conv: (bn, KERAS_BN_EPS) for conv, bn in zip(BN_CREATION_ORDER, ordered)}
    extra = [c for c in owners if c not in BN_CREATION_ORDER]
    if extra:
        raise InputError(f"{path}: batch norm after {listed(extra)}, where the published network has none")
    missing = [c for c in BN_CREATION_ORDER if c not in owners]
    if missing:
        raise InputError(f"{path}: no batch-norm layer after {listed(missing)}")
    return owners


def _check_conv_config(path: Path, config: dict | None) -> None:
    """Where the file describes its layers, they must be the published 'same', stride-1 ones."""
    for layer in _config_layers(config):
        cfg = layer.get("config", {})
        name = layer.get("name") or cfg.get("name")
        if name not in CONV_LAYERS:
            continue
        want_act = "linear" if name == "y_gfp" else "relu"
        problems = []
        if cfg.get("padding", "same") != "same" and name != "y_gfp":
            problems.append(f"padding '{cfg['padding']}'")
        if tuple(cfg.get("strides", (1, 1))) != (1, 1):
            problems.append(f"strides {cfg['strides']}")
        if cfg.get("activation", want_act) != want_act:
            problems.append(f"activation '{cfg['activation']}'")
        if cfg.get("data_format", "channels_last") != "channels_last":
            problems.append(f"data_format '{cfg['data_format']}'")
        if problems:
            raise InputError(
                f"{path}: layer '{name}' has {', '.join(problems)}; the published network "
                f"has stride-1 'same' convolutions with {want_act} activation there"
            )


def read_keras_h5(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Layer name -> weight name (``kernel``, ``bias``, ``gamma``, ...) -> array.

    Reads both a full ``model.save`` file (weights under ``model_weights/``) and a
    ``save_weights`` file (weights at the root). Raises a one-line ``InputError`` naming the
    file when it is not HDF5 or lacks any layer of the published network.
    """
    path = Path(path)
    weights, _ = read_h5_layers(path)
    _require_layers(path, weights)
    return weights


def _require_layers(path: Path, weights: dict) -> None:
    missing = [n for n in CONV_LAYERS if n not in weights]
    if missing:
        raise InputError(
            f"{path}: missing {len(missing)} of {len(CONV_LAYERS)} published layers: {listed(missing)}"
            + ("" if weights else " (no layer weights in the file)")
        )
    no_bias = [n for n in CONV_LAYERS if not {"kernel", "bias"} <= set(weights[n])]
    if no_bias:
        raise InputError(f"{path}: layer(s) without kernel and bias: {listed(no_bias)}")
    not_4d = [f"{n} {weights[n]['kernel'].shape}" for n in CONV_LAYERS if weights[n]["kernel"].ndim != 4]
    if not_4d:
        raise InputError(f"{path}: conv kernels must be 4-D (height, width, in, out): {listed(not_4d, 2)}")


# --------------------------------------------------------------------------------------------
# Converting
# --------------------------------------------------------------------------------------------


def _targets(model: PairedCellInpainting) -> dict[str, nn.Module]:
    """Keras conv layer -> our module (ConvReluBN for encoder layers, Conv2d in the decoder)."""
    src = {k: getattr(model.source, f"conv{i + 1}") for i, k in enumerate(SOURCE_LAYERS)}
    tgt = dict(zip(TARGET_LAYERS, [m for m in model.target.net if isinstance(m, ConvReluBN)]))
    dec = dict(zip(DECODER_LAYERS, [m for m in model.decoder.net if isinstance(m, nn.Conv2d)]))
    return {**src, **tgt, **dec}


def _source_order(roles: Sequence[str] | None, n_structural: int, n_protein: int, path: Path) -> list[int]:
    """For each of our source channels, its index in the published input ``[protein..., structural...]``."""
    if roles is None:
        return list(range(n_protein + n_structural))
    roles = list(roles)
    if (
        roles.count("protein") != n_protein
        or roles.count("structural") != n_structural
        or len(roles) != n_protein + n_structural
    ):
        raise InputError(
            f"{path}: roles {roles} do not give {n_structural} structural and {n_protein} protein channels"
        )
    protein = iter(range(n_protein))
    structural = iter(range(n_protein, n_protein + n_structural))
    return [next(protein) if r == "protein" else next(structural) for r in roles]


def convert(
    path: str | Path, structural_channels: int, protein_channels: int, roles: Sequence[str] | None = None
) -> tuple[nn.Module, ModelSpec]:
    """Our ``PairedCellInpainting`` with the file's weights, in eval mode, and its spec.

    The width is conv1_1's filter count over the paper's 96; every other layer must then have
    the shape our network has at that width. ``roles`` (our channel order, e.g. the workflow's
    ``["structural", "protein"]``) permutes conv1_1's inputs from the published
    protein-first order; without it our model takes the published order. Batch norms use the
    file's epsilon (Keras default 1e-3).
    """
    path = Path(path)
    weights, config = read_h5_layers(path)
    _require_layers(path, weights)
    _check_conv_config(path, config)
    bns = _batch_norms(path, weights, config)
    n_filters = weights["conv1_1"]["kernel"].shape[-1]
    width = n_filters / SOURCE_FILTERS[0]
    spec = ModelSpec(
        n_channels=structural_channels + protein_channels,
        n_structural=structural_channels,
        n_protein=protein_channels,
        width=width,
    )
    model = PairedCellInpainting(spec)
    order = _source_order(roles, structural_channels, protein_channels, path)

    wrong: list[str] = []
    targets = _targets(model)
    for name in CONV_LAYERS:
        module = targets[name]
        conv = module.conv if isinstance(module, ConvReluBN) else module
        kernel = weights[name]["kernel"]
        if name == "conv1_1" and kernel.ndim == 4 and kernel.shape[2] == len(order):
            kernel = kernel[:, :, order, :]
        expected = tuple(conv.weight.shape[i] for i in (2, 3, 1, 0))  # OIHW -> HWIO
        if kernel.shape != expected:
            wrong.append(f"{name} kernel {tuple(weights[name]['kernel'].shape)} (expected {expected})")
            continue
        if weights[name]["bias"].shape != (conv.out_channels,):
            wrong.append(f"{name} bias {tuple(weights[name]['bias'].shape)} (expected {(conv.out_channels,)})")
            continue
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))).float())
            conv.bias.copy_(torch.from_numpy(weights[name]["bias"]).float())
        if isinstance(module, ConvReluBN):
            bn_name, eps = bns[name]
            bn_w = weights[bn_name]
            bad = [k for k in BN_WEIGHTS if bn_w[k].shape != (module.bn.num_features,)]
            if bad:
                wrong.append(
                    f"{bn_name} (after {name}) {bad[0]} {bn_w[bad[0]].shape} (expected {(module.bn.num_features,)})"
                )
                continue
            with torch.no_grad():
                module.bn.weight.copy_(torch.from_numpy(bn_w["gamma"]).float())
                module.bn.bias.copy_(torch.from_numpy(bn_w["beta"]).float())
                module.bn.running_mean.copy_(torch.from_numpy(bn_w["moving_mean"]).float())
                module.bn.running_var.copy_(torch.from_numpy(bn_w["moving_variance"]).float())
            module.bn.eps = eps
    if wrong:
        raise InputError(
            f"{path}: shapes disagree with the published network at width {width:g} "
            f"({structural_channels} structural, {protein_channels} protein channels): "
            f"{listed(wrong, 2)}"
        )
    return model.eval(), spec


def for_default_eps(model: PairedCellInpainting) -> PairedCellInpainting:
    """A copy whose batch norms use torch's default epsilon with the same eval-mode outputs:
    ``running_var + eps - 1e-5`` keeps ``running_var + eps`` (what ``load_model`` can rebuild)."""
    out = copy.deepcopy(model)
    for m in out.modules():
        if isinstance(m, nn.BatchNorm2d) and m.eps != TORCH_BN_EPS:
            with torch.no_grad():
                m.running_var.copy_(m.running_var.double() + (m.eps - TORCH_BN_EPS))
            m.eps = TORCH_BN_EPS
    return out


def save_published(
    path_h5: str | Path, out_path: str | Path, dataset_name: str, channels: Sequence[str], roles: Sequence[str]
) -> tuple[nn.Module, ModelSpec]:
    """Convert the published weights for a dataset's channel layout and save them with
    ``train.save_model``, so ``load_model`` and feature extraction use them like a trained model.

    The saved config holds ``published`` (the .h5 file name), the dataset's channels and roles,
    ``keras_bn_eps`` and ``running_var_offset`` (saved ``running_var`` = Keras
    ``moving_variance`` + offset, with torch's default epsilon).
    """
    from pcinpaint.model.train import save_model

    path_h5 = Path(path_h5)
    if len(channels) != len(roles):
        raise InputError(f"{path_h5}: {len(channels)} channel names for {len(roles)} roles")
    model, spec = convert(path_h5, list(roles).count("structural"), list(roles).count("protein"), roles)
    eps = {m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    keras_eps = eps.pop() if len(eps) == 1 else KERAS_BN_EPS
    save_model(
        for_default_eps(model),
        out_path,
        {
            "dataset": dataset_name,
            "channels": list(channels),
            "roles": list(roles),
            "published": path_h5.name,
            "keras_bn_eps": keras_eps,
            "running_var_offset": keras_eps - TORCH_BN_EPS,
        },
    )
    return model, spec
