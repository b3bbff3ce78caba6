"""Screens delivered as single-cell crops: one folder per protein (or image), one file per channel.

The ``crop_folders`` input source. The paper's reference code trains from folders like
``<ORF>/<ORF>_<field>_rfp_<cell>_gfp.tif`` (yeast) and
``<GENE>_<antibody>_<well>/<antibody>_<well>_<field>_<cell>_green.tif`` (human): cells were
segmented and cropped elsewhere, and pairs are drawn within a folder. ``scan_crops`` lists such
a tree (one row per cell, one path column per channel) and
``crops.import_crops.store_crop_folders`` turns it into the workflow's crop store and cell table,
so training and features run as for screens segmented here, after resizing and the per-crop
normalisation ``normalise`` selects (``crops.preprocess``). Positions and areas of the cells
are unknown (NaN).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pcinpaint.errors import ConfigError, InputError
from pcinpaint.inputs.files import files_by_key, natural_key

log = logging.getLogger(__name__)

GROUPS = ("folder", "folder_field")
#: HPA folder names ``<GENE>_<antibody number>_<well...>``: the antibody where it can be read
DEFAULT_ANTIBODY_PATTERN = r"[^_]+_(?P<antibody>\d+)_.+"


# --------------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------------


def _group_value(match: re.Match, name: str) -> str:
    if name in match.re.groupindex:
        return match.group(name)
    return match.group(1) if match.re.groups else match.group(0)


def _compile(pattern: str, option: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"crop_folders.{option}: invalid regular expression '{pattern}': {exc}") from None


def folder_protein(folder: str, protein_pattern: str | None = None) -> str:
    """The protein a folder holds: its first '_' token by default (``A1CF`` of
    ``A1CF_762_F2``; the whole name of ``AAC1``), else the ``protein`` group (or first group,
    or whole match) of ``protein_pattern`` matched against the whole folder name."""
    if protein_pattern is None:
        return folder.split("_")[0] or folder
    match = _compile(protein_pattern, "protein_pattern").fullmatch(folder)
    if match is None or not _group_value(match, "protein"):
        raise InputError(f"{folder}: folder name does not match protein_pattern '{protein_pattern}'")
    return _group_value(match, "protein")


def folder_antibody(folder: str, antibody_pattern: str | None = None) -> str | None:
    """The antibody of a folder, or None where it cannot be read. ``None`` uses the HPA rule
    (a number as second '_' token); ``""`` turns antibodies off."""
    if antibody_pattern == "":
        return None
    regex = _compile(antibody_pattern or DEFAULT_ANTIBODY_PATTERN, "antibody_pattern")
    match = regex.fullmatch(folder)
    return (_group_value(match, "antibody") or None) if match else None


def _cell_channel(stem: str, tokens: dict[str, str]) -> tuple[str, str] | None:
    """(channel, cell key) from a crop file name ending in a channel token (longest wins)."""
    ends = [(ch, tok) for ch, tok in tokens.items() if stem.endswith(tok)]
    if not ends:
        return None
    ch, tok = max(ends, key=lambda item: len(item[1]))
    return ch, stem[: -len(tok)]


def _field_key(cell_key: str, field_regex: re.Pattern | None, where: Path) -> str:
    """The field a cell comes from: by default its name without the trailing cell number."""
    if field_regex is None:
        return cell_key.rsplit("_", 1)[0] if "_" in cell_key else ""
    match = field_regex.fullmatch(cell_key)
    if match is None:
        raise InputError(f"{where}: cell name '{cell_key}' does not match field_pattern '{field_regex.pattern}'")
    return _group_value(match, "field")


@dataclass(frozen=True)
class NamePatterns:
    """How a crop tree's names are read, where the defaults do not fit: the protein and the
    antibody of a folder (``folder_protein``, ``folder_antibody``), the field of a cell's name
    (``field`` group; default: the name without its last '_' token), and the files listed."""

    protein_pattern: str | None = None
    antibody_pattern: str | None = None
    field_pattern: str | None = None
    pattern: str = "*.tif*"


def _check_tree(root: Path, channel_tokens: dict[str, str], group: str) -> None:
    """A known grouping, a token per channel and a root folder, checked before anything is listed."""
    if group not in GROUPS:
        raise ConfigError(f"crop_folders.group: unknown grouping '{group}'; choose one of {list(GROUPS)}")
    if not channel_tokens or any(not t for t in channel_tokens.values()):
        raise ConfigError(f"crop_folders.tokens: need a non-empty file-name token per channel, got {channel_tokens}")
    if not root.is_dir():
        raise InputError(f"{root}: crop folder not found")


def _protein_folders(root: Path) -> list[Path]:
    """The tree's folders in natural order (hidden ones left out); none is an error."""
    folders = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: natural_key(p.name)
    )
    if not folders:
        raise InputError(f"{root}: no per-protein folders of crops inside")
    return folders


def _folder_cells(folder: Path, channel_tokens: dict[str, str], pattern: str) -> dict:
    """A folder's cells, {cell key: {channel: file}}; files ending in no channel token are logged
    and ignored, and a folder without any cell is an error."""
    files = [p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith(".")]
    cells, ignored = files_by_key(files, channel_tokens, "cell", match=_cell_channel)
    if ignored:
        log.info("%s: %d files end in no channel token and are ignored", folder, len(ignored))
    if not cells:
        raise InputError(f"{folder}: no crop files ending in a channel token {channel_tokens}")
    return cells


def _folder_rows(
    folder: Path, channel_tokens: dict[str, str], group: str, patterns: NamePatterns, field_regex: re.Pattern | None
) -> list[dict]:
    """One listing row per cell of a folder, in natural order of the cells' names; a cell
    missing a channel's file is an error naming it."""
    channels = list(channel_tokens)
    cells = _folder_cells(folder, channel_tokens, patterns.pattern)
    protein = folder_protein(folder.name, patterns.protein_pattern)
    antibody = folder_antibody(folder.name, patterns.antibody_pattern)
    rows = []
    for key in sorted(cells, key=natural_key):
        have = cells[key]
        missing = [ch for ch in channels if ch not in have]
        if missing:
            raise InputError(
                f"{folder}: cell '{key}' has no '{missing[0]}' file "
                f"({key}{channel_tokens[missing[0]]}); it has {sorted(p.name for p in have.values())}"
            )
        field = _field_key(key, field_regex, folder / have[channels[0]].name)
        field_id = f"{folder.name}/{field}" if field else folder.name
        rows.append(
            {
                "cell_id": f"{folder.name}/{key}",
                "image_id": field_id if group == "folder_field" else folder.name,
                "field_id": field_id,
                "protein": protein,
                "antibody": antibody,
                "folder": str(folder.resolve()),
                **{ch: str(have[ch].resolve()) for ch in channels},
            }
        )
    return rows


def scan_crops(
    root: str | Path,
    channel_tokens: dict[str, str],
    group: str = "folder",
    patterns: NamePatterns | None = None,
) -> pd.DataFrame:
    """One row per cell of a tree of per-cell, per-channel crop files.

    A file belongs to channel ``c`` when its name (without suffix) ends with
    ``channel_tokens[c]`` (e.g. ``{"gfp": "_gfp", "rfp": "_rfp"}``: a token inside the name,
    like the yeast toy set's ``_rfp_<cell>``, does not count); the rest of the name is the
    cell's key, shared by its channel files. Other files are ignored (logged); only files
    matching ``patterns.pattern`` are looked at.

    Columns: ``cell_id`` (``<folder>/<cell key>``), ``image_id`` (the folder, or with
    ``group="folder_field"`` ``<folder>/<field>``), ``field_id`` (``<folder>/<field>``; the
    field is the cell key without its last '_' token, or the ``field`` group of
    ``patterns.field_pattern``), ``protein`` (see ``folder_protein``), ``antibody`` (where
    ``folder_antibody`` reads one), ``folder``, and one absolute path column per channel.
    """
    root = Path(root)
    patterns = patterns or NamePatterns()
    _check_tree(root, channel_tokens, group)
    field_regex = _compile(patterns.field_pattern, "field_pattern") if patterns.field_pattern else None
    rows = []
    for folder in _protein_folders(root):
        rows += _folder_rows(folder, channel_tokens, group, patterns, field_regex)
    listing = pd.DataFrame(rows)
    if listing["antibody"].isna().all():
        listing = listing.drop(columns="antibody")
    log.info(
        "%s: %d cells, %d images, %d proteins",
        root,
        len(listing),
        listing["image_id"].nunique(),
        listing["protein"].nunique(),
    )
    return listing
