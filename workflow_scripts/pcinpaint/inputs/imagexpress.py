"""An ImageXpress (MetaXpress) plate folder listed from its file names.

MetaXpress writes one single-plane TIFF per well, site and wavelength:
``<plate>_<well>_s<site>_w<wavelength>[<GUID>].tif`` (``_s`` is left out with one site per well,
``_w`` with one wavelength), with ``_thumb`` thumbnails beside them, in ``TimePoint_<t>`` and
``ZStep_<z>`` subfolders where the run had several. The plate's ``.HTD`` file names the
wavelengths (``"WaveName1", "DAPI"``); without it they are called ``w1``, ``w2``... Listing a
plate lists its folder and reads the HTD file, never a pixel.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from pcinpaint.errors import InputError
from pcinpaint.inputs.files import PlateField, PlateLayout, natural_key

#: a MetaXpress image file name; the GUID some versions append is optional
FILE_NAME = re.compile(
    r"^(?P<prefix>.*?)_(?P<row>[A-Za-z]{1,2})(?P<column>\d{1,3})(?:_s(?P<site>\d+))?(?:_w(?P<wave>\d+?))?"
    r"(?P<thumb>_thumb)?(?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})?"
    r"\.tiff?$",
    re.IGNORECASE,
)


def _numbered(folder: Path, stem: str) -> dict[int, Path]:
    """``<stem>_<n>`` subfolders by n."""
    found = {}
    for sub in folder.iterdir():
        m = re.fullmatch(rf"{stem}_(\d+)", sub.name, re.IGNORECASE)
        if m and sub.is_dir():
            found[int(m.group(1))] = sub
    return found


def _subfolder(folder: Path, stem: str, key: str, value: int | str | None) -> Path:
    """The ``TimePoint_`` / ``ZStep_`` subfolder the config's ``t`` / ``z`` (0-based) picks; the
    folder itself where it has none; a run of several needs one named."""
    found = _numbered(folder, stem)
    if not found:
        if value not in (None, 0):
            raise InputError(f"{folder}: plate.{key}: {value} given, but the folder has no {stem}_<n> subfolders")
        return folder
    if value is None:
        if len(found) > 1:
            raise InputError(
                f"{folder}: {len(found)} {stem}_<n> folders; name one with the dataset's plate.{key} (0-based)"
            )
        return next(iter(found.values()))
    if not isinstance(value, int):
        raise InputError(f"{folder}: plate.{key}: {value!r}; an ImageXpress folder's {stem} is chosen by index")
    if value + 1 not in found:
        raise InputError(f"{folder}: plate.{key}: {value} has no {stem}_{value + 1} folder (have {sorted(found)})")
    return found[value + 1]


def wave_names(root: Path) -> dict[str, str]:
    """``w<n>`` -> the wavelength's name in the plate's ``.HTD`` file (none without one)."""
    names = {}
    for htd in sorted(p for p in root.iterdir() if p.suffix.lower() == ".htd"):
        with open(htd, newline="", encoding="latin-1") as handle:
            for row in csv.reader(handle, skipinitialspace=True):
                m = re.fullmatch(r"WaveName(\d+)", row[0].strip()) if row else None
                if m and len(row) > 1 and row[1].strip():
                    names[f"w{m.group(1)}"] = row[1].strip()
    return names


def read_layout(path: str | Path, z: int | str | None = None, t: int | None = None) -> PlateLayout:
    """The plate's wells, sites and wavelengths from its file names (``t`` / ``z`` pick a
    ``TimePoint_`` / ``ZStep_`` folder by 0-based index; a z projection needs stacks)."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise InputError(f"{root}: an ImageXpress plate is a folder")
    folder = _subfolder(_subfolder(root, "TimePoint", "t", t), "ZStep", "z", z)
    names = wave_names(root)
    by_field: dict[tuple[str, str, str], dict[str, str]] = {}
    for file in sorted(folder.iterdir(), key=lambda p: natural_key(p.name)):
        m = FILE_NAME.match(file.name)
        if m is None or m["thumb"] or not file.is_file():
            continue
        wave = f"w{m['wave'] or 1}"
        channel = names.get(wave, wave)
        planes = by_field.setdefault((m["row"].upper(), m["column"], m["site"] or "1"), {})
        if channel in planes:
            raise InputError(
                f"{file}: a second file for well {m['row']}{m['column']}, site {m['site'] or 1}, {channel}"
            )
        planes[channel] = str(file)
    if not by_field:
        raise InputError(f"{folder}: no ImageXpress image files (<plate>_<well>_s<site>_w<wavelength>.tif)")
    channels = sorted({c for planes in by_field.values() for c in planes}, key=natural_key)
    fields = [PlateField(row, column, site, planes) for (row, column, site), planes in by_field.items()]
    return PlateLayout(root.name, channels, fields)
