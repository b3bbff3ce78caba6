"""Tables and atomic writes, shared by every stage.

Every output file is written through ``atomic_path`` (a temporary file renamed into place), so
an interrupted job never leaves a half-written table, figure or checkpoint behind; tables are
read and written by suffix (.parquet, .tsv, .csv) with one-line errors naming the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pandas as pd

from pcinpaint.errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary file beside ``path`` (same suffix, so writers pick the same format);
    it replaces ``path`` only when the block succeeds, so readers never see a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; outputs get the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table atomically; the format follows the suffix (.parquet, .tsv, .csv)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_csv(tmp, sep="\t", index=False)
    return path


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a parquet, CSV or TSV table (separator from the suffix, else sniffed); only
    ``columns`` when given (a million-cell table's other columns cost hundreds of MB)."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path, columns=columns)
        text = dict(dtype=str, keep_default_na=False, usecols=columns)
        if path.suffix == ".csv":
            return pd.read_csv(path, **text)
        if path.suffix in (".tsv", ".tab", ".txt"):
            return pd.read_csv(path, sep="\t", **text)
        return pd.read_csv(path, sep=None, engine="python", **text)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as exc:  # parser errors carry multi-line messages
        raise InputError(f"{path}: cannot parse table: {' '.join(str(exc).split())}") from None
