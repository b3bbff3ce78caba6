"""Gathering chunks into the crop store: min_cells, empty fields, every object recorded, crops
copied a batch at a time from chunk files read by rows."""

import numpy as np
import pandas as pd
import pytest
from synthetic_fields import FIELDS, _dataset

from pcinpaint.crops import gather as gather_module
from pcinpaint.crops.gather import ChunkFiles, NpyRows, gather
from pcinpaint.crops.segment_chunk import chunk_rows, process_chunk, save_chunk
from pcinpaint.crops.segmentation_qc import BELOW_MIN_CELLS
from pcinpaint.crops.store import read_crops


@pytest.mark.parametrize("method", ["nuclei_otsu", "provided"])
def test_gather_filters_and_records_every_object(tmp_path, method):
    sheet, cfg = _dataset(tmp_path, FIELDS, method=method)
    crops_paths, object_paths, field_paths = [], [], []
    for i in range(2):
        result = process_chunk(chunk_rows(sheet, 2, i), cfg, progress=False)
        crops_paths.append(tmp_path / f"chunk{i}.npy")
        object_paths.append(tmp_path / f"chunk{i}.parquet")
        field_paths.append(tmp_path / f"chunk{i}.fields.tsv")
        save_chunk(result, crops_paths[-1], object_paths[-1], field_paths[-1])
    out = gather(ChunkFiles(crops_paths, object_paths, field_paths), cfg, sheet, tmp_path / "crops.zarr")

    fields = out.fields.set_index("field_id")
    assert fields.loc["c1", "n_detected"] == 0 and fields.loc["c1", "n_stored"] == 0  # recorded, not lost
    assert (fields["n_nonfinite"] == 0).all()
    assert fields.loc["d1", "n_leaves_field"] == 1 and fields.loc["d1", "n_stored"] == 4
    assert fields.loc["b1", f"n_{BELOW_MIN_CELLS}"] == 2 and fields.loc["b1", "n_stored"] == 0
    assert set(out.dropped_images["image_id"]) == {"P2_w1", "P3_w1"}
    assert out.dropped_images.set_index("image_id").loc["P2_w1", "n_cells"] == 2

    cells = out.cells
    assert len(cells) == 5 + 4
    assert list(cells["store_index"]) == list(range(len(cells)))
    assert cells["cell_id"].is_unique
    assert list(cells.columns[:4]) == ["cell_id", "image_id", "field_id", "protein"]
    crops = read_crops(tmp_path / "crops.zarr")
    assert crops.shape == (9, 2, 64, 64)
    # each stored crop is centred on the cell at its table position
    assert np.all(crops[:, 0, 28:36, 28:36].mean(axis=(1, 2)) > 0.9)
    assert np.all(crops[:, 0, :4, :4].mean(axis=(1, 2)) < 0.1)
    for _, cell in cells.iterrows():
        true = np.array(FIELDS[cell["field_id"]][1])
        assert np.hypot(*(true - [cell["centroid_y"], cell["centroid_x"]]).T).min() < 1.0
    assert crops[:, 0].max() == 1.0 and crops[:, 0].min() == 0.0  # per-crop rescaling


def test_gather_copies_crops_a_few_at_a_time_in_the_same_order(tmp_path, monkeypatch):
    sheet, cfg = _dataset(tmp_path, FIELDS)
    paths = []
    for i in range(2):
        paths.append((tmp_path / f"chunk{i}.npy", tmp_path / f"chunk{i}.parquet", tmp_path / f"chunk{i}.tsv"))
        save_chunk(process_chunk(chunk_rows(sheet, 2, i), cfg, progress=False), *paths[-1])
    crop_paths, object_paths, _ = zip(*paths)
    whole = gather(ChunkFiles(crop_paths, object_paths), cfg, sheet, tmp_path / "whole.zarr")
    monkeypatch.setattr(gather_module, "GATHER_BATCH", 2)
    stepped = gather(ChunkFiles(crop_paths, object_paths), cfg, sheet, tmp_path / "stepped.zarr")
    pd.testing.assert_frame_equal(whole.cells, stepped.cells)
    assert np.array_equal(read_crops(tmp_path / "whole.zarr"), read_crops(tmp_path / "stepped.zarr"))


def test_a_screen_without_a_kept_cell_stops_with_the_drop_reasons(tmp_path):
    sheet, cfg = _dataset(tmp_path, {"b1": ("P2_w1", [(40, 40), (80, 80)]), "c1": ("P3_w1", [])}, min_cells=3)
    paths = [tmp_path / "c.npy", tmp_path / "c.parquet", tmp_path / "c.tsv"]
    save_chunk(process_chunk(sheet, cfg, progress=False), *paths)
    with pytest.raises(ValueError) as err:
        gather(ChunkFiles(paths[:1], paths[1:2], paths[2:]), cfg, sheet, tmp_path / "crops.zarr")
    message = str(err.value)
    assert message.startswith(f"{(tmp_path / 'sheet.tsv').resolve()}: no cell kept from 2 fields in 2 images")
    assert "2 objects detected; dropped: image_below_min_cells 2 (min_cells=3)" in message
    assert not (tmp_path / "crops.zarr").exists()


def test_chunk_crops_are_read_by_rows_not_mapped(tmp_path):
    crops = np.random.default_rng(5).integers(0, 256, (50, 2, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "chunk.npy", crops)
    rows = np.array([0, 1, 2, 7, 20, 21, 49])  # runs and single rows, the last row included
    with NpyRows(tmp_path / "chunk.npy") as read:
        assert len(read) == 50 and read.dtype == np.uint8
        np.testing.assert_array_equal(read.read(rows), crops[rows])
        assert read.read(np.array([], np.int64)).shape == (0, 2, 8, 8)
        with pytest.raises(IndexError, match="rows must increase"):
            read.read(np.array([3, 2]))
    np.save(tmp_path / "empty.npy", np.zeros((0, 2, 8, 8), np.uint8))
    with NpyRows(tmp_path / "empty.npy") as read:
        assert len(read) == 0
    data = (tmp_path / "chunk.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) - 100])  # a chunk file cut short
    with NpyRows(tmp_path / "cut.npy") as read, pytest.raises(ValueError, match="truncated chunk file"):
        read.read(rows)
