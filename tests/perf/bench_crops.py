"""Benchmark: segmentation + cropping per 2048x2048 field, and crop-store vs TIFF-per-crop reads.

Run by hand from the repository root:

    python tests/perf/bench_crops.py            # full run (~2-3 min on 2 cores)
    python tests/perf/bench_crops.py --quick    # smoke run (~30 s)

It prints measured figures and never asserts timings.

Part A (pinned to one CPU core, BLAS/OpenMP threads = 1): a simulated 2048x2048 field per
preset at the demo config's cell density, timed through ``crops.segment_chunk.segment_and_crop`` with the
demo's own segmentation and crop settings (``config.yaml``), and split into segmentation alone
(``segment.segment_field``) vs the rest (measure, crop, resize, preprocess), and the field
quality measures the segment jobs add (``crops.qc``). ``--quick`` runs
the human preset only, once.

Part B (CPU affinity restored to every allowed core): the same random 64-crop batches read
four ways, with crops/s and the ratio to uncompressed TIFFs:

- crop store read from disk batch by batch: ``open_crop_store(path, memory_limit=None)``,
  then ``read_crops(store, idx)``;
- crop store held in memory: ``open_crop_store(path)`` (default memory limit; its one-time
  load is timed and reported separately), then ``read_crops(store, idx)``;
- one TIFF file per crop, uncompressed, and (full run only) zlib-compressed;

plus one sequential full read ``read_crops(path)``. All reads are warm-cache figures: the files
were just written and the page cache is not dropped.
"""

from __future__ import annotations

import os

# Single-threaded numerics for part A: must be set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

ALLOWED_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
PINNED_CPU = None
if ALLOWED_CPUS and hasattr(os, "sched_setaffinity"):
    try:
        os.sched_setaffinity(0, {ALLOWED_CPUS[0]})  # before numpy, so every thread inherits it
        PINNED_CPU = ALLOWED_CPUS[0]
    except OSError:
        PINNED_CPU = None

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

import numpy as np
import tifffile
import zarr
from skimage.transform import downscale_local_mean

from pcinpaint.config import DatasetConfig, load_config
from pcinpaint.crops.qc import protein_measures, structure_measures
from pcinpaint.crops.segment import segment_field
from pcinpaint.crops.segment_chunk import segment_and_crop, segmentation_settings
from pcinpaint.crops.store import open_crop_store, read_crops, to_uint8, write_crop_store
from pcinpaint.inputs.simulate import CELL_LINES, FieldSettings, design_proteins, render_field

FIELD = 2048
SEED = 20240611
BATCH = 64
N_BATCHES = 50

# Part A: one field per preset; the cell line is the preset's first (human: U-2 OS).
PRESETS = {  # preset -> (dataset name in config.yaml, cell line)
    "human": ("sim_human", "U-2 OS"),
    "yeast": ("sim_yeast", "BY4741"),
}


def line(text: str = "") -> None:
    print(text, flush=True)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def repeat(fn, n_repeats: int, warmup: int):
    """Median seconds of ``n_repeats`` calls after ``warmup`` untimed calls, and the last result."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(n_repeats):
        dt, out = timed(fn)
        times.append(dt)
    return statistics.median(times), times, out


def matched_cells(sim: dict, size: int) -> int:
    """Cells in a ``size`` x ``size`` field at the demo's cells-per-area."""
    return int(round(sim["cells_per_field"] * (size / sim["field_size"]) ** 2))


def tree_size(path: Path) -> tuple[int, int, int]:
    """(files, apparent bytes, allocated bytes) under ``path``."""
    n = apparent = allocated = 0
    for root, _, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            n += 1
            apparent += st.st_size
            allocated += getattr(st, "st_blocks", 0) * 512
    return n, apparent, allocated


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


# --------------------------------------------------------------------------------------------
# Part A
# --------------------------------------------------------------------------------------------


def part_a(config: dict, quick: bool) -> tuple[list[dict], dict[str, np.ndarray]]:
    n_repeats, warmup = (1, 0) if quick else (3, 1)
    line(f"== Part A: segmentation + cropping of one {FIELD}x{FIELD} field per preset ==")
    pinned = f"pinned to CPU {PINNED_CPU}" if PINNED_CPU is not None else "NOT pinned (no sched_setaffinity)"
    line(f"   single core: {pinned}, OMP/OPENBLAS/MKL_NUM_THREADS=1")
    line(f"   timing: median of {n_repeats} repeat(s) after {warmup} warm-up call(s)")
    presets = {"human": PRESETS["human"]} if quick else PRESETS
    if quick:
        line(f"   (--quick: human preset only; skipped {', '.join(p for p in PRESETS if p not in presets)})")
    rows, kept_crops = [], {}
    for preset, (dataset, cell_line) in presets.items():
        cfg = DatasetConfig.from_config(config, dataset)
        sim = config["datasets"][dataset]["simulate"]
        n_cells = matched_cells(sim, FIELD)
        rng = np.random.default_rng(SEED)
        specs = design_proteins(
            preset, sim["n_proteins"], sim["multi_localized_fraction"], sim["variable_fraction"], rng
        )
        spec = specs[0]
        field_settings = FieldSettings(preset, CELL_LINES[preset][cell_line], n_cells, FIELD)
        t_sim, fld = timed(render_field, field_settings, spec, 1.0, rng)
        field = fld.channels.astype(np.float32)
        line(
            f"-- {preset} ({dataset}, {cell_line}, protein {spec.name} {'+'.join(spec.classes)}): "
            f"{len(fld.truth)} cells placed (asked {n_cells} = {sim['cells_per_field']} per "
            f"{sim['field_size']}^2 scaled to {FIELD}^2); simulated in {t_sim:.1f} s (not timed below)"
        )

        seg = cfg.segmentation
        line(
            f"   segmentation: {seg['method']} on '{seg['channel']}', "
            + ", ".join(f"{k}={v}" for k, v in seg.items() if k not in ("method", "channel"))
            + f"; crops: {cfg.crops['crop_size']} -> "
            f"{cfg.crops['model_size']} px, area_fraction={cfg.crops['area_fraction']}, border={cfg.crops['border']}"
        )

        t_total, times_total, (labels, crops, objects) = repeat(
            lambda field=field, cfg=cfg: segment_and_crop(field, cfg), n_repeats, warmup
        )

        # segmentation alone, called exactly as segment_and_crop calls it
        factor = int(seg.get("downsample", 1))
        seg_input = field[cfg.segmentation_channel]
        if factor > 1:
            seg_input = downscale_local_mean(field, (1, factor, factor)).astype(np.float32)[cfg.segmentation_channel]
        settings = segmentation_settings(cfg)
        t_seg, times_seg, seg_labels = repeat(lambda x=seg_input, s=settings: segment_field(x, s), n_repeats, warmup)
        if not np.array_equal(seg_labels, labels):
            line("   WARNING: segment_field alone gave different labels than inside segment_and_crop")

        n_detected = len(objects)
        n_kept = int(objects["kept"].sum())
        reasons = objects.loc[~objects["kept"], "drop_reason"].value_counts().to_dict()
        row = dict(
            preset=preset,
            cells=len(fld.truth),
            detected=n_detected,
            kept=n_kept,
            total=t_total,
            seg=t_seg,
            rest=t_total - t_seg,
        )
        rows.append(row)
        kept_crops[preset] = to_uint8(crops)
        line(
            f"   objects detected {n_detected}, crops kept {n_kept} {tuple(crops.shape)}"
            f"{'  dropped: ' + str(reasons) if reasons else ''}"
        )
        line(
            f"   segment_and_crop: {t_total:.3f} s/field  (runs: {', '.join(f'{t:.3f}' for t in times_total)})"
            f"  -> {n_kept / t_total:.0f} kept cells/s, {n_detected / t_total:.0f} detected objects/s"
        )
        line(
            f"   segment_field alone: {t_seg:.3f} s ({100 * t_seg / t_total:.0f}%)  "
            f"(runs: {', '.join(f'{t:.3f}' for t in times_seg)}); "
            f"rest (measure, crop, resize, preprocess): {t_total - t_seg:.3f} s "
            f"({100 * (t_total - t_seg) / t_total:.0f}%)"
        )
        # the field quality measures the segment jobs add (crops.qc), as measure_and_segment calls them
        seg_field = downscale_local_mean(field, (1, factor, factor)).astype(np.float32) if factor > 1 else field
        structural = seg_field[cfg.segmentation_channel]
        t_qc, times_qc, measures = repeat(
            lambda f=field, p=cfg.protein, s=structural, lab=labels: (
                protein_measures(f, p) | structure_measures(s, lab)
            ),
            n_repeats,
            warmup,
        )
        row["qc"] = t_qc
        line(
            f"   field quality measures: {t_qc:.3f} s ({100 * t_qc / t_total:.0f}% of segment_and_crop)  "
            f"(runs: {', '.join(f'{t:.3f}' for t in times_qc)}); "
            + ", ".join(f"{k}={v:.3g}" for k, v in measures.items())
        )
    return rows, kept_crops


# --------------------------------------------------------------------------------------------
# Part B
# --------------------------------------------------------------------------------------------


def source_crops(config: dict, n_fields: int) -> np.ndarray:
    """uint8 (n, 3, 64, 64) human crops from a few demo-size simulated fields (all cell lines)."""
    dataset = "sim_human"
    cfg = DatasetConfig.from_config(config, dataset)
    sim = config["datasets"][dataset]["simulate"]
    rng = np.random.default_rng(SEED + 1)
    specs = design_proteins("human", sim["n_proteins"], sim["multi_localized_fraction"], sim["variable_fraction"], rng)
    lines = list(CELL_LINES["human"])
    out = [np.zeros((0, 3, cfg.crops["model_size"], cfg.crops["model_size"]), np.uint8)]
    for i in range(n_fields):
        spec = specs[(i * 5) % len(specs)]  # spread over localization classes
        fld = render_field(
            FieldSettings(
                "human", CELL_LINES["human"][lines[i % len(lines)]], sim["cells_per_field"], sim["field_size"]
            ),
            spec,
            float(rng.lognormal(0, 0.3)),
            rng,
        )
        _, crops, _ = segment_and_crop(fld.channels.astype(np.float32), cfg)
        out.append(to_uint8(crops))
    return np.concatenate(out)


def read_tiff_batch(paths: list[str], batch: np.ndarray) -> np.ndarray:
    raw = np.stack([tifffile.imread(paths[i]) for i in batch])
    return raw.astype(np.float32) / np.float32(255.0)  # uint8 -> float32 in [0, 1], as read_crops does


def part_b(config: dict, quick: bool, human_crops: np.ndarray) -> dict:
    n_total = 4000 if quick else 20000
    n_loads = 1 if quick else 3
    if ALLOWED_CPUS and PINNED_CPU is not None:
        os.sched_setaffinity(0, set(ALLOWED_CPUS))
    line()
    line(
        f"== Part B: random-batch reads, crop store (disk / memory) vs one TIFF per crop "
        f"({n_total} crops of (3, 64, 64) uint8) =="
    )
    line(
        f"   CPU affinity restored to {len(ALLOWED_CPUS) if ALLOWED_CPUS else os.cpu_count()} core(s) "
        f"(part A alone is single-core); BLAS threads still 1"
    )
    crops = part_b_crops(config, quick, human_crops, n_total)

    results = {"n": n_total}
    with tempfile.TemporaryDirectory(prefix="bench_crops_") as tmp:
        tmp = Path(tmp)
        line(f"   temp dir: {tmp}")
        store_path = tmp / "crops.zarr"
        disk, mem = write_and_load_store(store_path, crops, n_loads, results)
        tiff_paths = write_tiffs(tmp, crops, quick, results)

        rng = np.random.default_rng(SEED + 2)
        batches = [rng.choice(n_total, BATCH, replace=False) for _ in range(N_BATCHES)]
        readers = {  # label -> (results key, batch reader)
            "store disk": ("store_disk", lambda idx, store=disk: read_crops(store, idx)),
            "store mem": ("store_mem", lambda idx, store=mem: read_crops(store, idx)),
        }
        for name in tiff_paths:
            readers[name] = (name, lambda idx, paths=tiff_paths[name]: read_tiff_batch(paths, idx))
        warm = rng.choice(n_total, BATCH, replace=False)
        expected = crops[warm].astype(np.float32) / np.float32(255.0)
        time_reads(readers, batches, (warm, expected), results)

        del mem
        t_full, full = timed(read_crops, store_path)
        if full.shape != (n_total, 3, 64, 64) or not np.array_equal(full[warm], expected):
            raise RuntimeError("sequential read_crops(path) differs from the crops written")
        results["full"] = t_full
        tiff_rate = N_BATCHES * BATCH / sum(results["tiff"])
        line(
            f"   sequential full read_crops(path): {full.shape} in {t_full:.3f} s -> {n_total / t_full:.0f} crops/s "
            f"({mib(full.nbytes)} float32; {n_total / t_full / tiff_rate:.2f}x tiff random-batch crops/s)"
        )
        del full, disk
    return results


def part_b_crops(config: dict, quick: bool, human_crops: np.ndarray, n_total: int) -> np.ndarray:
    """Part A's crops and (full run) those of a few demo-size fields, tiled to ``n_total``."""
    n_fields = 0 if quick else 6
    t_src, extra = timed(source_crops, config, n_fields)
    src = np.concatenate([human_crops, extra])
    more = (
        (
            f" + {len(extra)} from {n_fields} simulated demo-size "
            f"{config['datasets']['sim_human']['simulate']['field_size']}^2 "
            f"fields of all cell lines ({t_src:.1f} s)"
        )
        if n_fields
        else ""
    )
    line(
        f"   content: {len(src)} distinct human crops (segment_and_crop + to_uint8): {len(human_crops)} from part A's "
        f"{FIELD}^2 field{more}; tiled to {n_total}"
    )
    return src[np.arange(n_total) % len(src)]


def write_and_load_store(store_path: Path, crops: np.ndarray, n_loads: int, results: dict):
    """The crop store written, then opened twice: read from disk batch by batch, and held in memory."""
    n_total = len(crops)
    batches = (crops[i : i + 1000] for i in range(0, n_total, 1000))
    t_write, _ = timed(write_crop_store, store_path, batches, n_total, 3, 64)
    disk = open_crop_store(store_path, memory_limit=None)
    if disk.memory is not None:
        raise RuntimeError("open_crop_store(memory_limit=None) loaded the store into memory")
    arr = disk.array
    files, apparent, allocated = tree_size(store_path)
    results["store_size"] = (files, apparent, allocated)
    line(
        f"   crop store written in {t_write:.2f} s: {files} files, {apparent} bytes ({mib(apparent)}), "
        f"{allocated} bytes allocated; chunks {arr.chunks}, shards {arr.shards}, "
        f"compressors {[type(c).__name__ for c in arr.compressors]}"
    )

    # one-time load into memory (default memory_limit); the store files are already in the page cache
    t_load, load_times, mem = repeat(lambda: open_crop_store(store_path), n_loads, 0)
    if mem.memory is None:
        raise RuntimeError(
            f"open_crop_store(default limit) did not hold a {mib(int(np.prod(arr.shape)))} store in memory"
        )
    results["load"] = t_load
    line(
        f"   in-memory store: open_crop_store(path) (default memory_limit) loads {mib(mem.memory.nbytes)} uint8 in "
        f"{t_load:.3f} s (median of {n_loads}: {', '.join(f'{t:.3f}' for t in load_times)}) "
        f"-> {n_total / t_load:.0f} crops/s"
    )
    return disk, mem


def write_tiffs(tmp: Path, crops: np.ndarray, quick: bool, results: dict) -> dict[str, list[str]]:
    """One TIFF per crop, uncompressed and (full run) zlib: format -> its files."""
    n_total = len(crops)
    variants = {"tiff": None} if quick else {"tiff": None, "tiff_zlib": "zlib"}
    if quick:
        line("   (--quick: zlib-compressed TIFF variant skipped)")
    tiff_paths = {}
    for name, compression in variants.items():
        folder = tmp / name
        folder.mkdir()
        paths = [str(folder / f"{i:06d}.tif") for i in range(n_total)]
        t0 = time.perf_counter()
        for p, crop in zip(paths, crops):
            tifffile.imwrite(p, crop, photometric="minisblack", compression=compression, metadata=None)
        t_write = time.perf_counter() - t0
        tiff_paths[name] = paths
        files, apparent, allocated = tree_size(folder)
        results[f"{name}_size"] = (files, apparent, allocated)
        line(
            f"   {name:<9}: {n_total} TIFFs written in {t_write:.2f} s: {files} files, {apparent} bytes "
            f"({mib(apparent)}), {allocated} bytes allocated ({mib(allocated)})"
        )
    check = tifffile.imread(tiff_paths["tiff"][0])
    if check.shape != (3, 64, 64) or check.dtype != np.uint8:
        raise RuntimeError(f"TIFF round trip gave {check.shape} {check.dtype}, expected (3, 64, 64) uint8")
    return tiff_paths


def time_reads(readers: dict, batches: list[np.ndarray], warm: tuple[np.ndarray, np.ndarray], results: dict) -> None:
    """Each reader checked on the ``warm`` (indices, expected crops) batch, untimed (opens files,
    fills caches), then timed on the same random batches; the table of rates against TIFFs."""
    warm_batch, expected = warm
    for label, (_, reader) in readers.items():
        got = reader(warm_batch)
        if got.shape != (BATCH, 3, 64, 64) or got.dtype != np.float32 or not np.array_equal(got, expected):
            raise RuntimeError(f"{label}: warm-up batch differs from the crops written")

    line(
        f"   {N_BATCHES} random batches of {BATCH} indices (seed {SEED + 2}, the same batches for every format); "
        "warm page cache (files just written, cache not dropped)"
    )
    for label, (key, reader) in readers.items():
        times = []
        for batch in batches:
            dt, out = timed(reader, batch)
            times.append(dt)
        if out.shape != (BATCH, 3, 64, 64) or out.dtype != np.float32:
            raise RuntimeError(f"{label}: batch came back as {out.dtype} {out.shape}")
        results[key] = times
    n_read = N_BATCHES * BATCH
    tiff_rate = n_read / sum(results["tiff"])
    line(f"   {'format':<11} {'total s':>8} {'ms/batch (median)':>18} {'crops/s':>10} {'vs tiff':>8}")
    for label, (key, _) in readers.items():
        times = results[key]
        rate = n_read / sum(times)
        line(
            f"   {label:<11} {sum(times):8.3f} {1000 * statistics.median(times):18.2f} {rate:10.0f} "
            f"{rate / tiff_rate:7.2f}x"
        )


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: human preset only, one repeat, fewer crops, no zlib TIFFs"
    )
    args = parser.parse_args()
    t_start = time.perf_counter()

    import skimage

    line(f"bench_crops.py{' --quick' if args.quick else ''}  ({time.strftime('%Y-%m-%d %H:%M:%S')})")
    line(
        f"machine: {platform.node()} {platform.machine()}, nproc={os.cpu_count()}, allowed CPUs={ALLOWED_CPUS}, "
        f"{platform.system()} {platform.release()}"
    )
    line(f"load average at start: {loadavg()} (other processes on the machine skew the figures)")
    line(
        f"python {platform.python_version()}, numpy {np.__version__}, zarr {zarr.__version__}, "
        f"tifffile {tifffile.__version__}, scikit-image {skimage.__version__}"
    )
    config = load_config(REPO / "config.yaml")
    line()

    rows, kept_crops = part_a(config, args.quick)
    b = part_b(config, args.quick, kept_crops["human"])

    line()
    line("== Summary ==")
    line(
        f"A. one {FIELD}x{FIELD} field, ONE core (CPU {PINNED_CPU}), "
        f"{'1 run, human preset only' if args.quick else 'median of 3 after 1 warm-up'}"
    )
    line(
        f"   {'preset':<7} {'cells':>6} {'detected':>9} {'kept':>6} {'s/field':>8} {'seg s':>7} {'rest s':>7} "
        f"{'kept cells/s':>13}"
    )
    for r in rows:
        line(
            f"   {r['preset']:<7} {r['cells']:>6} {r['detected']:>9} {r['kept']:>6} {r['total']:8.3f} "
            f"{r['seg']:7.3f} {r['rest']:7.3f} {r['kept'] / r['total']:13.0f}"
        )
    n_read = N_BATCHES * BATCH
    line(
        f"B. {b['n']} crops (3x64x64 uint8), {N_BATCHES} random batches of {BATCH}, warm cache, "
        f"{len(ALLOWED_CPUS) if ALLOWED_CPUS else os.cpu_count()} cores; 'vs tiff' = crops/s over uncompressed TIFF's"
    )
    line(f"   {'read':<40} {'crops/s':>9} {'vs tiff':>8} {'files':>7} {'bytes':>11} {'allocated':>11}")
    tiff_rate = n_read / sum(b["tiff"])
    rows_b = [
        ("store_disk", "crop store, from disk (random)", "store"),
        ("store_mem", "crop store, in memory (random)", "store"),
        ("tiff", "TIFF per crop (random)", "tiff"),
        ("tiff_zlib", "TIFF per crop, zlib (random)", "tiff_zlib"),
    ]
    for key, label, size_key in rows_b:
        if key not in b:
            continue
        rate = n_read / sum(b[key])
        files, apparent, allocated = b[f"{size_key}_size"]
        line(f"   {label:<40} {rate:9.0f} {rate / tiff_rate:7.2f}x {files:7d} {apparent:11d} {allocated:11d}")
    for label, seconds in (
        (f"crop store, in-memory load ({b['load']:.3f} s)", b["load"]),
        (f"crop store, read_crops(path) ({b['full']:.3f} s)", b["full"]),
    ):
        rate = b["n"] / seconds
        line(f"   {label:<40} {rate:9.0f} {rate / tiff_rate:7.2f}x")
    line(f"total wall time {time.perf_counter() - t_start:.0f} s; load average at end: {loadavg()}")


if __name__ == "__main__":
    main()
