"""Benchmark: peak memory and seconds of the rules that read or write whole screens, at two sizes.

Run from the repository root:  python tests/perf/bench_streaming_io.py [--quick] [--cases ...]
                               [--lib NAME=FOLDER ...] [--h5ad-python PYTHON] [--tmp DIR]

Cases (synthetic inputs, written once per size under ``--tmp`` and reused by later runs):

- ``gather_crops``: chunk outputs of the segmentation (``.npy`` crops, 2 x 64 x 64, incompressible;
  object tables with 5% dropped objects, images of 250 cells, 8 chunks) into crops.zarr and the tables;
- ``import_crops_hdf5``: a labelled HDF5 file as DeepLoc ships them (float32 rows, one-hot labels);
- ``import_crops_folders``: a crop folder tree, one TIFF per cell and channel;
- ``import_features_parquet`` / ``import_features_csv``: a user's per-cell table (cell ids, a text
  column, 384 features) in shuffled row order, joined to the cell table;
- ``export_h5ad``: a 384-feature table as written by the feature-table writer, to AnnData (needs a
  python with anndata: ``--h5ad-python``, e.g. one made from envs/anndata.yaml).

Each case runs the rule's own script (``workflow_scripts/<rule>.py``, with a stand-in for the
``snakemake`` object) in a fresh process, so the peak resident memory (the child's ``ru_maxrss``)
is the job's (``VmHWM``). ``--lib old=/path/to/workflow_scripts`` runs the scripts and library of another
checkout beside the current one. Prints per case and library the seconds and peak MB at both sizes
and the two-point fit (base MB, MB per 1,000 cells, MB per input MB) behind the cost model
(``pcinpaint.resources.COSTS``). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
SIZES = {
    "gather_crops": (20_000, 80_000),
    "import_crops_hdf5": (20_000, 80_000),
    "import_crops_folders": (4_000, 16_000),
    "import_features_parquet": (50_000, 200_000),
    "import_features_csv": (10_000, 40_000),
    "export_h5ad": (50_000, 200_000),
}
RULE = {case: case.rsplit("_", 1)[0] if case.startswith("import_") else case for case in SIZES}
FEATURES = 384
CELLS_PER_IMAGE = 250
CHUNKS = 8
CHANNELS = [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}]
CLASSES = ["actin", "bud", "cell_periphery", "cytoplasm", "endosome", "er", "golgi", "mitochondria"]


def dataset_block(kind: str, folder: Path) -> dict:
    """A validated dataset block of the config, as the rule's ``params.dataset``."""
    from pcinpaint.config import validate_config

    block = {"channels": CHANNELS, "min_cells": 3}
    if kind == "gather_crops":
        block.update(
            source="samplesheet",
            samplesheet=str(folder / "sheet.tsv"),
            segmentation={"channel": "rfp", "method": "nuclei_otsu"},
            crops={"crop_size": 64, "model_size": 64},
        )
    elif kind == "import_crops_hdf5":
        block.update(
            source="labelled_hdf5",
            labelled_hdf5={
                "paths": [str(folder / "Chong_set.hdf5")],
                "classes": CLASSES,
                "file_channels": ["gfp", "rfp"],
            },
        )
    else:
        block.update(
            source="crop_folders",
            crop_folders={"root": str(folder / "crops"), "tokens": {"rfp": "_rfp", "gfp": "_gfp"}},
        )
    return validate_config({"datasets": {"d": block}})["datasets"]["d"]


def _cells(n: int, rng) -> pd.DataFrame:
    images = np.arange(n) // CELLS_PER_IMAGE
    return pd.DataFrame(
        {
            "cell_id": [f"img{i // CELLS_PER_IMAGE}_f1:{i % CELLS_PER_IMAGE + 1}" for i in range(n)],
            "image_id": [f"img{i}" for i in images],
            "field_id": [f"img{i}_f1" for i in images],
            "protein": [f"P{i % 1000}" for i in images],
            "centroid_y": rng.uniform(0, 2048, n),
            "centroid_x": rng.uniform(0, 2048, n),
            "area": rng.integers(200, 2000, n),
            "store_index": np.arange(n),
        }
    )


def make_inputs(case: str, n: int, folder: Path) -> None:
    """The case's input files for ``n`` cells, in ``folder`` (skipped when already written)."""
    done = folder / "inputs.done"
    if done.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    if case == "gather_crops":
        make_chunks(n, folder, rng)
    elif case == "import_crops_hdf5":
        _make_labelled_hdf5(n, folder, rng)
    elif case == "import_crops_folders":
        _make_crop_folders(n, folder, rng)
    elif case.startswith("import_features"):
        _make_user_features(case, n, folder, rng)
    else:  # export_h5ad
        _make_feature_table(n, folder, rng)
    done.touch()


def _make_labelled_hdf5(n: int, folder: Path, rng) -> None:
    """A DeepLoc-layout file of ``n`` random crops, written in slabs as a large set is."""
    import h5py

    with h5py.File(folder / "Chong_set.hdf5", "w") as f:
        data = f.create_dataset("data1", (n, 2 * 64 * 64), np.float32)
        for at in range(0, n, 4096):
            m = min(4096, n - at)
            data[at : at + m] = rng.random((m, 2 * 64 * 64), np.float32) * 4000
        onehot = np.zeros((n, len(CLASSES)), np.float32)
        onehot[np.arange(n), rng.integers(0, len(CLASSES), n)] = 1
        f.create_dataset("Index1", data=onehot)


def _make_crop_folders(n: int, folder: Path, rng) -> None:
    """One TIFF per cell and channel, a folder per protein of ``CELLS_PER_IMAGE`` cells."""
    import tifffile

    for i in range(n):
        protein = f"P{i // CELLS_PER_IMAGE:03d}"
        where = folder / "crops" / protein
        if i % CELLS_PER_IMAGE == 0:
            where.mkdir(parents=True)
        for token in ("_rfp", "_gfp"):
            plane = rng.integers(0, 4000, (64, 64), dtype=np.uint16)
            tifffile.imwrite(where / f"{protein}_1_{i % CELLS_PER_IMAGE}{token}.tif", plane)


def _make_user_features(case: str, n: int, folder: Path, rng) -> None:
    """The cell table and a user's feature table (shuffled rows) as parquet or CSV, by ``case``."""
    cells = _cells(n, rng)
    cells.to_parquet(folder / "cells.parquet", index=False)
    user = pd.DataFrame(rng.normal(size=(n, FEATURES)).astype(np.float32), columns=_feature_names("Feat"))
    user.insert(0, "FileName", [f"img{i // CELLS_PER_IMAGE}.tif" for i in range(n)])
    user.insert(0, "cell_id", cells["cell_id"])
    user = user.iloc[rng.permutation(n)]
    if case.endswith("parquet"):
        user.to_parquet(folder / "user.parquet", index=False)
    else:
        user.to_csv(folder / "user.csv", index=False, float_format="%.7g")


def _make_feature_table(n: int, folder: Path, rng) -> None:
    """A feature table of ``n`` cells written through the workflow's streaming writer."""
    from pcinpaint.features.table import feature_table_writer

    cells = _cells(n, rng)
    with feature_table_writer(cells, folder / "pci_conv3.parquet", "pci_conv3", FEATURES) as table:
        for at in range(0, n, 4096):
            table.write(rng.normal(size=(min(4096, n - at), FEATURES)).astype(np.float32))


def _feature_names(prefix: str) -> list[str]:
    return [f"{prefix}_{i:03d}" for i in range(FEATURES)]


def make_chunks(n: int, folder: Path, rng) -> None:
    """Segmentation chunk outputs holding ``n`` stored cells, whole images dealt round-robin."""
    import tifffile

    from pcinpaint.io import write_table

    n_images = -(-n // CELLS_PER_IMAGE)
    plane = folder / "plane.tif"
    tifffile.imwrite(plane, np.zeros((8, 8), np.uint16))
    sheet = pd.DataFrame({"image_id": [f"img{i}" for i in range(n_images)]})
    sheet["field_id"] = sheet["image_id"] + "_f1"
    sheet["protein"] = [f"P{i % 1000}" for i in range(n_images)]
    sheet["rfp"] = sheet["gfp"] = str(plane)
    write_table(sheet, folder / "sheet.tsv")
    for chunk in range(CHUNKS):
        images = np.arange(chunk, n_images, CHUNKS)
        sizes = np.minimum(CELLS_PER_IMAGE, n - images * CELLS_PER_IMAGE)
        image = np.repeat(images, sizes + sizes // 20)  # 5% more objects than stored cells
        m = len(image)
        dropped = np.zeros(m, bool)
        starts = np.concatenate([[0], np.cumsum(sizes + sizes // 20)[:-1]])
        for s, k in zip(starts, sizes):
            dropped[s + k : s + k + k // 20] = True
        objects = pd.DataFrame(
            {
                "object_id": np.concatenate([np.arange(1, k + k // 20 + 1) for k in sizes]) if m else [],
                "centroid_y": rng.uniform(0, 2048, m),
                "centroid_x": rng.uniform(0, 2048, m),
                "area": rng.integers(200, 2000, m),
                "kept": ~dropped,
                "drop_reason": np.where(dropped, "leaves_field", ""),
                "padded": False,
                "image_id": [f"img{i}" for i in image],
                "field_id": [f"img{i}_f1" for i in image],
                "protein": [f"P{i % 1000}" for i in image],
            }
        )
        for col in ("cell_line", "antibody", "label", "label_source", "sc_variation_intensity", "sc_variation_spatial"):
            objects[col] = pd.NA
        write_table(objects, folder / f"chunk{chunk}.parquet")
        crops = rng.integers(0, 256, (int((~dropped).sum()), 2, 64, 64), dtype=np.uint8)
        np.save(folder / f"chunk{chunk}.npy", crops)
        fields = pd.DataFrame({"field_id": [f"img{i}_f1" for i in images], "n_nonfinite": 0})
        fields["cell_diameter"], fields["crop_size"] = np.nan, 64.0
        write_table(fields, folder / f"chunk{chunk}.fields.tsv")


class Namespace(dict):
    """The parts of Snakemake's job object a rule script reads (attribute access, ``log[0]``)."""

    __getattr__ = dict.__getitem__


def job(case: str, folder: Path, out: Path) -> tuple[str, Namespace]:
    """(rule script, stand-in ``snakemake`` object) of the case."""
    log = [str(out / "rule.log")]
    if case == "gather_crops":
        part = [str(folder / f"chunk{c}") for c in range(CHUNKS)]
        return "gather_crops", Namespace(
            input=Namespace(
                sheet=str(folder / "sheet.tsv"),
                crops=[p + ".npy" for p in part],
                objects=[p + ".parquet" for p in part],
                fields=[p + ".fields.tsv" for p in part],
                truth_cells=[],
            ),
            output=Namespace(
                store=str(out / "crops.zarr"),
                cells=str(out / "cells.parquet"),
                objects=str(out / "objects.parquet"),
                fields=str(out / "fields.tsv"),
                dropped=str(out / "dropped_images.tsv"),
            ),
            params=Namespace(dataset=dataset_block(case, folder)),
            wildcards=Namespace(dataset="d"),
            log=log,
        )
    if case.startswith("import_crops"):
        return "import_crops", Namespace(
            input=Namespace(files=[]),
            output=Namespace(store=str(out / "crops.zarr"), cells=str(out / "cells.parquet")),
            params=Namespace(dataset=dataset_block(case, folder)),
            wildcards=Namespace(dataset="d"),
            log=log,
        )
    if case.startswith("import_features"):
        table = folder / ("user.parquet" if case.endswith("parquet") else "user.csv")
        return "import_features", Namespace(
            input=Namespace(table=str(table), cells=str(folder / "cells.parquet")),
            output=Namespace(table=str(out / "imported_user.parquet")),
            params=Namespace(entry={"key": None, "level": "cell", "drop_unmatched": False}),
            log=log,
        )
    return "export_h5ad", Namespace(
        input=Namespace(table=str(folder / "pci_conv3.parquet")),
        output=Namespace(h5ad=str(out / "pci_conv3.h5ad")),
        log=log,
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory: the kernel's high-water mark of its own address space.

    ``ru_maxrss`` would do on a process started clean, but Linux carries it over from the parent
    through fork and exec, so a child of a large parent reports the parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(case: str, folder: Path, out: Path, lib: Path) -> None:
    """One rule script of ``lib`` in this process; prints seconds and peak RSS."""
    import runpy

    sys.path.insert(0, str(lib))  # before the installed library
    script, snakemake = job(case, folder, out)
    start = time.perf_counter()
    runpy.run_path(str(lib / f"{script}.py"), init_globals={"snakemake": snakemake}, run_name="__main__")
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    library = str(Path(sys.modules["pcinpaint"].__file__).parents[1])
    print("RESULT " + json.dumps({"seconds": seconds, "peak_mb": peak_mb, "lib": library}))


def input_mb(case: str, folder: Path) -> float:
    skip = {"inputs.done", "sheet.tsv", "plane.tif", "cells.parquet"}
    files = [p for p in folder.rglob("*") if p.is_file() and p.name not in skip and not p.name.endswith(".fields.tsv")]
    return sum(p.stat().st_size for p in files) / 2**20


def measure(case: str, n: int, folder: Path, lib: Path, python: str) -> dict | None:
    out = folder / f"out_{os.getpid()}"
    out.mkdir(exist_ok=True)
    child = [python, __file__, "--child", case, str(folder), str(out), str(lib)]
    proc = subprocess.run(child, capture_output=True, text=True, cwd=out)
    subprocess.run(["rm", "-rf", str(out)], check=True)
    if proc.returncode:
        print(f"  {case} at {n:,} failed ({lib}):\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    result = json.loads(proc.stdout.split("RESULT ")[-1])
    if Path(result["lib"]).resolve() != lib.resolve():
        raise RuntimeError(f"{case}: ran the library in {result['lib']}, not {lib}")
    return result


def cost_units(case: str, n: int, input_mb: float) -> tuple[str, float]:
    """(unit, amount) of the case in ``pcinpaint.resources``' terms (its module doc lists the units)."""
    if case == "gather_crops":
        return "cells", n / 1000 * len(CHANNELS) / 3
    if case.startswith("import_crops"):
        return "input_mb", n * len(CHANNELS) * 64 * 64 / 2**20  # the crop store's MB, as job_size sizes it
    if case.startswith("import_features"):
        return "input_mb", input_mb
    return "values", n * FEATURES / 1e6


def fit(n1, m1, n2, m2):
    per = (m2 - m1) / (n2 - n1)
    return m1 - per * n1, per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument(
        "--lib",
        action="append",
        metavar="NAME=FOLDER",
        help="a workflow_scripts folder to run (repeatable; default: this checkout's, as 'current')",
    )
    parser.add_argument("--h5ad-python", default=sys.executable, help="a python with anndata, for export_h5ad")
    parser.add_argument("--tmp", default=None, help="where inputs are written and kept (default: a temporary folder)")
    parser.add_argument("--child", nargs=4, metavar=("CASE", "FOLDER", "OUT", "LIB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, folder, out, lib = args.child
        run_child(case, Path(folder), Path(out), Path(lib))
        return
    libs = [item.split("=", 1) for item in (args.lib or [f"current={REPO / 'workflow_scripts'}"])]
    has_anndata = subprocess.run([args.h5ad_python, "-c", "import anndata, h5py"], capture_output=True).returncode == 0
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(f"libraries: {', '.join(f'{name}={path}' for name, path in libs)}; h5ad python: {args.h5ad_python}")
    head = (
        f"{'case':<24} {'lib':<8} {'size':>15} {'input MB':>15} {'seconds':>13} {'peak MB':>13} "
        f"{'base MB':>8} {'MB/1k cells':>11} {'MB/input MB':>11}"
    )
    rows, costs = [], []
    with tempfile.TemporaryDirectory(dir=args.tmp) as scratch:
        root = Path(args.tmp) if args.tmp else Path(scratch)
        for case in args.cases:
            if case == "export_h5ad" and not has_anndata:
                rows.append(f"{case:<24} skipped: {args.h5ad_python} has no anndata (pass --h5ad-python)")
                continue
            sizes = [max(n // 10, 500) for n in SIZES[case]] if args.quick else list(SIZES[case])
            python = args.h5ad_python if case == "export_h5ad" else sys.executable
            folders = [root / "bench_streaming_io" / case / str(n) for n in sizes]
            for n, folder in zip(sizes, folders):
                make_inputs(case, n, folder)
            mb = [input_mb(case, f) for f in folders]
            for name, lib in libs:
                got = [measure(case, n, f, Path(lib), python) for n, f in zip(sizes, folders)]
                if None in got:
                    rows.append(f"{case:<24} {name:<8} failed (see above)")
                    continue
                base, per_cell = fit(sizes[0], got[0]["peak_mb"], sizes[1], got[1]["peak_mb"])
                _, per_mb = fit(mb[0], got[0]["peak_mb"], mb[1], got[1]["peak_mb"])
                rows.append(
                    f"{case:<24} {name:<8} {sizes[0]:>7,}/{sizes[1]:<7,} {mb[0]:>7.0f}/{mb[1]:<7.0f} "
                    f"{got[0]['seconds']:>6.1f}/{got[1]['seconds']:<6.1f} "
                    f"{got[0]['peak_mb']:>6.0f}/{got[1]['peak_mb']:<6.0f} "
                    f"{base:>8.0f} {per_cell * 1000:>11.2f} {per_mb:>11.3f}"
                )
                print(rows[-1], flush=True)
                unit, units = zip(*(cost_units(case, n, m) for n, m in zip(sizes, mb)))
                mem = fit(units[0], got[0]["peak_mb"], units[1], got[1]["peak_mb"])
                sec = fit(units[0], got[0]["seconds"], units[1], got[1]["seconds"])
                costs.append(
                    f"{RULE[case]:<16} {case:<24} {name:<8} {unit[0]:<9} {units[0]:>8.1f}/{units[1]:<8.1f} "
                    f"{mem[0]:>8.0f} {mem[1]:>9.3f} {sec[0]:>8.1f} {sec[1]:>9.4f}"
                )
    print()
    print(head)
    print("\n".join(rows))
    print()
    print("cost-model fit (peak MB and seconds = base + rate x units; units as pcinpaint.resources counts them)")
    print(
        f"{'rule':<16} {'case':<24} {'lib':<8} {'unit':<9} {'units':>17} "
        f"{'mem base':>8} {'MB/unit':>9} {'s base':>8} {'s/unit':>9}"
    )
    print("\n".join(costs))


if __name__ == "__main__":
    main()
