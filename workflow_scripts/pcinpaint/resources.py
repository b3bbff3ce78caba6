"""What each rule asks a cluster for (memory, run time, CPUs), sized from the data it reads.

A rule's cost is a base plus a rate per unit of its data, with rates measured on the workflow
itself (``tests/perf/bench_resources.py``, ``bench_model.py``, ``bench_knn.py``,
``bench_crops.py``; docs/cluster.md lists them). The unit depends on the rule:

- ``cells``: thousands of crops, scaled by channels / 3 (a crop's bytes);
- ``rows``: thousands of cells, whatever their channels;
- ``pairs``: thousands of training pairs (cells x epochs), scaled by channels and by the
  network's width (a pair costs ``a + b * width^2`` core-seconds, fitted at widths 0.25 and 1);
- ``encoded``: thousands of cells through the encoder once, scaled the same way;
- ``values``: millions of feature values read (the rows x columns of the job's feature tables,
  rows capped at ``benchmarks.max_cells`` for the rules that read only their subsample);
- ``knn``: the leave-one-out kNN's work, cells^2 x (features + ``KNN_PAIR_OVERHEAD``) summed
  over feature sets (x 1e12);
- ``fields``: fields of view of one segmentation chunk, scaled by their pixels / 2048^2;
- ``input_mb``: MB of the job's input files (imports of tables and labelled HDF5 files);
- ``fixed``: nothing grows (the simulator, figures drawn from a few cells): the base only.

Times are core-seconds; a job's threads divide them (rules that parallelise), and the run time
asked is ``SAFETY`` times the estimate, at least ``MIN_RUNTIME`` minutes and at most
``MAX_RUNTIME`` (training resumes from its last epoch, so a job stopped at its limit continues
when resubmitted). Memory has ``HEADROOM`` on top. Both grow with Snakemake's ``attempt``, so a
job killed for memory or time is resubmitted asking for more.

The sizes are read cheaply from the job's inputs (the crop store's ``zarr.json``, parquet
footers, the sample sheet, file sizes), so planning a million-cell screen reads no data. Before
an input exists, memory and run time are left to be decided (Snakemake shows ``<TBD>``) and the
CPUs are the rule's most; all are computed again when the job is about to run.
"""

import csv
import functools
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from pcinpaint.config import schema_default
from pcinpaint.errors import one_line
from pcinpaint.image_refs import is_reference, parse_reference, plane_header
from pcinpaint.model.spec import SOURCE_FILTERS  # plain numbers: no stage code comes with it

#: estimates are multiplied by this for the run time asked (other CPUs, shared file systems)
SAFETY = 3.0
#: memory asked on top of the estimate
HEADROOM = 1.25
MIN_RUNTIME = 15
#: the least memory a job asks for (Python with the stage's libraries, whatever its data)
MIN_MEM_MB = 500
MAX_RUNTIME = 24 * 60
#: a job whose work is spread over threads takes one per this many core-seconds (up to its most)
TARGET_SECONDS_PER_THREAD = 60
FIELD_PIXELS = 2048 * 2048


@dataclass(frozen=True)
class Cost:
    """One rule's measured cost: a base, plus rates per unit of ``unit`` (see the module doc).

    Time is ``seconds + seconds_per_unit * units ** exponent`` core-seconds (``exponent`` above 1
    for work that grows faster than the data).
    """

    unit: str
    mem_mb: float
    mem_mb_per_unit: float
    seconds: float
    seconds_per_unit: float
    max_threads: int = 1
    #: the work is spread over threads (False: one core does it, whatever the threads)
    parallel: bool = False
    #: memory follows this unit instead (e.g. ``rows`` for rules whose memory is the cell rows
    #: they read, whatever the work)
    mem_unit: str | None = None
    #: MB each extra thread adds (rules that parallelise with worker processes)
    worker_mb: float = 0
    exponent: float = 1.0
    #: MB per million feature values held at once: the largest table's rows that the job keeps
    #: (its capped subsample) times its columns; rules that stream hold one row group
    mem_mb_per_held: float = 0


@dataclass(frozen=True)
class Request:
    """What one job asks for."""

    mem_mb: int
    runtime: int  # minutes
    threads: int


#: Per-rule costs. Memory: the larger of Snakemake's sampled max_rss and the exact peak of the
#: rule's process, fitted through 2,500 and 10,028 three-channel cells (bench_resources.py, 2
#: cores, width 0.25); rates per feature value are that run's per-cell rates over its features
#: per cell. Time: CPU seconds of the same runs, except where a dedicated benchmark measured the
#: work at a larger size (training and extraction: bench_model.py at widths 1 and 0.25;
#: segmentation: bench_crops.py per 2048^2 field; classic features: bench_baselines.py's yeast
#: layout, the slower one; VGG16: bench_baselines.py, all three strategies; kNN: see KNN_*).
#: Extractions stream the store and their tables: their memory grows only with the cell table
#: (bench_extraction_memory.py: 38 MB more at 100,000 cells than at 25,000).
#: GPU rules add the CUDA context's host memory to their base. Rules not listed are light
#: (local rules, protein-level tables) and take 1 GB, 15 minutes and one CPU; so do qc_overlays
#: (four fields whatever the screen: 0.56 GB peak and 26 s on four 2048 x 2048 three-channel
#: fields, nuclei_otsu) and convert_published_weights (one Keras file: 0.4 GB and 3 s for the paper's network).
COSTS: dict[str, Cost] = {
    "simulate_screen": Cost("fixed", 1000, 0, 300, 0),
    "segment": Cost("fields", 600, 30, 5, 2.5),
    "gather_crops": Cost("cells", 300, 1.0, 5, 0.2, mem_unit="rows"),
    "import_crops": Cost("input_mb", 450, 0.2, 10, 0.3),
    "qc_montage": Cost("fixed", 500, 0, 10, 0),
    "train_pci": Cost("pairs", 3000, 0, 60, 0, max_threads=8, parallel=True),
    "train_autoencoder": Cost("pairs", 3000, 0, 60, 0, max_threads=8, parallel=True),
    "extract_pci": Cost("encoded", 3000, 1, 30, 0, max_threads=8, parallel=True),
    "extract_random": Cost("encoded", 3000, 1, 30, 0, max_threads=8, parallel=True),
    "extract_autoencoder": Cost("encoded", 3000, 1, 30, 0, max_threads=8, parallel=True),
    "extract_vgg16": Cost("cells", 3000, 1, 30, 80.0, max_threads=8, parallel=True, mem_unit="rows"),
    "extract_raw": Cost("cells", 500, 1, 5, 0.3, mem_unit="rows"),
    "extract_classic": Cost("cells", 500, 1, 5, 5.0, max_threads=8, parallel=True, mem_unit="rows", worker_mb=150),
    "import_features": Cost("input_mb", 300, 0.25, 5, 0.2),
    # a feature-table dataset reads its table with import_features' reader (the cell table from
    # its metadata columns, then the features joined on the row number): the same costs
    "feature_table_cells": Cost("input_mb", 300, 0.25, 5, 0.2),
    "feature_table": Cost("input_mb", 300, 0.25, 5, 0.2),
    "export_h5ad": Cost("values", 350, 0.4, 5, 0.04, mem_unit="rows"),
    # the benchmarks and exploratory rules: base + per 1,000 cells (the cell-table columns their
    # labels and profiles use) from bench_paper_scale.py at 200,000 and 2,000,000 cells, + per
    # million values held (their subsample's rows: the matrix and its z-scored copy, 12 MB)
    "knn_benchmark": Cost("knn", 600, 0.15, 5, 14.9, max_threads=8, parallel=True, mem_unit="rows", mem_mb_per_held=12),
    # bench_classifiers.py: 20 fits per 384-feature set (500 trees), 1,371 and 5,024 core-s at 10,000
    # and 30,000 cells (cells^1.18), here per value of TYPICAL_SETS, whose best layers are 5.13 such sets
    "classifier_benchmark": Cost(
        "values",
        450,
        0.2,
        30,
        70.0,
        max_threads=8,
        parallel=True,
        mem_unit="rows",
        exponent=1.18,
        worker_mb=250,  # a logistic-regression worker's float64 copy of the training folds
        mem_mb_per_held=40,  # the forest of 500 trees (615 MB at 30,000 cells) and the scaled copy
    ),
    "pairwise_benchmark": Cost("values", 700, 0.15, 5, 0.32, mem_unit="rows", mem_mb_per_held=12),
    "umap_cells": Cost("values", 550, 0.03, 10, 1.2, mem_unit="rows", mem_mb_per_held=12),
    "protein_clustering": Cost("values", 300, 0.28, 10, 0.05, mem_unit="rows"),
    "multiloc_scores": Cost("values", 300, 0.25, 10, 0.05, mem_unit="rows"),
    "subset_clustering": Cost("values", 300, 0.29, 10, 0.05, mem_unit="rows"),
    "single_cell_dendrograms": Cost("values", 300, 0.2, 10, 0.05, mem_unit="rows"),
    # its own fit, not protein_clustering's: bench_paper_scale.py's localize_like peaks at 310 and
    # 819 MB at 200,000 and 2,000,000 cells (0.28 MB per 1,000), as protein_clustering's happen to
    "localize_like": Cost("values", 300, 0.28, 10, 0.05, mem_unit="rows"),
    "inpainting_figure": Cost("fixed", 1500, 0, 60, 0),
    # protein profiles summed over every cell (as protein_clustering) and, whatever the screen,
    # a UMAP and thumbnails of at most explorer.max_cells cells: protein_clustering's costs on a
    # bigger base (bench_explorer.py)
    "explorer_page": Cost("values", 900, 0.28, 20, 0.05, mem_unit="rows"),
}

#: core-seconds per training pair (a + b * width^2), from bench_model.py's pairs/s at width 1
#: and 0.25 on 2 cores (9.0 and 121; bench_resources.py's epoch: 14.7 ms per pair at 0.25);
#: per cell through the encoder for extraction the same way (96 and 644 cells/s; 2.8 ms)
PAIR_SECONDS = (0.0028, 0.219)
ENCODE_SECONDS = (0.00195, 0.0189)
#: MB the network holds beside its inputs at width 1, scaled by width^2 (weights, Adam, batches)
NETWORK_MB = 600
#: the kNN's work per pair of cells is its features plus this many features' worth of neighbour
#: bookkeeping: fitted through bench_knn_sklearn.py (100,000 x 256: 98 core-s) and the workflow's
#: 17 feature sets at 2,500 and 10,028 cells (1,845 features in all: 2.5 and 14.7 core-s), at
#: knn_benchmark's rate of 14.9 core-s per 1e12 (cell pairs x features)
KNN_PAIR_OVERHEAD = 400


@dataclass(frozen=True)
class JobSize:
    """The sizes a job's inputs give; zero where an input does not say."""

    cells: int = 0
    channels: int = 3
    crop_pixels: int = 64 * 64
    epochs: int = 0
    width: float = 1.0
    values: int = 0
    knn_work: float = 0.0
    fields: float = 0.0
    field_pixels: int = FIELD_PIXELS
    input_mb: float = 0.0
    #: feature values held at once: the largest table's rows read (capped) x its columns
    held: int = 0
    #: training's RAM budget for crops (``model.memory_gb``): a larger store is streamed
    crops_budget_mb: float = math.inf


def plan(rule: str, size: JobSize, attempt: int = 1) -> Request:
    """The memory (MB), run time (minutes) and threads of one job of ``rule``."""
    cost = COSTS.get(rule)
    if cost is None:
        return Request(mem_mb=1000 * attempt, runtime=MIN_RUNTIME * attempt, threads=1)
    units, mem_units = _units(cost.unit, size)
    if cost.mem_unit:
        mem_units = _units(cost.mem_unit, size)[1]
    mem = cost.mem_mb + cost.mem_mb_per_unit * mem_units
    work = cost.seconds_per_unit * units**cost.exponent
    if cost.unit in ("pairs", "encoded"):
        a, b = PAIR_SECONDS if cost.unit == "pairs" else ENCODE_SECONDS
        work = (a + b * size.width**2) * size.channels / 3 * units * 1000
        # the network, and for training the store in memory up to its budget (extraction streams)
        mem += NETWORK_MB * size.width**2
        if cost.unit == "pairs":
            mem += min(size.cells * size.channels * size.crop_pixels / 2**20, size.crops_budget_mb)
    threads = 1
    if cost.parallel:
        threads = max(1, min(cost.max_threads, math.ceil(work / TARGET_SECONDS_PER_THREAD)))
    mem += cost.worker_mb * (threads - 1) + cost.mem_mb_per_held * size.held / 1e6
    seconds = cost.seconds + work / threads
    runtime = min(MAX_RUNTIME, max(MIN_RUNTIME, math.ceil(SAFETY * seconds / 60)))
    return Request(
        mem_mb=max(MIN_MEM_MB, int(math.ceil(HEADROOM * mem / 100) * 100)) * attempt,
        runtime=min(MAX_RUNTIME, runtime * attempt),
        threads=threads,
    )


def _units(unit: str, size: JobSize) -> tuple[float, float]:
    """(units of work, units of memory) of a job, in the rule's unit."""
    crops = size.cells / 1000 * size.channels / 3 * size.crop_pixels / (64 * 64)
    if unit == "cells":
        return crops, crops
    if unit == "rows":
        return size.cells / 1000, size.cells / 1000
    if unit == "pairs":
        return size.cells / 1000 * max(size.epochs, 1), 0.0
    if unit == "encoded":
        return size.cells / 1000, size.cells / 1000
    if unit == "values":
        return size.values / 1e6, size.values / 1e6
    if unit == "knn":
        return size.knn_work / 1e12, 0.0
    if unit == "fields":
        scaled = size.fields * size.field_pixels / FIELD_PIXELS
        return scaled, scaled
    if unit == "input_mb":
        return size.input_mb, size.input_mb
    return 0.0, 0.0


# --- reading sizes from a job's inputs, cheaply ----------------------------------------------


def _need(path) -> Path:
    """The path, or FileNotFoundError naming it as given (Snakemake then shows the size as <TBD>)."""
    if not Path(path).exists():
        raise FileNotFoundError(2, "not there yet", str(path))
    return Path(path)


def store_shape(path) -> tuple[int, ...]:
    """A crop store's shape from its zarr metadata (no array read; <TBD> until it is written)."""
    meta = Path(path) / "zarr.json"
    if not meta.exists():
        raise FileNotFoundError(2, "not there yet", str(path))
    return tuple(json.loads(meta.read_text())["shape"])


def table_shape(path) -> tuple[int, int]:
    """(rows, columns) of a parquet table from its footer."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(_need(path))
    return meta.num_rows, meta.num_columns


def manifest_sizes(path) -> list[tuple[int, int]]:
    """(rows, features) of every feature set a manifest lists as usable."""
    with open(_need(path), newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        (int(float(r["n_rows"])), int(float(r["n_features"])))
        for r in rows
        if r.get("n_rows") not in (None, "") and r.get("n_features") not in (None, "")
    ]


def n_chunks(n_fields: int, fields_per_chunk: int) -> int:
    """Segmentation chunks of a sheet: one per ``fields_per_chunk`` fields, at least one."""
    return max(1, -(-int(n_fields) // int(fields_per_chunk)))


def sheet_fields(path) -> tuple[int, str | None]:
    """(fields, first image file) of a sample sheet: the fields a segmentation splits.

    Read once per version of the file: the gather's chunk list and every segmentation job's
    sizing ask for it (hundreds of jobs on a whole screen)."""
    stat = _need(path).stat()
    return _sheet_fields(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _sheet_fields(path: str, mtime_ns: int, size: int) -> tuple[int, str | None]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        fields, first = set(), None
        for row in reader:
            fields.add(row.get("field_id") or row.get("image_id"))
            if first is None:
                first = next((v for k, v in row.items() if k not in _SHEET_META and v and "." in v), None)
    return len(fields), first


_SHEET_META = {
    "image_id",
    "field_id",
    "protein",
    "cell_line",
    "antibody",
    "label",
    "label_source",
    "image_locations",
    "image_reliability",
    "source_sheet",
    "source_row",
}


@functools.lru_cache(maxsize=32)
def image_pixels(path: str | None) -> int:
    """Pixels of one field, from a header read once per path: a TIFF's first page, another
    image's properties, or the plane a reference (``<file>#c=1``, a plate's field) names, from
    its file's metadata through bioio. A file that cannot be read sizes the jobs for a
    2048 x 2048 field and says so on stderr (the segmentation itself reports what is wrong)."""
    if path is None:
        return FIELD_PIXELS
    try:
        if is_reference(path):
            (y, x), _ = plane_header(parse_reference(path))
            return y * x
        if Path(path).suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                shape = tif.pages[0].shape
        else:
            import imageio.v3 as iio

            shape = iio.improps(path).shape
        if len(shape) < 2:
            raise ValueError(f"shape {shape} is not an image plane")
        return int(shape[0] * shape[1]) if len(shape) == 3 and shape[-1] in (3, 4) else int(shape[-2] * shape[-1])
    except Exception as exc:
        side = int(math.sqrt(FIELD_PIXELS))
        print(
            f"warning: cannot read the field size of {path} ({one_line(exc, 160)}); "
            f"segmentation jobs are sized for {side} x {side} fields",
            file=sys.stderr,
        )
        return FIELD_PIXELS


def input_mb(paths) -> float:
    """MB of the given files and folders (a folder: its files, not recursing past one level)."""
    total = 0
    for path in map(Path, paths):
        if path.is_dir():
            total += sum(p.stat().st_size for p in path.iterdir() if p.is_file())
        elif path.exists():
            total += path.stat().st_size
    return total / 2**20


@dataclass(frozen=True)
class SizeHints:
    """What the config tells ``job_size`` beside the job's files: the dataset's channels (a crop
    store says otherwise), training's ``epochs`` and network ``width``, ``fields_per_chunk``, the
    benchmarks' ``max_cells``, whether the cells of all tables add up (``summed``: the chunks a
    gather combines) and training's ``memory_gb`` for crops."""

    channels: int = 3
    epochs: int = 0
    width: float = 1.0
    fields_per_chunk: int | None = None
    max_cells: int | None = None
    summed: bool = False
    memory_gb: float | None = None


def job_size(files, hints: SizeHints = SizeHints()) -> JobSize:
    """The sizes a job's input files give, from their headers only.

    A crop store gives the cells, channels and crop pixels; parquet tables the feature values
    (rows x columns) and cells (the largest table's rows, or with ``summed`` all tables' rows:
    the chunks a gather combines); a feature-set manifest the values and the kNN work of every
    set it lists; a sample sheet the fields of one segmentation chunk (of ``fields_per_chunk``
    fields at most; see ``n_chunks``) and their pixels; every existing input its size in MB.
    ``max_cells`` caps the rows behind the work and the rows held (the benchmarks' subsample,
    the only rows they read), not the cells, whose cell-table columns are still read.
    ``memory_gb``: training's budget for crops (a store over it is streamed).
    """
    channels, summed = hints.channels, hints.summed
    cap = hints.max_cells or float("inf")
    cells, values, knn_work, fields, pixels, crop_pixels = 0, 0, 0.0, 0.0, FIELD_PIXELS, 64 * 64
    held = 0
    for path in map(Path, files):
        if path.name.endswith(".zarr"):
            shape = store_shape(path)
            cells, channels, crop_pixels = max(cells, shape[0]), shape[1], shape[2] * shape[3]
        elif path.suffix == ".parquet":
            rows, cols = table_shape(path)
            cells = cells + rows if summed else max(cells, rows)
            values += int(min(rows, cap)) * cols
            held = max(held, int(min(rows, cap)) * cols)
        elif path.name == "feature_sets.tsv":
            for rows, cols in manifest_sizes(path):
                cells = max(cells, rows)
                rows = int(min(rows, cap))
                values += rows * cols
                held = max(held, rows * cols)
                knn_work += float(rows) ** 2 * (cols + KNN_PAIR_OVERHEAD)
        elif path.name == "samplesheet.tsv":
            n_fields, first = sheet_fields(path)
            chunks = n_chunks(n_fields, hints.fields_per_chunk or max(n_fields, 1))
            fields, pixels = n_fields / chunks, image_pixels(first)
    return JobSize(
        cells=cells,
        channels=channels,
        crop_pixels=crop_pixels,
        epochs=hints.epochs,
        width=hints.width,
        values=values,
        knn_work=knn_work,
        fields=fields,
        field_pixels=pixels,
        input_mb=input_mb(files),
        held=held,
        crops_budget_mb=math.inf if hints.memory_gb is None else hints.memory_gb * 1024,
    )


#: a typical labelled dataset for the docs table: features per cell of each feature set (five
#: PCI layers at width 1, the same for the random encoder and the autoencoder, raw 3-channel
#: pixels downsampled to 16 x 16, classic features) and the segmentation's cells per field and
#: chunks
#: (the network's source-encoder filters)
PCI_LAYER_FEATURES = SOURCE_FILTERS
TYPICAL_SETS = PCI_LAYER_FEATURES * 3 + (3 * 16 * 16, 50)
#: a typical field's cells, and the default fields_per_chunk
CELLS_PER_FIELD, FIELDS_PER_CHUNK = 500, schema_default(None, "fields_per_chunk")
#: rules that work on at most ``benchmarks.max_cells`` cells (its default)
CAPPED = ("knn_benchmark", "classifier_benchmark", "pairwise_benchmark", "umap_cells")
MAX_CELLS = schema_default("benchmarks", "max_cells")
#: the classifiers' own cap (``benchmarks.classifier_max_cells``'s default)
CLASSIFIER_MAX_CELLS = schema_default("benchmarks", "classifier_max_cells")
#: model.memory_gb's default: training holds a store up to this size and streams larger ones
MEMORY_GB = schema_default("model", "memory_gb")


def typical_size(rule: str, cells: int, channels: int = 3, width: float = 1.0, epochs: int = 30) -> JobSize:
    """The size one job of ``rule`` sees in a typical labelled dataset of ``cells`` cells."""
    tables = {
        "export_h5ad": (max(PCI_LAYER_FEATURES),),
        "umap_cells": TYPICAL_SETS,
        "classifier_benchmark": TYPICAL_SETS,
        "pairwise_benchmark": TYPICAL_SETS,
        "knn_benchmark": TYPICAL_SETS,
    }.get(rule, PCI_LAYER_FEATURES)
    store_mb = cells * channels * 64 * 64 / 2**20
    cap = CLASSIFIER_MAX_CELLS if rule == "classifier_benchmark" else MAX_CELLS
    used = min(cells, cap) if rule in CAPPED else cells  # the rows read and worked on
    return JobSize(
        cells=cells,
        channels=channels,
        epochs=epochs,
        width=width,
        values=used * sum(tables),
        knn_work=float(used) ** 2 * sum(d + KNN_PAIR_OVERHEAD for d in tables),
        held=used * max(tables),
        fields=(cells / CELLS_PER_FIELD) / n_chunks(math.ceil(cells / CELLS_PER_FIELD), FIELDS_PER_CHUNK),
        input_mb=store_mb if rule == "import_crops" else cells * 500 * 10 / 2**20,
        crops_budget_mb=MEMORY_GB * 1024,
    )


def docs_table(cells=(100_000, 1_000_000, 2_000_000)) -> str:
    """A markdown table of what each sized rule asks at these cell counts (3 channels, the
    paper's network: width 1, 30 epochs; benchmarks capped at the default ``max_cells``)."""
    head = "| rule | unit | " + " | ".join(f"{n:,} cells" for n in cells) + " |"
    lines = [head, "|" + "---|" * (2 + len(cells))]
    for rule, cost in COSTS.items():
        asks = [plan(rule, typical_size(rule, n)) for n in cells]
        row = [f"{_gb(r.mem_mb)}, {_hours(r.runtime)}, {r.threads} CPU" for r in asks]
        lines.append(f"| `{rule}` | {cost.unit} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def _gb(mb: int) -> str:
    return f"{mb / 1000:.1f} GB"


def _hours(minutes: int) -> str:
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.0f} h"


if __name__ == "__main__":
    print(docs_table())
