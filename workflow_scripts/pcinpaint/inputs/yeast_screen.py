"""Yeast GFP screens as folders of fields: listed, split into one plane per channel, labelled.

Genome-wide yeast screens (Huh 2003, CYCLoPs, Chong 2015) ship one folder per ORF (or per
well) holding that strain's fields. Each field has a GFP channel (the tagged protein) and a
structural channel (a cytosolic RFP or brightfield), stored either as one file per channel
(told apart by a token in the file name, e.g. ``_gfp`` / ``_rfp``) or as one multi-page TIFF
per folder with the channels interleaved page by page (GFP, RFP, GFP, RFP, ...). Everything
later reads a sample sheet whose channel columns name one 2-D plane each, so
``write_samplesheet`` splits interleaved stacks into per-channel files and points at
single-channel files where they lie. One folder is one image (the group training pairs are
drawn in) and one protein: the folder's name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import tifffile

from pcinpaint.errors import ConfigError, InputError
from pcinpaint.inputs.annotations import merge_terms, protein_classes, read_annotations
from pcinpaint.inputs.files import TIFF_SUFFIXES, file_stem, files_by_key, natural_key
from pcinpaint.io import atomic_path, named_path

log = logging.getLogger(__name__)
#: the separator of an interleaved field id ("<stack>/<page>") becomes this before the id is
#: made a file name, so the split files keep the names they always had
SEPARATOR = "__"

LAYOUTS = ("single", "interleaved")


def _folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise InputError(f"{root}: screen folder not found")
    folders = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: natural_key(p.name)
    )
    if not folders:
        raise InputError(f"{root}: empty screen: no per-ORF (or per-well) folders inside")
    return folders


def _files(folder: Path, pattern: str) -> list[Path]:
    files = sorted(
        (p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith(".")),
        key=lambda p: (natural_key(file_stem(p)), p.name),
    )
    if not files:
        raise InputError(f"{folder}: empty folder: no files matching '{pattern}'")
    return files


def _tiff_pages(path: Path) -> list[tuple[int, ...]]:
    """Shape of every page (header only, no pixel data read)."""
    try:
        with tifffile.TiffFile(path) as tif:
            return [tuple(page.shape) for page in tif.pages]
    except Exception as exc:
        raise InputError(f"{path}: cannot read TIFF: {' '.join(str(exc).split())[:200]}") from None


def _check_args(channels: Sequence[str], layout: str, tokens: dict | None) -> list[str]:
    channels = list(channels)
    if len(channels) < 2 or len(set(channels)) != len(channels):
        raise ConfigError(f"yeast_screen: need two or more distinct channel names, got {channels}")
    if layout not in LAYOUTS:
        raise ConfigError(f"yeast_screen.layout: unknown layout '{layout}'; choose one of {list(LAYOUTS)}")
    if layout == "single":
        missing = [ch for ch in channels if not (tokens or {}).get(ch)]
        if missing:
            raise ConfigError(
                f"yeast_screen.tokens: layout 'single' needs a file-name token for channel(s) {missing}, got {tokens}"
            )
    return channels


def scan_screen(
    root: str | Path,
    channels: Sequence[str],
    layout: str = "single",
    tokens: dict[str, str] | None = None,
    pattern: str = "*.tif*",
) -> pd.DataFrame:
    """One row per field: ``image_id``, ``field_id``, ``protein``, ``folder``, ``layout``, and per
    channel the file (``<channel>``) and its 0-based page (``<channel>_page``).

    ``layout="single"``: one 2-D file per channel, named by ``tokens`` ({channel: token});
    files carrying no token are ignored (logged). ``layout="interleaved"``: every file is a
    stack whose pages cycle through ``channels`` in the order given (page k is field
    k // C, channel k % C). Only headers are read. Field ids are ``<folder>/<file name part>``
    (interleaved: ``<folder>/<file stem>/<field number>``), unique across the screen.
    """
    root = Path(root)
    channels = _check_args(channels, layout, tokens)
    rows = []
    for folder in _folders(root):
        files = _files(folder, pattern)
        if layout == "interleaved":
            rows += _interleaved_rows(folder, files, channels)
        else:
            rows += _single_rows(folder, files, channels, tokens)
    listing = pd.DataFrame(rows)
    dup = listing["field_id"][listing["field_id"].duplicated()]
    if len(dup):
        raise InputError(f"{root}: field id '{dup.iloc[0]}' arises from two files; rename one of them")
    log.info("%s: %d fields in %d folders (%s layout)", root, len(listing), listing["image_id"].nunique(), layout)
    return listing


def _base(folder: Path, field_id: str, layout: str) -> dict:
    return {
        "image_id": folder.name,
        "field_id": field_id,
        "protein": folder.name,
        "folder": str(folder.resolve()),
        "layout": layout,
    }


def _interleaved_rows(folder: Path, files: list[Path], channels: list[str]) -> list[dict]:
    rows = []
    n_channels = len(channels)
    for path in files:
        shapes = _tiff_pages(path)
        n = len(shapes)
        if any(len(s) != 2 for s in shapes):
            bad = next(s for s in shapes if len(s) != 2)
            raise InputError(f"{path}: a page has shape {bad}; interleaved stacks need 2-D single-channel pages")
        if n == 0 or n % n_channels:
            raise InputError(
                f"{path}: odd page count: {n} pages is not a multiple of the {n_channels} "
                f"interleaved channels {channels}"
            )
        if len(set(shapes)) > 1:
            raise InputError(f"{path}: pages differ in shape {sorted(set(shapes))}; every field's planes must match")
        for k in range(n // n_channels):
            row = _base(folder, f"{folder.name}/{file_stem(path)}/{k + 1}", "interleaved")
            for c, ch in enumerate(channels):
                row[ch] = str(path.resolve())
                row[f"{ch}_page"] = k * n_channels + c
            rows.append(row)
    return rows


def _single_rows(folder: Path, files: list[Path], channels: list[str], tokens: dict[str, str]) -> list[dict]:
    fields, ignored = files_by_key(files, {ch: tokens[ch] for ch in channels}, "field")
    if ignored:
        log.info("%s: %d files carry no channel token and are ignored (e.g. %s)", folder, len(ignored), ignored[0])
    if not fields:
        raise InputError(f"{folder}: empty folder: no file name carries a channel token {tokens}")
    rows = []
    for key in sorted(fields, key=natural_key):
        have = fields[key]
        for ch in channels:
            if ch not in have:
                other = next(iter(have.values()))
                raise InputError(f"{other}: field '{key}' has no '{ch}' file (token '{tokens[ch]}') in {folder}")
        row = _base(folder, f"{folder.name}/{key}", "single")
        for ch in channels:
            path = have[ch]
            if path.suffix.lower() in TIFF_SUFFIXES:
                shapes = _tiff_pages(path)
                if len(shapes) != 1 or len(shapes[0]) != 2:
                    raise InputError(
                        f"{path}: holds {len(shapes)} page(s) of shape {shapes[0] if shapes else ()}; "
                        "layout 'single' needs one 2-D plane per file (stacks: layout 'interleaved')"
                    )
            row[ch] = str(path.resolve())
            row[f"{ch}_page"] = 0
        rows.append(row)
    return rows


def write_samplesheet(listing: pd.DataFrame, fields_dir: str | Path) -> pd.DataFrame:
    """The sample sheet of a listing from ``scan_screen``: one 2-D plane per channel column.

    Interleaved stacks are split into ``<fields_dir>/<field>_<channel>.tif`` (each written
    atomically, pixel values and dtype unchanged; the stack is only read; ``<field>`` is the
    field id made a safe file name, ``io.safe_name``, the sheet says which); single-channel
    files are pointed at where they are. Columns: ``image_id``, ``field_id``, ``protein``,
    any of ``cell_line``/``antibody``/``label`` the listing has, then the channels.
    """
    fields_dir = Path(fields_dir)
    channels = [c[: -len("_page")] for c in listing.columns if c.endswith("_page")]
    sheet = listing.copy()
    split = sheet["layout"] == "interleaved"
    if split.any():
        fields_dir.mkdir(parents=True, exist_ok=True)
    for source, rows in sheet[split].groupby(channels[0], sort=False):
        with tifffile.TiffFile(source) as tif:
            for index, row in rows.iterrows():
                for ch in channels:
                    plane = tif.pages[int(row[f"{ch}_page"])].asarray()
                    target = named_path(fields_dir, str(row["field_id"]).replace("/", SEPARATOR), f"_{ch}.tif")
                    with atomic_path(target) as tmp:
                        tifffile.imwrite(tmp, plane)
                    sheet.loc[index, ch] = str(target.resolve())
    meta = ["image_id", "field_id", "protein"] + [c for c in ("cell_line", "antibody", "label") if c in sheet.columns]
    return sheet[meta + channels].reset_index(drop=True)


def orf_labels(
    huh2003_csv: str | Path, merge: dict | None = None, key: str | None = None, mode: str = "combined"
) -> pd.Series:
    """protein -> localization label from Huh et al. 2003 (terms joined by '+', lower-case).

    ``key`` picks the name column ("yORF", the default, or "gene name" for screens whose
    folders carry gene names); ``merge`` is a class-merge map as in ``annotations.merge_terms``;
    ``mode="single"`` keeps only single-compartment proteins.
    """
    terms = read_annotations(huh2003_csv, layout="huh2003", key=key)
    if merge:
        terms = merge_terms(terms, merge)
    return protein_classes(terms, mode=mode).rename("label")
