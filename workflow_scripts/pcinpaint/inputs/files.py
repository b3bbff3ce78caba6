"""Reading users' files: image planes, files grouped by a channel token in their names, and the
fields of a plate as its format lists them.

Shared by every input adapter and the segmentation stage, so that a file that cannot be read
gets the same one-line error (naming the file and, where known, the sheet row) everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from pcinpaint.errors import InputError, one_line
from pcinpaint.image_refs import is_reference, parse_reference

TIFF_SUFFIXES = (".tif", ".tiff")


def read_image(path: str | Path, where: str = "") -> np.ndarray:
    """Read one 2-D image plane (TIFF, or PNG/JPEG through tifffile's fallbacks; or one plane of
    a multi-dimensional file, ``<file>#c=1&z=max``, through bioio) as float32."""
    prefix = f"{where}: " if where else ""
    if is_reference(str(path)):
        from pcinpaint.inputs.stacks import read_plane

        try:
            return read_plane(parse_reference(str(path))).astype(np.float32, copy=False)
        except InputError as exc:
            raise InputError(f"{prefix}{exc}") from None
    path = Path(path)
    if not path.exists():
        raise InputError(f"{prefix}image file not found: {path}")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            img = tifffile.imread(path)
        else:
            from skimage.io import imread

            img = imread(path)
    except Exception as exc:
        raise InputError(f"{prefix}cannot read image {path}: {one_line(exc)}") from None
    img = np.squeeze(np.asarray(img))
    if img.size == 0:
        raise InputError(f"{prefix}cannot read image {path}: the file holds no image data (corrupt or truncated?)")
    if img.ndim != 2:
        raise InputError(f"{prefix}image {path} has shape {img.shape}; expected one 2-D plane per channel file")
    return img.astype(np.float32, copy=False)


def natural_key(text: str) -> list:
    """Sort key that orders embedded numbers by value (field_2 before field_10)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


def file_stem(path: Path) -> str:
    """A file name without its image suffix (.tif, .tiff, .ome.tif, ...)."""
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif", *TIFF_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def channel_of(stem: str, tokens: dict[str, str]) -> tuple[str, str] | None:
    """(channel, field key) of a single-channel file name, or None when it carries no token.

    A token at the end of the name wins (the longest, when several end it: ``_gfp`` over
    ``gfp``); otherwise a token found exactly once inside the name is cut out. The field key
    is the name without its token, so a field's channel files share it.
    """
    ends = [(ch, tok) for ch, tok in tokens.items() if tok and stem.endswith(tok)]
    if ends:
        ch, tok = max(ends, key=lambda item: len(item[1]))
        return ch, stem[: -len(tok)]
    inside = [(ch, tok) for ch, tok in tokens.items() if tok and stem.count(tok) == 1]
    if len(inside) == 1:
        ch, tok = inside[0]
        return ch, stem.replace(tok, "", 1)
    return None


def files_by_key(
    paths, tokens: dict[str, str], what: str, match=channel_of
) -> tuple[dict[str, dict[str, Path]], list[str]]:
    """Channel files grouped by the key they share (a field, or a cell of a crop set):
    ``{key: {channel: path}}``, and the names that carry no channel token. ``match`` maps a file
    stem to (channel, key) or None; a second file for one key and channel is an error."""
    groups: dict[str, dict[str, Path]] = {}
    ignored = []
    for path in paths:
        found = match(file_stem(path), tokens)
        if found is None:
            ignored.append(path.name)
            continue
        ch, key = found
        have = groups.setdefault(key, {})
        if ch in have:
            raise InputError(f"{path}: a second '{ch}' file for {what} '{key}' (first: {have[ch].name})")
        have[ch] = path
    return groups, ignored


@dataclass(frozen=True)
class PlateField:
    """One field of view of a plate, as a plate format lists it: its well's row and column (as
    the format names them), the field's name within the well, and the sheet cell of each of the
    plate's channels (a file, or one plane of a stack: ``<image>#c=<name>``)."""

    row: str
    column: str
    field: str
    planes: dict[str, str]


@dataclass(frozen=True)
class PlateLayout:
    """A plate's fields and the names of its channels, from its metadata alone."""

    name: str
    channels: list[str]
    fields: list[PlateField]
