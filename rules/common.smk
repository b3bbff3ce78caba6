# Config validation, dataset lists and input functions shared by every stage.
import functools
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

LIBRARY = Path(workflow.basedir) / "workflow_scripts"
sys.path.insert(0, str(LIBRARY))
# rule jobs import the library beside this Snakefile, ahead of another checkout's installed in
# the environment (Snakemake appends the script folder after site-packages); rule_log checks it
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        [str(LIBRARY), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(LIBRARY))]
    )
)

from pcinpaint.config import (  # noqa: E402  (the library sits beside the rule scripts)
    CONFIG_SCHEMA,
    canonical,
    SHARED_RESULTS,
    check_queries,
    classifier_cap,
    dataset_seed,
    missing_paths,
    ranking_dataset,
    training_epochs,
    feature_table_refusals,
    unknown_targets,
    validate_config,
)
from pcinpaint.errors import ConfigError, InputError  # noqa: E402
from pcinpaint.exploratory.go_files import is_url, local_path  # noqa: E402
from pcinpaint.inputs.hpa import protein_list  # noqa: E402
from pcinpaint.inputs.labelled_hdf5 import check_expected, class_counts  # noqa: E402
from pcinpaint.inputs.plate import plate_sheet  # noqa: E402
from pcinpaint.features.manifest import (  # noqa: E402
    VGG16_LAYERS,
    VGG16_STRATEGIES,
    baseline_sets,
    feature_sets,
    layer_set,
    layer_sets,
    unknown_named_sets,
    vgg16_name,
)
from pcinpaint.io import file_fingerprint, read_table  # noqa: E402
from pcinpaint.model.spec import ENCODER_LAYERS  # noqa: E402
from pcinpaint.resources import CAPPED, COSTS, SizeHints, job_size, n_chunks, plan, sheet_fields  # noqa: E402
from pcinpaint.runlog import LIBRARY_ENV, library_mismatch  # noqa: E402
from pcinpaint.rule_keys import rule_config  # noqa: E402
from pcinpaint.targets import Targets, has_fig6 as dataset_has_fig6, has_go as dataset_has_go  # noqa: E402

os.environ[LIBRARY_ENV] = str(LIBRARY / "pcinpaint")
if mismatch := library_mismatch(os.environ[LIBRARY_ENV]):  # a pcinpaint imported before this Snakefile was read
    sys.exit(f"error: {mismatch}")

try:
    validated = validate_config(config, where=" + ".join(map(str, workflow.configfiles)) or "config")
except ConfigError as exc:
    sys.exit(f"error: {exc}")
config.clear()  # Snakemake's config object, which the rules read, becomes the validated one
config.update(validated)
validate(config, schema=str(CONFIG_SCHEMA))
# every configured input path exists (a mistyped path never serves old results)
if workflow.is_main_process and missing_paths(config):
    sys.exit("\n".join(f"error: {line}" for line in missing_paths(config)))

#: which datasets get which analyses (pcinpaint.targets, unit-tested there)
TARGETS = Targets.of(config)
DATASETS = TARGETS.datasets
SIMULATED = TARGETS.simulated
#: datasets whose cells arrive cropped (no segmentation), and those segmented from fields
CROPPED = TARGETS.cropped
SEGMENTED = TARGETS.segmented
#: the paper's trained networks named in the config, usable as model_from
PUBLISHED = TARGETS.published
#: datasets that are one feature table made elsewhere (no crops), those with crops, and the
#: feature-set names the tables become
FEATURE_TABLES = TARGETS.feature_tables
IMAGED = TARGETS.imaged
#: datasets that are plates (OME-Zarr or ImageXpress, source plate): their fields are known at parse
PLATES = [d for d in DATASETS if config["datasets"][d]["source"] == "plate"]
TABLE_SETS = sorted({config["datasets"][d]["feature_table"]["name"] for d in FEATURE_TABLES})
FEATURE_TABLE_REASON = "the dataset is a feature table"
# a target under results/<name>/ of no configured dataset: its name and the datasets there are,
# instead of "no rule to produce"
unknown = unknown_targets(sys.argv, [*DATASETS, *PUBLISHED, *SHARED_RESULTS])
if unknown:
    sys.exit(f"error: {unknown[0][0]}: no dataset named '{unknown[0][1]}' in the config (have: {', '.join(DATASETS)})")
# a target a feature-table dataset cannot have (crops; single cells of a per-protein table): one
# line, instead of "no rule to produce" or an analysis of the wrong rows
if refused := feature_table_refusals(sys.argv, config):
    sys.exit(f"error: {refused[0]}")


def one_of(names):
    """A wildcard pattern matching exactly these names (nothing when there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


def segment_chunks(wildcards):
    """A dataset's segmentation chunks, ``<i>-of-<n>``: n = its fields / ``fields_per_chunk``
    (rounded up), so a bigger screen means more jobs, not bigger ones. Known once the
    dataset's sample sheet exists (the ``samplesheet`` checkpoint)."""
    if wildcards.dataset in PLATES:  # planned from the plate's metadata, before anything runs
        n = n_chunks(plate_fields(wildcards.dataset), config["fields_per_chunk"])
        return [f"{i}-of-{n}" for i in range(1, n + 1)]
    sheet = checkpoints.samplesheet.get(dataset=wildcards.dataset).output.sheet
    queries_known(wildcards.dataset)  # the sheet has just been written: before any segmentation
    n = n_chunks(sheet_fields(sheet)[0], config["fields_per_chunk"])
    return [f"{i}-of-{n}" for i in range(1, n + 1)]


@functools.cache
def plate_fields(dataset):
    """The fields a plate dataset segments, from its metadata and plate map (read once per parse)."""
    ds = config["datasets"][dataset]
    return len(plate_sheet(ds["plate"], [c["name"] for c in ds["channels"]])[0])


if workflow.is_main_process:  # a plate that cannot be listed stops the run here, in one line
    for _dataset in PLATES:
        try:
            plate_fields(_dataset)
        except InputError as exc:
            sys.exit(f"error: datasets.{_dataset}.plate: {exc}")


def plate_map(wildcards):
    """A plate dataset's plate map (an edited map rewrites its sample sheet)."""
    return config["datasets"][wildcards.dataset]["plate"]["map"]


def chunk_files(suffix):
    """The segment outputs of every chunk of a dataset, for the gather."""

    def inner(wildcards):
        return [f"results/{wildcards.dataset}/chunks/{c}.{suffix}" for c in segment_chunks(wildcards)]

    return inner


def data_size(name, wildcards, input):
    """The sizes a job's inputs give (cells, channels, feature values...; see pcinpaint.resources)."""
    ds = config["datasets"].get(getattr(wildcards, "dataset", None))
    if ds is None:
        return job_size(input)
    epochs = training_epochs(ds, "autoencoder" if name == "train_autoencoder" else "pci")
    # a gather's cells are those of all its chunks together
    gather = name == "gather_crops"
    # the benchmarks read their subsample's rows only; the classifiers a smaller one
    bench = ds["benchmarks"]
    cap = {"classifier_benchmark": classifier_cap(bench), "explorer_page": ds["explorer"]["max_cells"]}.get(
        name, bench["max_cells"]
    )
    return job_size(
        input.objects if gather else input,
        SizeHints(
            summed=gather,
            channels=len(ds["channels"]),
            epochs=epochs,
            width=model_width(wildcards),
            fields_per_chunk=config["fields_per_chunk"],
            max_cells=cap if name in CAPPED else None,
            memory_gb=ds["model"]["memory_gb"],
        ),
    )


def sized(name, **fixed):
    """A rule's resources from its data: mem_mb and runtime (minutes) from measured per-unit
    costs, both growing with the attempt so a job killed for memory or time asks for more.
    Before the inputs exist they are <TBD>, computed when the job is about to run."""

    def mem_mb(wildcards, input, attempt):
        return plan(name, data_size(name, wildcards, input), attempt).mem_mb

    def runtime(wildcards, input, attempt):
        return plan(name, data_size(name, wildcards, input), attempt).runtime

    return {"mem_mb": mem_mb, "runtime": runtime, **fixed}


def sized_threads(name):
    """A rule's CPUs from its data (the most it uses before its inputs exist)."""

    def threads(wildcards, input):
        try:
            return plan(name, data_size(name, wildcards, input)).threads
        except FileNotFoundError:
            return COSTS[name].max_threads

    return threads


wildcard_constraints:
    dataset=one_of(DATASETS),
    published=one_of(PUBLISHED),
    network="pci|autoencoder",


def rule_params(rule):
    """A rule's ``params.dataset``: exactly the keys ``pcinpaint.rule_keys.RULE_KEYS`` lists for
    it (tested there), so editing one reruns the rules that read it and nothing else."""

    def inner(wildcards):
        return rule_config(rule, config["datasets"][wildcards.dataset], wildcards)

    return inner


def model_dataset(wildcards):
    """The dataset whose model this dataset's features use (itself, or `model_from`)."""
    return config["datasets"][wildcards.dataset]["model"]["model_from"] or wildcards.dataset


def raw_samplesheet(wildcards):
    """The sample sheet a dataset starts from: the user's, or the one its input adapter writes."""
    ds = config["datasets"][wildcards.dataset]
    if ds["source"] == "samplesheet":
        return ds["samplesheet"]
    folder = {"simulate": "simulated"}.get(ds["source"], ds["source"])
    return f"results/{wildcards.dataset}/{folder}/samplesheet.tsv"


def sheet_fingerprint(wildcards):
    """The user's sample sheet, path and checksum (params of the samplesheet checkpoint); another
    sheet, or an edited one, reruns the dataset whatever the files' times say."""
    sheet = raw_samplesheet(wildcards)
    ds = config["datasets"][wildcards.dataset]
    return file_fingerprint(sheet) if ds["source"] == "samplesheet" else sheet


def feature_table_path(wildcards):
    """The table a feature-table dataset is (source features)."""
    return config["datasets"][wildcards.dataset]["feature_table"]["path"]


def crop_store_input(wildcards):
    """A dataset's crop store, for the rules that draw example crops; none for a feature table
    (they draw without crops and say so)."""
    return [] if wildcards.dataset in FEATURE_TABLES else f"results/{wildcards.dataset}/crops.zarr"


def cropped_inputs(wildcards):
    """The files a pre-cropped dataset is read from (HDF5 files; a crop folder is listed by the rule)."""
    ds = config["datasets"][wildcards.dataset]
    return ds["labelled_hdf5"]["paths"] if ds["source"] == "labelled_hdf5" else []


def truth_input(name):
    """Ground-truth file of simulated datasets; nothing for real data."""

    def inner(wildcards):
        if wildcards.dataset in SIMULATED:
            return f"results/{wildcards.dataset}/simulated/{name}"
        return []

    return inner


TRAINED = TARGETS.trained
LAYERS = list(ENCODER_LAYERS)


def model_width(wildcards):
    """Width of the network a dataset's features come from (its own setting for published weights)."""
    source = model_dataset(wildcards)
    return config["datasets"][source if source in DATASETS else wildcards.dataset]["model"]["width"]


def published_user(wildcards):
    """The channels of the first dataset that takes this published network (they set conv1's input order)."""
    users = [d for d in DATASETS if config["datasets"][d]["model"]["model_from"] == wildcards.published]
    if not users:
        raise ValueError(f"no dataset uses published_weights.{wildcards.published} as model.model_from")
    return canonical({"name": users[0], "channels": config["datasets"][users[0]]["channels"]})


def atlas_proteins_resolve():
    """An atlas dataset's protein list (names, ids, a file, or all) resolves before anything runs,
    else one line names the problem; its download's cost is printed by the download job."""
    for name, ds in config["datasets"].items():
        if ds["source"] != "hpa" or not workflow.is_main_process:
            continue
        try:
            protein_list(ds["hpa"]["proteins"], ds["hpa"].get("location_table"))
        except InputError as exc:
            sys.exit(f"error: datasets.{name}.{exc}")


atlas_proteins_resolve()


def labelled_sets_expected():
    """Labelled HDF5 sets hold the cells and classes their config expects (the paper's 30,889
    cells), checked from their label columns before anything runs: a wrong or partial download
    stops here with one line, not after hours of features."""
    for name, ds in config["datasets"].items():
        src = ds.get("labelled_hdf5", {})
        if ds["source"] != "labelled_hdf5" or not src.get("expect") or not workflow.is_main_process:
            continue
        try:
            counts = class_counts(src["paths"], src["classes"], src["merge"], src["label_key"])
            check_expected(src["paths"], counts, src["expect"], f"datasets.{name}.")
        except (InputError, ConfigError) as exc:
            sys.exit(f"error: {exc}")


labelled_sets_expected()

if workflow.is_main_process and (
    unknown := [line for d in DATASETS for line in unknown_named_sets(d, config["datasets"][d])]
):
    sys.exit(f"error: {unknown[0]}")


def hpa_downloads(wildcards):
    """Where a dataset's atlas downloads are kept between runs: not a declared output, so a
    rerun after an interruption resumes instead of starting over."""
    return f"results/{wildcards.dataset}/hpa/downloads"


def model_input(network):
    """The trained network (pci or autoencoder) a dataset's features come from: its own, or `model_from`'s."""

    def inner(wildcards):
        return f"results/{model_dataset(wildcards)}/models/{network}/model.pt"

    return inner


def feature_files(dataset):
    """Every feature table this stage builds for a dataset (a feature table's one set and its manifest)."""
    if dataset in FEATURE_TABLES:
        sets = [s.name for s in feature_sets(config["datasets"][dataset])]
        return [f"results/{dataset}/features/{s}.parquet" for s in sets] + [
            f"results/{dataset}/features/feature_sets.tsv"
        ]
    sets = layer_sets("pci") + layer_sets("random") + ["raw"]
    files = [f"results/{dataset}/features/{s}.parquet" for s in sets]
    if config["datasets"][dataset]["features"]["h5ad"]:
        files += [f"results/{dataset}/features/{name}.h5ad" for name in layer_sets("pci")]
    return files


def baseline_files(dataset):
    """The baseline feature tables that run for a dataset, and its feature-set manifest."""
    sets = baseline_sets(config["datasets"][dataset])
    return [f"results/{dataset}/features/{s.name}.parquet" for s in sets] + [
        f"results/{dataset}/features/feature_sets.tsv"
    ]


def baseline(dataset):
    """A dataset's `baselines` config block."""
    return config["datasets"][dataset]["baselines"]


def vgg16_weights(wildcards):
    """The VGG16 weights file (the job graph asks for VGG16 tables only when one is set)."""
    path = baseline(wildcards.dataset)["vgg16_weights"]
    if not path:
        raise ValueError(f"datasets.{wildcards.dataset}.baselines.vgg16_weights is not set")
    return path


def benchmark(dataset):
    """A dataset's `benchmarks` config block."""
    return config["datasets"][dataset]["benchmarks"]


def benchmark_sample_seed(wildcards):
    """One seed per dataset for the cells its benchmarks use (`max_cells`): the kNN, the
    classifiers and the single-cell UMAP draw the same subsample."""
    return dataset_seed(config, wildcards.dataset, "benchmark_cells")


LABELLED = TARGETS.labelled
SCORED = TARGETS.scored
CELL_LABELLED = TARGETS.cell_labelled
FIG3 = TARGETS.fig3


def ranking_input(wildcards):
    """The kNN table that ranks a dataset's layers, where its labels are per cell."""
    d = wildcards.dataset
    return {"supptable1": f"results/{d}/tables/supptable1.tsv"} if d in CELL_LABELLED else {}


def annotation_files(dataset):
    """The annotation table a dataset's labels come from, if any."""
    bench = benchmark(dataset)
    return [bench["annotations"]["path"]] if bench["label_from"] == "annotation" else []


def annotation_input(wildcards):
    return annotation_files(wildcards.dataset)


def exploratory(dataset):
    """A dataset's `exploratory` config block."""
    return config["datasets"][dataset]["exploratory"]


def known_proteins(dataset):
    """(where from, proteins) of a dataset as far as they are known now: the user's sample sheet,
    else the workflow's sample sheet (a feature table's cell table) once written (an atlas's protein names are
    those of its entries, known once they are downloaded); None before (or where that file is
    unreadable: the rule reading it says why)."""
    ds = config["datasets"][dataset]
    try:
        own = {"samplesheet": [ds.get("samplesheet")], "plate": [ds.get("plate", {}).get("map")]}.get(ds["source"], [])
        written = f"results/{dataset}/{'cells.parquet' if dataset in FEATURE_TABLES else 'samplesheet.tsv'}"
        for path in (*own, written):
            if Path(path).is_file():
                return path, read_table(path, columns=["protein"])["protein"]
    except (InputError, KeyError, ValueError):
        return None
    return None


QUERIES_CHECKED = set()


def queries_known(dataset):
    """`exploratory.queries` that are none of the dataset's proteins stop the run with one line as
    soon as its proteins are known (at parse, or once its sample sheet is written), not when
    localize_like runs at the end of the workflow. The line is printed here: Snakemake wraps
    what an input function raises in a longer report."""
    if dataset in QUERIES_CHECKED or not exploratory(dataset)["queries"] or not workflow.is_main_process:
        return
    known = known_proteins(dataset)
    if known is None:
        return
    try:
        check_queries(exploratory(dataset)["queries"], known[1], f"datasets.{dataset}.exploratory.queries", known[0])
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise
    QUERIES_CHECKED.add(dataset)


try:
    for _dataset in DATASETS:  # those whose proteins are known before anything runs
        queries_known(_dataset)
except ConfigError:
    sys.exit(1)


def protein_level_inputs(dataset, named):
    """What a protein-level analysis of a dataset reads (the exploratory stage, a Fig 3 panel):
    its cell table and label table, and the feature set ``named`` in the config, else every PCI
    layer (one extraction job writes them all) with the kNN table that ranks them where one
    does (the dataset's own, or that of a labelled set scored with its network: see
    ``ranked_set`` for the layer chosen)."""
    inputs = {"cells": f"results/{dataset}/cells.parquet", "annotations": annotation_files(dataset)}
    if named:
        return inputs | {"tables": [f"results/{dataset}/features/{named}.parquet"]}
    inputs["tables"] = [f"results/{dataset}/features/{name}.parquet" for name in layer_sets("pci")]
    ranker = ranking_dataset(config, dataset, CELL_LABELLED)
    return inputs | ({"supptable1": f"results/{ranker}/tables/supptable1.tsv"} if ranker else {})


def analysed_inputs(wildcards):
    """The feature tables the exploratory stage analyses (``protein_level_inputs``)."""
    return protein_level_inputs(wildcards.dataset, exploratory(wildcards.dataset)["feature_set"])


def fig3_panels():
    """Each Fig 3 panel's dataset, files and the config keys it uses (labels, UMAP settings):
    editing another part of a dataset's config does not redraw the figure."""
    panels = []
    for d in FIG3:
        files = protein_level_inputs(d, benchmark(d)["umap_proteins"]["feature_set"])
        keys = rule_config("umap_proteins", config["datasets"][d])
        panels.append({"dataset": d, "config": keys, "supptable1": None} | files)
    return panels


def fig3_inputs(wildcards):
    """Every file of every Fig 3 panel."""
    files = []
    for panel in fig3_panels():
        files += [panel["cells"], *panel["annotations"], *panel["tables"]]
        files += [panel["supptable1"]] if panel["supptable1"] else []
    return list(dict.fromkeys(files))


def subset_inputs(wildcards):
    """The subset's own annotation table (editing it reruns the figure) and, where the dataset
    has GO files, the ontology and gene-to-GO file its clusters are enriched with."""
    table = (exploratory(wildcards.dataset).get(wildcards.subset) or {}).get("annotations")
    inputs = {"subset_annotations": [table["path"]] if table else []}
    return inputs | (go_inputs(wildcards) if has_go(wildcards.dataset) else {})


def go_inputs(wildcards):
    """Ontology and gene-to-GO file for table3: the config's, or the simulator's own."""
    go = exploratory(wildcards.dataset)["go"]
    sim = f"results/{wildcards.dataset}/simulated"
    simulated = wildcards.dataset in SIMULATED
    return {
        "ontology": local_path(go["ontology"]) if go["ontology"] else (f"{sim}/compartments.obo" if simulated else []),
        "associations": (
            local_path(go["annotations"]) if go["annotations"] else (f"{sim}/annotations.tsv" if simulated else [])
        ),
    }


def go_urls():
    """file name under results/go/ -> the URL it is downloaded from (GO files given as URLs)."""
    urls = {}
    for d in DATASETS:
        go = exploratory(d)["go"]
        for value in (go["ontology"], go["annotations"]):
            if is_url(value):
                urls[local_path(value).rsplit("/", 1)[-1]] = value
    return urls


def multiloc_input(wildcards):
    """Fig 5's per-cell scores, where the dataset has them (the explorer's hover shows them)."""
    d = wildcards.dataset
    return f"results/{d}/tables/multiloc_scores.tsv" if d in LABELLED and exploratory(d)["multiloc"]["pairs"] else []


def has_go(dataset):
    return dataset_has_go(config["datasets"][dataset])


def has_fig6(dataset):
    return dataset_has_fig6(config["datasets"][dataset])
