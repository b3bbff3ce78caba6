"""Benchmark: per-rule seconds and peak memory of the whole workflow against the number of cells.

Run from the repository root:  python tests/perf/bench_resources.py [--quick] [--reuse] [--workdir DIR]

Runs the workflow (``snakemake ... all``) twice on one simulated human-preset dataset (three
channels, the demo's ``sim_human`` block at its field size and cell density), scaled by more
proteins and more fields per image to about 2,500 cells ("small") and about 10,000 cells
("large"; ``--quick``: 600 and 1,200), with one training epoch for paired cell inpainting and
the autoencoder. Then reads every rule's Snakemake benchmark file (``results/<dataset>/
benchmarks/``; scattered rules summed over their jobs for seconds, the largest job for memory)
and prints, per rule, seconds and max_rss of both runs with the two-point linear fit (base +
per 1,000 cells) that sizes a cluster's resource requests; for the kNN and pairwise benchmarks
also seconds = a + b * n^2, for training seconds per cell per epoch.

Snakemake's max_rss (summed over a job's process tree) and cpu_time are sampled, every 0.5 s
for the first 15 s of a job, then every 30 s, so they can miss a short peak or the last seconds
of a long job; a second table gives the exact peak (the kernel's high-water mark) of each
rule's largest single Python process, recorded at its exit by a ``sitecustomize`` module put
on the jobs' PYTHONPATH (worker processes, e.g. the classifier benchmark's, are not added up
there). The column "exp" is the exponent k of seconds ~ cells^k between the two runs. The jobs
import ``pcinpaint`` from this checkout.

Each size runs in ``<workdir>/<size>/`` (default workdir /tmp/bench_resources), with its config,
Snakemake log and wall time there; ``--reuse`` skips a size whose run completed with the same
config, or resumes one that stopped (a changed config starts the size over), so the table can
be printed again. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
DATASET = "sim_human"
#: cells kept per simulated field at the demo's density (24 placed on 448 x 448 px, some
#: dropped at the border: 20.9 measured), used to turn a target cell count into proteins and fields
KEPT_PER_FIELD = 21
SIZES = {"small": 2_500, "large": 10_000}
QUICK_SIZES = {"small": 600, "large": 1_200}
#: rules whose benchmark file is named after a wildcard rather than the rule
BENCHMARK_RULES = {
    "fig1c": "inpainting_figure",
    "suppfig1": "inpainting_figure",
    "suppfig4": "subset_clustering",
    "suppfig5": "subset_clustering",
}
WILDCARD_RULES = {"inpainting_figure": "figure", "subset_clustering": "subset"}
QUADRATIC = ("knn_benchmark", "pairwise_benchmark")
TRAINING = ("train_pci", "train_autoencoder")

#: written beside the runs and put first on the jobs' PYTHONPATH: at the exit of every rule
#: script (the one Python process with a ``snakemake`` object in __main__), appends the rule,
#: its wildcards and the process's peak resident memory to $BENCH_RESOURCES_PEAKS
SITECUSTOMIZE = """\
import atexit
import json
import os
import resource
import sys


def _record_peak():
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    if job is None or not hasattr(job, "rule"):
        return
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    row = dict(rule=job.rule, wildcards=dict(job.wildcards.items()), peak_kib=own, children_peak_kib=children)
    with open(os.environ["BENCH_RESOURCES_PEAKS"], "a") as fh:
        fh.write(json.dumps(row) + "\\n")


if os.environ.get("BENCH_RESOURCES_PEAKS"):
    atexit.register(_record_peak)
"""


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 2**20:.1f} GiB RAM"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model}, {cores} cores{mem}; python {platform.python_version()}, {platform.system()} {platform.release()}"


def size_config(target: int, demo: dict) -> tuple[dict, int]:
    """A config holding the demo's human dataset scaled to about ``target`` cells: the demo's
    density (cells per field, field size); more proteins and more fields per image."""
    ds = copy.deepcopy(demo["datasets"][DATASET])
    sim = ds["simulate"]
    sim["images_per_protein"] = max(2, sim["images_per_protein"])
    # proteins and fields grow together, as the square root of the size (2 fields at 2,500)
    sim["fields_per_image"] = max(1, round(2 * math.sqrt(target / 2_500)))
    fields = target / KEPT_PER_FIELD
    sim["n_proteins"] = max(2, round(fields / (sim["images_per_protein"] * sim["fields_per_image"])))
    ds["model"]["epochs"] = 1
    ds.setdefault("baselines", {}).setdefault("autoencoder", {})["epochs"] = 1
    config = {"seed": demo["seed"], "fields_per_chunk": demo["fields_per_chunk"], "datasets": {DATASET: ds}}
    return config, sim["n_proteins"] * sim["images_per_protein"] * sim["fields_per_image"]


def snakemake_executable() -> str:
    beside = Path(sys.executable).parent / "snakemake"
    found = str(beside) if beside.exists() else shutil.which("snakemake")
    if not found:
        sys.exit("error: snakemake not found beside this Python or on PATH")
    return found


def run_size(folder: Path, config: dict, cores: int, reuse: bool) -> dict:
    """Run the workflow for one size in ``folder`` (fresh unless ``reuse``); returns the wall
    seconds of every invocation that built it and the machine's mean load average during each."""
    text = yaml.safe_dump(config, sort_keys=False)
    config_path, done_path, wall_path = folder / "config.yaml", folder / "done.json", folder / "wall.json"
    same = config_path.exists() and config_path.read_text() == text
    if reuse and same and done_path.exists():
        print(f"{folder.name}: complete run found, not rerun", flush=True)
        return json.loads(done_path.read_text())
    if reuse and same:
        print(f"{folder.name}: incomplete run found, resumed", flush=True)
    elif folder.exists():  # a fresh run (a changed config would rerun most rules anyway)
        if any(folder.iterdir()) and not config_path.exists():
            sys.exit(f"error: {folder} exists and is not a folder of this script; remove it or choose --workdir")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not same:
        config_path.write_text(text)
    done_path.unlink(missing_ok=True)
    runs = json.loads(wall_path.read_text()) if wall_path.exists() else {"wall_s": [], "load": []}

    site = folder.parent / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site), str(REPO / "workflow_scripts")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["BENCH_RESOURCES_PEAKS"] = str(folder / "peaks.jsonl")
    cmd = [
        snakemake_executable(),
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(folder),
        f"--configfile={config_path}",
        "--cores",
        str(cores),
        "all",
    ]
    log_path = folder / "snakemake.log"
    print(f"{folder.name}: {' '.join(cmd)}\n{folder.name}: log {log_path}", flush=True)
    t0 = time.perf_counter()
    loads = []
    with open(log_path, "a") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)
        while proc.poll() is None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                loads.append(os.getloadavg()[0])
                if len(loads) % 12 == 0:
                    steps = [line for line in log_path.read_text().splitlines() if "steps (" in line]
                    done = steps[-1].strip() if steps else "starting"
                    print(f"{folder.name}: {time.perf_counter() - t0:6.0f} s, {done}", flush=True)
    runs["wall_s"].append(time.perf_counter() - t0)
    runs["load"].append(sum(loads) / len(loads) if loads else float("nan"))
    wall_path.write_text(json.dumps(runs))
    if proc.returncode:
        tail = "\n".join(log_path.read_text().splitlines()[-40:])
        sys.exit(f"{tail}\nerror: snakemake failed for {folder.name} (exit {proc.returncode}); see {log_path}")
    done_path.write_text(json.dumps(runs))
    print(f"{folder.name}: done in {sum(runs['wall_s']):.0f} s", flush=True)
    return runs


def label(rule: str, wildcard: str | None = None) -> str:
    return f"{rule}[{wildcard}]" if wildcard else rule


def read_benchmarks(results: Path) -> pd.DataFrame:
    """One row per rule: jobs, summed seconds, largest max_rss (MB), from every benchmark file."""
    rows = []
    for path in sorted(results.rglob("benchmarks/**/*.tsv")):
        bench_dir = next(p for p in path.parents if p.name == "benchmarks")
        rel = path.relative_to(bench_dir)
        name = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        key = label(BENCHMARK_RULES[name], name) if name in BENCHMARK_RULES else name
        table = pd.read_csv(path, sep="\t")
        for _, r in table.iterrows():
            rss = pd.to_numeric(r.get("max_rss"), errors="coerce")
            cpu = pd.to_numeric(r.get("cpu_time"), errors="coerce")
            rows.append(dict(rule=key, s=float(r["s"]), cpu=cpu, max_rss=rss))
    frame = pd.DataFrame(rows, columns=["rule", "s", "cpu", "max_rss"])
    return frame.groupby("rule", sort=False).agg(
        jobs=("s", "size"), s=("s", "sum"), cpu=("cpu", "sum"), max_rss=("max_rss", "max")
    )


def read_peaks(path: Path) -> pd.Series:
    """The exact peak resident memory (MB) of each rule's Python process, largest job per rule."""
    if not path.exists():
        return pd.Series(dtype=float)
    peaks = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        wildcard = row["wildcards"].get(WILDCARD_RULES.get(row["rule"], ""), None)
        key = label(row["rule"], wildcard)
        mb = max(row["peak_kib"], row["children_peak_kib"]) / 1024  # MiB, as the benchmark's MB
        peaks[key] = max(peaks.get(key, 0.0), mb)
    return pd.Series(peaks, dtype=float)


def describe_run(folder: Path) -> dict:
    import zarr

    results = folder / "results" / DATASET
    cells = len(pd.read_parquet(results / "cells.parquet"))
    store = zarr.open(str(results / "crops.zarr"), mode="r")
    sets = pd.read_csv(results / "features" / "feature_sets.tsv", sep="\t")
    ran = int((sets["status"] == "ran").sum()) if "status" in sets else len(sets)
    history = {}
    for net in ("pci", "autoencoder"):
        log = results / "models" / net / "training_log.tsv"
        if log.exists():
            history[f"train_{net}"] = pd.read_csv(log, sep="\t")
    return dict(cells=cells, store_shape=tuple(store.shape), feature_sets=len(sets), sets_ran=ran, history=history)


def linear(n1: float, y1: float, n2: float, y2: float) -> tuple[float, float]:
    """Base and slope per 1,000 cells of the line through (n1, y1) and (n2, y2)."""
    slope = (y2 - y1) / (n2 - n1) * 1000
    return y1 - slope * n1 / 1000, slope


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:,.{digits}f}"


def run_sizes(targets: dict, args) -> dict:
    """Each size's demo run (reused with ``--reuse``) and what it measured, by size."""
    demo = yaml.safe_load((REPO / "config.yaml").read_text())
    workdir = args.workdir.resolve()
    print(f"machine: {machine()}")
    print(f"workflow: {SNAKEFILE}, snakemake --cores {args.cores}; scratch {workdir}", flush=True)
    runs = {}
    for size, target in targets.items():
        config, fields = size_config(target, demo)
        sim = config["datasets"][DATASET]["simulate"]
        print(
            f"{size}: target {target:,} cells: {sim['n_proteins']} proteins x {sim['images_per_protein']} images "
            f"x {sim['fields_per_image']} fields = {fields} fields of {sim['field_size']} px, "
            f"{sim['cells_per_field']} cells placed per field",
            flush=True,
        )
        timing = run_size(workdir / size, config, args.cores, args.reuse)
        runs[size] = dict(
            describe_run(workdir / size),
            bench=read_benchmarks(workdir / size / "results"),
            peaks=read_peaks(workdir / size / "peaks.jsonl"),
            wall=timing["wall_s"],
            load=timing["load"],
            epochs=config["datasets"][DATASET]["model"]["epochs"],
        )
    return runs


def print_runs(runs: dict) -> None:
    """One line per size: cells, crop store, feature sets, wall time and load."""
    print()
    for size, run in runs.items():
        walls = run["wall"]
        how = f" over {len(walls)} invocations" if len(walls) > 1 else ""
        load = ", ".join(f"{x:.1f}" for x in run["load"])
        print(
            f"{size}: {run['cells']:,} cells (crop store {run['store_shape']}), {run['feature_sets']} feature sets "
            f"({run['sets_ran']} ran), snakemake wall time {sum(walls):,.0f} s{how}, mean load average {load}"
        )


def print_rule_row(rule: str, small: dict, large: dict) -> None:
    """One rule's seconds, CPU seconds and memory at both sizes, with the fits through them."""
    n1, n2 = small["cells"], large["cells"]
    a = small["bench"].loc[rule] if rule in small["bench"].index else None
    b = large["bench"].loc[rule] if rule in large["bench"].index else None
    s1, s2 = (a["s"] if a is not None else None), (b["s"] if b is not None else None)
    m1, m2 = (a["max_rss"] if a is not None else None), (b["max_rss"] if b is not None else None)
    c1, c2 = (a["cpu"] if a is not None else None), (b["cpu"] if b is not None else None)
    jobs = int(b["jobs"] if b is not None else a["jobs"])
    s_fit = linear(n1, s1, n2, s2) if a is not None and b is not None else (None, None)
    both = a is not None and b is not None and min(s1, s2) > 0
    power = math.log(s2 / s1) / math.log(n2 / n1) if both else None
    m_fit = linear(n1, m1, n2, m2) if not (pd.isna(m1) or pd.isna(m2)) else (None, None)
    print(
        f"{rule:34s} {jobs:4d} {fmt(s1):>9s} {fmt(s2):>9s} {fmt(s_fit[0]):>9s} {fmt(s_fit[1], 2):>8s} "
        f"{fmt(power, 2):>5s} {fmt(c1):>9s} {fmt(c2):>9s} {fmt(m1, 0):>9s} {fmt(m2, 0):>9s} "
        f"{fmt(m_fit[0], 0):>9s} {fmt(m_fit[1], 1):>8s}"
    )


def print_rules(small: dict, large: dict) -> list[str]:
    """The per-rule table from Snakemake's benchmark files; returns the rules it lists."""
    print(
        "\nper rule (s: wall seconds summed over a rule's jobs; cpu: CPU seconds, likewise, sampled; MB: Snakemake's "
        "max_rss, largest job; fit: base + per 1,000 cells, through both runs; exp: seconds ~ cells^exp)"
    )
    rules = sorted(set(small["bench"].index) | set(large["bench"].index))
    head = (
        f"{'rule':34s} {'jobs':>4s} {'s small':>9s} {'s large':>9s} {'base s':>9s} {'s/1k':>8s} {'exp':>5s} "
        f"{'cpu small':>9s} {'cpu large':>9s} {'MB small':>9s} {'MB large':>9s} {'base MB':>9s} {'MB/1k':>8s}"
    )
    print(head)
    print("-" * len(head))
    for rule in rules:
        print_rule_row(rule, small, large)
    return rules


def print_quadratic(small: dict, large: dict) -> None:
    """seconds = a + b * n^2 for the rules whose work grows with the square of the cells."""
    n1, n2 = small["cells"], large["cells"]
    print("\nquadratic fits, seconds = a + b * n^2 (n in 1,000 cells)")
    for rule in QUADRATIC:
        if rule in small["bench"].index and rule in large["bench"].index:
            s1, s2 = small["bench"].loc[rule, "s"], large["bench"].loc[rule, "s"]
            b = (s2 - s1) / ((n2 / 1000) ** 2 - (n1 / 1000) ** 2)
            print(f"  {rule:20s} a {s1 - b * (n1 / 1000) ** 2:8.2f} s   b {b:8.3f} s per (1,000 cells)^2")


def print_training(runs: dict) -> None:
    """Training seconds per cell per epoch: the rule's whole job and the epoch loop alone."""
    print("\ntraining, seconds per cell per epoch (rule: benchmark seconds / cells / epochs; loop: the epoch alone)")
    for rule in TRAINING:
        parts = []
        for size, run in runs.items():
            if rule not in run["bench"].index:
                continue
            per_cell = run["bench"].loc[rule, "s"] / run["cells"] / run["epochs"]
            hist = run["history"].get(rule)
            loop = hist["seconds"].mean() / run["cells"] if hist is not None and len(hist) else float("nan")
            parts.append(f"{size} {per_cell * 1e3:.2f} ms (loop {loop * 1e3:.2f} ms)")
        print(f"  {rule:20s} " + ", ".join(parts))


def print_peaks(small: dict, large: dict, rules: list[str]) -> None:
    """Each rule's exact peak resident memory (the sampled peaks), beside Snakemake's max_rss."""
    n1, n2 = small["cells"], large["cells"]
    print(
        "\nexact peak resident memory of each rule's largest single process (MB, largest job; Snakemake samples "
        "max_rss every 30 s after a job's first 15 s)"
    )
    print(f"{'rule':34s} {'MB small':>9s} {'MB large':>9s} {'base MB':>9s} {'MB/1k':>8s} {'max_rss large':>14s}")
    recorded = dict.fromkeys(list(small["peaks"].index) + list(large["peaks"].index))
    unbenchmarked = [r for r in recorded if r not in rules]
    for rule in rules + unbenchmarked:
        p1, p2 = small["peaks"].get(rule), large["peaks"].get(rule)
        if p1 is None and p2 is None:
            continue
        fit = linear(n1, p1, n2, p2) if p1 is not None and p2 is not None else (None, None)
        m2 = large["bench"].loc[rule, "max_rss"] if rule in large["bench"].index else None
        print(
            f"{rule:34s} {fmt(p1, 0):>9s} {fmt(p2, 0):>9s} {fmt(fit[0], 0):>9s} {fmt(fit[1], 1):>8s} {fmt(m2, 0):>14s}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="600 and 1,200 cells (a smoke run)")
    parser.add_argument("--reuse", action="store_true", help="skip (or resume) a size whose run is already there")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_resources"), help="scratch folder")
    parser.add_argument("--cells", type=int, nargs=2, metavar=("SMALL", "LARGE"), help="target cells of the sizes")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    args = parser.parse_args()
    targets = dict(zip(("small", "large"), args.cells)) if args.cells else QUICK_SIZES if args.quick else SIZES
    runs = run_sizes(targets, args)
    small, large = runs["small"], runs["large"]
    print_runs(runs)
    rules = print_rules(small, large)
    print_quadratic(small, large)
    print_training(runs)
    print_peaks(small, large, rules)


if __name__ == "__main__":
    main()
