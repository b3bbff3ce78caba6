"""A plate as a screen (source plate): an OME-Zarr HCS plate or an ImageXpress folder and a
plate map, written as the sample sheet segmentation reads.

One image per well (the group pairs are drawn in, as the paper's image), one field per field of
view; the protein (and label, cell line, antibody) of each well from the plate map, a CSV or TSV
with a ``well`` column (``B03``, ``B3``) and, where a dataset has several plates, a ``plate``
column (a map without one applies to every plate). The plate's channels (OME names, HTD
wavelength names, or ``w1``...) become the config's channels through ``plate.channels``. Only
metadata is read: the sheet names each field's planes, and each segmentation job reads its own
fields. Wells the map does not name are left out (and counted in the log); a map row naming a
well no plate has is an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pcinpaint.errors import InputError
from pcinpaint.inputs import imagexpress, ome_zarr_plate
from pcinpaint.inputs.files import PlateLayout
from pcinpaint.io import read_table

FORMATS = ("ome-zarr", "imagexpress")
#: plate-map columns carried to the sample sheet (and from there to the cell table)
MAP_OPTIONAL = ("cell_line", "antibody", "label")
WELL = re.compile(r"([A-Za-z]{1,2})[\s_-]?0*(\d{1,3})")


def well_name(row: str, column: str) -> str:
    """A well's canonical name, ``B03``: the row letters upper case, the column in two digits."""
    return f"{row.upper()}{int(column):02d}"


def parse_well(text: str) -> str | None:
    """The canonical name of a plate map's well (``B3``, ``b03``, ``B_03``), None if it is not one."""
    m = WELL.fullmatch(str(text).strip())
    return well_name(m.group(1), m.group(2)) if m else None


def plate_format(path: str | Path, given: str = "auto") -> str:
    """The plate's format: as given, else OME-Zarr for a ``.zarr`` folder (or one holding zarr
    metadata), ImageXpress otherwise."""
    if given != "auto":
        return given
    path = Path(path)
    zarr_metadata = any((path / name).exists() for name in ("zarr.json", ".zattrs", ".zgroup"))
    return "ome-zarr" if path.name.lower().endswith(".zarr") or zarr_metadata else "imagexpress"


def read_layout(path: str | Path, fmt: str = "auto", z=None, t=None) -> PlateLayout:
    """A plate's fields from its metadata, through its format's reader."""
    if not Path(path).exists():
        raise InputError(f"{path}: plate not found")
    reader = {"ome-zarr": ome_zarr_plate, "imagexpress": imagexpress}[plate_format(path, fmt)]
    return reader.read_layout(path, z=z, t=t)


def read_plate_map(path: str | Path, plates: list[str]) -> pd.DataFrame:
    """The plate map: one row per (plate, well) with its protein; wells canonical, every error
    naming the file and row."""
    path = Path(path)
    table = read_table(path)
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("well", "protein") if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; a plate map has well and protein columns")
    if table.empty:
        raise InputError(f"{path}: the plate map has no rows")
    table = table.astype(str).apply(lambda col: col.str.strip())
    if "plate" not in table.columns:
        if len(plates) > 1 and table["well"].duplicated().any():
            raise InputError(f"{path}: a well is named twice; with several plates, give a plate column")
        table = pd.concat([table.assign(plate=p) for p in plates], ignore_index=True)
        table["row"] = list(range(len(table) // len(plates))) * len(plates)
    else:
        table["row"] = range(len(table))
    for i, rec in table.iterrows():
        where = f"{path}: row {rec['row'] + 2}"
        well = parse_well(rec["well"])
        if well is None:
            raise InputError(f"{where}: well {rec['well']!r} is not a well name such as B03")
        if not rec["protein"]:
            raise InputError(f"{where}: empty protein")
        if rec["plate"] not in plates:
            raise InputError(f"{where}: plate {rec['plate']!r} is none of the dataset's plates {plates}")
        table.at[i, "well"] = well
    repeated = table[table.duplicated(["plate", "well"], keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        rows = [int(r) + 2 for r in repeated["row"][repeated["well"] == first["well"]].unique()]
        raise InputError(
            f"{path}: well {first['well']} of plate {first['plate']} is given more than once (rows {rows})"
        )
    return table


def channel_map(layout: PlateLayout, mapping: dict[str, str] | None, channels: list[str], where: str) -> dict[str, str]:
    """Config channel -> the plate's channel name (``plate.channels`` maps plate names to config
    names; without it the plate's names are the config's)."""
    mapping = mapping or {c: c for c in channels}
    unknown = sorted(set(mapping) - set(layout.channels))
    if unknown:
        raise InputError(f"{where}: no channel named {unknown} (the plate's channels are {layout.channels})")
    inverse = {}
    for plate_name, config_name in mapping.items():
        if config_name in inverse:
            raise InputError(
                f"{where}: plate channels {inverse[config_name]!r} and {plate_name!r} both give {config_name!r}"
            )
        inverse[config_name] = plate_name
    missing = [c for c in channels if c not in inverse]
    if missing:
        raise InputError(
            f"{where}: no plate channel gives the config's channel(s) {missing}; map them in plate.channels "
            f"(the plate's channels are {layout.channels})"
        )
    return {c: inverse[c] for c in channels}


def plate_sheet(plate: dict, channels: list[str]) -> tuple[pd.DataFrame, dict]:
    """(the sample sheet of a dataset's plates, counts for the log) from the ``plate`` config
    block: one row per field of each mapped well, its channels as sheet cells."""
    paths = [plate["path"]] if isinstance(plate["path"], str) else list(plate["path"])
    layouts = [read_layout(p, plate.get("format", "auto"), plate.get("z"), plate.get("t")) for p in paths]
    names = [layout.name for layout in layouts]
    if len(set(names)) < len(names):
        raise InputError(f"plate.path: two plates are named alike ({names}); their folder names must differ")
    plate_map = read_plate_map(plate["map"], names)
    by_well = {(r["plate"], r["well"]): r for r in plate_map.to_dict("records")}
    rows, unmapped, seen = [], set(), set()
    for path, layout in zip(paths, layouts):
        of = channel_map(layout, plate.get("channels"), channels, f"{path}: plate.channels")
        for field in layout.fields:
            well = well_name(field.row, field.column)
            meta = by_well.get((layout.name, well))
            if meta is None:
                unmapped.add((layout.name, well))
                continue
            seen.add((layout.name, well))
            missing = [of[c] for c in channels if of[c] not in field.planes]
            if missing:
                raise InputError(f"{path}: well {well}, field {field.field} has no {missing} image")
            image = f"{layout.name}_{well}"
            row = {"image_id": image, "field_id": f"{image}_{field.field}", "protein": meta["protein"]}
            row.update({c: meta[c] for c in MAP_OPTIONAL if c in meta})
            row.update({c: field.planes[of[c]] for c in channels})
            rows.append(row)
    absent = plate_map[[(p, w) not in seen for p, w in zip(plate_map["plate"], plate_map["well"])]]
    if len(absent):
        first = absent.iloc[0]
        raise InputError(
            f"{plate['map']}: row {first['row'] + 2}: well {first['well']} has no field in plate {first['plate']}"
            + (f" ({len(absent) - 1} more such rows)" if len(absent) > 1 else "")
        )
    sheet = pd.DataFrame(rows, columns=["image_id", "field_id", "protein", *MAP_OPTIONAL, *channels])
    sheet = sheet.dropna(axis=1, how="all")
    return sheet, {"plates": len(layouts), "wells": len(seen), "fields": len(sheet), "unmapped_wells": len(unmapped)}
