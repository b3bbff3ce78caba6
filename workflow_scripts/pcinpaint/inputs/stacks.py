"""One plane of a multi-dimensional microscopy file, read through bioio and its format plugins.

A sheet cell such as ``field1.ome.tiff#c=1&z=max`` (``pcinpaint.image_refs``) names a plane;
bioio opens the file lazily, so the up-front sheet check reads metadata only and a segmentation
job reads only the planes it needs. Each format's plugin is imported only when a sheet names
such a file; a missing one stops with one line naming the package to install. OME-TIFF and
plain (multi-page, ImageJ) TIFF stacks are tested here on files written with tifffile; CZI, ND2
and LIF go through bioio's own plugins and are not tested on real files here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pcinpaint.errors import InputError, one_line
from pcinpaint.image_refs import ImageRef

#: file-name ending -> (bioio plugin module, the package that provides it); longest ending first
PLUGINS = {
    ".ome.tiff": ("bioio_ome_tiff", "bioio-ome-tiff==1.4.0"),
    ".ome.tif": ("bioio_ome_tiff", "bioio-ome-tiff==1.4.0"),
    ".ome.zarr": ("bioio_ome_zarr", "bioio-ome-zarr"),
    ".tiff": ("bioio_tifffile", "bioio-tifffile==1.3.0"),
    ".tif": ("bioio_tifffile", "bioio-tifffile==1.3.0"),
    ".czi": ("bioio_czi", "bioio-czi"),
    ".nd2": ("bioio_nd2", "bioio-nd2"),
    ".lif": ("bioio_lif", "bioio-lif"),
}


def plugin(path: str | Path):
    """The bioio reader class for a file, from its name; one line naming the package to install
    where the plugin (or bioio) is missing, or naming the formats read where none fits."""
    name = str(path).lower().rstrip("/")
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


def _pick(ref: ImageRef, key: str, names, size: int):
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


def open_image(ref: ImageRef):
    """(bioio image at the reference's scene, its dimension sizes) from the file's metadata."""
    path = Path(ref.path)
    if not path.exists():
        raise InputError(f"image file not found: {path}")
    reader = plugin(path)
    from bioio import BioImage

    try:
        image = BioImage(path, reader=reader)
        scene = _pick(ref, "scene", image.scenes, len(image.scenes))
        image.set_scene(scene)
        dims = image.dims
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {path}: {one_line(exc, 200)}") from None
    return image, {d: getattr(dims, d) for d in "TCZYX"}


def _selection(image, ref: ImageRef, sizes: dict) -> dict:
    return {
        "T": _pick(ref, "t", range(sizes["T"]), sizes["T"]),
        "C": _pick(ref, "c", image.channel_names or [], sizes["C"]),
    }


def plane_header(ref: ImageRef) -> tuple[tuple[int, int], np.dtype]:
    """(Y, X) and pixel type of the plane a reference names, from metadata alone."""
    image, sizes = open_image(ref)
    _selection(image, ref, sizes)
    if ref.z != "max":
        _pick(ref, "z", range(sizes["Z"]), sizes["Z"])
    return (sizes["Y"], sizes["X"]), np.dtype(image.dtype)


def read_plane(ref: ImageRef) -> np.ndarray:
    """The 2-D plane a reference names (a z maximum projection for ``z=max``), as stored."""
    image, sizes = open_image(ref)
    at = _selection(image, ref, sizes)
    try:
        if ref.z == "max":
            return np.asarray(image.get_image_data("ZYX", **at)).max(axis=0)
        return np.asarray(image.get_image_data("YX", Z=_pick(ref, "z", range(sizes["Z"]), sizes["Z"]), **at))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {ref}: {one_line(exc, 200)}") from None
