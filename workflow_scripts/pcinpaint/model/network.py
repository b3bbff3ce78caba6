"""The paired cell inpainting network (Lu et al. 2019, Fig 1C) in plain PyTorch.

Source cell encoder (all channels of the source cell; AlexNet-like, 3x3 kernels):
conv1 96 -> pool -> conv2 256 -> pool -> conv3 384 -> conv4 384 -> conv5 256.
Target marker encoder (structural channels of the target cell): 16 -> pool -> 32 -> pool -> 32.
Both 16x16 maps are concatenated and decoded (no batch norm): 256, 384, 384, up 2x, 256,
up 2x, 96, then a 1x1 convolution to the protein channel(s) with a linear output.

Every encoder convolution is 3x3, same padding, ReLU, then batch norm, as the paper's
reference code. Features are taken from the ReLU output *before* batch norm (as the
reference did), max-pooled over space. ``width`` scales every filter count, for CPU demos.

The autoencoder baseline (``Autoencoder``) is the same source encoder and the same reversed
decoder without the target marker encoder, reconstructing every channel of the source cell:
the paper's control for what the pairing itself contributes.
"""

from __future__ import annotations

import torch
from torch import nn

from pcinpaint.model.spec import DECODER_FILTERS, ENCODER_LAYERS, SOURCE_FILTERS, TARGET_FILTERS, ModelSpec, scaled


class ConvReluBN(nn.Module):
    """3x3 same convolution, ReLU, batch norm; keeps the ReLU output for feature extraction."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.relu = nn.ReLU(inplace=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.relu(self.conv(x)))


class SourceEncoder(nn.Module):
    """AlexNet-style encoder of a whole source cell; its layers give the single-cell features."""

    def __init__(self, n_channels: int, width: float = 1.0):
        super().__init__()
        f = [scaled(c, width) for c in SOURCE_FILTERS]
        self.conv1 = ConvReluBN(n_channels, f[0])
        self.conv2 = ConvReluBN(f[0], f[1])
        self.conv3 = ConvReluBN(f[1], f[2])
        self.conv4 = ConvReluBN(f[2], f[3])
        self.conv5 = ConvReluBN(f[3], f[4])
        self.pool = nn.MaxPool2d(2)
        self.out_channels = f[4]
        self.layer_sizes = dict(zip(ENCODER_LAYERS, f))

    def forward(self, x, features: bool = False):
        """The 16x16 encoding; with ``features=True`` also each layer's spatial max of ReLU output."""
        pooled = {}
        for name in ENCODER_LAYERS:
            block = getattr(self, name)
            act = block.relu(block.conv(x))
            if features:
                pooled[name] = torch.amax(act, dim=(2, 3))
            x = block.bn(act)
            if name in ("conv1", "conv2"):
                x = self.pool(x)
        return (x, pooled) if features else x


class TargetMarkerEncoder(nn.Module):
    def __init__(self, n_structural: int, width: float = 1.0):
        super().__init__()
        f = [scaled(c, width) for c in TARGET_FILTERS]
        self.net = nn.Sequential(
            ConvReluBN(n_structural, f[0]),
            nn.MaxPool2d(2),
            ConvReluBN(f[0], f[1]),
            nn.MaxPool2d(2),
            ConvReluBN(f[1], f[2]),
        )
        self.out_channels = f[2]

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    """The reversed AlexNet: no batch norm, linear 1x1 output to the protein channel(s)."""

    def __init__(self, cin: int, n_protein: int, width: float = 1.0):
        super().__init__()
        f = [scaled(c, width) for c in DECODER_FILTERS]

        def conv(a, b):
            return [nn.Conv2d(a, b, 3, padding=1), nn.ReLU()]

        self.net = nn.Sequential(
            *conv(cin, f[0]),
            *conv(f[0], f[1]),
            *conv(f[1], f[2]),
            nn.Upsample(scale_factor=2, mode="nearest"),
            *conv(f[2], f[3]),
            nn.Upsample(scale_factor=2, mode="nearest"),
            *conv(f[3], f[4]),
            nn.Conv2d(f[4], n_protein, 1),
        )

    def forward(self, x):
        return self.net(x)


class PairedCellInpainting(nn.Module):
    """Predicts the target cell's protein from (source cell, target cell's structural markers)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.source = SourceEncoder(spec.n_channels, spec.width)
        self.target = TargetMarkerEncoder(spec.n_structural, spec.width)
        self.decoder = Decoder(self.source.out_channels + self.target.out_channels, spec.n_protein, spec.width)

    def forward(self, source_cell, target_markers):
        z = torch.cat([self.source(source_cell), self.target(target_markers)], dim=1)
        return self.decoder(z)


class Autoencoder(nn.Module):
    """Reconstructs the source cell's channels from its own encoding (no pairs, no target cell)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.source = SourceEncoder(spec.n_channels, spec.width)
        self.decoder = Decoder(self.source.out_channels, spec.n_channels, spec.width)

    def forward(self, source_cell):
        return self.decoder(self.source(source_cell))


#: network class per training objective, as recorded in saved models
NETWORKS = {"pci": PairedCellInpainting, "autoencoder": Autoencoder}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
