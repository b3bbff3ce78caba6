"""An OME-Zarr HCS plate (NGFF 0.4, zarr v2; or 0.5, zarr v3) listed from its metadata.

A plate is a group whose ``plate`` metadata lists its wells (``B/3``); each well's ``well``
metadata lists its fields (images ``0``, ``1``, ...); each field is a multiscale image whose
``omero`` metadata names its channels. Listing a plate reads the plate's and the wells'
metadata and the first field's channel names, never a pixel, so a 384-well plate is planned in
a second. A field's plane becomes a sheet cell ``<plate>/B/3/0#c=<channel>`` that bioio's
OME-Zarr plugin reads when a segmentation job needs it; the sheet check reads each field's
metadata and checks every channel is there.
"""

from __future__ import annotations

from pathlib import Path

from pcinpaint.errors import InputError, one_line
from pcinpaint.image_refs import SEPARATOR
from pcinpaint.inputs.files import PlateField, PlateLayout

#: the OME-Zarr versions whose plate layout this reads (the spec's "version")
VERSIONS = ("0.4", "0.5")
#: text a channel name may not hold where a plane reference names it
RESERVED = (SEPARATOR, "&", "=")


def _ome(group) -> dict:
    """A group's OME metadata: under ``ome`` from 0.5 (zarr v3), the attributes themselves in 0.4."""
    attrs = dict(group.attrs)
    return attrs.get("ome", attrs)


def _group(path: Path, inside: str = ""):
    import zarr

    try:
        return zarr.open_group(str(path / inside) if inside else str(path), mode="r")
    except Exception as exc:
        where = f"{path}/{inside}" if inside else str(path)
        raise InputError(f"{where}: not a readable zarr group ({one_line(exc, 120)})") from None


def plate_name(path: str | Path) -> str:
    """A plate's name: its folder's, without ``.ome.zarr`` (the metadata's own name is optional)."""
    name = Path(path).name
    for suffix in (".ome.zarr", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def image_sizes(image, where: str) -> dict[str, int]:
    """A field's size along each axis (``c``, ``z``, ``t``, ``y``, ``x``) of its full resolution."""
    try:
        multiscale = _ome(image)["multiscales"][0]
        axes = [a["name"] if isinstance(a, dict) else a for a in multiscale["axes"]]
        shape = image[multiscale["datasets"][0]["path"]].shape
    except Exception:
        raise InputError(f"{where}: not an OME-Zarr image (no multiscales metadata with axes and datasets)") from None
    return dict(zip(axes, shape))


def channel_names(image, where: str) -> list[str]:
    """A field's channel names from its ``omero`` metadata; channels it does not name are called
    by their index (``0``, ``1``...), which a plane reference also reads."""
    meta = _ome(image)
    n = image_sizes(image, where).get("c", 1)
    labels = [c.get("label") for c in (meta.get("omero") or {}).get("channels", [])]
    names = [str(labels[i]) if i < len(labels) and labels[i] else str(i) for i in range(n)]
    for name in names:
        if any(r in name for r in RESERVED):
            raise InputError(
                f"{where}: channel name {name!r} holds one of {RESERVED}, which a plane reference cannot name"
            )
    return names


def _check_planes(sizes: dict[str, int], z, t, where: str) -> None:
    """A plate whose fields have several z-slices or time points names the one to read (the
    config's ``plate.z`` / ``plate.t``), asked for in the config's terms, not a reference's."""
    for key, value, what in (("z", z, "a 0-based slice, or max"), ("t", t, "a 0-based time point")):
        if value is None and sizes.get(key, 1) > 1:
            raise InputError(
                f"{where}: the fields have {sizes[key]} {key} planes; set the dataset's plate.{key} to {what}"
            )


def read_layout(path: str | Path, z: int | str | None = None, t: int | None = None) -> PlateLayout:
    """The plate's wells and fields from its metadata; each field's planes named by channel (and
    by ``z`` / ``t`` where given: an index, or ``z="max"`` for a maximum projection)."""
    path = Path(path).resolve()
    meta = _ome(_group(path))
    plate = meta.get("plate")
    if not isinstance(plate, dict) or not plate.get("wells"):
        raise InputError(
            f"{path}: not an OME-Zarr HCS plate (no plate metadata listing wells); a single OME-Zarr image "
            "is named in a sample sheet as <image>.ome.zarr#c=<channel>"
        )
    version = str(meta.get("version") or plate.get("version") or "")
    if version and version not in VERSIONS:
        raise InputError(f"{path}: OME-Zarr plate version {version}; this reads versions {', '.join(VERSIONS)}")
    extra = "".join(f"&{k}={v}" for k, v in (("z", z), ("t", t)) if v is not None)
    fields, channels = [], None
    for well in plate["wells"]:
        row, _, column = str(well["path"]).partition("/")
        images = _ome(_group(path, well["path"])).get("well", {}).get("images")
        if images is None:
            raise InputError(f"{path}/{well['path']}: no well metadata listing its fields")
        for image in images:
            inside = f"{well['path']}/{image['path']}"
            if channels is None:  # one field's metadata: the sheet check reads every field's
                first = _group(path, inside)
                channels = channel_names(first, f"{path}/{inside}")
                _check_planes(image_sizes(first, f"{path}/{inside}"), z, t, f"{path}/{inside}")
            planes = {c: f"{path}/{inside}{SEPARATOR}c={c}{extra}" for c in channels}
            fields.append(PlateField(row, column, str(image["path"]), planes))
    return PlateLayout(plate_name(path), channels or [], fields)
