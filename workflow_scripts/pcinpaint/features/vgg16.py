"""The paper's transfer-learning baseline: ImageNet-pretrained VGG16 features of single cells.

Three ways to feed a crop to a network trained on RGB photographs (Lu et al. 2019):

* ``rgb``: the crop's channels mapped to red, green and blue (``rgb_mapping``: by default the
  protein channel is green and the structural channels fill red, then blue, in channel order;
  the config can name the channel for each colour, e.g. the HPA convention for human cells:
  microtubules red, protein green, nucleus blue). A colour with no channel is 0.
* ``concat``: every channel on its own as a greyscale image (copied into R, G and B), the
  representations concatenated over channels in channel order.
* ``protein``: the protein channel only, as a greyscale image.

Crops go in as stored, 64x64, not resized to ImageNet's 224x224: after four 2x2 poolings the
block5 maps are 4x4. Each of the 13 convolutions' ReLU output is max-pooled over space, one
vector per layer (Keras names, ``block1_conv1`` .. ``block5_conv3``; the paper reports
``block4_conv1``).

The 3-channel image is scaled the way the weights were trained (``INPUT_SCALINGS``):

* ``keras``, what the paper ran (Keras ``vgg16.preprocess_input``, "caffe" mode): the stored
  uint8 values as 0-255 floats, RGB reordered to BGR, the ImageNet means (103.939, 116.779,
  123.68) subtracted from B, G and R, no division.
* ``torchvision``: uint8 / 255, then ImageNet's per-colour mean (0.485, 0.456, 0.406) and
  standard deviation (0.229, 0.224, 0.225).

The network is defined here in plain torch (torchvision does not install beside the pinned
torch) with torchvision's module layout, and loads either weights file (``load_vgg16``):

* Keras (HDF5), the paper's: ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`` (58.9 MB,
  https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5;
  the with-top file works too, its dense layers ignored), or a whole-model ``model.save`` file.
  Converted in memory at load, like the published PCI weights: HWIO kernels to OIHW (Keras
  convolutions are cross-correlations like torch's, so no flip).
* torchvision: a state dict with keys ``features.N.weight`` / ``features.N.bias`` for N in 0,
  2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28 (``classifier.*`` keys are ignored). To get it,
  on any machine with torchvision::

    import torch, torchvision
    torch.save(torchvision.models.vgg16(weights="IMAGENET1K_V1").state_dict(), "vgg16.pt")

Keras weights expect Keras scaling and torchvision weights torchvision scaling: ``vgg16_input``
resolves the config's ``baselines.vgg16_input`` (``auto``: the file's format) and refuses a
mismatch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from pcinpaint.errors import InputError, listed, one_line
from pcinpaint.features.manifest import VGG16_LAYERS, VGG16_STRATEGIES, vgg16_name
from pcinpaint.features.table import collect_batches
from pcinpaint.model.devices import autocast_dtype
from pcinpaint.model.published import read_h5_layers

#: torchvision's VGG16 configuration "D": filters per convolution, "M" for a 2x2 max pooling
CFG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
CONV_LAYERS: tuple[str, ...] = VGG16_LAYERS  # Keras names, in network order
LAYER_SIZES: dict[str, int] = dict(zip(CONV_LAYERS, (c for c in CFG_D if c != "M")))
STRATEGIES = VGG16_STRATEGIES
COLOURS = ("red", "green", "blue")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Keras ``preprocess_input`` "caffe" mode: ImageNet means on the 0-255 scale, in B, G, R order
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
INPUT_SCALINGS = ("keras", "torchvision")
#: the ``baselines.vgg16_input`` settings: a scaling, or ``auto`` (the weights file's format)
INPUT_SETTINGS = ("auto",) + INPUT_SCALINGS
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _conv_indices() -> tuple[int, ...]:
    """Positions of the convolutions in torchvision's ``features`` Sequential."""
    out, i = [], 0
    for c in CFG_D:
        if c == "M":
            i += 1
        else:
            out.append(i)
            i += 2  # Conv2d, ReLU
    return tuple(out)


CONV_INDICES: tuple[int, ...] = _conv_indices()  # 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28


class VGG16Features(nn.Module):
    """VGG16's convolutional part, laid out as torchvision's ``vgg16().features``."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for c in CFG_D:
            if c == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=True)]
                cin = c
        self.features = nn.Sequential(*layers)
        # the ReLU after each convolution, by layer name
        self.relu_index = {name: i + 1 for name, i in zip(CONV_LAYERS, CONV_INDICES)}

    def forward(self, x: Tensor, layers: Iterable[str] | None = None) -> dict[str, Tensor]:
        """Per conv layer (all, or ``layers``), the spatial max of its ReLU output, (n, channels).

        Stops after the last layer asked for.
        """
        wanted = CONV_LAYERS if layers is None else tuple(layers)
        unknown = [name for name in wanted if name not in self.relu_index]
        if unknown:
            raise ValueError(f"unknown VGG16 layer(s) {unknown}; layers are {list(CONV_LAYERS)}")
        at_relu = {self.relu_index[name]: name for name in wanted}
        last = max(at_relu, default=-1)
        out = {}
        for i, module in enumerate(self.features):
            if i > last:
                break
            x = module(x)
            if i in at_relu:
                out[at_relu[i]] = torch.amax(x, dim=(2, 3))
        return {name: out[name] for name in CONV_LAYERS if name in out}


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def _shape(value) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else f"a {type(value).__name__}, not a tensor"


def _features_state(path: Path, obj) -> dict[str, Tensor]:
    """The convolution tensors of a loaded object, keyed as ``N.weight`` / ``N.bias``."""
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping) or not any(isinstance(v, Tensor) for v in obj.values()):
        kind = type(obj).__name__ if not isinstance(obj, Mapping) else "mapping without tensors"
        raise InputError(
            f"{path}: not a VGG16 state dict (got {kind}); save torchvision.models.vgg16(weights=...).state_dict()"
        )
    keys = [k for k in obj if isinstance(k, str)]
    if keys and all(k.startswith("module.") for k in keys):  # saved from DataParallel
        obj = {k[len("module.") :]: v for k, v in obj.items()}
        keys = list(obj)
    if any(k.startswith("features.") for k in keys):  # a whole torchvision VGG16; classifier.* ignored
        return {k[len("features.") :]: v for k, v in obj.items() if k.startswith("features.")}
    return {k: v for k, v in obj.items() if isinstance(k, str)}  # the features Sequential on its own


def _has_hdf5_signature(path: Path) -> bool:
    """HDF5's superblock signature at offset 0, or after a user block (512, 1024, 2048, ... bytes)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def weights_format(path: str | Path) -> str:
    """``"keras"`` for an HDF5 file (Keras weights), else ``"torchvision"`` (a torch state dict).

    Decided by the file's bytes, not its name: a ``.h5``/``.hdf5`` name without the HDF5
    signature is an error rather than a confusing torch.load failure.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: VGG16 weights file not found")
    if _has_hdf5_signature(path):
        return "keras"
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise InputError(f"{path}: named like Keras weights but not an HDF5 file (no HDF5 signature); truncated?")
    return "torchvision"


#: per format: how the file is described, and what its first convolution expects
_FORMATS = {
    "keras": ("Keras VGG16 weights (HDF5)", "Keras", "BGR 0-255 input"),
    "torchvision": ("a torchvision state dict", "torchvision", "RGB input normalised by ImageNet means and SDs"),
}


def vgg16_input(setting: str, path: str | Path) -> str:
    """The input scaling (``"keras"`` or ``"torchvision"``) for ``baselines.vgg16_input`` and a weights file.

    ``auto`` follows the file's format; a scaling named explicitly must match it, since each
    set of weights' first convolution expects its own input (a mismatch raises ``InputError``).
    """
    if setting not in INPUT_SETTINGS:
        raise ValueError(f"vgg16_input '{setting}': settings are {list(INPUT_SETTINGS)}")
    fmt = weights_format(path)
    if setting in ("auto", fmt):
        return fmt
    _, name, expects = _FORMATS[setting]
    raise InputError(
        f"{path}: baselines.vgg16_input is {setting} but the file is {_FORMATS[fmt][0]}; {name} input scaling "
        f"needs the {name} weights (their first convolution expects {expects}); set vgg16_input: auto or {fmt}"
    )


def load_vgg16(path: str | Path) -> VGG16Features:
    """VGG16's convolutions, in eval mode, from Keras (HDF5) or torchvision weights (``weights_format``).

    Problems raise a one-line ``InputError`` naming the file.
    """
    path = Path(path)
    if weights_format(path) == "keras":
        return _load_keras(path)
    return _load_torchvision(path)


#: Keras weight names, after the TF scope and output index are dropped: Keras 2
#: (``block1_conv1/kernel:0``) or Keras 1 (``block1_conv1_W_1:0``, the keras-applications file)
_KERNEL = re.compile(r"(?:^|_)(?:kernel|W)(?:_\d+)?$")
_BIAS = re.compile(r"(?:^|_)(?:bias|b)(?:_\d+)?$")


def _kernel_and_bias(path: Path, name: str, found: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    kernels = [k for k in found if _KERNEL.search(k)]
    biases = [k for k in found if _BIAS.search(k)]
    if len(kernels) != 1 or len(biases) != 1:
        raise InputError(
            f"{path}: layer '{name}' has weights {listed(sorted(found))}; expected one kernel and one bias"
        )
    return found[kernels[0]], found[biases[0]]


def _load_keras(path: Path) -> VGG16Features:
    """Keras VGG16 weights (``save_weights`` or ``model.save`` layout), converted HWIO -> OIHW.

    Dense layers of a with-top file are not read.
    """
    weights, _ = read_h5_layers(path, CONV_LAYERS)
    missing = [name for name in CONV_LAYERS if name not in weights]
    if missing:
        raise InputError(
            f"{path}: missing {len(missing)} of {len(CONV_LAYERS)} VGG16 conv layers: {listed(missing)}"
            + ("" if weights else " (no VGG16 layer weights in the file; is it Keras VGG16?)")
        )
    model = VGG16Features()
    state, wrong = {}, []
    for name, index in zip(CONV_LAYERS, CONV_INDICES):
        kernel, bias = _kernel_and_bias(path, name, weights[name])
        conv = model.features[index]
        expected = tuple(conv.weight.shape[i] for i in (2, 3, 1, 0))  # OIHW -> HWIO
        if kernel.shape != expected:
            wrong.append(f"{name} kernel {tuple(kernel.shape)} (expected {expected})")
        elif bias.shape != (conv.out_channels,):
            wrong.append(f"{name} bias {tuple(bias.shape)} (expected {(conv.out_channels,)})")
        else:
            state[f"{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))).float()
            state[f"{index}.bias"] = torch.from_numpy(np.asarray(bias)).float()
    if wrong:
        raise InputError(
            f"{path}: wrong shape for {listed(wrong, 2)}; "
            "expected the tf_dim_ordering file (kernels as height, width, in, out)"
        )
    model.features.load_state_dict(state)
    return model.eval()


def _load_torchvision(path: Path) -> VGG16Features:
    """VGG16's convolutions from a torchvision-format state dict.

    Accepts a full ``vgg16().state_dict()`` (``features.*`` keys; ``classifier.*`` ignored), the
    state dict of ``vgg16().features`` alone (``0.weight`` ...), or either held under
    ``"state_dict"`` or ``"model"``.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(
            f"{path}: cannot read as a torch state dict (torch.load with weights_only=True): {one_line(exc)}"
        ) from None
    state = _features_state(path, obj)
    model = VGG16Features()
    expected = model.features.state_dict()
    missing = [f"features.{k}" for k in expected if k not in state]
    if missing:
        raise InputError(f"{path}: missing {len(missing)} of {len(expected)} VGG16 conv tensors: {listed(missing)}")
    unexpected = [f"features.{k}" for k in state if k not in expected]
    if unexpected:
        raise InputError(
            f"{path}: unexpected keys for torchvision's vgg16 features (not plain VGG16, "
            f"e.g. vgg16_bn?): {listed(unexpected)}"
        )
    wrong = [
        f"features.{k} {_shape(state[k])} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if not isinstance(state[k], Tensor) or state[k].shape != v.shape
    ]
    if wrong:
        raise InputError(f"{path}: wrong tensor shape for {listed(wrong, 2)}")
    model.features.load_state_dict({k: state[k].float() for k in expected})
    return model.eval()


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def rgb_mapping(
    roles: Sequence[str], channel_names: Sequence[str], rgb: Mapping[str, str | None] | None = None
) -> tuple[int | None, int | None, int | None]:
    """Which crop channel feeds red, green and blue (None: that colour stays 0).

    Default: the first protein channel is green; structural channels fill red, then blue, in
    channel order. ``rgb`` ({"red": name, "green": name, "blue": name}, each optional, None or
    absent for no channel) replaces the default.
    """
    if len(roles) != len(channel_names):
        raise ValueError(f"{len(roles)} channel roles for {len(channel_names)} channel names")
    if rgb is None:
        structural = [i for i, r in enumerate(roles) if r == "structural"]
        protein = [i for i, r in enumerate(roles) if r == "protein"]
        red = structural[0] if structural else None
        blue = structural[1] if len(structural) > 1 else None
        green = protein[0] if protein else None
        return red, green, blue
    bad = [k for k in rgb if k not in COLOURS]
    if bad:
        raise ValueError(f"rgb: unknown colour(s) {bad}; colours are {list(COLOURS)}")
    out = []
    for colour in COLOURS:
        name = rgb.get(colour)
        if name is not None and name not in channel_names:
            raise ValueError(f"rgb.{colour}: unknown channel '{name}'; channels are {list(channel_names)}")
        out.append(None if name is None else list(channel_names).index(name))
    if all(i is None for i in out):
        raise ValueError("rgb: no channel mapped to any colour")
    return tuple(out)


def _check_scaling(scaling: str) -> None:
    if scaling not in INPUT_SCALINGS:
        raise ValueError(f"unknown input scaling '{scaling}'; scalings are {list(INPUT_SCALINGS)}")


def as_crops(raw: Tensor, scaling: str = "torchvision") -> Tensor:
    """Stored uint8 crops as the float crops a scaling starts from: / 255 for torchvision, the
    0-255 values themselves for keras (the paper's ``rint(img * 255)``, exact here)."""
    _check_scaling(scaling)
    crops = raw.float()
    return crops.div_(255.0) if scaling == "torchvision" else crops


def _normalise(x: Tensor) -> Tensor:
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def _caffe(x: Tensor) -> Tensor:
    """Keras ``preprocess_input`` "caffe" mode on RGB 0-255 input: BGR, ImageNet means subtracted."""
    mean = torch.tensor(CAFFE_MEAN_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x.flip(1) - mean


def _scaled(x: Tensor, scaling: str) -> Tensor:
    return _caffe(x) if scaling == "keras" else _normalise(x)


def _rgb_input(crops: Tensor, rgb: Sequence[int | None], scaling: str = "torchvision") -> Tensor:
    x = crops.new_zeros((crops.shape[0], 3) + tuple(crops.shape[2:]))
    for colour, channel in enumerate(rgb):
        if channel is not None:
            x[:, colour] = crops[:, channel]
    return _scaled(x, scaling)


def _grey_input(crops: Tensor, channel: int, scaling: str = "torchvision") -> Tensor:
    return _scaled(crops[:, channel : channel + 1].expand(-1, 3, -1, -1), scaling)


def _check_indices(n_channels: int, rgb: Sequence[int | None] | None, protein: int | None) -> None:
    if rgb is not None:
        if len(rgb) != 3 or any(c is not None and not 0 <= c < n_channels for c in rgb):
            raise ValueError(f"rgb {tuple(rgb)}: need three channel indices (or None) below {n_channels}")
    if protein is not None and not 0 <= protein < n_channels:
        raise ValueError(f"protein channel {protein} out of range for {n_channels} channels")


def strategy_inputs(
    crops: Tensor, strategy: str, rgb: Sequence[int | None], protein: int, input_scaling: str = "torchvision"
) -> list[Tensor]:
    """The scaled 3-channel network inputs of one strategy for crops (n, C, H, W).

    ``crops``: uint8 as stored, or floats already on the scaling's range (``as_crops``: [0, 1]
    for torchvision, 0-255 for keras). ``rgb``: one input; ``concat``: one per channel, in
    channel order; ``protein``: one.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy '{strategy}'; strategies are {list(STRATEGIES)}")
    _check_scaling(input_scaling)
    _check_indices(crops.shape[1], rgb if strategy == "rgb" else None, protein if strategy == "protein" else None)
    if crops.dtype == torch.uint8:
        crops = as_crops(crops, input_scaling)
    if strategy == "rgb":
        return [_rgb_input(crops, rgb, input_scaling)]
    if strategy == "concat":
        return [_grey_input(crops, c, input_scaling) for c in range(crops.shape[1])]
    return [_grey_input(crops, protein, input_scaling)]


# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------


def _resolve_channels(store, strategies, rgb, protein):
    """``rgb`` and ``protein`` from the crop store's channel metadata where not given."""
    needs_rgb, needs_protein = "rgb" in strategies and rgb is None, "protein" in strategies and protein is None
    if needs_rgb or needs_protein:
        attrs = getattr(store, "attrs", None) or {}
        roles, names = attrs.get("roles"), attrs.get("channels")
        if roles is None or names is None:
            raise ValueError("pass rgb and protein: the crops carry no channel names and roles")
        if needs_rgb:
            rgb = rgb_mapping(roles, names)
        if needs_protein:
            if "protein" not in roles:
                raise ValueError(f"no protein channel among the crop roles {list(roles)}")
            protein = list(roles).index("protein")
    return rgb, protein


@dataclass(frozen=True)
class VGG16Settings:
    """What ``vgg16_batches`` extracts and how: the input ``strategies`` and conv ``layers``, the
    channels behind them (``rgb``: a channel per colour; ``protein``: a channel index; None: from
    the store's channel roles), the ``input_scaling`` the weights expect, and the run's device,
    batch size, precision and progress bar."""

    strategies: Sequence[str] = STRATEGIES
    rgb: Sequence[int | None] | None = None
    protein: int | None = None
    layers: Sequence[str] = CONV_LAYERS
    input_scaling: str = "torchvision"
    device: torch.device | str = "cpu"
    batch_size: int = 128
    precision: str = "auto"
    progress: bool = False


@torch.no_grad()
def vgg16_batches(
    model: VGG16Features, store, settings: VGG16Settings = VGG16Settings()
) -> Iterator[dict[tuple[str, str], np.ndarray]]:
    """Per (strategy, layer), a float32 (cells, size) matrix, one batch of cells at a time in
    store order.

    ``store``: a ``CropStore`` or a uint8 array (n, C, H, W). ``rgb`` (channel per colour) and
    ``protein`` (channel index) default to the store's channel roles (``rgb_mapping``). Concat's
    size is ``LAYER_SIZES[layer] * C``. A channel shared by ``concat`` and ``protein`` goes
    through the network once. ``input_scaling`` must suit the weights (``vgg16_input``).
    """
    input_scaling, batch_size = settings.input_scaling, settings.batch_size
    strategies, layers, rgb, protein = settings.strategies, settings.layers, settings.rgb, settings.protein
    _check_scaling(input_scaling)
    strategies, layers, n, n_channels, rgb, protein = _checked(store, strategies, layers, rgb, protein)
    raw_of = store.raw if hasattr(store, "raw") else store.__getitem__

    # the distinct network inputs: "rgb" and one greyscale view per channel needed
    grey = list(range(n_channels)) if "concat" in strategies else []
    if "protein" in strategies and protein not in grey:
        grey.append(protein)
    views = (["rgb"] if "rgb" in strategies else []) + grey

    device = torch.device(settings.device)
    amp = autocast_dtype(device, settings.precision)
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    for at in tqdm(range(0, n, batch_size), desc="vgg16", disable=not settings.progress, mininterval=10):
        raw = torch.from_numpy(np.ascontiguousarray(raw_of(slice(at, at + batch_size)))).to(device, non_blocking=True)
        crops = as_crops(raw, input_scaling)
        pooled = {}
        for view in views:
            x = _rgb_input(crops, rgb, input_scaling) if view == "rgb" else _grey_input(crops, view, input_scaling)
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                result = model(x, layers)
            pooled[view] = {name: v.float().cpu().numpy() for name, v in result.items()}
        batch = {}
        for name in layers:
            if "rgb" in strategies:
                batch[("rgb", name)] = pooled["rgb"][name]
            if "protein" in strategies:
                batch[("protein", name)] = pooled[protein][name]
            if "concat" in strategies:
                batch[("concat", name)] = np.concatenate([pooled[c][name] for c in range(n_channels)], axis=1)
        yield batch


def table_sizes(
    n_channels: int, strategies: Sequence[str] = STRATEGIES, layers: Sequence[str] = CONV_LAYERS
) -> dict[tuple[str, str], int]:
    """Features per cell of each (strategy, layer) table."""
    return {
        (s, name): LAYER_SIZES[name] * (n_channels if s == "concat" else 1)
        for s in strategies
        for name in CONV_LAYERS
        if name in layers
    }


def _checked(store, strategies, layers, rgb, protein):
    strategies = tuple(strategies)
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad:
        raise ValueError(f"unknown strategy(ies) {bad}; strategies are {list(STRATEGIES)}")
    bad = [name for name in layers if name not in LAYER_SIZES]
    if bad:
        raise ValueError(f"unknown VGG16 layer(s) {bad}; layers are {list(CONV_LAYERS)}")
    layers = [name for name in CONV_LAYERS if name in layers]
    shape = tuple(store.shape)
    if len(shape) != 4:
        raise ValueError(f"crops must be (cells, channels, H, W), got shape {shape}")
    n, n_channels = shape[0], shape[1]
    rgb, protein = _resolve_channels(store, strategies, rgb, protein)
    _check_indices(n_channels, rgb if "rgb" in strategies else None, protein if "protein" in strategies else None)
    return strategies, layers, n, n_channels, rgb, protein


def vgg16_features(model: VGG16Features, store, strategies: Sequence[str] = STRATEGIES, **settings):
    """Every cell's (strategy, layer) matrices in memory (see ``vgg16_batches``; ``settings``:
    the other fields of ``VGG16Settings``; the rule streams them to its tables instead)."""
    chosen = VGG16Settings(strategies=strategies, **settings)
    sizes = table_sizes(tuple(store.shape)[1], tuple(strategies), chosen.layers)
    return collect_batches(vgg16_batches(model, store, chosen), sizes, len(store))


def feature_set_name(strategy: str, layer: str) -> str:
    """The feature set's name, e.g. ``vgg16_protein_block4_conv1``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy '{strategy}'; strategies are {list(STRATEGIES)}")
    if layer not in LAYER_SIZES:
        raise ValueError(f"unknown VGG16 layer '{layer}'; layers are {list(CONV_LAYERS)}")
    return vgg16_name(strategy, layer)
