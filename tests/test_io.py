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
    atomic_path,
    disk_full_names,
    file_fingerprint,
    is_disk_full,
    named_path,
    read_table,
    safe_name,
    table_columns,
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
