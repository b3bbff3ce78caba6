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
block5 maps are 4x4. Pixels are uint8 / 255, then normalised with ImageNet's per-colour mean
(0.485, 0.456, 0.406) and standard deviation (0.229, 0.224, 0.225). Each of the 13 convolutions'
ReLU output is max-pooled over space, one vector per layer (Keras names, ``block1_conv1`` ..
``block5_conv3``; the paper reports ``block4_conv1``).

torchvision does not install beside the pinned torch, so the convolutional part is defined here
in plain torch with torchvision's module layout: a weights file holds the keys
``features.N.weight`` / ``features.N.bias`` for N in 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24,
26, 28 (``classifier.*`` keys are ignored). To get it, on any machine with torchvision::

    import torch, torchvision
    torch.save(torchvision.models.vgg16(weights="IMAGENET1K_V1").state_dict(), "vgg16.pt")
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from pcinpaint.errors import InputError, one_line
from pcinpaint.features.manifest import VGG16_LAYERS, VGG16_STRATEGIES, vgg16_name
from pcinpaint.features.table import collect_batches
from pcinpaint.model.devices import autocast_dtype

#: torchvision's VGG16 configuration "D": filters per convolution, "M" for a 2x2 max pooling
CFG_D = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
CONV_LAYERS: tuple[str, ...] = VGG16_LAYERS  # Keras names, in network order
LAYER_SIZES: dict[str, int] = dict(zip(CONV_LAYERS, (c for c in CFG_D if c != "M")))
STRATEGIES = VGG16_STRATEGIES
COLOURS = ("red", "green", "blue")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


def _listed(keys: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


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


def load_vgg16(path: str | Path) -> VGG16Features:
    """VGG16's convolutions from a torchvision-format state dict, in eval mode.

    Accepts a full ``vgg16().state_dict()`` (``features.*`` keys; ``classifier.*`` ignored), the
    state dict of ``vgg16().features`` alone (``0.weight`` ...), or either held under
    ``"state_dict"`` or ``"model"``. Problems raise a one-line ``InputError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: VGG16 weights file not found")
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
        raise InputError(f"{path}: missing {len(missing)} of {len(expected)} VGG16 conv tensors: {_listed(missing)}")
    unexpected = [f"features.{k}" for k in state if k not in expected]
    if unexpected:
        raise InputError(
            f"{path}: unexpected keys for torchvision's vgg16 features (not plain VGG16, "
            f"e.g. vgg16_bn?): {_listed(unexpected)}"
        )
    wrong = [
        f"features.{k} {_shape(state[k])} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if not isinstance(state[k], Tensor) or state[k].shape != v.shape
    ]
    if wrong:
        raise InputError(f"{path}: wrong tensor shape for {_listed(wrong, 2)}")
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


def _normalise(x: Tensor) -> Tensor:
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def _rgb_input(crops: Tensor, rgb: Sequence[int | None]) -> Tensor:
    x = crops.new_zeros((crops.shape[0], 3) + tuple(crops.shape[2:]))
    for colour, channel in enumerate(rgb):
        if channel is not None:
            x[:, colour] = crops[:, channel]
    return _normalise(x)


def _grey_input(crops: Tensor, channel: int) -> Tensor:
    return _normalise(crops[:, channel : channel + 1].expand(-1, 3, -1, -1))


def _check_indices(n_channels: int, rgb: Sequence[int | None] | None, protein: int | None) -> None:
    if rgb is not None:
        if len(rgb) != 3 or any(c is not None and not 0 <= c < n_channels for c in rgb):
            raise ValueError(f"rgb {tuple(rgb)}: need three channel indices (or None) below {n_channels}")
    if protein is not None and not 0 <= protein < n_channels:
        raise ValueError(f"protein channel {protein} out of range for {n_channels} channels")


def strategy_inputs(crops: Tensor, strategy: str, rgb: Sequence[int | None], protein: int) -> list[Tensor]:
    """The ImageNet-normalised 3-channel inputs of one strategy for float crops (n, C, H, W) in [0, 1].

    ``rgb``: one input; ``concat``: one per channel, in channel order; ``protein``: one.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy '{strategy}'; strategies are {list(STRATEGIES)}")
    _check_indices(crops.shape[1], rgb if strategy == "rgb" else None, protein if strategy == "protein" else None)
    if strategy == "rgb":
        return [_rgb_input(crops, rgb)]
    if strategy == "concat":
        return [_grey_input(crops, c) for c in range(crops.shape[1])]
    return [_grey_input(crops, protein)]


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


@torch.no_grad()
def vgg16_batches(
    model: VGG16Features,
    store,
    strategies: Sequence[str] = STRATEGIES,
    rgb: Sequence[int | None] | None = None,
    protein: int | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 128,
    precision: str = "auto",
    progress: bool = False,
    layers: Sequence[str] = CONV_LAYERS,
) -> Iterator[dict[tuple[str, str], np.ndarray]]:
    """Per (strategy, layer), a float32 (cells, size) matrix, one batch of cells at a time in
    store order.

    ``store``: a ``CropStore`` or a uint8 array (n, C, H, W). ``rgb`` (channel per colour) and
    ``protein`` (channel index) default to the store's channel roles (``rgb_mapping``). Concat's
    size is ``LAYER_SIZES[layer] * C``. A channel shared by ``concat`` and ``protein`` goes
    through the network once.
    """
    strategies, layers, n, n_channels, rgb, protein = _checked(store, strategies, layers, rgb, protein)
    raw_of = store.raw if hasattr(store, "raw") else store.__getitem__

    # the distinct network inputs: "rgb" and one greyscale view per channel needed
    grey = list(range(n_channels)) if "concat" in strategies else []
    if "protein" in strategies and protein not in grey:
        grey.append(protein)
    views = (["rgb"] if "rgb" in strategies else []) + grey

    device = torch.device(device)
    amp = autocast_dtype(device, precision)
    model = model.to(device).to(memory_format=torch.channels_last).eval()
    for at in tqdm(range(0, n, batch_size), desc="vgg16", disable=not progress, mininterval=10):
        raw = torch.from_numpy(np.ascontiguousarray(raw_of(slice(at, at + batch_size)))).to(device, non_blocking=True)
        crops = raw.float().div_(255.0)
        pooled = {}
        for view in views:
            x = _rgb_input(crops, rgb) if view == "rgb" else _grey_input(crops, view)
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


def vgg16_features(model: VGG16Features, store, strategies: Sequence[str] = STRATEGIES, **kwargs):
    """Every cell's (strategy, layer) matrices in memory (see ``vgg16_batches``; the rule
    streams them to its tables instead)."""
    layers = kwargs.get("layers", CONV_LAYERS)
    sizes = table_sizes(tuple(store.shape)[1], tuple(strategies), layers)
    return collect_batches(vgg16_batches(model, store, strategies, **kwargs), sizes, len(store))


def feature_set_name(strategy: str, layer: str) -> str:
    """The feature set's name, e.g. ``vgg16_protein_block4_conv1``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy '{strategy}'; strategies are {list(STRATEGIES)}")
    if layer not in LAYER_SIZES:
        raise ValueError(f"unknown VGG16 layer '{layer}'; layers are {list(CONV_LAYERS)}")
    return vgg16_name(strategy, layer)
