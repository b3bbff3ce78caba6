"""Every analysis rule at the paper's scale: seconds and peak memory at 200,000 and 2,000,000 cells.

Writes a synthetic labelled dataset per size with the project's own writers: a cell table
(images of 40 cells, proteins of 500 cells in 15 classes, one of them a two-compartment class,
two cell lines) and the 17 feature sets of a width-0.25 network (five PCI, random-encoder and
autoencoder layers of 24, 64, 96, 96 and 64 features, 768 raw pixels, 45 classic features: 1,845
columns, about 15 GB at 2,000,000 cells) with their manifest, plus an empty crop store of the
right shape (the figures that show example crops read a few; nothing is stored, so they show
blank crops). Then runs each downstream rule's script as its rule calls it (the ``snakemake``
object built from the same inputs, outputs and params), each in a fresh process, and prints
seconds and peak resident memory per rule side by side. The benchmarks use
``benchmarks.max_cells`` 20,000, and the classifiers ``classifier_max_cells`` 2,000 with forests of
``--trees`` trees: what they hold beyond the cell table is their subsample's rows, and their time,
which grows with the cells and trees and not with the screen, is measured by bench_classifiers.py.

    python tests/perf/bench_paper_scale.py                       # 200,000 and 2,000,000 cells
    python tests/perf/bench_paper_scale.py --sizes 20000 100000  # a quick look
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "workflow_scripts"
sys.path.insert(0, str(SCRIPTS))

LAYERS = {"conv1": 24, "conv2": 64, "conv3": 96, "conv4": 96, "conv5": 64}
SETS = {f"{family}_{layer}": d for family in ("pci", "random", "ae") for layer, d in LAYERS.items()}
SETS |= {"raw": 768, "classic": 45}
CELLS_PER_IMAGE, CELLS_PER_PROTEIN, N_CLASSES = 40, 500, 15
CLASSES = [f"c{i:02d}" for i in range(N_CLASSES - 1)] + ["c00+c01"]
DATASET = "paper"
RULES = (
    "knn_benchmark",
    "classifier_benchmark",
    "pairwise_benchmark",
    "umap_cells",
    "umap_proteins",
    "protein_clustering",
    "subset_clustering",
    "multiloc_scores",
    "single_cell_dendrograms",
    "localize_like",
    "export_h5ad",
)


def dataset_config(trees: int) -> tuple[dict, dict]:
    """(the whole validated config, this dataset's block): the demo's yeast dataset with
    labels from the cell table and the exploratory settings the synthetic classes need."""
    import yaml

    from pcinpaint.config import validate_config

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    ds = config["datasets"]["sim_yeast"]
    ds["benchmarks"] = {
        "label_from": "column",
        "label_column": "label",
        "label_mode": "combined",
        "max_cells": 20_000,
        "classifier_max_cells": 2_000,
        "min_proteins_per_term": 2,
        "n_estimators": trees,
    }
    ds["exploratory"] = {
        "multiloc": {"pairs": [["c00", "c01"]]},
        "suppfig4": {"terms": ["c03", "c04", "c05"], "n_clusters": 3},
        "variable_proteins": ["P00000", "P00001"],
        "queries": ["P00002"],
        "query_neighbours": 5,
    }
    config = validate_config({"seed": config["seed"], "datasets": {DATASET: ds}})
    return config, config["datasets"][DATASET]


def cell_table(n: int) -> pd.DataFrame:
    image = np.arange(n) // CELLS_PER_IMAGE
    protein = np.arange(n) // CELLS_PER_PROTEIN
    return pd.DataFrame(
        {
            "cell_id": [f"c{i}" for i in range(n)],
            "image_id": [f"img{i:06d}" for i in image],
            "field_id": [f"img{i:06d}_f1" for i in image],
            "protein": [f"P{p:05d}" for p in protein],
            "cell_line": np.where(image % 2, "U2OS", "A-431"),
            "label": np.asarray(CLASSES, dtype=object)[protein % N_CLASSES],
            "centroid_y": np.float32(32.0),
            "centroid_x": np.float32(32.0),
            "area": np.int64(400),
            "store_index": np.arange(n, dtype=np.int64),
        }
    )


def write_dataset(root: Path, n: int, seed: int = 0) -> dict:
    """The cell table, feature tables, manifest and an empty crop store of ``n`` cells."""
    from pcinpaint.crops.store import write_crop_store
    from pcinpaint.features.manifest import FeatureSet, manifest
    from pcinpaint.features.table import stream_feature_tables
    from pcinpaint.io import write_table

    folder = root / "features"
    folder.mkdir(parents=True, exist_ok=True)
    cells = cell_table(n)
    write_table(cells, root / "cells.parquet")
    rng = np.random.default_rng(seed)
    n_proteins = -(-n // CELLS_PER_PROTEIN)
    centres = {name: rng.normal(size=(N_CLASSES, d)).astype(np.float32) for name, d in SETS.items()}
    offsets = {name: (0.5 * rng.normal(size=(n_proteins, d))).astype(np.float32) for name, d in SETS.items()}

    def batches(step: int = 16_384):
        for start in range(0, n, step):
            protein = np.arange(start, min(n, start + step)) // CELLS_PER_PROTEIN
            yield {
                name: centres[name][protein % N_CLASSES]
                + offsets[name][protein]
                + rng.standard_normal((len(protein), d), dtype=np.float32)
                for name, d in SETS.items()
            }

    tables = {name: (folder / f"{name}.parquet", name, d) for name, d in SETS.items()}
    stream_feature_tables(cells, batches(), tables)
    sets = [FeatureSet(name, name.split("_")[0] if "_" in name else name, name.partition("_")[2]) for name in SETS]
    write_table(manifest(sets, folder), folder / "feature_sets.tsv")
    # blank crops (the figures read a few): written as a real store, since readers check every shard is there
    blank = (np.zeros((min(4096, n - start), 2, 64, 64), np.uint8) for start in range(0, n, 4096))
    write_crop_store(root / "crops.zarr", blank, n, 2)
    return {"cells": str(root / "cells.parquet"), "manifest": str(folder / "feature_sets.tsv")}


def jobs(root: Path, config: dict, ds: dict) -> dict[str, dict]:
    """Each rule's inputs, outputs and params as its rule file gives them."""
    from pcinpaint.config import dataset_seed
    from pcinpaint.rule_keys import rule_config

    def seed(step):
        return dataset_seed(config, DATASET, step)

    r = str(root)
    cells, manifest, supptable1 = f"{r}/cells.parquet", f"{r}/features/feature_sets.tsv", f"{r}/tables/supptable1.tsv"
    pci = [f"{r}/features/pci_{layer}.parquet" for layer in LAYERS]

    def keys(rule, **wildcards):  # the rule's params.dataset (pcinpaint.rule_keys)
        return rule_config(rule, ds, {"dataset": DATASET, **wildcards})

    analysed = {"cells": cells, "tables": pci, "supptable1": supptable1}
    out = f"{r}/out"
    return {
        "knn_benchmark": dict(
            input={"manifest": manifest, "cells": cells},
            output={
                "supptable1": supptable1,
                "table1": f"{r}/tables/table1.tsv",
                "per_class": f"{r}/tables/knn_per_class.tsv",
            },
            params={"dataset": keys("knn_benchmark"), "sample_seed": seed("benchmark_cells")},
            script="benchmark_knn.py",
        ),
        "classifier_benchmark": dict(
            input={"manifest": manifest, "supptable1": supptable1, "cells": cells},
            output={"table": f"{out}/supptable2.tsv"},
            params={
                "dataset": keys("classifier_benchmark"),
                "seed": seed("classifiers"),
                "sample_seed": seed("benchmark_cells"),
            },
            script="benchmark_classifiers.py",
        ),
        "pairwise_benchmark": dict(
            input={"supptable1": supptable1, "manifest": manifest, "cells": cells},
            output={k: f"{out}/fig2b.{k}" for k in ("tsv", "png", "pdf")}
            | {"scores": f"{out}/fig2b.tsv", "table2": f"{out}/table2.tsv"},
            params={
                "dataset": keys("pairwise_benchmark"),
                "seed": seed("pairwise"),
                "sample_seed": seed("benchmark_cells"),
            },
            script="benchmark_pairwise.py",
        ),
        "umap_cells": dict(
            input={"manifest": manifest, "supptable1": supptable1, "cells": cells},
            output={"png": f"{out}/suppfig3.png", "pdf": f"{out}/suppfig3.pdf"},
            params={"dataset": keys("umap_cells"), "seed": seed("umap_cells"), "sample_seed": seed("benchmark_cells")},
            script="umap_cells.py",
        ),
        "umap_proteins": dict(
            input={"tables": pci, "supptable1": [supptable1], "cells": [cells]},
            output={"png": f"{out}/fig3.png", "pdf": f"{out}/fig3.pdf"},
            params={
                "panels": [
                    {"dataset": DATASET, "config": keys("umap_proteins"), "annotations": []}
                    | {"cells": cells, "tables": pci, "supptable1": supptable1}
                ],
                "seed": dataset_seed(config, "all", "umap_proteins"),
            },
            script="umap_proteins.py",
        ),
        "protein_clustering": dict(
            input=analysed,
            output={"clusters": f"{out}/clusters.tsv", "png": f"{out}/fig4.png", "pdf": f"{out}/fig4.pdf"},
            params={"dataset": keys("protein_clustering"), "labelled": True},
            script="protein_clustering.py",
        ),
        "subset_clustering": dict(
            input=analysed | {"store": f"{r}/crops.zarr"},
            output={k: f"{out}/suppfig4{s}" for k, s in (("clusters", ".tsv"), ("png", ".png"), ("pdf", ".pdf"))}
            | {"examples": f"{out}/suppfig4_examples.png", "go": f"{out}/suppfig4_go.tsv"},
            params={
                "dataset": keys("subset_clustering", subset="suppfig4"),
                "labelled": True,
                "seed": seed("suppfig4"),
            },
            wildcards={"subset": "suppfig4"},
            script="subset_clustering.py",
        ),
        "multiloc_scores": dict(
            input=analysed,
            output={"scores": f"{out}/multiloc.tsv", "suppdata2": f"{out}/suppdata2.tsv", "figures": f"{out}/fig5"},
            params={"dataset": keys("multiloc_scores"), "labelled": True, "seed": seed("fig5")},
            script="multiloc_scores.py",
        ),
        "single_cell_dendrograms": dict(
            input=analysed | {"store": f"{r}/crops.zarr", "truth": []},
            output={"branches": f"{out}/fig6_branches.tsv", "figures": f"{out}/fig6"},
            params={"dataset": keys("single_cell_dendrograms"), "seed": seed("fig6")},
            script="single_cell_dendrograms.py",
        ),
        "localize_like": dict(
            input=analysed | {"store": f"{r}/crops.zarr"},
            output={"table": f"{out}/localize_like.tsv", "png": f"{out}/localize_like.png"},
            params={"dataset": keys("localize_like"), "labelled": True, "seed": seed("localize_like")},
            script="localize_like.py",
        ),
        "export_h5ad": dict(
            input={"table": f"{r}/features/pci_conv3.parquet"},
            output={"h5ad": f"{out}/pci_conv3.h5ad"},
            params={},
            script="export_h5ad.py",
        ),
    }


def run_job(spec_path: str) -> None:
    """In a fresh process: one rule's script with a ``snakemake`` object as Snakemake builds it."""
    from snakemake.iocontainers import Namedlist

    spec = json.loads(Path(spec_path).read_text())

    class Job:
        input = Namedlist(fromdict=spec["input"])
        output = Namedlist(fromdict=spec["output"])
        params = Namedlist(fromdict=spec["params"])
        wildcards = Namedlist(fromdict={"dataset": DATASET, **spec.get("wildcards", {})})
        log = Namedlist([spec["log"]])
        threads = spec["threads"]
        rule = spec["rule"]

    start = time.perf_counter()
    runpy.run_path(str(SCRIPTS / spec["script"]), init_globals={"snakemake": Job}, run_name="__main__")
    seconds = time.perf_counter() - start
    # this process's own high-water mark: ru_maxrss would count the parent's memory at the fork
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak}))


def measure(root: Path, rule: str, spec: dict, threads: int) -> dict:
    job = spec | {"log": str(root / "logs" / f"{rule}.log"), "threads": threads, "rule": rule}
    path = root / "jobs" / f"{rule}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, __file__, "--job", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        log = Path(job["log"])
        tail = log.read_text()[-1500:] if log.exists() else ""
        print(f"  {rule} failed:\n{proc.stderr[-1500:]}\n{tail}", flush=True)
        return {"seconds": float("nan"), "peak_mb": float("nan")}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_paper_scale"))
    parser.add_argument("--trees", type=int, default=20, help="random forest trees (the paper: 500)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rules", nargs="+", default=list(RULES))
    parser.add_argument("--keep", action="store_true", help="keep the synthetic datasets")
    parser.add_argument("--reuse", action="store_true", help="use the datasets a --keep run left")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        return run_job(args.job)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    config, ds = dataset_config(args.trees)
    if "export_h5ad" in args.rules and importlib.util.find_spec("anndata") is None:
        print("export_h5ad left out: anndata is not installed (envs/anndata.yaml)")
        args.rules.remove("export_h5ad")
    results = {}
    for n in args.sizes:
        root = args.workdir / f"n{n}"
        if not (args.reuse and (root / "features" / "feature_sets.tsv").exists()):
            write_fresh(root, n)
        specs = jobs(root, config, ds)
        for rule in args.rules:
            results[(rule, n)] = r = measure(root, rule, specs[rule], args.threads)
            print(f"  {rule}: {r['seconds']:.1f} s, {r['peak_mb']:,.0f} MB", flush=True)
        if not args.keep and n != args.sizes[-1]:
            shutil.rmtree(root)
    print_table(results, args.sizes, args.rules)


def write_fresh(root: Path, n: int) -> None:
    """A new synthetic dataset in ``root``, after checking the disk has room for it."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    need = n * (sum(SETS.values()) * 4 + 400) * 1.2 + 2**30
    free = shutil.disk_usage(root).free
    if free < need:
        sys.exit(f"error: {root}: {free / 2**30:.1f} GiB free, {need / 2**30:.1f} GiB needed for {n:,} cells")
    start = time.perf_counter()
    write_dataset(root, n)
    size = sum(p.stat().st_size for p in (root / "features").glob("*.parquet")) / 2**30
    print(
        f"{n:,} cells: {len(SETS)} feature sets, {sum(SETS.values())} columns, {size:.2f} GiB written "
        f"in {time.perf_counter() - start:.0f} s ({free / 2**30:.0f} GiB were free)",
        flush=True,
    )


def print_table(results: dict, sizes: list[int], rules: list[str]) -> None:
    print("\n| rule | " + " | ".join(f"{n:,} cells: s / peak MB" for n in sizes) + " | peak growth |")
    print("|---|" + "---|" * (len(sizes) + 1))
    for rule in rules:
        cols = [f"{results[(rule, n)]['seconds']:,.0f} / {results[(rule, n)]['peak_mb']:,.0f}" for n in sizes]
        growth = results[(rule, sizes[-1])]["peak_mb"] - results[(rule, sizes[0])]["peak_mb"]
        print(f"| `{rule}` | " + " | ".join(cols) + f" | {growth:+,.0f} MB |")


if __name__ == "__main__":
    main()
