"""Configuration: schema validation with one-line errors, defaults, and per-dataset views.

The schema (``schemas/config.schema.yaml``) is the single reference of what a config may hold;
this module adds the checks a schema cannot express (a segmentation channel that must be one
of the dataset's channels, a simulator preset that fixes the channel layout) and hands the
rest of the library small, typed views of one dataset's settings.
"""

from __future__ import annotations

import copy
import difflib
import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pcinpaint.errors import ConfigError, one_line

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
CONFIG_SCHEMA = SCHEMA_DIR / "config.schema.yaml"
SAMPLESHEET_SCHEMA = SCHEMA_DIR / "samplesheet.schema.yaml"

#: channel roles each simulator preset produces, in order
PRESET_CHANNEL_ROLES = {
    "human": ("structural", "structural", "protein"),
    "yeast": ("structural", "protein"),
}


def load_schema(path: Path = CONFIG_SCHEMA) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def schema_default(block: str | None, key: str):
    """A key's default as the schema states it (the one definition): ``block`` a dataset block
    (``benchmarks``, ``model``, ...), or None for the config's top level."""
    schema = _schema()
    props = schema["properties"] if block is None else schema["$defs"][block]["properties"]
    return props[key]["default"]


@functools.cache
def _schema() -> dict:
    return load_schema()


def _with_defaults(validator_class):
    """A validator that fills ``default`` values while it validates (parents before children)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Filling = _with_defaults(jsonschema.Draft202012Validator)


def _key(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _violation(error: jsonschema.ValidationError) -> str:
    message = one_line(error.message, None)
    if error.validator in ("pattern", "not", "enum") and "errorMessage" in error.schema:  # the schema's words
        # a name that becomes a path, a key one setting refuses: the value, then why it is refused
        message = f"{error.instance!r} {error.schema['errorMessage']}"
        if isinstance(error.instance, dict):
            message = one_line(error.schema["errorMessage"], None)
    if len(message) > 200:
        message = message[:197] + "..."
    return f"{_key(error)}: {message}"


def validate_instance(instance: dict, schema: dict, where: str) -> dict:
    """Validate ``instance`` in place (filling defaults); raise ConfigError naming the first bad key."""
    errors = sorted(_Filling(schema).iter_errors(instance), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"{where}: {_violation(best)}")
    return instance


#: folders under results/ that hold no dataset (cross-dataset figures, logs, GO downloads)
SHARED_RESULTS = ("figures", "logs", "benchmarks", "go")


def _check_folder_name(name: str, where: str, published: dict) -> None:
    """A dataset's folder results/<name>/ must be its own (the schema keeps the name a plain file name)."""
    if name in SHARED_RESULTS:
        raise ConfigError(
            f"{where}: datasets.{name}: results/{name}/ holds the outputs shared by all datasets "
            f"({', '.join(SHARED_RESULTS)}); give the dataset another name"
        )
    if name in published:
        raise ConfigError(
            f"{where}: datasets.{name}: also a published_weights name, and both would write results/{name}/; "
            "give the dataset another name"
        )


def validate_config(config: dict, where: str = "config") -> dict:
    """A whole workflow config checked against the schema and the cross-field rules, defaults
    filled and ``auto`` values resolved: a new config (the one given is left as it is).

    A dataset set to null is removed first: a second config file given after the first
    (``--configfile=a.yaml b.yaml``) can drop a dataset of the first that way, e.g. the screen a
    model would be trained on when published weights replace it.
    """
    config = copy.deepcopy(config)
    given = {}
    if isinstance(config.get("datasets"), dict):
        for name in [n for n, ds in config["datasets"].items() if ds is None]:
            del config["datasets"][name]
        for name, ds in config["datasets"].items():
            _renamed_crop_folders(name, ds, where)
        given = {name: _feature_table_given(name, ds, where) for name, ds in config["datasets"].items()}
    validate_instance(config, load_schema(), where)
    for name, ds in config["datasets"].items():
        _check_folder_name(name, where, config.get("published_weights", {}))
        _check_dataset(name, ds, where, config["datasets"], config.get("published_weights", {}))
        ds["preprocess"]["markers"] = marker_scaling(ds)
        if ds["source"] == FEATURE_TABLE_SOURCE:
            _resolve_feature_table(ds, f"{where}: datasets.{name}", given.get(name, {}))
        if ds["benchmarks"]["label_level"] == "auto":
            ds["benchmarks"]["label_level"] = "image" if ds["source"] == "hpa" else "cell"
    return config


#: the source of a dataset that is one feature table made elsewhere (no images)
FEATURE_TABLE_SOURCE = "features"
#: dataset keys that describe images, crops or a network: a feature table has none
IMAGE_KEYS = (
    "channels",
    "segmentation",
    "crops",
    "preprocess",
    "model",
    "features",
    "baselines",
    "qc",
    "min_cells",
    "nonfinite",
)


def _feature_table_given(name: str, ds, where: str) -> dict:
    """A feature-table dataset's keys that describe images are refused before the schema fills
    them in (one line naming the first), and its channels are none; returns what the user set
    of the analysis keys ``_resolve_feature_table`` fills (so a default is told from a choice)."""
    if not isinstance(ds, dict) or ds.get("source") != FEATURE_TABLE_SOURCE:
        return {}
    for key in IMAGE_KEYS:
        if key in ds:
            raise ConfigError(
                f"{where}: datasets.{name}.{key}: a feature-table dataset (source features) has no images, crops "
                "or network; remove the key"
            )
    ds["channels"] = []
    return {"families": (ds.get("benchmarks") or {}).get("umap_cells", {}).get("families")}


def _resolve_feature_table(ds: dict, prefix: str, given: dict) -> None:
    """Analyses of a feature table analyse its one feature set (named ``feature_table.name``);
    a per-protein table is labelled per protein, and the analyses of single cells are refused."""
    table, bench, ex = ds["feature_table"], ds["benchmarks"], ds["exploratory"]
    if table["obsm"] and not str(table["path"]).endswith(".h5ad"):
        raise ConfigError(
            f"{prefix}.feature_table.obsm: only an AnnData (.h5ad) file has obsm keys; {table['path']} is not one"
        )
    name = table["name"]
    ex["feature_set"] = ex["feature_set"] or name
    bench["umap_proteins"]["feature_set"] = bench["umap_proteins"]["feature_set"] or name
    if not given.get("families"):
        bench["umap_cells"]["families"] = [name]
    if table["level"] != "protein":
        return
    single_cell = {
        "benchmarks.label_level": bench["label_level"] not in ("auto", "protein"),
        "exploratory.level": ex["level"] == "image",
        "exploratory.multiloc.pairs": bool(ex["multiloc"]["pairs"]),
        "exploratory.variable_proteins": bool(ex["variable_proteins"]),
    }
    for key, asked in single_cell.items():
        if asked:
            raise ConfigError(
                f"{prefix}.{key}: asks for an analysis of single cells, but feature_table.level is protein "
                "(one row per protein); remove the key or give a per-cell table"
            )
    bench["label_level"] = "protein"


def _renamed_crop_folders(name: str, ds, where: str) -> None:
    """The crop folders' spelling before ``crop_folders`` (``source: crops`` and the
    ``precropped:`` block) read as the new one, with one note, so a config written before the
    rename runs as it did; the schema knows the new spelling only."""
    if not isinstance(ds, dict):
        return  # the schema names what is wrong with it
    old = []
    if ds.get("source") == "crops":
        old.append("'source: crops'")
        ds["source"] = "crop_folders"
    if "precropped" in ds:
        if "crop_folders" in ds:
            raise ConfigError(
                f"{where}: datasets.{name}: 'precropped:' is the old name of 'crop_folders:' and both are "
                "given; keep 'crop_folders:'"
            )
        old.append("'precropped:'")
        ds["crop_folders"] = ds.pop("precropped")
    if old:
        verb = "are" if len(old) > 1 else "is"
        note = f"{' and '.join(old)} {verb} now 'crop_folders' (the old spelling is read the same way)"
        print(f"note: datasets.{name}: {note}", file=sys.stderr)


def marker_scaling(ds: dict) -> str:
    """``preprocess.markers`` with ``auto`` resolved: ``reference`` (the paper's human code) for
    a dataset whose features come from published weights and that has the human layout (two
    structural channels), since those weights were trained on crops scaled that way; else
    ``per_crop``. Crops that arrive cropped are always scaled per crop (their values are not
    the field's intensities)."""
    markers = ds.get("preprocess", {}).get("markers", "auto")
    if markers != "auto":
        return markers
    human = sum(c["role"] == "structural" for c in ds["channels"]) == 2
    cut_from_fields = ds.get("source") not in CROPPED_SOURCES
    return "reference" if is_published(ds["model"]["model_from"]) and human and cut_from_fields else "per_crop"


#: the config block each input source reads, and the sources whose cells arrive already cropped
SOURCE_BLOCKS = {
    "simulate": "simulate",
    "samplesheet": "samplesheet",
    "plate": "plate",
    "hpa": "hpa",
    "yeast_screen": "yeast_screen",
    "crop_folders": "crop_folders",
    "labelled_hdf5": "labelled_hdf5",
    "features": "feature_table",
}
CROPPED_SOURCES = ("crop_folders", "labelled_hdf5")
#: the kNN's k that ranks layers (Table 1) and picks each family's best set for the classifiers
#: and the UMAPs, as in the paper; benchmarks.ks must include it
RANKING_K = 11


def is_published(model_from: str | None) -> bool:
    """Whether ``model.model_from`` names the paper's published weights (``published_<name>``)."""
    return bool(model_from) and model_from.startswith("published_")


def _check_channel_map(ds: dict, block: str, key: str, names: list[str], prefix: str) -> None:
    """A block's per-channel map (file tokens, composite colours) must name exactly the channels."""
    mapping = ds[block].get(key)
    if not mapping or sorted(mapping) != sorted(names):
        raise ConfigError(
            f"{prefix}.{block}.{key}: must give every channel {names} exactly once, got {sorted(mapping or {})}"
        )


def _check_channels(ds: dict, prefix: str) -> tuple[list[str], list[str]]:
    """Channel names unique, at least one structural and one protein channel; returns the
    names and roles the other checks compare against."""
    names = [c["name"] for c in ds.get("channels", [])]
    if ds["source"] == FEATURE_TABLE_SOURCE:
        return names, []
    if len(names) < 2:
        raise ConfigError(
            f"{prefix}.channels: required, at least two (a structural and a protein channel), got {names}"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"{prefix}.channels: channel names must be unique, got {names}")
    roles = [c["role"] for c in ds["channels"]]
    if "protein" not in roles or "structural" not in roles:
        raise ConfigError(f"{prefix}.channels: need at least one structural and one protein channel, got roles {roles}")
    return names, roles


def _check_source(ds: dict, prefix: str, names: list[str]) -> None:
    """The source's own block is given; cells that arrive cropped have no segmentation (a crop
    folder's tokens name every channel), fields have one, segmenting one of the channels."""
    block = SOURCE_BLOCKS.get(ds["source"])
    if block and block not in ds:
        raise ConfigError(f"{prefix}.{block}: required when source is '{ds['source']}'")
    if ds["source"] == FEATURE_TABLE_SOURCE:
        return
    if ds["source"] in CROPPED_SOURCES:
        if "segmentation" in ds:
            raise ConfigError(
                f"{prefix}.segmentation: source '{ds['source']}' gives cells already cropped; "
                "remove the segmentation block"
            )
        if block == "crop_folders":
            _check_channel_map(ds, block, "tokens", names, prefix)
    elif "segmentation" not in ds:
        raise ConfigError(f"{prefix}.segmentation: required when source is '{ds['source']}'")
    else:
        seg = ds["segmentation"]
        if seg["channel"] not in names:
            raise ConfigError(f"{prefix}.segmentation.channel: '{seg['channel']}' is not one of the channels {names}")


def _check_plate(ds: dict, prefix: str, names: list[str]) -> None:
    """A plate's channel map gives every config channel once; its fields carry no masks."""
    mapping = ds["plate"].get("channels")
    if mapping is not None and sorted(mapping.values()) != sorted(names):
        raise ConfigError(
            f"{prefix}.plate.channels: must map a plate channel to each of the channels {names} exactly once, "
            f"got {sorted(mapping.values())}"
        )
    if ds["segmentation"]["method"] == "provided":
        raise ConfigError(
            f"{prefix}.segmentation.method: 'provided' reads a label mask per field, which a plate does not "
            "name; list the fields and their masks in a sample sheet (source samplesheet)"
        )


def _check_yeast_screen(ds: dict, prefix: str, names: list[str]) -> None:
    """A yeast screen's file tokens (layout single) name every channel; method provided's masks
    are files beside the channels', named by a token of their own (layout single)."""
    screen = ds["yeast_screen"]
    layout = screen.get("layout", "interleaved")
    if layout == "single":
        _check_channel_map(ds, "yeast_screen", "tokens", names, prefix)
    masks = screen.get("masks")
    if masks is not None and layout != "single":
        raise ConfigError(
            f"{prefix}.yeast_screen.masks: masks need layout 'single' (one label mask file per field, "
            f"named by its token); layout is '{layout}'"
        )
    if masks is not None and (not masks or masks in screen["tokens"].values()):
        raise ConfigError(
            f"{prefix}.yeast_screen.masks: '{masks}' is empty or a channel's token; give the masks' own token"
        )
    if ds["segmentation"]["method"] == "provided" and not masks:
        raise ConfigError(
            f"{prefix}.segmentation.method: 'provided' reads a label mask per field; set yeast_screen.masks "
            "to the masks' file-name token (e.g. _mask; layout single)"
        )


def _check_simulate(ds: dict, prefix: str, roles: list[str]) -> None:
    """A simulator preset fixes the channel layout, and the simulator writes no masks."""
    preset = ds["simulate"]["preset"]
    if tuple(roles) != PRESET_CHANNEL_ROLES[preset]:
        raise ConfigError(
            f"{prefix}.channels: preset '{preset}' produces channels with roles "
            f"{list(PRESET_CHANNEL_ROLES[preset])}, config lists {roles}"
        )
    if ds["segmentation"]["method"] == "provided":
        raise ConfigError(f"{prefix}.segmentation.method: 'provided' needs a mask column; the simulator writes none")


def _check_model_from(name: str, ds: dict, prefix: str, datasets: dict, published: dict) -> None:
    """``model.model_from`` names published weights, or another dataset that trains its own
    network on crops of the same channel layout."""
    source = ds["model"]["model_from"]
    if is_published(source):
        if source not in published:
            raise ConfigError(
                f"{prefix}.model.model_from: no published_weights entry named '{source}' (have {sorted(published)})"
            )
        return  # the published networks take the channel layout of the paper's screens
    if source is None:
        return
    if source not in datasets:
        raise ConfigError(f"{prefix}.model.model_from: no dataset named '{source}' (have {sorted(datasets)})")
    if datasets[source]["source"] == FEATURE_TABLE_SOURCE:
        raise ConfigError(
            f"{prefix}.model.model_from: '{source}' is a feature table (source features); it trains no model"
        )
    if source == name:
        raise ConfigError(f"{prefix}.model.model_from: a dataset cannot take its model from itself")
    theirs = [c["role"] for c in datasets[source]["channels"]]
    roles = [c["role"] for c in ds["channels"]]
    if theirs != roles:  # order matters: channels feed the network by position
        raise ConfigError(
            f"{prefix}.model.model_from: '{source}' has channel roles {theirs}, this dataset {roles}; "
            "a model only extracts features from crops of the same channel layout"
        )
    if datasets[source]["model"]["model_from"] is not None:
        raise ConfigError(f"{prefix}.model.model_from: '{source}' itself uses model_from; name the dataset that trains")


def _check_features(ds: dict, prefix: str, names: list[str]) -> None:
    """VGG16's colours name channels; the raw features' downsampling divides the stored crops; the
    benchmarks' ks include the k that ranks the layers."""
    for colour, channel in ds["baselines"].get("vgg16_rgb", {}).items():
        if channel is not None and channel not in names:
            raise ConfigError(f"{prefix}.baselines.vgg16_rgb.{colour}: '{channel}' is not one of the channels {names}")
    size, factor = ds["crops"]["model_size"], ds["features"]["raw_downsample"]
    if size % factor:
        divisors = [d for d in range(1, size // 2 + 1) if size % d == 0]
        raise ConfigError(
            f"{prefix}.features.raw_downsample: {factor} must divide the stored crop side "
            f"(crops.model_size = {size}) into whole blocks; use one of {divisors}"
        )
    ks = ds["benchmarks"]["ks"]
    if RANKING_K not in ks:
        raise ConfigError(
            f"{prefix}.benchmarks.ks: must include {RANKING_K}, the k that ranks the layers and picks each "
            f"family's best (the paper's), got {ks}"
        )


def _check_dataset(name: str, ds: dict, where: str, datasets: dict, published: dict) -> None:
    """The cross-field rules of one dataset, one concern at a time, in the order their errors
    are reported (the first that fails is the one line a user sees)."""
    prefix = f"{where}: datasets.{name}"
    names, roles = _check_channels(ds, prefix)
    _check_source(ds, prefix, names)
    if ds["source"] == "hpa":
        _check_channel_map(ds, "hpa", "colours", names, prefix)
    if ds["source"] == "yeast_screen":
        _check_yeast_screen(ds, prefix, names)
    if ds["source"] == "plate":
        _check_plate(ds, prefix, names)
    lo, hi = ds["crops"]["area_fraction"]
    if lo > hi:
        raise ConfigError(f"{prefix}.crops.area_fraction: lower bound {lo} is above upper bound {hi}")
    if ds["source"] == "simulate":
        _check_simulate(ds, prefix, roles)
    _check_model_from(name, ds, prefix, datasets, published)
    _check_features(ds, prefix, names)


#: keys added after results were made without them, each at the value that reproduces those
#: results: left out of a rule's params at that value, so a config that does not use them
#: reruns nothing after an upgrade. (parent key, key) -> value; parent None: the top level
QUIET_DEFAULTS = {
    (None, "nonfinite"): "error",
    ("segmentation", "scale"): "fixed",
    ("hpa", "max_failures"): 0,
    ("yeast_screen", "masks"): None,
    ("umap_proteins", "feature_set"): None,
    ("umap_proteins", "title"): None,
    ("umap_proteins", "classes"): None,
    ("annotations", "column"): None,
}


def canonical(value, parent: str | None = None):
    """A config value as a rule's params: dicts with sorted keys, recursively (params are compared
    as text, so reordering a config file's keys must not look like a change), and the keys of
    ``QUIET_DEFAULTS`` left out at their quiet value."""
    if isinstance(value, dict):
        return {
            key: canonical(value[key], key)
            for key in sorted(value)
            if QUIET_DEFAULTS.get((parent, key), ...) != value[key]
        }
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def network_of(config: dict, dataset: str) -> str:
    """The network a dataset's features come from: its ``model_from`` (another dataset or
    published weights), else its own."""
    return config["datasets"][dataset]["model"]["model_from"] or dataset


def ranking_dataset(config: dict, dataset: str, cell_labelled) -> str | None:
    """The dataset whose kNN benchmark (supptable1) ranks ``dataset``'s PCI layers: itself
    where its labels are per cell; else the first cell-labelled set whose features come from
    the same network (``network_of``), as the paper's Chong cells rank the WT2 screen's
    layers; None where none does (the layer is then a fixed default). ``cell_labelled``: the
    datasets whose kNN runs."""
    if dataset in cell_labelled:
        return dataset
    network = network_of(config, dataset)
    return next((d for d in cell_labelled if network_of(config, d) == network), None)


def training_epochs(ds: dict, network: str) -> int:
    """Epochs of a dataset's network: ``model.epochs`` for paired cell inpainting; the
    autoencoder the same budget unless ``baselines.autoencoder.epochs`` says otherwise."""
    if network == "autoencoder":
        return ds["baselines"]["autoencoder"]["epochs"] or ds["model"]["epochs"]
    return ds["model"]["epochs"]


def classifier_cap(bench: dict) -> int | None:
    """The most cells the classifiers use under a ``benchmarks`` block: the smaller of
    ``max_cells`` and ``classifier_max_cells`` (None where both are null). Here, not with the
    classifiers, so that sizing a job at parse time needs no scikit-learn."""
    caps = [bench.get(key) for key in ("max_cells", "classifier_max_cells")]
    caps = [int(c) for c in caps if c is not None]
    return min(caps) if caps else None


def is_url(value) -> bool:
    """Whether a configured file is an http(s) URL (GO files: fetched by a rule), not a path."""
    from urllib.parse import urlparse

    return bool(value) and urlparse(str(value)).scheme in ("http", "https")


def _plate_paths(ds: dict) -> list[tuple[str, str]]:
    """A plate dataset's plates, as (key, path)."""
    path = ds.get("plate", {}).get("path")
    if isinstance(path, list):
        return [(f"plate.path[{i}]", p) for i, p in enumerate(path)]
    return [("plate.path", path)]


def config_paths(config: dict) -> list[tuple[str, str]]:
    """Every input path a validated config names, as (config key, path): sample sheets,
    adapter roots and tables, annotation and GO files (not URLs), published and VGG16 weights,
    imported feature tables. Checked when the workflow is parsed (``missing_paths``), so a
    mistyped path stops the run before anything is built or served from old results."""
    found = [(f"published_weights.{k}", v) for k, v in config.get("published_weights", {}).items()]
    for name, ds in config["datasets"].items():
        at, source = f"datasets.{name}", ds["source"]
        adapter = {  # the paths of the dataset's own input source (blocks of other sources are unused)
            "samplesheet": [("samplesheet", ds.get("samplesheet"))],
            "plate": [("plate.map", ds.get("plate", {}).get("map")), *_plate_paths(ds)],
            "yeast_screen": [(f"yeast_screen.{k}", ds.get("yeast_screen", {}).get(k)) for k in ("root", "annotations")],
            "crop_folders": [("crop_folders.root", ds.get("crop_folders", {}).get("root"))],
            "features": [("feature_table.path", ds.get("feature_table", {}).get("path"))],
            "hpa": [("hpa.location_table", ds.get("hpa", {}).get("location_table"))],
            "labelled_hdf5": [
                (f"labelled_hdf5.paths[{i}]", p) for i, p in enumerate(ds.get("labelled_hdf5", {}).get("paths", []))
            ],
        }.get(source, [])
        proteins = ds.get("hpa", {}).get("proteins")
        if source == "hpa" and isinstance(proteins, str) and proteins != "all":
            adapter.append(("hpa.proteins", proteins))
        found += [(f"{at}.{key}", path) for key, path in adapter]
        if ds["benchmarks"].get("label_from") == "annotation":
            found.append((f"{at}.benchmarks.annotations.path", ds["benchmarks"].get("annotations", {}).get("path")))
        go = ds["exploratory"].get("go", {})
        found += [(f"{at}.exploratory.go.{k}", go.get(k)) for k in ("ontology", "annotations") if not is_url(go.get(k))]
        for subset in ("suppfig4", "suppfig5"):
            table = (ds["exploratory"].get(subset) or {}).get("annotations") or {}
            found.append((f"{at}.exploratory.{subset}.annotations.path", table.get("path")))
        run = ds["baselines"].get("run", ())
        if "vgg16" in run:
            found.append((f"{at}.baselines.vgg16_weights", ds["baselines"].get("vgg16_weights")))
        if "imported" in run:
            for set_name, spec in ds["baselines"].get("imported", {}).items():
                found.append((f"{at}.baselines.imported.{set_name}.path", (spec or {}).get("path")))
    return [(key, str(path)) for key, path in found if path]


def missing_paths(config: dict, base: str | Path = ".") -> list[str]:
    """One line per configured input path that does not exist (relative to ``base``, the
    working directory), naming its config key; a relative one says where it was looked for,
    since with ``--directory`` that is not the folder the config file is in."""
    base = Path(base).resolve()
    return [
        f"{key}: {path} does not exist"
        + ("" if Path(path).is_absolute() else f" (looked in the working directory {base})")
        for key, path in config_paths(config)
        if not (base / path).exists()
    ]


def _command_line_targets(argv: list[str]) -> list[str]:
    """The targets of a ``snakemake`` command line, from Snakemake's own argument parser, read
    when the workflow is parsed; any other caller's arguments give none."""
    return list(_parsed_targets(tuple(argv)))


@functools.lru_cache(maxsize=4)
def _parsed_targets(argv: tuple[str, ...]) -> tuple[str, ...]:
    """Built once per command line: the parser takes about 0.1 s to build."""
    if not argv or Path(argv[0]).name not in ("snakemake", "__main__.py"):
        return ()
    try:
        from snakemake.cli import get_argument_parser

        return tuple(str(t) for t in get_argument_parser().parse_known_args(argv[1:])[0].targets or [])
    except (Exception, SystemExit):
        return ()


def unknown_targets(argv: list[str], known: list[str]) -> list[tuple[str, str]]:
    """(target, name) for each command-line target under ``results/<name>/`` whose name is not
    in ``known`` (the datasets and the shared result folders), found before Snakemake would
    report only "no rule to produce"."""
    found = []
    for target in _command_line_targets(argv):
        parts = Path(target).parts
        if len(parts) > 2 and parts[0] == "results" and parts[1] not in known:
            found.append((target, parts[1]))
    return found


#: what a dataset folder holds only where there are crops (a feature table has none)
IMAGE_RESULTS = ("crops.zarr", "chunks", "qc", "models", "simulated", "hpa")
#: results of single cells (file stems under tables/ and figures/): none for a per-protein table
SINGLE_CELL_RESULTS = (
    "supptable1",
    "table1",
    "knn_per_class",
    "supptable2",
    "fig2a",
    "suppfig2",
    "fig2b",
    "table2",
    "suppfig3",
    "multiloc_scores",
    "suppdata2",
    "fig5",
    "fig6",
    "fig6_branches",
)


def feature_table_refusals(argv: list[str], config: dict) -> list[str]:
    """One line per command-line target a feature-table dataset cannot have: what needs crops
    (its crop store, QC, models) and, for a per-protein table, the analyses of single cells;
    said at parse time instead of Snakemake's "no rule to produce" or a kNN of proteins."""
    found = []
    for target in _command_line_targets(argv):
        parts = Path(target).parts
        ds = config["datasets"].get(parts[1]) if len(parts) > 2 and parts[0] == "results" else None
        if not ds or ds["source"] != FEATURE_TABLE_SOURCE:
            continue
        if parts[2] in IMAGE_RESULTS:
            found.append(f"{target}: not run: the dataset is a feature table (source features; no images)")
        elif ds["feature_table"]["level"] == "protein" and Path(target).name.split(".")[0] in SINGLE_CELL_RESULTS:
            found.append(
                f"{target}: not run: the dataset is a per-protein table (feature_table.level protein); "
                "analyses of single cells need one row per cell"
            )
    return found


def check_queries(queries: list[str], proteins, key: str, source: str) -> None:
    """ConfigError naming the ``exploratory.queries`` that are none of the dataset's proteins (read
    from ``source``), with the closest names: checked as soon as the proteins are known, not when
    localize_like runs at the end of the workflow. Case does not matter, as in localize_like."""
    known = sorted({str(p) for p in proteins})
    upper = {k.upper() for k in known}
    missing = [q for q in queries if str(q).upper() not in upper]
    if not missing:
        return
    named = []
    for query in missing:
        close = difflib.get_close_matches(query, known, n=3)
        named.append(f"'{query}'" + (f" (closest: {', '.join(close)})" if close else ""))
    verb = "is" if len(missing) == 1 else "are"
    raise ConfigError(f"{key}: {', '.join(named)} {verb} not among the {len(known)} proteins of {source}")


def _merged(base: dict, overlay: dict) -> dict:
    """``overlay`` merged into ``base`` as Snakemake merges several ``--configfile`` (mappings
    recursively, anything else replaced, null included)."""
    for key, value in overlay.items():
        base[key] = _merged(base.get(key) or {}, value) if isinstance(value, dict) else value
    return base


def load_config(*paths: str | Path) -> dict:
    """Read and validate YAML config files, each merged over the ones before as
    ``--configfile a.yaml b.yaml`` does (the tests' and benchmarks' entry point)."""
    config: dict = {}
    for path in map(Path, paths):
        try:
            with open(path) as fh:
                part = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config: {one_line(exc, None)}") from None
        if not isinstance(part, dict):
            raise ConfigError(f"{path}: config must be a mapping, got {type(part).__name__}")
        config = _merged(config, part)
    return validate_config(config, where=" + ".join(map(str, paths)))


@dataclass(frozen=True)
class DatasetConfig:
    """The settings of one dataset that segmentation, cropping and preprocessing need."""

    name: str
    source: str
    channels: tuple[str, ...]
    roles: tuple[str, ...]
    segmentation: dict
    crops: dict
    preprocess: dict
    model: dict
    features: dict
    figures: dict
    baselines: dict
    min_cells: int
    raw: dict
    nonfinite: str = "error"

    @classmethod
    def from_config(cls, config: dict, name: str) -> DatasetConfig:
        if name not in config["datasets"]:
            raise ConfigError(f"config: no dataset named '{name}' (have {sorted(config['datasets'])})")
        return cls.from_dict(name, config["datasets"][name])

    @classmethod
    def from_dict(cls, name: str, ds: dict) -> DatasetConfig:
        """From a validated dataset block, or the part of it a rule receives as ``params.dataset``
        (channels plus the blocks that rule uses; absent blocks are empty)."""
        return cls(
            name=name,
            source=ds.get("source", ""),
            channels=tuple(c["name"] for c in ds["channels"]),
            roles=tuple(c["role"] for c in ds["channels"]),
            segmentation=dict(ds.get("segmentation", {})),
            crops=dict(ds.get("crops", {})),
            preprocess=dict(ds.get("preprocess", {})),
            model=dict(ds.get("model", {})),
            features=dict(ds.get("features", {})),
            figures=dict(ds.get("figures", {})),
            baselines=dict(ds.get("baselines", {})),
            min_cells=int(ds.get("min_cells", 1)),
            raw=ds,
            nonfinite=ds.get("nonfinite", "error"),
        )

    @property
    def structural(self) -> tuple[int, ...]:
        """Indices of the structural-marker channels (x in the paper)."""
        return tuple(i for i, r in enumerate(self.roles) if r == "structural")

    @property
    def protein(self) -> tuple[int, ...]:
        """Indices of the protein channels (y in the paper)."""
        return tuple(i for i, r in enumerate(self.roles) if r == "protein")

    @property
    def segmentation_channel(self) -> int:
        """The segmented channel; for cells that arrive cropped, the first structural channel."""
        if "channel" not in self.segmentation:
            return self.structural[0]
        return self.channels.index(self.segmentation["channel"])

    @property
    def cell_shape(self) -> bool:
        """Whether classic features include the centre cell's shape (whole cells segmented)."""
        setting = self.baselines.get("classic", {}).get("cell_shape", "auto")
        return self.segmentation.get("method") == "cells_watershed" if setting == "auto" else bool(setting)


def dataset_seed(config: dict, name: str, step: str) -> int:
    """A seed for one random step of one dataset, derived from the global seed (stable across runs)."""
    import zlib

    return (int(config.get("seed", 0)) * 1_000_003 + zlib.crc32(f"{name}/{step}".encode())) % (2**32)


def channel_metadata(ds: dict) -> dict[str, Any]:
    """Channel names and roles as stored with the crop store, so later stages need no config."""
    return {"channels": [c["name"] for c in ds["channels"]], "roles": [c["role"] for c in ds["channels"]]}
