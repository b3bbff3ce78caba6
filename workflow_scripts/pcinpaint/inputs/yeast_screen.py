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

Screens whose structural channel the cytosol watershed cannot segment (brightfield; a
nuclear-pore marker that rims only the nucleus) come with a label mask per field made
elsewhere (YeastSpotter, Cellpose): with layout single, a file-name token names it as tokens
name the channels, and the sheet's ``mask`` column carries it to segmentation method
``provided``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import tifffile

from pcinpaint.errors import ConfigError, InputError, one_line
from pcinpaint.inputs.annotations import merge_terms, protein_classes, read_annotations
from pcinpaint.inputs.files import TIFF_SUFFIXES, channel_of, file_stem, files_by_key, natural_key
from pcinpaint.io import atomic_path, named_path

log = logging.getLogger(__name__)
#: the separator of an interleaved field id ("<stack>/<page>") becomes this before the id is
#: made a file name, so the split files keep the names they always had
SEPARATOR = "__"

LAYOUTS = ("single", "interleaved")
#: the listing's and the sample sheet's column of each field's label mask
MASK = "mask"


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
        raise InputError(f"{path}: cannot read TIFF: {one_line(exc)}") from None


def _check_args(channels: Sequence[str], layout: str, tokens: dict | None, masks: str | None = None) -> list[str]:
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
    if masks is not None:
        _check_masks(channels, layout, tokens, masks)
    return channels


def _check_masks(channels: list[str], layout: str, tokens: dict | None, masks: str) -> None:
    """A mask token must name files of its own: a stack's pages hold no masks, and a token
    shared with a channel would make one file both."""
    if layout != "single":
        raise ConfigError(
            f"yeast_screen.masks: masks need layout 'single' (one label mask file per field, named by "
            f"its token '{masks}'); layout is '{layout}'"
        )
    if not masks:
        raise ConfigError("yeast_screen.masks: an empty token; give the file-name token of the masks, e.g. _mask")
    if MASK in channels:
        raise ConfigError(f"yeast_screen.masks: a channel named '{MASK}' would share the sheet's mask column")
    same = [ch for ch in channels if tokens[ch] == masks]
    if same:
        raise ConfigError(f"yeast_screen.masks: token '{masks}' is also the token of channel(s) {same}")


def scan_screen(
    root: str | Path,
    channels: Sequence[str],
    layout: str = "single",
    tokens: dict[str, str] | None = None,
    pattern: str = "*.tif*",
    masks: str | None = None,
) -> pd.DataFrame:
    """One row per field: ``image_id``, ``field_id``, ``protein``, ``folder``, ``layout``, and per
    channel the file (``<channel>``) and its 0-based page (``<channel>_page``).

    ``layout="single"``: one 2-D file per channel, named by ``tokens`` ({channel: token});
    files carrying no token are ignored (logged). ``masks`` (layout single only): the token of
    each field's label mask file, listed in a ``mask`` column; a file carrying it is that mask
    and nothing else (see ``_mask_key``). ``layout="interleaved"``: every file is a
    stack whose pages cycle through ``channels`` in the order given (page k is field
    k // C, channel k % C). Only headers are read. Field ids are ``<folder>/<file name part>``
    (interleaved: ``<folder>/<file stem>/<field number>``), unique across the screen.
    """
    root = Path(root)
    channels = _check_args(channels, layout, tokens, masks)
    rows = []
    for folder in _folders(root):
        files = _files(folder, pattern)
        if layout == "interleaved":
            rows += _interleaved_rows(folder, files, channels)
        else:
            rows += _single_rows(folder, files, channels, tokens, masks)
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


def _check_plane(path: Path, what: str) -> tuple[int, ...] | None:
    """The 2-D shape of a single-plane TIFF (None for other formats, whose header is not read)."""
    if path.suffix.lower() not in TIFF_SUFFIXES:
        return None
    shapes = _tiff_pages(path)
    if len(shapes) != 1 or len(shapes[0]) != 2:
        raise InputError(
            f"{path}: holds {len(shapes)} page(s) of shape {shapes[0] if shapes else ()}; layout 'single' needs "
            + ("one 2-D plane per file (stacks: layout 'interleaved')" if what == "channel" else f"one 2-D {what}")
        )
    return shapes[0]


def _mask_key(stem: str, masks: str, tokens: dict[str, str]) -> str | None:
    """The field key of a mask file's name (the name without the mask token), or None when the
    name is no mask's. The mask token wins over a channel token anywhere in the name
    (``f1_gfp_mask``, ``f1_mask_gfp``: masks), unless it only lies inside a channel token
    (``_m`` in ``f1_mcherry``)."""
    own = channel_of(stem, {MASK: masks})
    if own is None:
        return None
    found = channel_of(stem, {**tokens, MASK: masks})
    if found is not None and found[0] != MASK and channel_of(found[1], {MASK: masks}) is None:
        return None
    return own[1]


def _masks_by_field(folder: Path, masks: list[Path], fields: dict, masks_token: str, tokens: dict) -> dict[str, Path]:
    """Field key -> mask file. A mask named after the channel file it was made from
    (``f1_bf_mask`` for ``f1_bf``, as Cellpose names its output) belongs to that file's field."""
    found: dict[str, Path] = {}
    for path in masks:
        key = _mask_key(file_stem(path), masks_token, tokens)
        if key not in fields:
            inner = channel_of(key, tokens)
            if inner is not None and inner[1] in fields:
                key = inner[1]
        if key not in fields:
            log.warning("%s: mask %s matches no field's channel files; ignored", folder, path.name)
            continue
        if key in found:
            raise InputError(f"{path}: a second mask file for field '{key}' (first: {found[key].name})")
        found[key] = path
    return found


def _single_rows(
    folder: Path, files: list[Path], channels: list[str], tokens: dict[str, str], masks: str | None = None
) -> list[dict]:
    tokens = {ch: tokens[ch] for ch in channels}
    is_mask = [bool(masks) and _mask_key(file_stem(p), masks, tokens) is not None for p in files]
    mask_files = [p for p, m in zip(files, is_mask) if m]
    others = [p for p, m in zip(files, is_mask) if not m]
    fields, ignored = files_by_key(others, tokens, "field")
    if ignored:
        what = "channel or mask token" if masks else "channel token"
        log.info("%s: %d files carry no %s and are ignored (e.g. %s)", folder, len(ignored), what, ignored[0])
    if not fields:
        raise InputError(f"{folder}: empty folder: no file name carries a channel token {tokens}")
    field_masks = _masks_by_field(folder, mask_files, fields, masks, tokens) if masks else {}
    rows = []
    for key in sorted(fields, key=natural_key):
        have = fields[key]
        for ch in channels:
            if ch not in have:
                other = next(iter(have.values()))
                raise InputError(f"{other}: field '{key}' has no '{ch}' file (token '{tokens[ch]}') in {folder}")
        if masks and key not in field_masks:
            raise InputError(
                f"{have[channels[0]]}: field '{key}' has no mask file (token '{masks}') in {folder}; "
                "segmentation method 'provided' reads one label mask per field"
            )
        row = _base(folder, f"{folder.name}/{key}", "single")
        shape = None
        for ch in channels:
            path = have[ch]
            shape = _check_plane(path, "channel") or shape
            row[ch] = str(path.resolve())
            row[f"{ch}_page"] = 0
        if masks:
            path = field_masks[key]
            mask_shape = _check_plane(path, "label mask")
            if shape and mask_shape and mask_shape != shape:
                raise InputError(f"{path}: mask of shape {mask_shape}, but field '{key}' has channels of shape {shape}")
            row[MASK] = str(path.resolve())
        rows.append(row)
    return rows


def write_samplesheet(listing: pd.DataFrame, fields_dir: str | Path) -> pd.DataFrame:
    """The sample sheet of a listing from ``scan_screen``: one 2-D plane per channel column.

    Interleaved stacks are split into ``<fields_dir>/<field>_<channel>.tif`` (each written
    atomically, pixel values and dtype unchanged; the stack is only read; ``<field>`` is the
    field id made a safe file name, ``io.safe_name``, the sheet says which); single-channel
    files are pointed at where they are. Columns: ``image_id``, ``field_id``, ``protein``,
    any of ``cell_line``/``antibody``/``label`` the listing has, then the channels, then
    ``mask`` where the listing has masks.
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
    masks = [MASK] if MASK in sheet.columns else []
    return sheet[meta + channels + masks].reset_index(drop=True)


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
