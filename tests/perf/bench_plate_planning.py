"""Benchmark: planning a whole plate (source plate) from its metadata, never its pixels.

Run from the repository root:  python tests/perf/bench_plate_planning.py [--rows 16] [--columns 24]
                               [--fields 9] [--side 2048] [--tmp DIR]

Writes (under ``--tmp``) a synthetic plate of ``rows x columns`` wells of ``--fields`` fields
each, two channels of ``side x side`` uint16 pixels, twice:

- an OME-Zarr HCS plate (NGFF 0.5, zarr v3) of metadata only: plate, well and image metadata
  and each field's array declared, no chunk written (a field's pixels would be read as zeros,
  so nothing below may read one);
- an ImageXpress folder of the same wells, sites and wavelengths (small TIFFs: their names are
  the layout, and the sheet check reads their headers).

Then, for each, times: ``snakemake -n`` of the dataset's cell table (the parse, the plate listed,
one segmentation job per ``fields_per_chunk`` fields planned), the ``plate_samplesheet`` job's
work (``plate_sheet``) and the ``samplesheet`` check's (``check_files``: every field's header).
Prints seconds and the jobs planned. Asserts nothing else.
"""

from __future__ import annotations

import argparse
import re
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflow_scripts"))
CHANNELS = ["DAPI", "GFP"]


def wells(rows: int, columns: int) -> list[str]:
    return [f"{r}{c:02d}" for r in string.ascii_uppercase[:rows] for c in range(1, columns + 1)]


def metadata_plate(path: Path, names: list[str], fields: int, side: int) -> None:
    """An NGFF 0.5 plate of metadata only (arrays declared, no chunk written)."""
    import zarr

    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    rows = sorted({w[0] for w in names})
    columns = sorted({str(int(w[1:])) for w in names}, key=int)
    root.attrs["ome"] = {
        "version": "0.5",
        "plate": {
            "rows": [{"name": r} for r in rows],
            "columns": [{"name": c} for c in columns],
            "wells": [
                {
                    "path": f"{w[0]}/{int(w[1:])}",
                    "rowIndex": rows.index(w[0]),
                    "columnIndex": columns.index(str(int(w[1:]))),
                }
                for w in names
            ],
            "field_count": fields,
        },
    }
    axes = [{"name": "c", "type": "channel"}, {"name": "z", "type": "space"}]
    axes += [{"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    image_meta = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": axes,
                "datasets": [
                    {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 0.65, 0.65]}]}
                ],
            }
        ],
        "omero": {
            "channels": [
                {"label": c, "color": "FFFFFF", "window": {"start": 0, "end": 65535, "min": 0, "max": 65535}}
                for c in CHANNELS
            ]
        },
    }
    for w in names:
        well = root.require_group(f"{w[0]}/{int(w[1:])}")
        well.attrs["ome"] = {"version": "0.5", "well": {"images": [{"path": str(f)} for f in range(fields)]}}
        for f in range(fields):
            image = well.require_group(str(f))
            image.attrs["ome"] = image_meta
            image.create_array("0", shape=(len(CHANNELS), 1, side, side), chunks=(1, 1, side, side), dtype="uint16")


def imagexpress_folder(path: Path, names: list[str], fields: int) -> None:
    """The same wells as a MetaXpress folder (16 x 16 TIFFs: names and headers are what is read)."""
    import tifffile

    folder = path / "TimePoint_1"
    folder.mkdir(parents=True)
    (path / "plate.HTD").write_text("".join(f'"WaveName{i + 1}", "{c}"\n' for i, c in enumerate(CHANNELS)))
    plane = np.zeros((16, 16), np.uint16)
    for w in names:
        for s in range(1, fields + 1):
            for i in range(len(CHANNELS)):
                tifffile.imwrite(folder / f"plate_{w}_s{s}_w{i + 1}.tif", plane)


def config(tmp: Path, plate: str) -> Path:
    path = tmp / f"{Path(plate).name}.yaml"
    path.write_text(
        f"""fields_per_chunk: 32
datasets:
  screen:
    source: plate
    plate: {{path: {plate}, map: map.csv, channels: {{DAPI: nucleus, GFP: gfp}}}}
    channels:
      - {{name: nucleus, role: structural}}
      - {{name: gfp, role: protein}}
    segmentation: {{channel: nucleus, method: nuclei_otsu}}
"""
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--columns", type=int, default=24)
    parser.add_argument("--fields", type=int, default=9)
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--tmp", type=Path, default=None)
    args = parser.parse_args()
    tmp = args.tmp or Path(tempfile.mkdtemp(prefix="plate_planning_"))
    tmp.mkdir(parents=True, exist_ok=True)
    names = wells(args.rows, args.columns)
    (tmp / "map.csv").write_text("well,protein\n" + "".join(f"{w},P{i}\n" for i, w in enumerate(names)))
    t = time.perf_counter()
    metadata_plate(tmp / "plate.ome.zarr", names, args.fields, args.side)
    took = time.perf_counter() - t
    print(f"wrote an OME-Zarr plate of {len(names)} wells x {args.fields} fields (metadata only) in {took:.1f} s")
    t = time.perf_counter()
    imagexpress_folder(tmp / "imagexpress", names, args.fields)
    took = time.perf_counter() - t
    print(f"wrote an ImageXpress folder of {len(names) * args.fields * len(CHANNELS)} files in {took:.1f} s")

    from pcinpaint.inputs.plate import plate_sheet
    from pcinpaint.inputs.samplesheet import check_files

    print(f"{'plate':>14} {'fields':>7} {'snakemake -n':>13} {'segment jobs':>13} {'sheet':>7} {'check':>7}")
    for plate in ("plate.ome.zarr", "imagexpress"):
        cfg = config(tmp, plate)
        t = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "-s",
                str(REPO / "Snakefile"),
                "-n",
                "--directory",
                str(tmp),
                f"--configfile={cfg}",
                "results/screen/cells.parquet",
            ],
            capture_output=True,
            text=True,
        )
        planning = time.perf_counter() - t
        if proc.returncode:
            sys.exit(f"snakemake -n failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        jobs = len(set(re.findall(r"results/screen/chunks/(\d+-of-\d+)\.npy", proc.stdout)))
        block = {
            "path": str(tmp / plate),
            "map": str(tmp / "map.csv"),
            "channels": {"DAPI": "nucleus", "GFP": "gfp"},
        }
        t = time.perf_counter()
        sheet, _ = plate_sheet(block, ["nucleus", "gfp"])
        listing = time.perf_counter() - t
        sheet["source_sheet"], sheet["source_row"] = "sheet", [str(i + 2) for i in range(len(sheet))]
        t = time.perf_counter()
        check_files(sheet, ["nucleus", "gfp"])
        checking = time.perf_counter() - t
        print(f"{plate:>14} {len(sheet):>7} {planning:>12.1f}s {jobs:>13} {listing:>6.1f}s {checking:>6.1f}s")


if __name__ == "__main__":
    main()
