"""Which config keys each rule reads: the one table that decides a rule's params.

Snakemake reruns a job whose params changed. A rule that received a whole block (``benchmarks``,
``exploratory``) would rerun for any key of it: editing ``benchmarks.n_estimators`` (the random
forest only) would redo the kNN and the UMAP. So every rule receives, as ``params.dataset``,
exactly the keys listed here for it (``rule_config``), and nothing else of the dataset's block;
a key a rule's script reads but its entry lacks fails loudly (``RuleConfig``), and the tests check
that every key of the schema is read by some rule.

Keys are dotted paths into a dataset's block; a block name gives the whole block. ``{subset}``
and ``{name}`` are filled from the job's wildcards (one subset's settings rerun one figure).
"""

from __future__ import annotations

from pcinpaint.config import canonical

#: every rule reads what its data is: where it came from and its channels
ALWAYS = ("source", "channels")

#: the label source of the benchmarks (``benchmarks.comparisons.dataset_labels``)
LABELS = (
    "benchmarks.label_from",
    "benchmarks.label_column",
    "benchmarks.annotations",
    "benchmarks.label_mode",
    "benchmarks.merge",
)
#: a protein's annotation terms (``exploratory.analysed.protein_terms``: combined labels, so no label_mode)
TERMS = tuple(k for k in LABELS if k != "benchmarks.label_mode")
#: which feature set the exploratory stage analyses and the labels it reads (``load_analysed``)
ANALYSED = ("exploratory.feature_set", "benchmarks.label_level", *TERMS)
#: the protein tree of Fig 4, which localize_like and the subsets redraw
TREE = ("exploratory.min_cells", "exploratory.linkage", "exploratory.metric")
#: what segmentation and cropping read: changing one rebuilds the crop store
CROP_KEYS = ("segmentation", "crops", "preprocess", "min_cells", "nonfinite")

RULE_KEYS: dict[str, tuple[str, ...]] = {
    # inputs
    "simulate_screen": ("simulate",),
    "samplesheet": ("segmentation",),
    "download_hpa": ("hpa",),
    "hpa_samplesheet": ("hpa",),
    "yeast_screen_samplesheet": ("yeast_screen",),
    "plate_samplesheet": ("plate",),
    # crops
    "segment": CROP_KEYS,
    "gather_crops": (*CROP_KEYS, "qc"),
    "qc_montage": (),
    "qc_overlays": (*CROP_KEYS, "qc"),
    "import_crops": (
        "crop_folders",
        # not cellprofiler_key (another rule's) nor expect (checked before anything runs)
        *(
            f"labelled_hdf5.{k}"
            for k in (
                "paths",
                "classes",
                "merge",
                "data_key",
                "label_key",
                "channel_order",
                "file_channels",
                "protein_key",
            )
        ),
        "crops",
        "preprocess",
        "min_cells",
    ),
    # model
    "train_pci": ("model",),
    "train_autoencoder": ("model",),
    # features and baselines
    "extract_pci": ("model", "features"),
    "extract_random": ("model", "features"),
    "extract_raw": ("features",),
    "extract_classic": ("segmentation", "baselines.classic"),
    "extract_autoencoder": ("model", "features"),
    "extract_vgg16": (
        "features",
        "model.device",
        "model.precision",
        "baselines.vgg16_rgb",
        "baselines.vgg16_input",
    ),
    "import_features": ("baselines.imported.{name}",),
    # a dataset that is a feature table: its cell table (from the metadata columns), its features
    "feature_table_cells": ("feature_table.path", "feature_table.level", "feature_table.obsm", "feature_table.columns"),
    "feature_table": ("feature_table",),
    "extract_cellprofiler": ("labelled_hdf5.cellprofiler_key",),
    # figures
    "inpainting_figure": ("figures",),
    # benchmarks
    "knn_benchmark": (*LABELS, "benchmarks.max_cells", "benchmarks.ks"),
    "classifier_benchmark": (
        *LABELS,
        "benchmarks.max_cells",
        "benchmarks.classifier_max_cells",
        "benchmarks.n_estimators",
        "benchmarks.folds",
    ),
    "pairwise_benchmark": (
        *LABELS,
        "benchmarks.max_cells",
        "benchmarks.min_proteins_per_term",
        "benchmarks.image_level_layers",
        "benchmarks.pairwise_pairs",
        "benchmarks.cell_line_pairs",
    ),
    "umap_cells": (*LABELS, "benchmarks.max_cells", "benchmarks.umap_cells"),
    "umap_proteins": (*LABELS, "benchmarks.umap_proteins"),
    # exploratory
    "protein_clustering": (
        *ANALYSED,
        *TREE,
        "exploratory.level",
        "exploratory.n_clusters",
        "exploratory.height",
        "exploratory.n_subclusters",
    ),
    "go_enrichment": ("exploratory.go",),
    "subset_clustering": (*ANALYSED, *TREE, "exploratory.go", "exploratory.{subset}"),
    "localize_like": (*ANALYSED, *TREE, "exploratory.queries", "exploratory.query_neighbours"),
    "multiloc_scores": (*ANALYSED, "exploratory.multiloc"),
    "single_cell_dendrograms": (*ANALYSED, "exploratory.variable_proteins", "exploratory.n_branches"),
    "exploratory_truth": (*TERMS, "simulate.preset", "exploratory.go", "exploratory.multiloc"),
    "explorer_page": (
        "explorer",
        *ANALYSED,
        "exploratory.min_cells",
        *(f"benchmarks.{m}.{k}" for m in ("umap_cells", "umap_proteins") for k in ("n_neighbors", "min_dist")),
    ),
}

#: keys passed only while another key holds: flags that drop no cell only label qc/fields.tsv
#: (the gather reads their thresholds from the config), so tuning them must not rebuild the
#: crop store and everything after it
ONLY_IF = {("gather_crops", "qc"): "qc.drop_flagged"}

#: keys a rule reads through a value computed from them (its own param), not as ``params.dataset``
DERIVED = {
    "train_autoencoder": ("baselines.autoencoder",),  # its epochs (``config.training_epochs``)
    "feature_sets": ("baselines.run", "baselines.imported", "baselines.vgg16_weights"),  # the sets that run
    "samplesheet": ("samplesheet",),  # the user's sheet, by path and checksum
}

#: keys a script reads from the whole config on purpose, so that changing them reruns nothing:
#: they change no stored output (only its labels or a check)
UNTRACKED = {
    # the QC flags' thresholds: they label qc/fields.tsv; cells are dropped only with qc.drop_flagged
    "gather_crops": ("qc",),
    # the cells and classes expected: checked before anything runs, and again as the store is written
    "import_crops": ("labelled_hdf5.expect",),
}

#: how the config's top-level keys reach the rules (the datasets' keys: the tables above)
TOP_LEVEL = {
    "datasets": "each dataset's block, through RULE_KEYS",
    "seed": "each random step's own seed, derived from it (config.dataset_seed) and passed as params.seed",
    "fields_per_chunk": "planning: how many segmentation jobs a screen gets",
    "published_weights": "planning: the weights file convert_published_weights reads (an input)",
}


class RuleConfig(dict):
    """A rule's ``params.dataset`` as its script reads it: a key its ``RULE_KEYS`` entry does
    not give fails with the rule named, instead of a bare KeyError (``get`` keeps its default:
    keys at a quiet default are left out, see ``config.canonical``)."""

    def __init__(self, rule: str, values: dict, where: str = ""):
        super().__init__(
            {k: RuleConfig(rule, v, f"{where}{k}.") if isinstance(v, dict) else v for k, v in values.items()}
        )
        self.rule, self.where = rule, where

    def __missing__(self, key):
        raise KeyError(
            f"rule {self.rule} reads {self.where}{key}, which pcinpaint.rule_keys.RULE_KEYS does not give it"
        )


def rule_keys(rule: str, wildcards=None) -> tuple[str, ...]:
    """The dotted keys ``rule`` reads, with its wildcards filled in."""
    fill = dict(wildcards.items()) if hasattr(wildcards, "items") else dict(wildcards or {})
    return tuple(key.format(**fill) for key in (*ALWAYS, *RULE_KEYS[rule]))


def _lookup(block: dict, key: str):
    """The value at a dotted key, or ``...`` where the block lacks it."""
    for part in key.split("."):
        if not isinstance(block, dict) or part not in block:
            return ...
        block = block[part]
    return block


def rule_config(rule: str, ds: dict, wildcards=None) -> dict:
    """The part of a dataset's validated block that ``rule`` reads, nested as in the config and
    canonical (sorted, quiet defaults left out): its params, so that editing another key reruns
    nothing."""
    chosen: dict = {}
    for key in rule_keys(rule, wildcards):
        condition = ONLY_IF.get((rule, key))
        if condition and not _lookup(ds, condition):
            continue
        value = _lookup(ds, key)
        if value is ...:
            continue
        *parents, last = key.split(".")
        node = chosen
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return canonical(chosen)


def readers(key: str) -> list[str]:
    """The rules whose params hold ``key`` (or a block holding it): a change to it reruns them."""
    return [
        rule
        for rule, keys in RULE_KEYS.items()
        if any(key == k or key.startswith(f"{k}.") or k.startswith(f"{key}.") for k in (*ALWAYS, *keys))
    ]


def dataset_params(smk) -> RuleConfig:
    """A rule script's ``params.dataset`` as a ``RuleConfig`` (``smk``: the script's ``snakemake``)."""
    return RuleConfig(smk.rule, smk.params.dataset)
