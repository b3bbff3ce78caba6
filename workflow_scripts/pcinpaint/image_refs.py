"""A sample-sheet image cell that names one plane of a multi-dimensional file.

Real screens arrive as OME-TIFF stacks or microscope files holding every channel (and z-slices,
time points, scenes) of a field. A channel cell of the sample sheet may name such a file and the
plane it means, so the stack need not be split into one TIFF per channel first::

    field1.ome.tiff#c=1                 channel 1 (0-based) of the first scene
    field1.ome.tiff#c=GFP&z=max         the channel named GFP, maximum projection over z
    plate.czi#scene=3&c=0&z=2&t=0       scene 3 (an index or a name), z-slice 2, time point 0

Keys: ``c`` (index or name), ``z`` (index or ``max``), ``t`` (index), ``scene`` (index or name).
A dimension the file has more than one of must be named (one plane per channel, never a silent
first slice); one it has a single of may be left out. Shared (not a stage module): the sheet
checks, the readers and the resource sizing all parse the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

from pcinpaint.errors import InputError

SEPARATOR = "#"
KEYS = ("c", "z", "t", "scene")
#: the z projection a reference may ask for instead of one slice
PROJECTIONS = ("max",)


@dataclass(frozen=True)
class ImageRef:
    """One plane of a file: its path and the index (or name) of each dimension named."""

    path: str
    c: int | str | None = None
    z: int | str | None = None
    t: int | None = None
    scene: int | str | None = None

    def __str__(self) -> str:
        keys = [f"{k}={getattr(self, k)}" for k in KEYS if getattr(self, k) is not None]
        return self.path + (SEPARATOR + "&".join(keys) if keys else "")


def is_reference(text) -> bool:
    """Whether a sheet cell names a plane of a file (``<path>#<key>=<value>...``)."""
    return isinstance(text, str) and SEPARATOR in text and "=" in text.rsplit(SEPARATOR, 1)[1]


def file_part(text: str) -> str:
    """The file a cell names (the whole cell where it is not a reference)."""
    return text.rsplit(SEPARATOR, 1)[0] if is_reference(text) else text


def _value(key: str, value: str, text: str):
    if key in ("c", "scene"):
        return int(value) if value.isdigit() else value
    if key == "z" and value in PROJECTIONS:
        return value
    if value.isdigit():
        return int(value)
    wanted = "an index or max" if key == "z" else "an index"
    raise InputError(f"{text}: {key}={value!r} is not {wanted}")


def parse_reference(text: str) -> ImageRef:
    """The ``ImageRef`` of a sheet cell; a cell that is a plain path names the whole file."""
    if not is_reference(text):
        return ImageRef(str(text))
    path, spec = text.rsplit(SEPARATOR, 1)
    values = {}
    for part in filter(None, spec.split("&")):
        key, _, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if key not in KEYS or not value:
            raise InputError(f"{text}: {part!r} is not one of {', '.join(k + '=' for k in KEYS)} with a value")
        if key in values:
            raise InputError(f"{text}: {key}= is given twice")
        values[key] = _value(key, value, text)
    return ImageRef(path, **values)
