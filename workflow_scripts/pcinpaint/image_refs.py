"""A sample-sheet image cell that names one plane of a multi-dimensional file.

Real screens arrive as OME-TIFF stacks or microscope files holding every channel (and z-slices,
time points, scenes) of a field. A channel cell of the sample sheet may name such a file and the
plane it means, so the stack need not be split into one TIFF per channel first::

    field1.ome.tiff#c=1                 channel 1 (0-based) of the first scene
    field1.ome.tiff#c=GFP&z=max         the channel named GFP, maximum projection over z
    plate.czi#scene=3&c=0&z=2&t=0       scene 3 (an index or a name), z-slice 2, time point 0
    plate.ome.zarr/B/3/0#c=DAPI         field 0 of well B3 of an OME-Zarr plate (source plate)

Keys: ``c`` (index or name), ``z`` (index or ``max``), ``t`` (index), ``scene`` (index or name).
A dimension the file has more than one of must be named (one plane per channel, never a silent
first slice); one it has a single of may be left out. Shared (not a stage module): the sheet
checks, the readers and the resource sizing all parse the same text and read the same headers,
through the bioio plugin of the file's format (imported only where a sheet names such a file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pcinpaint.errors import InputError, one_line

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


#: file-name ending -> (bioio plugin module, the package that provides it); longest ending first
PLUGINS = {
    ".ome.tiff": ("bioio_ome_tiff", "bioio-ome-tiff==1.4.0"),
    ".ome.tif": ("bioio_ome_tiff", "bioio-ome-tiff==1.4.0"),
    ".zarr": ("bioio_ome_zarr", "bioio-ome-zarr==3.8.1"),
    ".tiff": ("bioio_tifffile", "bioio-tifffile==1.3.0"),
    ".tif": ("bioio_tifffile", "bioio-tifffile==1.3.0"),
    ".czi": ("bioio_czi", "bioio-czi"),
    ".nd2": ("bioio_nd2", "bioio-nd2"),
    ".lif": ("bioio_lif", "bioio-lif"),
}


def plugin(path: str | Path):
    """The bioio reader class for a file, from its name (an image inside an OME-Zarr folder, such
    as a plate's field ``plate.ome.zarr/B/3/0``, is read by the OME-Zarr plugin); one line naming
    the package to install where the plugin (or bioio) is missing, or naming the formats read
    where none fits."""
    name = str(path).lower().rstrip("/")
    if any(part.endswith(".zarr") for part in Path(name).parts):
        name = ".zarr"
    ending = next((e for e in PLUGINS if name.endswith(e)), None)
    if ending is None:
        known = ", ".join(sorted(PLUGINS))
        raise InputError(f"{path}: no bioio plugin for this file's format (a plane reference reads {known})")
    module, package = PLUGINS[ending]
    try:
        import importlib

        importlib.import_module("bioio")
        return importlib.import_module(module).Reader
    except ImportError:
        raise InputError(
            f"{path}: reading {ending} files needs bioio and its plugin: pip install bioio==3.6.0 {package}"
        ) from None


def pick(ref: ImageRef, key: str, names, size: int):
    """The index a reference gives for one dimension (a name looked up in ``names``), checked."""
    value = getattr(ref, key)
    if value is None:
        if size > 1:
            hint = " or z=max" if key == "z" else ""
            raise InputError(f"{ref}: the file has {size} {key} planes; name one with #{key}=<index>{hint}")
        return 0
    if isinstance(value, str) and key in ("c", "scene"):
        names = [str(n) for n in names]
        if value not in names:
            raise InputError(f"{ref}: no {key} named {value!r} (the file has {names})")
        return names.index(value)
    if isinstance(value, int) and not 0 <= value < size:
        raise InputError(f"{ref}: {key}={value} is out of range (the file has {size})")
    return value


def open_file(path: str | Path):
    """A file opened through its bioio plugin (metadata only: pixels are read lazily)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"image file not found: {path}")
    reader = plugin(path)
    from bioio import BioImage

    try:
        return BioImage(path, reader=reader)
    except Exception as exc:
        raise InputError(f"cannot read {path}: {one_line(exc, 200)}") from None


def open_image(ref: ImageRef, image=None):
    """(bioio image at the reference's scene, its dimension sizes) from the file's metadata;
    ``image``: the file already opened (``open_file``), for several planes of one file."""
    image = open_file(ref.path) if image is None else image
    try:
        image.set_scene(pick(ref, "scene", image.scenes, len(image.scenes)))
        dims = image.dims
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {ref.path}: {one_line(exc, 200)}") from None
    return image, {d: getattr(dims, d) for d in "TCZYX"}


def selection(image, ref: ImageRef, sizes: dict) -> dict:
    """The time point and channel indices of the plane a reference names, checked."""
    return {
        "T": pick(ref, "t", range(sizes["T"]), sizes["T"]),
        "C": pick(ref, "c", image.channel_names or [], sizes["C"]),
    }


def plane_header(ref: ImageRef, image=None) -> tuple[tuple[int, int], np.dtype]:
    """(Y, X) and pixel type of the plane a reference names, from metadata alone (``image``: the
    file already opened)."""
    image, sizes = open_image(ref, image)
    selection(image, ref, sizes)
    if ref.z != "max":
        pick(ref, "z", range(sizes["Z"]), sizes["Z"])
    return (sizes["Y"], sizes["X"]), np.dtype(image.dtype)
