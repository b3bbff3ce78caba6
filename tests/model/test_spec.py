"""The network's architecture as numbers (``pcinpaint.model.spec``): widths scale every layer,
a saved spec rebuilds the same model, and planning can name the layers without torch."""

import dataclasses
import subprocess
import sys

import pytest

from pcinpaint.model.network import SourceEncoder
from pcinpaint.model.spec import DECODER_FILTERS, ENCODER_LAYERS, SOURCE_FILTERS, TARGET_FILTERS, ModelSpec, scaled


def test_the_encoder_layers_are_conv1_to_conv5_of_the_source_filters():
    assert ENCODER_LAYERS == ("conv1", "conv2", "conv3", "conv4", "conv5")
    assert len(SOURCE_FILTERS) == len(ENCODER_LAYERS)
    assert DECODER_FILTERS == SOURCE_FILTERS[::-1]  # the decoder mirrors the source encoder
    assert len(TARGET_FILTERS) == 3


@pytest.mark.parametrize(
    ("filters", "width", "expected"),
    [(96, 1.0, 96), (96, 0.25, 24), (256, 0.125, 32), (16, 0.03, 1), (16, 0.0, 1), (384, 1.5, 576), (5, 0.5, 2)],
)
def test_scaled_rounds_to_the_nearest_count_and_keeps_at_least_one(filters, width, expected):
    assert scaled(filters, width) == expected


def test_the_encoders_layer_sizes_follow_the_spec():
    encoder = SourceEncoder(n_channels=3, width=0.125)
    assert encoder.layer_sizes == {name: scaled(f, 0.125) for name, f in zip(ENCODER_LAYERS, SOURCE_FILTERS)}
    assert encoder.out_channels == scaled(SOURCE_FILTERS[-1], 0.125)


def test_a_spec_round_trips_through_its_dict_and_is_frozen():
    spec = ModelSpec(n_channels=3, n_structural=2, n_protein=1, width=0.5)
    assert spec.to_dict() == {"n_channels": 3, "n_structural": 2, "n_protein": 1, "width": 0.5}
    assert ModelSpec(**spec.to_dict()) == spec
    assert ModelSpec(3, 2, 1).width == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.width = 1.0


def test_the_spec_imports_without_torch():
    code = "import sys, pcinpaint.model.spec; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
