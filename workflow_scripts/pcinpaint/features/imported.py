"""Feature tables made elsewhere (CellProfiler exports, published per-protein matrices) as feature sets.

A per-cell table joins the cell table on one or more key columns and becomes a feature table in
store order; a per-protein table joins on ``protein`` and becomes one row per protein of the
screen (``Metadata_protein`` first). Feature columns are the table's numeric columns other than
the keys and any ``Metadata_*`` columns. Joins are strict: rows that match no cell (or cells
with no row) stop the run with the count, since a silently partial table would bias every
comparison made with it; ``drop_unmatched`` accepts extra rows (e.g. objects a CellProfiler
pipeline found that this segmentation did not), never missing ones.

The user's table is read once, a batch of rows at a time (parquet record batches, text in
chunks): the keys are kept (a short string per row), the candidate feature values go to an
unnamed temporary file as float32, and the feature table is then written in store order from
that file, so memory follows the batch, not the screen.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.errors import InputError, one_line
from pcinpaint.features.table import METADATA_PREFIX, feature_table, feature_table_writer, with_metadata
from pcinpaint.io import disk_full_names, table_suffix, write_table

log = logging.getLogger(__name__)

#: values (rows x columns) per batch read from the user's table: tens of MB, whatever its shape
BATCH_VALUES = 1_000_000
#: feature rows per block written to the feature table
WRITE_ROWS = 2_048
#: candidate feature columns per pass over a parquet table (each costs a reader a few MB)
PARQUET_COLUMNS = 32
#: bytes a parquet column reader buffers
PARQUET_BUFFER = 64 * 2**10
#: text read as a missing value, not as text
BLANK = ["", "nan", "NaN", "NA", "null", "None"]
#: a virtual column of every table: its row numbers (0, 1, ...), the key of a table without cell ids
ROW = "__row__"


@dataclass(frozen=True)
class FeatureSource:
    """Where a table's features are: the file; for AnnData, the ``obsm`` key (None: ``X``); the
    feature columns (None: every column that is not a key nor ``Metadata_``-prefixed); and
    whether a text column among them stops the run (``strict``: a table that is the whole
    dataset names its features, so text there is a mistake) or is only left out."""

    path: Path
    obsm: str | None = None
    features: tuple[str, ...] | None = None
    strict: bool = False

    @classmethod
    def of(cls, source) -> FeatureSource:
        return source if isinstance(source, FeatureSource) else cls(Path(source))


def key_columns(key, level: str) -> dict[str, str]:
    """{column in the file: cell-table column} from the config's ``key`` (None, a name or a mapping)."""
    if key is None:
        key = "protein" if level == "protein" else "cell_id"
    return {key: key} if isinstance(key, str) else dict(key)


def _keys_as_text(frame: pd.DataFrame, columns) -> pd.Series:
    """One string per row of the key columns (files and cell tables may type ids differently)."""
    parts = [frame[c].astype(str).str.strip() for c in columns]
    return parts[0] if len(parts) == 1 else pd.Series(list(zip(*parts)), index=frame.index).map("\x1f".join)


def _column_values(raw: pd.Series) -> tuple[str, np.ndarray | None]:
    """('text' | 'missing' | 'number', float32 values of a number column) of one column's rows.

    Text cells are any that are not numbers nor blank (file names, labels); a column with a blank,
    NaN or infinite value is missing values (imputing would invent measurements). Deciding per
    batch and combining (text anywhere wins, then missing anywhere) gives the whole column's answer.
    """
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        stripped = raw.astype(str).str.strip()
        blank = stripped.isin(BLANK)
        number = pd.to_numeric(stripped.where(~blank), errors="coerce")
        if (number.isna() & ~blank).any():
            return "text", None
    else:
        number = pd.to_numeric(raw, errors="coerce")
    if number.isna().any() or not np.isfinite(number.to_numpy(np.float64)).all():
        return "missing", None
    return "number", number.to_numpy(np.float32)


def _text_options(path: Path) -> dict:
    """``io.read_table``'s parser options for a text table (separator from the suffix, else
    sniffed; gzipped and other compressed text is read through, as pandas infers it)."""
    options = dict(dtype=str, keep_default_na=False)
    suffix = table_suffix(path)
    if suffix in (".tsv", ".tab", ".txt"):
        options["sep"] = "\t"
    elif suffix != ".csv":
        options.update(sep=None, engine="python")
    return options


def _unparsable(path: Path, exc: Exception) -> InputError:
    return InputError(f"{path}: cannot parse table: {one_line(exc, None)}")


class TableReader:
    """A parquet, CSV/TSV (compressed too) or AnnData table read in batches of rows: the frames
    ``io.read_table`` gives, about ``BATCH_VALUES`` values at a time, each with the virtual
    ``ROW`` column of row numbers where asked for.

    Parquet and AnnData are columnar, so a pass may read a few columns (``columnar``): a parquet
    reader decodes a page and a dictionary per column it reads (up to a few MB each), which for
    a table of thousands of columns would cost GBs however few the rows. Text is parsed whole
    rows at a time."""

    def __init__(self, source: FeatureSource | str | Path):
        source = FeatureSource.of(source)
        self.path = Path(source.path)
        self.columnar = table_suffix(self.path) in (".parquet", ".h5ad")
        self._h5ad = None
        self.index_columns: list[str] = []
        try:
            if table_suffix(self.path) == ".h5ad":
                from pcinpaint.features.h5ad_table import H5adTable

                self._h5ad = H5adTable(self.path, source.obsm)
                self.columns = list(self._h5ad.columns)
            elif self.columnar:
                import pyarrow.parquet as pq

                # buffered reads: without them a column's whole chunk of a row group is loaded
                self._file = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=PARQUET_BUFFER)
                # a named pandas index (``df.set_index("cell_id").to_parquet()``) is a column here,
                # an id column (it is never a feature); an unnamed one is left out
                schema = self._file.schema_arrow
                self.index_columns = [
                    c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)
                ]
                self.columns = [n for n in schema.names if not n.startswith("__index_level_")]
            else:
                self._options = _text_options(self.path)
                self.columns = list(pd.read_csv(self.path, nrows=0, **self._options).columns)
        except FileNotFoundError:
            raise InputError(f"{self.path}: file not found") from None
        except InputError:
            raise
        except Exception as exc:  # parser errors carry multi-line messages
            raise _unparsable(self.path, exc) from None

    @property
    def feature_columns(self) -> list | None:
        """An AnnData file's feature columns (of X or its obsm key); None for other tables, whose
        features are told apart from metadata by name."""
        return None if self._h5ad is None else list(self._h5ad.features)

    @property
    def metadata_columns(self) -> list | None:
        """An AnnData file's obs columns (its index first); None for other tables."""
        return None if self._h5ad is None else list(self._h5ad.metadata)

    @property
    def integer_columns(self) -> set[str]:
        """A parquet file's integer columns: a batch holding a null reads one as floats (1.0, where
        a batch without reads 1), so text made of it must be made from integers; none for others."""
        if self._h5ad is not None or not self.columnar:
            return set()
        import pyarrow as pa

        return {f.name for f in self._file.schema_arrow if pa.types.is_integer(f.type)}

    def batches(self, columns: list | None = None) -> Iterator[pd.DataFrame]:
        """Frames of consecutive rows: of ``columns`` only where the format allows, else whole rows."""
        at = 0
        for frame in self._frames(None if columns is None else [c for c in columns if c != ROW]):
            if columns is None or ROW in columns:
                frame[ROW] = np.arange(at, at + len(frame)).astype(str)
            at += len(frame)
            yield frame

    def _frames(self, columns: list | None) -> Iterator[pd.DataFrame]:
        try:
            # text is parsed whole rows at a time, so its batch is sized by every column
            width = len(columns) if columns is not None and self.columnar else len(self.columns)
            rows = max(1, BATCH_VALUES // max(width, 1))
            if self._h5ad is not None:
                yield from self._h5ad.batches(columns, rows)
            elif self.columnar:
                import pyarrow as pa

                for batch in self._file.iter_batches(batch_size=rows, columns=columns):
                    frame = pa.Table.from_batches([batch]).to_pandas()
                    named = [n for n in frame.index.names if n is not None]
                    yield frame.reset_index(level=named) if named else frame
            else:
                yield from pd.read_csv(self.path, chunksize=rows, **self._options)
        except InputError:
            raise
        except Exception as exc:
            raise _unparsable(self.path, exc) from None


def _read_rows(fd: int, base: int, row_bytes: int, rows: np.ndarray, out: np.ndarray) -> None:
    """Rows ``rows`` (increasing) of a row-major region of a file at ``base`` into ``out``, run by run."""
    view = memoryview(out.reshape(-1).view(np.uint8))
    starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
    for a, b in zip(starts, np.append(starts[1:], len(rows))):
        done, end, offset = a * row_bytes, b * row_bytes, base + int(rows[a]) * row_bytes
        while done < end:  # a read returns at most 2 GiB
            got = os.preadv(fd, [view[done:end]], offset)
            if got <= 0:
                raise OSError("temporary feature file: ended early")
            done, offset = done + got, offset + got


class JoinedTable:
    """A user's table joined to the screen: feature ``names``, ``rows`` (the cell table in store
    order, or the screen's proteins) and their features, read block by block from the spill file.

    The spill file holds the table's matched rows in file order, one row-major region of float32
    per group of candidate columns."""

    def __init__(self, rows: pd.DataFrame, names: list[str], order: np.ndarray, spill, regions: list):
        self.rows, self.names = rows, names
        self._order, self._spill, self._regions = order, spill, regions

    def features(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """float32 features of rows ``start:stop``: their spilled rows read in file order."""
        wanted = self._order[start:stop]
        perm = np.argsort(wanted, kind="stable")
        at = wanted[perm]
        out = np.empty((len(at), len(self.names)), np.float32)
        for base, width, keep, columns in self._regions:
            block = np.empty((len(at), width), np.float32)
            _read_rows(self._spill.fileno(), base, 4 * width, at, block)
            out[perm[:, None], columns] = block[:, keep]
        return out

    def blocks(self, rows: int | None = None) -> Iterator[np.ndarray]:
        rows = rows or WRITE_ROWS  # read when called, so the module's value can be tuned
        for start in range(0, len(self.rows), rows):
            yield self.features(start, start + rows)


@contextmanager
def joined_table(
    path: FeatureSource | str | Path,
    cells: pd.DataFrame,
    key=None,
    level: str = "cell",
    drop_unmatched: bool = False,
    spill_dir: str | Path | None = None,
) -> Iterator[JoinedTable]:
    """Read the user's table, check its join with the screen, and yield the joined table.

    Text is read once; parquet once per ``PARQUET_COLUMNS`` candidate columns (the keys in the
    first pass). The candidate values wait in an unnamed temporary file in ``spill_dir``
    (removed however the run ends), as large as the float32 features. ``path`` may be a
    ``FeatureSource`` naming the feature columns (and an AnnData file's ``obsm`` key)."""
    source = FeatureSource.of(path)
    path = source.path
    keys = key_columns(key, level)
    table = TableReader(source)
    _check_keys(path, [*table.columns, ROW], cells.columns, keys, level)
    cells = in_store_order(cells)
    rows = pd.DataFrame({"protein": pd.unique(cells["protein"])}) if level == "protein" else cells
    cell_key = _keys_as_text(rows, list(keys.values()))
    screen = pd.Index(cell_key.unique())
    candidates = _candidates(source, table.columns, keys, table.index_columns)
    step = PARQUET_COLUMNS if table.columnar else max(len(candidates), 1)
    groups = [candidates[i : i + step] for i in range(0, len(candidates), step)] or [[]]

    with tempfile.TemporaryFile(dir=spill_dir) as spill:
        file_key, matched, kinds = _spill(table, list(keys), groups, screen, spill)
        n_matched = int(matched.sum())
        file_key = _matched_keys(path, keys, level, file_key, matched, drop_unmatched)
        position = pd.Index(file_key).get_indexer(cell_key)  # spilled row of each cell (keys are unique now)
        missing = pd.Series(position < 0, index=cell_key.index)
        if missing.any():
            raise InputError(
                f"{path}: {int(missing.sum())} of {len(rows)} {level}s of the screen have no row "
                f"(key {list(keys)}, e.g. {cell_key[missing].iloc[0]!r})"
            )
        names = _feature_names(path, candidates, kinds, source.strict)
        regions = _regions(groups, kinds, n_matched)
        log.info("%s: %d %ss x %d features", path, len(rows), level, len(names))
        yield JoinedTable(rows, names, position, spill, regions)


def _candidates(source: FeatureSource, columns: list, keys: dict, index: list) -> list:
    """The columns that may hold features: the source's own list (checked to be in the table),
    else every column that is not a key, ``Metadata_``-prefixed or a parquet file's index."""
    if source.features is None:
        return [c for c in columns if c not in keys and not str(c).startswith(METADATA_PREFIX) and c not in index]
    absent = [c for c in source.features if c not in columns]
    if absent:
        raise InputError(f"{source.path}: feature column(s) {absent[:5]} not in the table ({len(absent)} missing)")
    return list(source.features)


def _check_keys(path: Path, table_columns, cell_columns, keys: dict[str, str], level: str) -> None:
    """The key columns are in the table and in the cell table; a per-protein table joins on protein."""
    absent = [c for c in keys if c not in table_columns]
    if absent:
        raise InputError(f"{path}: key column(s) {absent} not in the table (it has {list(table_columns)[:12]})")
    absent = [c for c in keys.values() if c not in cell_columns]
    if absent:
        raise InputError(f"{path}: key column(s) {absent} not in the cell table (it has {list(cell_columns)})")
    if level == "protein" and list(keys.values()) != ["protein"]:
        raise InputError(
            f"{path}: a per-protein table joins on the cell table's protein column, not {list(keys.values())}"
        )


#: a column's kind as ``kinds`` records it (the strongest seen wins)
_RANK = {"number": 0, "missing": 1, "text": 2}


def _spill(
    table: TableReader, keys: list, groups: list[list], screen: pd.Index, spill
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Read the table group of columns by group (the keys in the first pass) and write the rows
    matching the screen to ``spill``, one row-major float32 region per group: (every row's key
    as text, which rows match, each candidate column's kind: 0 number, 1 missing, 2 text)."""
    kinds = np.zeros(sum(len(g) for g in groups), np.int8)
    file_keys, matched_rows, matched_all, n_matched, first = [], [], np.zeros(0, bool), 0, 0
    for g, group in enumerate(groups):
        base = 4 * n_matched * first  # regions follow one another, n_matched rows each
        written, at = 0, 0
        read = (keys + group) if g == 0 or not table.columnar else group
        for frame in table.batches(read if table.columnar else None):
            if g == 0:
                batch_key = _keys_as_text(frame, keys)
                file_keys.append(batch_key.reset_index(drop=True))
                matched_rows.append(screen.get_indexer(batch_key) >= 0)
                matched = matched_rows[-1]
            else:
                matched = matched_all[at : at + len(frame)]
            at += len(frame)
            frame = frame[matched]
            values = _group_values(frame, group, first, kinds)
            os.pwrite(spill.fileno(), values.tobytes(), base + 4 * written * len(group))
            written += len(frame)
        if g == 0:
            matched_all = np.concatenate(matched_rows) if matched_rows else matched_all
            n_matched = int(matched_all.sum())
        first += len(group)
    file_key = pd.concat(file_keys, ignore_index=True) if file_keys else pd.Series([], dtype=object)
    return file_key, matched_all, kinds


def _group_values(frame: pd.DataFrame, group: list, first: int, kinds: np.ndarray) -> np.ndarray:
    """float32 values of a group of candidate columns (NaN where not numbers), recording each
    column's kind in ``kinds`` (from position ``first``); columns already text are skipped."""
    values = np.full((len(frame), len(group)), np.nan, np.float32)
    for j, col in enumerate(group, start=first):
        if kinds[j] == 2:
            continue
        kind, numbers = _column_values(frame[col])
        kinds[j] = max(kinds[j], _RANK[kind])
        if numbers is not None:
            values[:, j - first] = numbers
    return values


def _matched_keys(
    path: Path, keys: dict[str, str], level: str, file_key: pd.Series, matched: np.ndarray, drop_unmatched: bool
) -> pd.Series:
    """The keys of the spilled rows, checked: unique, and every row matching the screen (rows
    that match none dropped with a warning under ``drop_unmatched``)."""
    if file_key.duplicated().any():
        raise InputError(
            f"{path}: {int(file_key.duplicated().sum())} row(s) repeat the key of another row "
            f"(key {list(keys)}); each {level} needs exactly one row"
        )
    unmatched = pd.Series(~matched, index=file_key.index)
    if unmatched.any():
        message = (
            f"{path}: {int(unmatched.sum())} of {len(file_key)} rows match no {level} of the screen "
            f"on key {list(keys)} (e.g. {file_key[unmatched].iloc[0]!r})"
        )
        if not drop_unmatched:
            raise InputError(message + "; set drop_unmatched: true to drop them")
        log.warning("%s; dropped (drop_unmatched)", message)
        file_key = file_key[~unmatched]
    return file_key


def _feature_names(path: Path, candidates: list, kinds: np.ndarray, strict: bool = False) -> list[str]:
    """The feature columns: the candidates with numbers in every row (the others reported;
    with ``strict``, a text column stops the run)."""
    text = [c for c, k in zip(candidates, kinds) if k == 2]
    gaps = [c for c, k in zip(candidates, kinds) if k == 1]
    if text and strict:
        raise InputError(
            f"{path}: {len(text)} feature column(s) hold text, not numbers: {text[:5]}; name metadata "
            "columns with the Metadata_ prefix or in feature_table.columns, or choose the features "
            "with feature_table.features"
        )
    if text:
        log.info("%s: %d non-numeric column(s) are not features: %s", path, len(text), text[:10])
    if gaps:
        log.warning("%s: %d column(s) with missing or infinite values dropped: %s", path, len(gaps), gaps[:10])
    if not (kinds == 0).any():
        raise InputError(f"{path}: no numeric feature columns with complete values")
    return [str(c) for c, k in zip(candidates, kinds) if k == 0]


def _regions(groups: list[list], kinds: np.ndarray, n_matched: int) -> list[tuple]:
    """Per group with features: (offset in the spill file, its columns, the feature columns among
    them, their places among the features), for ``JoinedTable.features``."""
    regions, first, out_at = [], 0, 0
    for group in groups:
        keep = np.flatnonzero(kinds[first : first + len(group)] == 0)
        if len(keep):
            regions.append((4 * n_matched * first, len(group), keep, np.arange(out_at, out_at + len(keep))))
        first, out_at = first + len(group), out_at + len(keep)
    return regions


def in_store_order(cells: pd.DataFrame) -> pd.DataFrame:
    """The cell table sorted by ``store_index`` (itself when it already is: no copy of a large table)."""
    if isinstance(cells.index, pd.RangeIndex) and cells.index.start == 0 and cells.index.step == 1:
        if cells["store_index"].is_monotonic_increasing:
            return cells
    return cells.sort_values("store_index").reset_index(drop=True)


def import_features(
    path: str | Path, cells: pd.DataFrame, key=None, level: str = "cell", drop_unmatched: bool = False
) -> pd.DataFrame:
    """The user's table as a feature table in memory: per cell in store order, or per protein."""
    with joined_table(path, cells, key, level, drop_unmatched) as joined:
        features = joined.features()
        if level == "protein":
            return with_metadata(joined.rows, features, joined.names)
        return feature_table(joined.rows, features, "", joined.names)


def write_imported_features(
    path: str | Path, cells: pd.DataFrame, out: str | Path, key=None, level: str = "cell", drop_unmatched: bool = False
) -> int:
    """``import_features`` written to ``out`` (atomically) block by block; returns its rows.

    A per-cell table streams into parquet row groups; a per-protein one (a row per protein) is
    written whole. The temporary values file sits beside ``out``."""
    out = Path(out)
    cells = in_store_order(cells)  # sorted once, for the join and the writer
    with disk_full_names(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        with joined_table(path, cells, key, level, drop_unmatched, spill_dir=out.parent) as joined:
            if level == "protein":
                write_table(with_metadata(joined.rows, joined.features(), joined.names), out)
            else:
                with feature_table_writer(joined.rows, out, "", len(joined.names), joined.names) as writer:
                    for block in joined.blocks():
                        writer.write(block)
            return len(joined.rows)
