"""VGG16 baseline: torchvision key layout, loading torchvision and Keras weights and their errors,
the input format and scaling settings, the three input strategies with either scaling, features
checked against an independent conv/ReLU/pool reference."""

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from keras_files import vgg16_keras_arrays, write_vgg16_keras

from pcinpaint.crops.store import open_crop_store, write_crop_store
from pcinpaint.errors import InputError
from pcinpaint.features.vgg16 import (
    CONV_LAYERS,
    LAYER_SIZES,
    STRATEGIES,
    VGG16Features,
    feature_set_name,
    load_vgg16,
    rgb_mapping,
    strategy_inputs,
    vgg16_features,
    vgg16_input,
    weights_format,
)

TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
CAFFE_BGR = np.array([103.939, 116.779, 123.68], np.float32).reshape(1, 3, 1, 1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VGG16Features().eval()


@pytest.fixture(scope="module")
def weights_file(model, tmp_path_factory):
    """A full torchvision-style state dict: features.* plus a (dummy) classifier."""
    path = tmp_path_factory.mktemp("vgg") / "vgg16.pt"
    torch.save({**model.state_dict(), "classifier.0.weight": torch.zeros(2, 2)}, path)
    return path


def _crops(n=5, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, c, 64, 64), dtype=np.uint8)


def _reference(model, x):
    """Per layer, spatial max of ReLU(conv), written out block by block from VGG16's definition."""
    convs = [model.features[i] for i in TORCHVISION_CONV_INDICES]
    return _reference_from([(c.weight, c.bias) for c in convs], x)


def _reference_from(convs, x):
    """``_reference`` for a list of (OIHW weight, bias) tensors."""
    out, k = {}, 0
    for n_convs in (2, 2, 3, 3, 3):
        for _ in range(n_convs):
            x = F.relu(F.conv2d(x, convs[k][0], convs[k][1], padding=1))
            out[CONV_LAYERS[k]] = x.amax(dim=(2, 3)).numpy()
            k += 1
        x = F.max_pool2d(x, 2)
    return out


def test_key_layout_is_torchvisions(model):
    expected = {f"features.{i}.{p}" for i in TORCHVISION_CONV_INDICES for p in ("weight", "bias")}
    assert set(model.state_dict()) == expected
    assert [LAYER_SIZES[name] for name in CONV_LAYERS] == [64, 64, 128, 128, 256, 256, 256] + [512] * 6
    assert model.features[28].weight.shape == (512, 512, 3, 3) and model.features[0].weight.shape == (64, 3, 3, 3)
    assert (
        CONV_LAYERS[7] == "block4_conv1" and feature_set_name("protein", "block4_conv1") == "vgg16_protein_block4_conv1"
    )
    with pytest.raises(ValueError):
        feature_set_name("grey", "block4_conv1")


def test_load_full_torchvision_state_dict(model, weights_file):
    loaded = load_vgg16(weights_file)
    assert not loaded.training
    reference = model.state_dict()
    assert set(loaded.state_dict()) == set(reference)
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, reference[key]), key


def test_load_wrapped_and_features_only(model, tmp_path):
    state = model.state_dict()
    variants = {
        "wrapped.pt": {"state_dict": state, "epoch": 3},
        "features_only.pt": model.features.state_dict(),  # keys 0.weight, 0.bias, ...
    }
    for name, obj in variants.items():
        torch.save(obj, tmp_path / name)
        loaded = load_vgg16(tmp_path / name)
        assert torch.equal(loaded.features[24].weight, state["features.24.weight"]), name


def _input_error(path) -> str:
    with pytest.raises(InputError) as info:
        load_vgg16(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_load_errors_are_one_line_and_name_the_file(model, tmp_path):
    assert "not found" in _input_error(tmp_path / "absent.pt")

    (tmp_path / "text.pt").write_text("not a torch file\n")
    assert "cannot read" in _input_error(tmp_path / "text.pt")

    torch.save([1, 2, 3], tmp_path / "list.pt")
    assert "not a VGG16 state dict" in _input_error(tmp_path / "list.pt")

    state = model.state_dict()
    torch.save({k: v for k, v in state.items() if not k.startswith("features.28.")}, tmp_path / "short.pt")
    message = _input_error(tmp_path / "short.pt")
    assert "missing 2 of 26" in message and "features.28.weight" in message

    bad = dict(state)
    bad["features.10.weight"] = torch.zeros(256, 3, 3, 3)
    torch.save(bad, tmp_path / "shape.pt")
    message = _input_error(tmp_path / "shape.pt")
    assert "features.10.weight" in message and "(256, 3, 3, 3)" in message and "(256, 128, 3, 3)" in message


def test_rgb_mapping_defaults_and_overrides():
    human = (["structural", "structural", "protein"], ["nucleus", "microtubules", "stain"])
    assert rgb_mapping(*human) == (0, 2, 1)
    assert rgb_mapping(["structural", "protein"], ["rfp", "gfp"]) == (0, 1, None)
    hpa = {"red": "microtubules", "green": "stain", "blue": "nucleus"}
    assert rgb_mapping(*human, rgb=hpa) == (1, 2, 0)
    assert rgb_mapping(*human, rgb={"green": "stain", "blue": None}) == (None, 2, None)
    with pytest.raises(ValueError) as info:
        rgb_mapping(*human, rgb={"red": "tubulin"})
    assert "tubulin" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError):
        rgb_mapping(*human, rgb={"purple": "stain"})


def test_strategy_inputs_normalise_and_map_colours():
    crops = torch.from_numpy(_crops(2, 3).astype(np.float32) / 255)
    (rgb,) = strategy_inputs(crops, "rgb", (2, None, 0), protein=1)
    expected = np.zeros((2, 3, 64, 64), np.float32)
    expected[:, 0], expected[:, 2] = crops[:, 2].numpy(), crops[:, 0].numpy()
    np.testing.assert_allclose(rgb.numpy(), (expected - MEAN) / STD, rtol=1e-6, atol=1e-6)
    concat = strategy_inputs(crops, "concat", (0, 1, 2), protein=1)
    assert len(concat) == 3
    grey = np.repeat(crops[:, 1:2].numpy(), 3, axis=1)
    np.testing.assert_allclose(concat[1].numpy(), (grey - MEAN) / STD, rtol=1e-6, atol=1e-6)
    (protein,) = strategy_inputs(crops, "protein", (0, 1, 2), protein=1)
    assert torch.equal(protein, concat[1])


@pytest.mark.parametrize("n_channels", [3, 2])
def test_feature_sizes_for_every_strategy(model, n_channels):
    crops = _crops(4, n_channels, seed=n_channels)
    feats = vgg16_features(model, crops, rgb=(0, n_channels - 1, None), protein=n_channels - 1, precision="fp32")
    assert set(feats) == {(s, name) for s in STRATEGIES for name in CONV_LAYERS}
    for (strategy, name), x in feats.items():
        size = LAYER_SIZES[name] * (n_channels if strategy == "concat" else 1)
        assert x.shape == (4, size) and x.dtype == np.float32
        assert np.isfinite(x).all() and (x >= 0).all() and (x > 0).any(), (strategy, name)


def _assert_match(feats, refs):
    """Every (strategy, layer) matrix equals the reference's, to float32 rounding."""
    for strategy, ref in refs.items():
        for name in CONV_LAYERS:
            got, want = feats[(strategy, name)], ref[name]
            np.testing.assert_allclose(
                got, want, rtol=1e-4, atol=1e-5 * max(1.0, float(want.max())), err_msg=f"{strategy} {name}"
            )


def test_features_match_an_independent_reference(model):
    crops = _crops(3, 3, seed=7)
    feats = vgg16_features(model, crops, strategies=("rgb", "protein"), rgb=(1, 2, 0), protein=2, precision="fp32")
    x = crops.astype(np.float32) / 255
    rgb_in = (x[:, [1, 2, 0]] - MEAN) / STD
    grey_in = (np.repeat(x[:, 2:3], 3, axis=1) - MEAN) / STD
    with torch.no_grad():
        refs = {
            "rgb": _reference(model, torch.from_numpy(rgb_in)),
            "protein": _reference(model, torch.from_numpy(grey_in)),
        }
    _assert_match(feats, refs)


def test_batching_keeps_store_order(model):
    crops = _crops(5, 3, seed=3)
    kwargs = dict(strategies=("rgb",), rgb=(0, 2, 1), precision="fp32", layers=("block1_conv1", "block4_conv1"))
    small = vgg16_features(model, crops, batch_size=2, **kwargs)
    large = vgg16_features(model, crops, batch_size=64, **kwargs)
    assert set(small) == {("rgb", "block1_conv1"), ("rgb", "block4_conv1")}
    for key in small:
        np.testing.assert_allclose(small[key], large[key], rtol=1e-5, atol=1e-6)
    one = vgg16_features(model, crops[3:4], batch_size=64, **kwargs)  # row 3 is cell 3, not another
    np.testing.assert_allclose(small[("rgb", "block4_conv1")][3:4], one[("rgb", "block4_conv1")], rtol=1e-5, atol=1e-6)
    assert not np.allclose(small[("rgb", "block4_conv1")][3], small[("rgb", "block4_conv1")][2])


def test_concat_is_per_channel_protein_features_concatenated(model):
    crops = _crops(3, 3, seed=5)
    layers = ("block1_conv2", "block3_conv1")
    concat = vgg16_features(model, crops, strategies=("concat",), precision="fp32", layers=layers)
    for name in layers:
        parts = [
            vgg16_features(model, crops, strategies=("protein",), protein=c, precision="fp32", layers=(name,))[
                ("protein", name)
            ]
            for c in range(3)
        ]
        np.testing.assert_allclose(concat[("concat", name)], np.concatenate(parts, axis=1), rtol=1e-5, atol=1e-6)


def test_channel_roles_come_from_the_crop_store(model, tmp_path):
    crops = _crops(4, 3, seed=9)
    write_crop_store(
        tmp_path / "crops.zarr",
        [crops],
        4,
        3,
        64,
        attrs={"channels": ["nucleus", "microtubules", "stain"], "roles": ["structural", "structural", "protein"]},
    )
    store = open_crop_store(tmp_path / "crops.zarr")
    kwargs = dict(strategies=("rgb", "protein"), precision="fp32", layers=("block1_conv1",))
    from_store = vgg16_features(model, store, **kwargs)
    explicit = vgg16_features(model, crops, rgb=(0, 2, 1), protein=2, **kwargs)
    for key in explicit:
        np.testing.assert_allclose(from_store[key], explicit[key], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError):  # a plain array carries no roles
        vgg16_features(model, crops, **kwargs)


# --------------------------------------------------------------------------------------------
# Keras weights and caffe-style input
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_kernels():
    """Seeded Keras-layout weights of the true VGG16 shapes: layer -> (HWIO kernel, bias)."""
    return vgg16_keras_arrays(seed=11)


_write_keras_h5 = write_vgg16_keras


@pytest.mark.parametrize(
    "naming, whole_model", [("keras1", False), ("keras2", False), ("keras2", True)], ids=["keras1", "keras2", "model"]
)
def test_keras_weights_load_as_the_same_network(keras_kernels, tmp_path, naming, whole_model):
    path = _write_keras_h5(tmp_path / "vgg16_notop.h5", keras_kernels, naming, whole_model)
    loaded = load_vgg16(path)
    assert not loaded.training and weights_format(path) == "keras"
    convs = [(torch.from_numpy(k.transpose(3, 2, 0, 1).copy()), torch.from_numpy(b)) for k, b in keras_kernels.values()]
    x = torch.from_numpy(np.random.default_rng(1).normal(0, 50, (2, 3, 32, 32)).astype(np.float32))
    with torch.no_grad():
        got, want = loaded(x), _reference_from(convs, x)
    for name in CONV_LAYERS:
        np.testing.assert_allclose(got[name].numpy(), want[name], rtol=1e-4, atol=1e-4, err_msg=name)


def test_keras_kernels_are_cross_correlations_in_hwio(keras_kernels, tmp_path):
    """block1_conv1 as Keras computes it, channels last: out[y, x, o] = sum K[i, j, c, o] * in[y+i-1, x+j-1, c] + b."""
    loaded = load_vgg16(_write_keras_h5(tmp_path / "w.h5", keras_kernels))
    image = np.random.default_rng(2).normal(0, 50, (6, 5, 3)).astype(np.float32)  # H != W catches a swap
    kernel, bias = keras_kernels["block1_conv1"]
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    out = bias + sum(
        np.einsum("yxc,co->yxo", padded[i : i + 6, j : j + 5], kernel[i, j]) for i in range(3) for j in range(3)
    )
    want = np.maximum(out, 0).max(axis=(0, 1))
    with torch.no_grad():
        got = loaded(torch.from_numpy(image.transpose(2, 0, 1)[None].copy()), ["block1_conv1"])["block1_conv1"]
    np.testing.assert_allclose(got[0].numpy(), want, rtol=1e-4, atol=1e-3)


def test_keras_load_errors_are_one_line_and_name_the_file(keras_kernels, tmp_path):
    message = _input_error(_write_keras_h5(tmp_path / "short.h5", keras_kernels, skip=("block5_conv3",)))
    assert "missing 1 of 13" in message and "block5_conv3" in message

    bad = dict(keras_kernels)
    bad["block3_conv1"] = (bad["block3_conv1"][0].transpose(3, 2, 0, 1).copy(), bad["block3_conv1"][1])  # OIHW
    message = _input_error(_write_keras_h5(tmp_path / "shape.h5", bad))
    assert "block3_conv1" in message and "(256, 128, 3, 3)" in message and "(3, 3, 128, 256)" in message

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_group("dense_1").create_dataset("kernel:0", data=np.zeros((2, 2), np.float32))
    assert "missing 13 of 13" in _input_error(tmp_path / "other.h5")

    (tmp_path / "truncated.h5").write_bytes(b"\x89HD")
    assert "not an HDF5 file" in _input_error(tmp_path / "truncated.h5")


def test_input_setting_follows_the_weights_format(keras_kernels, weights_file, tmp_path):
    keras = _write_keras_h5(tmp_path / "vgg16_notop.h5", {"block1_conv1": keras_kernels["block1_conv1"]})
    renamed = tmp_path / "weights.bin"  # the bytes decide, not the name
    renamed.write_bytes(keras.read_bytes())
    assert weights_format(keras) == weights_format(renamed) == "keras"
    assert weights_format(weights_file) == "torchvision"
    assert vgg16_input("auto", keras) == vgg16_input("keras", keras) == "keras"
    assert vgg16_input("auto", weights_file) == vgg16_input("torchvision", weights_file) == "torchvision"

    for setting, path, found, fix in [
        ("keras", weights_file, "a torchvision state dict", "set vgg16_input: auto or torchvision"),
        ("torchvision", keras, "Keras VGG16 weights (HDF5)", "set vgg16_input: auto or keras"),
    ]:
        with pytest.raises(InputError) as info:
            vgg16_input(setting, path)
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{path}: ")
        assert f"baselines.vgg16_input is {setting} but the file is {found}" in message and message.endswith(fix)
    with pytest.raises(ValueError):
        vgg16_input("caffe", keras)


def test_caffe_inputs_by_hand():
    """Keras preprocess_input (caffe): stored values 0-255, RGB -> BGR, minus (103.939, 116.779, 123.68)."""
    crops = torch.tensor(
        [[[[0, 255], [100, 200]], [[1, 2], [3, 4]], [[50, 0], [255, 128]]]], dtype=torch.uint8
    )  # 3 channels of 2x2
    (rgb,) = strategy_inputs(crops, "rgb", (2, None, 0), protein=1, input_scaling="keras")  # R = ch2, B = ch0
    expected_rgb = [
        [[-103.939, 151.061], [-3.939, 96.061]],  # B = ch0 - 103.939
        [[-116.779, -116.779], [-116.779, -116.779]],  # G = 0 - 116.779
        [[-73.68, -123.68], [131.32, 4.32]],  # R = ch2 - 123.68
    ]
    np.testing.assert_allclose(rgb[0].numpy(), expected_rgb, atol=1e-4)
    (grey,) = strategy_inputs(crops, "protein", None, protein=1, input_scaling="keras")
    expected_grey = [
        [[-102.939, -101.939], [-100.939, -99.939]],
        [[-115.779, -114.779], [-113.779, -112.779]],
        [[-122.68, -121.68], [-120.68, -119.68]],
    ]
    np.testing.assert_allclose(grey[0].numpy(), expected_grey, atol=1e-4)
    concat = strategy_inputs(crops.float(), "concat", None, protein=1, input_scaling="keras")  # floats: 0-255 as is
    assert len(concat) == 3 and torch.equal(concat[1], grey)
    # uint8 under the default torchvision scaling: / 255 then normalised, as before
    (tv,) = strategy_inputs(crops, "protein", None, protein=1)
    np.testing.assert_allclose(tv.numpy(), (np.repeat(crops[:, 1:2].numpy() / 255, 3, axis=1) - MEAN) / STD, atol=1e-6)
    with pytest.raises(ValueError):
        strategy_inputs(crops, "protein", None, protein=1, input_scaling="caffe")


def test_keras_scaled_features_match_the_reference(model):
    crops = _crops(3, 3, seed=8)
    kwargs = dict(strategies=("rgb", "protein"), rgb=(1, 2, 0), protein=2, precision="fp32")
    feats = vgg16_features(model, crops, input_scaling="keras", **kwargs)
    x = crops.astype(np.float32)
    rgb_in = x[:, [1, 2, 0]][:, ::-1] - CAFFE_BGR
    grey_in = np.repeat(x[:, 2:3], 3, axis=1) - CAFFE_BGR
    with torch.no_grad():
        refs = {
            "rgb": _reference(model, torch.from_numpy(rgb_in.copy())),
            "protein": _reference(model, torch.from_numpy(grey_in)),
        }
    _assert_match(feats, refs)
    torchvision = vgg16_features(model, crops, layers=("block1_conv1",), **kwargs)
    assert not np.allclose(torchvision[("rgb", "block1_conv1")], feats[("rgb", "block1_conv1")])
    with pytest.raises(ValueError):
        vgg16_features(model, crops, input_scaling="caffe", **kwargs)
