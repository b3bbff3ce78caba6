"""Tables and atomic writes, shared by every stage.

Every output file is written through ``atomic_path`` (a temporary file renamed into place), so
an interrupted job never leaves a half-written table, figure or checkpoint behind; tables are
read and written by suffix (.parquet, .tsv, .csv; read also compressed, and AnnData's header)
with one-line errors naming the file.
Names from a sheet or the config become file names only through ``safe_name`` / ``named_path``,
so no name can write outside its folder.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.errors import DISK_FULL, DiskFullError, InputError, one_line

_UMASK = os.umask(0)
os.umask(_UMASK)

#: longest file name ``safe_name`` returns: room for suffixes and atomic_path's temporary name
#: within the usual 255-byte limit of a file name
MAX_NAME = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: the mapping table beside per-name files: name as given -> file name used
NAMES_TABLE = "names.tsv"
#: suffixes of compressed text that pandas reads through (it infers the compression from the name)
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
#: the obs index of an AnnData file, read as a column of this name
OBS_NAMES = "obs_names"


def is_disk_full(exc: BaseException) -> int | None:
    """The errno (ENOSPC, EDQUOT) if ``exc``, its causes or (for an exception group) its
    members ran out of space, else None: writers wrap the ``OSError`` (zarr, parquet) or
    report it in words (torch)."""
    seen = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in DISK_FULL:
            return e.errno
        text = str(e).lower()
        for code, words in DISK_FULL.items():
            if words in text:
                return code
        stack += [e.__cause__, e.__context__, *getattr(e, "exceptions", ())]
    return None


@contextlib.contextmanager
def disk_full_names(path: str | Path):
    """Turn running out of space inside the block into one ``DiskFullError`` naming ``path``."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        code = is_disk_full(exc)
        if code:
            raise DiskFullError(path, code) from None
        raise


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary file beside ``path`` (same suffix, so writers pick the same format);
    it replaces ``path`` only when the block succeeds, so readers never see a half file. A
    full disk becomes one line naming ``path`` (``DiskFullError``), the temporary file removed."""
    path = Path(path)
    with disk_full_names(path):
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


def table_suffix(path: str | Path) -> str:
    """A table's format suffix, a compression suffix removed (``x.csv.gz`` -> ``.csv``), so that
    compressed text is parsed with its own separator."""
    path = Path(path)
    if path.suffix.lower() in COMPRESSION_SUFFIXES:
        return Path(path.stem).suffix
    return path.suffix


def read_table(path: str | Path, columns: list[str] | None = None, header_only: bool = False) -> pd.DataFrame:
    """Read a parquet, CSV or TSV table, compressed text too (separator from the suffix, else
    sniffed); only ``columns`` when given (a million-cell table's other columns cost hundreds of
    MB); no rows at all with ``header_only``, which also gives an AnnData file's obs columns
    (``h5ad_obs_columns``; its rows are read in batches by ``features.h5ad_table``)."""
    path = Path(path)
    suffix = table_suffix(path)
    try:
        if suffix == ".h5ad":
            if header_only:
                return pd.DataFrame(columns=h5ad_obs_columns(path))
            raise InputError(f"{path}: an AnnData file is read in batches (features.h5ad_table), not as one table")
        if suffix == ".parquet":
            if header_only:
                import pyarrow.parquet as pq

                return pq.read_schema(path).empty_table().to_pandas()
            return pd.read_parquet(path, columns=columns)
        text = dict(dtype=str, keep_default_na=False, usecols=columns, nrows=0 if header_only else None)
        if suffix == ".csv":
            return pd.read_csv(path, **text)
        if suffix in (".tsv", ".tab", ".txt"):
            return pd.read_csv(path, sep="\t", **text)
        return pd.read_csv(path, sep=None, engine="python", **text)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as exc:  # parser errors carry multi-line messages
        raise InputError(f"{path}: cannot parse table: {one_line(exc, None)}") from None


def table_columns(path: str | Path) -> list[str]:
    """A table's column names from its header alone (a sample sheet of a whole screen need not
    be read to see whether it has a label column)."""
    return list(read_table(path, header_only=True).columns)


@contextlib.contextmanager
def open_h5ad(path: str | Path):
    """An AnnData ``.h5ad`` file open for reading with h5py (anndata itself pins pandas < 3),
    checked to have an ``obs`` group; a missing file, one that is not HDF5 or not AnnData is one
    line naming it."""
    import h5py

    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        if "signature" in str(exc):  # HDF5's word for a file that is not HDF5
            raise InputError(f"{path}: not an HDF5 file, as AnnData .h5ad files are") from None
        raise InputError(f"{path}: cannot open as HDF5: {one_line(exc)}") from None
    with handle:
        obs = handle.get("obs")
        if isinstance(obs, h5py.Dataset):
            raise InputError(f"{path}: obs is one table (anndata before 0.7 wrote it so): write the file again")
        if not isinstance(obs, h5py.Group):
            raise InputError(f"{path}: not AnnData: no obs group (the file has {sorted(handle)[:12]})")
        yield handle


def _h5_text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def h5ad_obs_layout(path: str | Path, obs) -> tuple[str, list[str]]:
    """(index dataset, columns in order) of an open AnnData ``obs`` group, as the on-disk format
    says: the ``_index`` attribute names the index, ``column-order`` lists the columns (a file
    without it, anndata 0.7: the group's other members)."""
    index = _h5_text(obs.attrs.get("_index", "_index"))
    if index not in obs:
        raise InputError(f"{path}: obs has no index {index!r} (obs has {sorted(obs)[:12]})")
    order = obs.attrs.get("column-order")
    if order is None:
        return index, [name for name in obs if name not in (index, "__categories")]
    return index, [_h5_text(name) for name in np.atleast_1d(order)]


def h5ad_obs_columns(path: str | Path) -> list[str]:
    """An AnnData file's obs column names, its index first as ``OBS_NAMES`` (the header a
    config's column names are checked against)."""
    with open_h5ad(path) as handle:
        return [OBS_NAMES, *h5ad_obs_layout(path, handle["obs"])[1]]


def file_fingerprint(path: str | Path) -> str:
    """'<path> sha256:<digest>' of an input file the workflow does not track by itself (a
    rule's params): editing the file, or pointing the config at another one, reruns what
    depends on it even when its modification time says otherwise. Hashed once per version."""
    stat = Path(path).stat()
    return f"{path} sha256:{_digest(str(path), stat.st_mtime_ns, stat.st_size)}"


@functools.lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def safe_name(name) -> str:
    """``name`` as one file name that stays in its folder, the same on every run and system.

    Only ASCII letters, digits, '.', '_' and '-' are kept (accents are dropped, é -> e; other
    characters, separators and control characters become '_'), runs of dots become one and
    leading dots and dashes go (no '..', no hidden files, nothing read as an option), and the
    result is 1 to ``MAX_NAME`` characters. A name that had to change (or was empty) gets a
    short hash of the original appended, so distinct names never share a file; a name that is
    already safe is returned as it is.
    """
    text = str(name)
    ascii_text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    base = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", ascii_text)).lstrip(".-")
    if base and base == text and len(base) <= MAX_NAME:
        return base
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{base[: MAX_NAME - len(digest) - 1].rstrip('.-')}-{digest}".lstrip("-")


def named_path(folder: str | Path, name, suffix: str = "") -> Path:
    """``<folder>/<safe_name(name)><suffix>``, checked to lie directly in ``folder``: the last
    guard, so that not even a suffix can carry a write elsewhere."""
    folder = Path(folder)
    path = folder / f"{safe_name(name)}{suffix}"
    if path.parent != folder or path.name in ("", ".", ".."):
        raise ValueError(f"{path}: a file named after {name!r} would land outside {folder}")
    return path


def write_names(folder: str | Path, files: dict[str, str], column: str = "name") -> Path:
    """``<folder>/names.tsv``: each name as given (``column``) and the file name it was written
    under (``file``, without suffix), so that files of renamed names can be found."""
    table = pd.DataFrame({column: list(files), "file": list(files.values())})
    return write_table(table, Path(folder) / NAMES_TABLE)
