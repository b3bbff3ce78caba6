"""The network of Fig 1C: layer shapes, parameter count, and where features are taken."""

import pytest
import torch

from pcinpaint.model.network import PairedCellInpainting, count_parameters
from pcinpaint.model.spec import ENCODER_LAYERS, ModelSpec


def test_width_one_model_matches_the_paper():
    model = PairedCellInpainting(ModelSpec(n_channels=3, n_structural=2, n_protein=1, width=1.0))
    n = count_parameters(model)
    assert 7_250_000 < n < 7_400_000  # "about 7.3M parameters"
    assert n == 7_321_617
    assert [getattr(model.source, layer).conv.out_channels for layer in ENCODER_LAYERS] == [96, 256, 384, 384, 256]
    assert [m.conv.out_channels for m in model.target.net if hasattr(m, "conv")] == [16, 32, 32]
    convs = [m for m in model.decoder.net if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [256, 384, 384, 256, 96, 1]
    assert convs[-1].kernel_size == (1, 1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.decoder.modules())


@pytest.mark.parametrize("spec", [ModelSpec(3, 2, 1, 0.25), ModelSpec(2, 1, 1, 0.5)])
def test_shapes_through_the_network(spec):
    model = PairedCellInpainting(spec).eval()
    source = torch.rand(4, spec.n_channels, 64, 64)
    markers = torch.rand(4, spec.n_structural, 64, 64)
    assert model.source(source).shape == (4, model.source.out_channels, 16, 16)
    assert model.target(markers).shape == (4, model.target.out_channels, 16, 16)
    assert model(source, markers).shape == (4, spec.n_protein, 64, 64)
    _, pooled = model.source(source, features=True)
    assert {k: v.shape for k, v in pooled.items()} == {k: (4, s) for k, s in model.source.layer_sizes.items()}


def test_features_are_relu_outputs_before_batch_norm_max_pooled():
    torch.manual_seed(0)
    model = PairedCellInpainting(ModelSpec(3, 2, 1, 0.25)).eval()
    for m in model.modules():  # non-trivial batch-norm statistics, so before/after BN differ
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = torch.rand(2, 3, 64, 64)
    _, pooled = model.source(x, features=True)
    conv1 = model.source.conv1
    expected = torch.relu(conv1.conv(x)).amax(dim=(2, 3))
    torch.testing.assert_close(pooled["conv1"], expected)
    h = torch.nn.functional.max_pool2d(conv1.bn(torch.relu(conv1.conv(x))), 2)
    expected2 = torch.relu(model.source.conv2.conv(h)).amax(dim=(2, 3))
    torch.testing.assert_close(pooled["conv2"], expected2)
