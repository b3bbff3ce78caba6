"""Feature tables: the contract, raw pixels, encoder features, the same-seed random control."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from pcinpaint.crops.store import open_crop_store, write_crop_store
from pcinpaint.features import table as table_module
from pcinpaint.features.encoder import encoder_features, extract_layer_tables, random_encoder, raw_features
from pcinpaint.features.table import feature_table, feature_table_writer, split_table
from pcinpaint.io import read_table, write_table
from pcinpaint.model.spec import ENCODER_LAYERS, ModelSpec
from pcinpaint.model.train import build_model


def _store(tmp_path, n=40, c=3):
    crops = np.random.default_rng(0).integers(0, 256, (n, c, 64, 64), dtype=np.uint8)
    write_crop_store(tmp_path / "crops.zarr", [crops], n, c, 64)
    cells = pd.DataFrame(
        dict(
            cell_id=[f"f:{i}" for i in range(n)],
            image_id=np.repeat(["a", "b"], n // 2),
            protein="P",
            store_index=np.arange(n),
        )
    )
    return open_crop_store(tmp_path / "crops.zarr"), cells, crops


def test_feature_table_contract(tmp_path):
    _, cells, _ = _store(tmp_path)
    shuffled = cells.sample(frac=1, random_state=0)  # the table follows store order regardless
    table = feature_table(shuffled, np.arange(40 * 3, dtype=np.float32).reshape(40, 3), "raw")
    assert list(table.columns) == [
        "Metadata_cell_id",
        "Metadata_image_id",
        "Metadata_protein",
        "Metadata_store_index",
        "raw_0",
        "raw_1",
        "raw_2",
    ]
    assert list(table["Metadata_store_index"]) == list(range(40))
    meta, x = split_table(table)
    assert list(meta.columns) == ["cell_id", "image_id", "protein", "store_index"] and x.shape == (40, 3)


def test_raw_features_are_block_means(tmp_path):
    store, _, crops = _store(tmp_path)
    x = raw_features(store, factor=4)
    assert x.shape == (40, 3 * 16 * 16)
    expected = crops[5, 1, 4:8, 8:12].astype(np.float32).mean() / 255
    assert np.isclose(x[5].reshape(3, 16, 16)[1, 1, 2], expected, atol=1e-6)


def test_encoder_features_match_a_direct_forward_pass(tmp_path, monkeypatch):
    store, cells, crops = _store(tmp_path)
    encoder = random_encoder(3, 0.25, seed=4)
    layers = encoder_features(encoder, store, "cpu", batch_size=16, precision="fp32")
    assert {k: v.shape for k, v in layers.items()} == {k: (40, s) for k, s in encoder.layer_sizes.items()}
    with torch.no_grad():
        _, direct = encoder.eval()(torch.from_numpy(crops[:3].astype(np.float32) / 255), features=True)
    for name in ENCODER_LAYERS:
        np.testing.assert_allclose(layers[name][:3], direct[name].numpy(), rtol=1e-4, atol=1e-5)
    # the rules stream each layer to its table batch by batch: the same tables, row groups apart
    paths = {name: tmp_path / f"pci_{name}.parquet" for name in ENCODER_LAYERS}
    monkeypatch.setattr(table_module, "ROW_GROUP_BYTES", 4 * 20 * encoder.layer_sizes["conv3"])
    sizes = extract_layer_tables(encoder, store, cells, paths, "pci", "cpu", 16, "fp32")
    assert sizes == encoder.layer_sizes
    # batches of 16 buffered into row groups of at least 20 rows: 32 + 8
    assert pq.ParquetFile(paths["conv3"]).metadata.num_row_groups == 2
    for name in ENCODER_LAYERS:
        in_memory = tmp_path / f"memory_{name}.parquet"
        write_table(feature_table(cells, layers[name], f"pci_{name}"), in_memory)
        pd.testing.assert_frame_equal(read_table(paths[name]), read_table(in_memory))
    table = read_table(paths["conv3"])
    assert table.columns[0] == "Metadata_cell_id" and table.shape == (40, 4 + encoder.layer_sizes["conv3"])


def test_a_streamed_table_short_of_cells_is_never_stored(tmp_path):
    _, cells, _ = _store(tmp_path)
    path = tmp_path / "raw.parquet"
    with pytest.raises(ValueError, match="39 feature rows for 40 cells"):
        with feature_table_writer(cells, path, "raw", 2) as table:
            table.write(np.zeros((39, 2), np.float32))
    with pytest.raises(ValueError, match="41 feature rows for 40 cells"):
        with feature_table_writer(cells, path, "raw", 2) as table:
            table.write(np.zeros((41, 2), np.float32))
    assert list(tmp_path.glob("*raw.parquet*")) == []


def test_random_control_is_the_trained_models_starting_point():
    control = random_encoder(3, 0.25, seed=11)
    model = build_model(ModelSpec(3, 2, 1, 0.25), seed=11)
    for (name, a), b in zip(control.state_dict().items(), model.source.state_dict().values()):
        assert torch.equal(a, b), name


def test_h5ad_export_holds_the_same_table(tmp_path):
    anndata = pytest.importorskip("anndata", reason="anndata is optional (features.h5ad); envs/anndata.yaml has it")
    from pcinpaint.features.h5ad import write_h5ad

    _, cells, _ = _store(tmp_path)
    table = feature_table(cells, np.random.default_rng(0).random((40, 5), dtype=np.float32), "pci_conv3")
    write_h5ad(table, tmp_path / "x.h5ad")
    adata = anndata.read_h5ad(tmp_path / "x.h5ad")
    assert adata.shape == (40, 5) and list(adata.obs["cell_id"]) == list(cells["cell_id"])
