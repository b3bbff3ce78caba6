"""Feature tables read by rows and row groups give what reading them whole gives."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.benchmarks.pairwise import PairDraws, cell_line_scores, pairwise_scores
from pcinpaint.errors import InputError
from pcinpaint.exploratory.clustering import protein_profiles
from pcinpaint.exploratory.multiloc import pair_scores
from pcinpaint.features import table as table_module
from pcinpaint.features.matrix import Moments, group_means, zscore
from pcinpaint.features.reading import FeatureFile, FeatureRows, read_cell_rows, read_cells
from pcinpaint.features.table import feature_table_writer, split_table
from pcinpaint.io import read_table, write_table

N, D = 5_000, 6  # written 700 rows at a time into groups of 2,048 or more: three of them


@pytest.fixture
def table(tmp_path, monkeypatch):
    monkeypatch.setattr(table_module, "GROUP_ROWS", 2_048)
    rng = np.random.default_rng(3)
    images = np.repeat(np.arange(N // 25), 25)
    cells = pd.DataFrame(
        {
            "cell_id": [f"c{i}" for i in range(N)],
            "image_id": [f"img{i:03d}" for i in images],
            "protein": [f"P{i % 40:02d}" for i in images],
            "cell_line": np.where(images % 2, "U2OS", "A-431"),
            "store_index": np.arange(N),
        }
    )
    centres = rng.normal(size=(40, D)) * 3
    x = (centres[images % 40] + rng.normal(size=(N, D))).astype(np.float32)
    x[:, 2] = 7.0  # a dead feature: dropped by the z-score
    path = tmp_path / "pci_conv3.parquet"
    with feature_table_writer(cells, path, "pci_conv3", D) as writer:
        for start in range(0, N, 700):
            writer.write(x[start : start + 700])
    write_table(cells.iloc[::-1], tmp_path / "cells.parquet")  # not in store order on disk
    return path, cells, x


def test_rows_and_metadata_are_those_of_the_whole_table(table):
    path, cells, x = table
    file = FeatureFile(path)
    assert (file.n_rows, file.n_features) == (N, D) and len(file._starts) == 4
    meta, whole = split_table(read_table(path))
    assert np.array_equal(file.read(), whole) and np.array_equal(whole, x)
    rows = np.array([0, 5, 2047, 2048, 4999])
    assert np.array_equal(file.read(rows), x[rows])
    pd.testing.assert_frame_equal(file.metadata(["protein", "nope"]), meta[["protein"]])
    with pytest.raises(ValueError, match="increasing"):
        file.read(np.array([5, 3]))


def test_cell_rows_are_checked_against_the_cell_table(table, tmp_path):
    path, cells, x = table
    mask = np.zeros(N, bool)
    mask[::7] = True
    store_index = cells["store_index"].to_numpy()
    assert np.array_equal(read_cell_rows(path, mask, store_index), x[mask])
    with pytest.raises(InputError, match="5000 feature rows but 4999 cells"):
        read_cell_rows(path, mask[1:])
    shuffled = store_index.copy()
    shuffled[[14, 21]] = shuffled[[21, 14]]
    with pytest.raises(InputError, match=r"pci_conv3.parquet: row 14 holds store_index 14 where the cell table has 21"):
        read_cell_rows(path, mask, shuffled)


def test_cell_table_columns_in_store_order(table, tmp_path):
    _, cells, _ = table
    read = read_cells(tmp_path / "cells.parquet", ["protein", "label"])  # no label column: skipped
    assert list(read.columns) == ["store_index", "protein"]
    pd.testing.assert_frame_equal(read, cells[["store_index", "protein"]])


def test_sums_and_zscores_streamed_match_the_array(table):
    path, cells, x = table
    file = FeatureFile(path, cells["store_index"].to_numpy())
    names, counts, means = group_means(cells["protein"].to_numpy(), file)
    names0, counts0, means0 = group_means(cells["protein"].to_numpy(), x)
    assert np.array_equal(names, names0) and np.array_equal(counts, counts0)
    np.testing.assert_allclose(means, means0, rtol=1e-12, atol=1e-12)
    z = Moments.of(file).transform(x)
    assert z.shape == (N, D - 1)
    np.testing.assert_allclose(z, zscore(x), rtol=1e-6, atol=1e-6)
    rows = np.flatnonzero(cells["image_id"].str.endswith("7").to_numpy())
    sub = FeatureRows(file, rows)
    assert np.array_equal(sub.read(np.array([0, 3])), x[rows[[0, 3]]])
    np.testing.assert_allclose(Moments.of(sub).transform(x[rows]), zscore(x[rows]), rtol=1e-6, atol=1e-6)


def test_profiles_and_multilocalization_scores_streamed_match_the_array(table):
    path, cells, x = table
    file = FeatureFile(path)
    meta = file.metadata()
    profiles, matrix = protein_profiles(meta, file)
    profiles0, matrix0 = protein_profiles(meta, x)
    pd.testing.assert_frame_equal(profiles, profiles0)
    np.testing.assert_allclose(matrix, matrix0, rtol=1e-5, atol=1e-6)
    kinds = ["cytosol", "nucleoplasm", "cytosol+nucleoplasm", "er"]
    terms = pd.Series({f"img{i:03d}": kinds[i % 4] for i in range(200)})
    scores = pair_scores(file, meta, terms, "cytosol", "nucleoplasm")
    scores0 = pair_scores(x, meta, terms, "cytosol", "nucleoplasm")
    assert len(scores) == 25 * 150
    pd.testing.assert_frame_equal(scores, scores0, rtol=1e-9)


def test_pairwise_reads_only_the_drawn_images_cells(table):
    path, cells, x = table
    file = FeatureFile(path, cells["store_index"].to_numpy())
    ids = cells["image_id"].to_numpy()
    terms = pd.Series({f"img{i:03d}": f"t{i % 3}" for i in range(200)})
    lines = cells.groupby("image_id")["cell_line"].first()
    sub = FeatureRows(file, np.arange(N))
    held = []
    read = sub.read
    sub.read = lambda rows=None: held.append(len(rows)) or read(rows)
    scores = pairwise_scores(sub, ids, terms, PairDraws(5, seed=1))
    table2 = cell_line_scores(sub, ids, lines, terms, PairDraws(5, seed=1))
    assert held and max(held) < N / 2  # 5 pairs per term pair touch a fraction of the 200 images
    pd.testing.assert_frame_equal(scores, pairwise_scores(x, ids, terms, PairDraws(5, seed=1)), rtol=1e-9)
    pd.testing.assert_frame_equal(table2, cell_line_scores(x, ids, lines, terms, PairDraws(5, seed=1)), rtol=1e-9)


def test_a_damaged_table_stops_with_one_line_naming_it(table, tmp_path):
    path, cells, _ = table
    data = bytearray(path.read_bytes())
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated.parquet: cannot read feature table") as info:
        FeatureFile(truncated)
    assert "\n" not in str(info.value)
    footer = FeatureFile(path)._file.metadata
    start = footer.row_group(1).column(footer.num_columns - 1).data_page_offset  # a feature column
    data[start : start + 64] = b"\xff" * 64  # the second row group's first page header
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(bytes(data))
    file = FeatureFile(damaged)
    assert np.array_equal(file.read(np.array([0, 1])), FeatureFile(path).read(np.array([0, 1])))  # group 0 is whole
    lo, hi = file._starts[1:3]
    with pytest.raises(InputError, match=rf"damaged.parquet: row group 1 \(rows {lo}-{hi - 1}\) cannot be read"):
        file.read()
