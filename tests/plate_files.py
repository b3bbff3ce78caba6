"""Plates written as microscopes and converters write them, for the plate tests and the planning
perf script: an OME-Zarr HCS plate through the ome-zarr package (NGFF 0.4 or 0.5), an
ImageXpress folder as MetaXpress names its files (with an HTD file and thumbnails), and the
same pixels as one TIFF per channel in a sample sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

#: the plate's channel names -> the config's (OME names differ from config names on purpose)
CHANNELS = {"DAPI": "rfp", "GFP": "gfp"}


def ome_zarr_plate(path: Path, wells: dict[str, list[np.ndarray]], version: str = "0.4", z: int = 1) -> Path:
    """``wells``: ``{"B03": [field (C, Y, X), ...]}`` written as an OME-Zarr plate; ``z`` > 1
    stacks dimmer copies of each plane under the first (so the maximum projection is the plane)."""
    import zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    fmt = {"0.4": FormatV04(), "0.5": FormatV05()}[version]
    root = zarr.open_group(str(path), mode="w", zarr_format=2 if version == "0.4" else 3)
    rows = sorted({w[0] for w in wells})
    columns = sorted({str(int(w[1:])) for w in wells}, key=int)
    paths = [f"{w[0]}/{int(w[1:])}" for w in wells]
    write_plate_metadata(root, rows, columns, paths, fmt=fmt, name=path.name)
    window = {"start": 0, "end": 65535, "min": 0, "max": 65535}
    omero = {"channels": [{"label": name, "color": "FFFFFF", "active": True, "window": window} for name in CHANNELS]}
    for well, fields in wells.items():
        group = root.require_group(well[0]).require_group(str(int(well[1:])))
        write_well_metadata(group, [str(i) for i in range(len(fields))], fmt=fmt)
        for i, planes in enumerate(fields):
            data = np.stack([planes // (k + 1) for k in range(z)], axis=1)  # C, Z, Y, X
            write_image(data, group.require_group(str(i)), scale_factors=[], fmt=fmt, axes="czyx", omero=omero)
    return path


def imagexpress_plate(path: Path, wells: dict[str, list[np.ndarray]], name: str = "screen") -> Path:
    """The same wells as a MetaXpress folder: ``TimePoint_1/<name>_<well>_s<site>_w<n>.tif``,
    thumbnails beside them, wavelength names in the HTD file."""
    folder = path / "TimePoint_1"
    folder.mkdir(parents=True)
    lines = ['"HTSInfoFile", Version 1.0', f'"NWavelengths", {len(CHANNELS)}']
    lines += [f'"WaveName{i + 1}", "{channel}"' for i, channel in enumerate(CHANNELS)]
    (path / f"{name}.HTD").write_text("\n".join(lines) + "\n")
    for well, fields in wells.items():
        for site, planes in enumerate(fields, start=1):
            for wave, plane in enumerate(planes, start=1):
                stem = f"{name}_{well}_s{site}_w{wave}"
                tifffile.imwrite(folder / f"{stem}.tif", plane)
                tifffile.imwrite(folder / f"{stem}_thumb.tif", plane[::4, ::4])
    return path


def tiff_sheet(
    path: Path, wells: dict[str, list[np.ndarray]], proteins: dict[str, str], plate: str, first: int = 0
) -> Path:
    """The same fields as one TIFF per channel in a sample sheet, with the ids the plate gives
    (``first``: the number of a well's first field: 0 in OME-Zarr, site 1 in ImageXpress)."""
    rows = []
    (path.parent / "tiffs").mkdir(exist_ok=True)
    for well, fields in wells.items():
        for i, planes in enumerate(fields, start=first):
            row = {"image_id": f"{plate}_{well}", "field_id": f"{plate}_{well}_{i}", "protein": proteins[well]}
            for channel, plane in zip(CHANNELS.values(), planes):
                file = path.parent / "tiffs" / f"{well}_{i}_{channel}.tif"
                tifffile.imwrite(file, plane)
                row[channel] = str(file)
            rows.append(row)
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def plate_map(path: Path, proteins: dict[str, str], **columns: dict[str, str]) -> Path:
    """A plate map CSV: well, protein and any other per-well columns."""
    table = pd.DataFrame({"well": list(proteins), "protein": list(proteins.values())})
    for name, values in columns.items():
        table[name] = [values[w] for w in proteins]
    table.to_csv(path, index=False)
    return path
