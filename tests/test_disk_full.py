"""A full disk anywhere the workflow writes: one line naming the output and "no space left on
device", nothing partial left, a good earlier output never replaced by a half one."""

import errno
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO

from pcinpaint.crops.store import read_crops, write_crop_store
from pcinpaint.errors import DiskFullError
from pcinpaint.io import atomic_path, is_disk_full, read_table, write_table
from pcinpaint.model import train as train_module
from pcinpaint.runlog import rule_log


def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_writes_name_the_output_and_keep_the_old_file(tmp_path):
    path = tmp_path / "table.tsv"
    write_table(pd.DataFrame({"a": [1, 2]}), path)
    with pytest.raises(DiskFullError) as err:
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            full()
    assert str(err.value) == f"{path}: no space left on device; nothing partial was kept (free space and rerun)"
    assert err.value.errno == errno.ENOSPC
    assert read_table(path)["a"].tolist() == ["1", "2"] and [p.name for p in tmp_path.iterdir()] == ["table.tsv"]


def test_writers_that_wrap_the_error_are_recognised(tmp_path, monkeypatch):
    """parquet (pyarrow) and zarr raise their own exceptions around the OSError."""
    try:
        full()
    except OSError as inner:
        try:
            raise RuntimeError("write failed") from inner
        except RuntimeError as outer:
            assert is_disk_full(outer)
    assert is_disk_full(ExceptionGroup("writes", [ValueError("x"), OSError(errno.ENOSPC, "full")]))
    assert not is_disk_full(OSError(errno.EACCES, "denied"))
    # a full quota, the usual case on a cluster, is named as such
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded")) == errno.EDQUOT
    with pytest.raises(DiskFullError, match=r"x\.tsv: disk quota exceeded; nothing partial was kept"):
        with atomic_path(tmp_path / "x.tsv"):
            raise OSError(errno.EDQUOT, "Disk quota exceeded")
    monkeypatch.setattr(pd.DataFrame, "to_parquet", lambda *a, **k: full())
    with pytest.raises(DiskFullError, match=r"cells\.parquet: no space left on device"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "cells.parquet")
    assert not list(tmp_path.iterdir())


def test_the_crop_store_writer_keeps_the_good_store_and_no_half_one(tmp_path, monkeypatch):
    path = tmp_path / "crops.zarr"
    good = np.arange(2 * 20 * 8 * 8, dtype=np.uint8).reshape(20, 2, 8, 8)
    write_crop_store(path, [good], 20, 2, 8)
    import zarr

    real = zarr.create_array

    class FullArray:
        def __init__(self, arr):
            self.arr, self.attrs = arr, arr.attrs

        def __setitem__(self, key, value):
            full()

    monkeypatch.setattr(zarr, "create_array", lambda *a, **k: FullArray(real(*a, **k)))
    with pytest.raises(DiskFullError, match=r"crops\.zarr: no space left on device"):
        write_crop_store(path, [good[:10], good[10:]], 20, 2, 8)
    monkeypatch.undo()
    np.testing.assert_array_equal(read_crops(path), good.astype(np.float32) / 255)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crops.zarr"]


def test_a_checkpoint_on_a_full_disk_is_named_not_torchs_unexpected_pos(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    train_module.save_atomic({"w": torch.ones(3)}, path)

    class FullFile:
        def __init__(self, *args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        write = staticmethod(full)

    monkeypatch.setattr(train_module, "open", FullFile, raising=False)
    with pytest.raises(DiskFullError, match=r"checkpoint\.pt: no space left on device"):
        train_module.save_atomic({"w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.load(path)["w"].tolist() == [1.0, 1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_a_rule_ends_with_one_line(tmp_path, capsys, monkeypatch):
    console = []
    monkeypatch.setattr(sys, "__stderr__", type("Console", (), {"write": console.append, "flush": lambda: None})())
    with pytest.raises(SystemExit) as stop:
        with rule_log(tmp_path / "a.log"):
            raise DiskFullError(tmp_path / "x.tsv")
    assert stop.value.code == 1 and "".join(console).strip() == f"error: {tmp_path / 'x.tsv'}: no space left on " + (
        "device; nothing partial was kept (free space and rerun)"
    )
    console.clear()
    with pytest.raises(SystemExit):
        with rule_log(tmp_path / "b.log"):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "y.h5ad"))
    assert "".join(console).strip() == f"error: {tmp_path / 'y.h5ad'}: no space left on device (free space and rerun)"


TMPFS_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np, pandas as pd
    sys.path.insert(0, {lib!r})
    from pcinpaint.crops.store import write_crop_store
    from pcinpaint.errors import DiskFullError
    from pcinpaint.io import write_table
    disk = Path(sys.argv[1])
    write_table(pd.DataFrame({{"a": [1]}}), disk / "small.tsv")
    big = pd.DataFrame(np.random.default_rng(0).random((200_000, 4)))  # ~12 MB of text on a 4 MB disk
    for what, write in [
        ("table", lambda: write_table(big, disk / "big.tsv")),
        ("store", lambda: write_crop_store(disk / "crops.zarr",
            [np.random.default_rng(1).integers(0, 255, (1024, 2, 64, 64), dtype=np.uint8)] * 2, 2048, 2, 64)),
    ]:
        try:
            write()
            print(what, "written")
        except DiskFullError as exc:
            print(what, exc)
    print("left", sorted(p.name for p in disk.iterdir()))
    """
)


def test_on_a_real_small_disk(tmp_path):
    """A 4 MB tmpfs in a private mount namespace; skipped where mounting is not allowed."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare not available to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = tmp_path / "fill.py"
    script.write_text(TMPFS_SCRIPT.format(lib=str(REPO / "workflow_scripts")))
    mount = f"mount -t tmpfs -o size=4m tmpfs {disk} && {sys.executable} {script} {disk}"
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", mount], capture_output=True, text=True)
    if "mount" in proc.stderr and proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert (
        lines[0]
        == f"table {disk / 'big.tsv'}: no space left on device; nothing partial was kept (free space and rerun)"
    )
    assert lines[1].startswith(f"store {disk / 'crops.zarr'}: no space left on device")
    assert lines[2] == "left ['small.tsv']"
