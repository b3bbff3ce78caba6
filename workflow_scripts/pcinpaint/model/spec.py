"""The network's architecture as numbers: filter counts, encoder layer names, width.

Kept free of torch so that the rules' planning (which feature tables exist) and the analysis
environments, which never run a network, can name the encoder layers without importing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SOURCE_FILTERS = (96, 256, 384, 384, 256)
TARGET_FILTERS = (16, 32, 32)
DECODER_FILTERS = (256, 384, 384, 256, 96)
#: the source cell encoder's layers, whose activations are the single-cell features
ENCODER_LAYERS = tuple(f"conv{i}" for i in range(1, 6))


def scaled(filters: int, width: float) -> int:
    return max(1, int(round(filters * width)))


@dataclass(frozen=True)
class ModelSpec:
    """What a saved model needs to be rebuilt: channel layout and width."""

    n_channels: int  # all channels of a source cell
    n_structural: int  # structural markers (the target encoder's input)
    n_protein: int  # protein channels (the decoder's output)
    width: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)
