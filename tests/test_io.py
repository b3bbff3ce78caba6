"""Tables and atomic writes (``pcinpaint.io``): a table reads back as written in every format,
a failed write leaves the old file and no temporary one, errors name the file in one line, and
file names made from users' names stay in their folder."""

import errno
import os

import pandas as pd
import pytest

from pcinpaint.errors import DiskFullError, InputError
from pcinpaint.io import (
    MAX_NAME,
    NAMES_TABLE,
    OBS_NAMES,
    atomic_path,
    disk_full_names,
    file_fingerprint,
    h5ad_obs_columns,
    is_disk_full,
    named_path,
    read_table,
    safe_name,
    table_columns,
    table_suffix,
    write_names,
    write_table,
)

TABLE = pd.DataFrame({"protein": ["A", "B"], "n": [1, 2]})


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".parquet"])
def test_a_table_reads_back_as_written(tmp_path, suffix):
    path = write_table(TABLE, tmp_path / "sub" / f"t{suffix}")
    back = read_table(path)
    if suffix != ".parquet":  # text tables are read as strings, never guessed
        assert back["n"].tolist() == ["1", "2"]
        back = back.astype({"n": "int64"})
    pd.testing.assert_frame_equal(back, TABLE)
    assert read_table(path, columns=["protein"]).columns.tolist() == ["protein"]
    assert table_columns(path) == ["protein", "n"]
    assert len(read_table(path, header_only=True)) == 0


def test_an_unknown_suffix_is_sniffed_and_na_strings_stay_strings(tmp_path):
    path = tmp_path / "sheet.list"
    path.write_text("protein;label\nNA;none\n")
    table = read_table(path)
    assert table.to_dict("list") == {"protein": ["NA"], "label": ["none"]}


def test_a_missing_or_broken_table_is_one_line_naming_the_file(tmp_path):
    with pytest.raises(InputError, match=r"absent\.tsv: file not found$"):
        read_table(tmp_path / "absent.tsv")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all\n\nsecond line")
    with pytest.raises(InputError, match=r"broken\.parquet: cannot parse table: ") as err:
        read_table(broken)
    assert "\n" not in str(err.value)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.tsv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".tsv" and tmp.name.startswith(".out.tsv.")
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tsv"]


def test_a_finished_write_replaces_the_file_with_the_usual_mode(tmp_path):
    path = tmp_path / "out.txt"
    with atomic_path(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_running_out_of_space_is_found_in_causes_and_words():
    assert is_disk_full(OSError(errno.ENOSPC, "full")) == errno.ENOSPC
    assert is_disk_full(RuntimeError("write failed: Disk quota exceeded")) == errno.EDQUOT
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as inner:
            raise ValueError("zarr chunk not written") from inner
    except ValueError as outer:
        assert is_disk_full(outer) == errno.ENOSPC
    assert is_disk_full(ExceptionGroup("several", [KeyError("x"), OSError(errno.EDQUOT, "q")])) == errno.EDQUOT
    assert is_disk_full(OSError(errno.EACCES, "permission denied")) is None


def test_a_full_disk_inside_a_write_names_the_output(tmp_path):
    path = tmp_path / "big.parquet"
    with pytest.raises(DiskFullError, match=r"big\.parquet: no space left on device; nothing partial was kept"):
        with atomic_path(path):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyError), disk_full_names(path):
        raise KeyError("other errors pass unchanged")


def test_the_fingerprint_changes_with_the_content(tmp_path):
    path = tmp_path / "sheet.tsv"
    path.write_text("a\n")
    first = file_fingerprint(path)
    assert first.startswith(f"{path} sha256:") and len(first.rsplit(":", 1)[1]) == 16
    assert file_fingerprint(path) == first
    path.write_text("b\n")
    assert file_fingerprint(path) != first


@pytest.mark.parametrize(
    ("name", "kept"),
    [("GFP_1", True), ("a.b-c", True), ("../etc", False), ("x/y", False), ("", False), ("é", False), ("-rf", False)],
)
def test_safe_name_keeps_safe_names_and_changes_the_rest_distinctly(name, kept):
    safe = safe_name(name)
    assert (safe == name) is kept
    assert 1 <= len(safe) <= MAX_NAME
    assert "/" not in safe and ".." not in safe and not safe.startswith((".", "-"))
    assert safe == safe_name(name)  # the same on every run


def test_safe_names_of_distinct_names_differ_and_long_names_are_cut():
    assert safe_name("a/b") != safe_name("a_b") and safe_name("a_b") == "a_b"
    assert safe_name("é") != safe_name("e")
    long = safe_name("x" * 300)
    assert len(long) == MAX_NAME and long != safe_name("x" * 301)


def test_named_path_and_the_names_table(tmp_path):
    assert named_path(tmp_path, "../up", ".png").parent == tmp_path
    assert named_path(tmp_path, "cell", ".png") == tmp_path / "cell.png"
    with pytest.raises(ValueError, match="would land outside"):
        named_path(tmp_path, "cell", "/../../x")
    table = write_names(tmp_path, {"a/b": safe_name("a/b")}, column="protein")
    assert table == tmp_path / NAMES_TABLE
    assert read_table(table).to_dict("list") == {"protein": ["a/b"], "file": [safe_name("a/b")]}


@pytest.mark.parametrize(
    ("name", "suffix"),
    [("x.csv.gz", ".csv"), ("x.tsv.bz2", ".tsv"), ("x.txt.XZ", ".txt"), ("x.csv.zst", ".csv"), ("x.tsv.zip", ".tsv")]
    + [("x.parquet", ".parquet"), ("x.h5ad", ".h5ad"), ("x.gz", ""), ("dir.v2/x.csv", ".csv")],
)
def test_the_table_suffix_leaves_out_compression(name, suffix):
    assert table_suffix(name) == suffix


@pytest.mark.parametrize(("name", "sep"), [("t.csv.gz", ","), ("t.tsv.gz", "\t"), ("t.tsv.bz2", "\t")])
def test_compressed_text_is_read_with_its_own_separator(tmp_path, name, sep):
    # a comma and a tab on every line: sniffing would split a TSV at the commas
    table = pd.DataFrame({"protein": ["ACT1", "NUP49"], "where, in words": ["nucleus, cytoplasm\tedge", "a, b\tc"]})
    path = tmp_path / name
    table.to_csv(path, sep=sep, index=False)  # compressed as the name says
    assert read_table(path).to_dict("list") == table.to_dict("list")
    assert table_columns(path) == ["protein", "where, in words"]
    assert read_table(path, columns=["protein"]).columns.tolist() == ["protein"]


def _h5ad_obs(path, index_name="_index", order=("protein", "area")):
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        obs = f.create_group("obs")
        obs.attrs.update({"_index": index_name, "encoding-type": "dataframe", "encoding-version": "0.2.0"})
        if order is not None:
            obs.attrs["column-order"] = list(order)
        obs.create_dataset(index_name, data=["c0", "c1"], dtype=h5py.string_dtype())
        obs.create_dataset("protein", data=["A", "B"], dtype=h5py.string_dtype())
        obs.create_dataset("area", data=np.array([3, 4]))
    return path


def test_an_h5ad_header_is_its_obs_columns_after_the_obs_names(tmp_path):
    path = _h5ad_obs(tmp_path / "cells.h5ad", index_name="cell")
    assert table_columns(path) == [OBS_NAMES, "protein", "area"] == h5ad_obs_columns(path)
    assert read_table(path, header_only=True).columns.tolist() == [OBS_NAMES, "protein", "area"]
    # anndata 0.7 wrote no column-order: the group's members, the index left out
    assert set(table_columns(_h5ad_obs(tmp_path / "old.h5ad", order=None))) == {OBS_NAMES, "protein", "area"}
    with pytest.raises(InputError, match=r"cells\.h5ad: an AnnData file is read in batches"):
        read_table(path)


def test_an_h5ad_that_is_not_one_is_one_line_naming_it(tmp_path):
    import h5py

    text = tmp_path / "text.h5ad"
    text.write_text("protein\nA\n")
    with pytest.raises(InputError, match=r"text\.h5ad: not an HDF5 file") as err:
        table_columns(text)
    assert "\n" not in str(err.value)
    with h5py.File(tmp_path / "other.h5ad", "w") as f:
        f.create_group("images")
    with pytest.raises(InputError, match=r"other\.h5ad: not AnnData: no obs group \(the file has \['images'\]\)$"):
        table_columns(tmp_path / "other.h5ad")
    with pytest.raises(InputError, match=r"absent\.h5ad: file not found$"):
        table_columns(tmp_path / "absent.h5ad")
