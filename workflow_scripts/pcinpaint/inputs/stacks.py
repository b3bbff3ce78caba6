"""The pixels of one plane of a multi-dimensional microscopy file, read through bioio.

A sheet cell such as ``field1.ome.tiff#c=1&z=max`` names a plane; ``pcinpaint.image_refs``
parses it, picks the format's bioio plugin and reads its header (shared: the sheet check and the
resource sizing read headers too). bioio opens the file lazily, so a segmentation job reads only
the planes it needs. OME-TIFF, plain (multi-page, ImageJ) TIFF stacks and OME-Zarr images
(plate fields included) are tested here on files written with tifffile and ome-zarr; CZI, ND2
and LIF go through bioio's own plugins and are not tested on real files here.
"""

from __future__ import annotations

import numpy as np

from pcinpaint.errors import InputError, one_line
from pcinpaint.image_refs import ImageRef, open_image, pick, selection


def read_plane(ref: ImageRef) -> np.ndarray:
    """The 2-D plane a reference names (a z maximum projection for ``z=max``), as stored."""
    image, sizes = open_image(ref)
    at = selection(image, ref, sizes)
    try:
        if ref.z == "max":
            return np.asarray(image.get_image_data("ZYX", **at)).max(axis=0)
        return np.asarray(image.get_image_data("YX", Z=pick(ref, "z", range(sizes["Z"]), sizes["Z"]), **at))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {ref}: {one_line(exc, 200)}") from None
