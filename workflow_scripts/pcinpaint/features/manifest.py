"""Which feature sets a dataset has: the one list the rules, the manifest and the benchmarks share.

Every set is a parquet table ``results/<dataset>/features/<name>.parquet`` in the feature-table
contract. Families and their layers:

- ``pci_conv1..5``: the paired cell inpainting source encoder;
- ``random_conv1..5``: the same encoder untrained (seeded);
- ``raw``: downsampled pixels;
- ``classic``: intensity, correlation, Haralick texture (and centre-cell shape for whole cells);
- ``cellprofiler``: the CellProfiler measurements a labelled HDF5 set carries (Chong et al.'s);
- ``ae_conv1..5``: the autoencoder baseline's encoder;
- ``vgg16_{rgb,concat,protein}_<layer>``: ImageNet VGG16, 13 conv layers, 3 input strategies;
- ``imported_<name>``: a user's table (per cell, or per protein);
- a feature-table dataset (``source: features``) has one set, ``feature_table.name``, and no other.

A baseline the config asks for but cannot run (no VGG16 weights, an imported entry without a
table) is listed with the reason, so tables show it as "not run" instead of leaving it out.
Light on purpose (no torch): the Snakefile imports it while it builds the job graph.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from pcinpaint.config import is_published
from pcinpaint.features.table import METADATA_PREFIX
from pcinpaint.model.spec import ENCODER_LAYERS

VGG16_LAYERS = (
    "block1_conv1",
    "block1_conv2",
    "block2_conv1",
    "block2_conv2",
    "block3_conv1",
    "block3_conv2",
    "block3_conv3",
    "block4_conv1",
    "block4_conv2",
    "block4_conv3",
    "block5_conv1",
    "block5_conv2",
    "block5_conv3",
)
VGG16_STRATEGIES = ("rgb", "concat", "protein")
NOT_RUN = "not run"


@dataclass(frozen=True)
class FeatureSet:
    name: str  # file stem and the name tables show
    family: str  # pci, random, raw, classic, ae, vgg16_rgb, vgg16_concat, vgg16_protein, imported_<name>
    layer: str = ""  # conv3, block4_conv1, or "" for single-table families
    level: str = "cell"  # cell: one row per cell in store order; protein: one row per protein
    reason: str = ""  # why it was not run ("" when it runs)

    @property
    def runs(self) -> bool:
        return not self.reason

    def to_dict(self) -> dict:
        return asdict(self)


def layer_set(family: str, layer: str) -> str:
    """The one spelling of a layered family's feature-set name (pci_conv3, random_conv1,
    ae_conv5), which names its file under results/<dataset>/features/."""
    return f"{family}_{layer}"


def layer_sets(family: str) -> list[str]:
    """A layered family's feature-set names, one per encoder layer."""
    return [layer_set(family, layer) for layer in ENCODER_LAYERS]


def _layered(family: str, layers) -> list[FeatureSet]:
    return [FeatureSet(layer_set(family, layer), family, layer) for layer in layers]


def vgg16_name(strategy: str, layer: str) -> str:
    return f"vgg16_{strategy}_{layer}"


def feature_sets(ds: dict) -> list[FeatureSet]:
    """Every feature set of a (validated) dataset block, the ones that cannot run included."""
    if ds.get("source") == "features":
        table = ds["feature_table"]
        return [FeatureSet(table["name"], table["name"], level=table.get("level", "cell"))]
    base = ds.get("baselines", {})
    run = set(base.get("run", ()))
    sets = _layered("pci", ENCODER_LAYERS) + _layered("random", ENCODER_LAYERS) + [FeatureSet("raw", "raw")]
    sets.append(
        FeatureSet("classic", "classic")
        if "classic" in run
        else FeatureSet("classic", "classic", reason="classic is not in baselines.run")
    )
    if ds.get("source") == "labelled_hdf5":
        sets.append(cellprofiler_set(ds["labelled_hdf5"]))
    if "autoencoder" in run and is_published(ds.get("model", {}).get("model_from")):
        sets.append(FeatureSet("ae", "ae", reason="the paper's published weights include no autoencoder"))
    elif "autoencoder" in run:
        sets += _layered("ae", ENCODER_LAYERS)
    else:
        sets.append(FeatureSet("ae", "ae", reason="autoencoder is not in baselines.run"))
    for strategy in VGG16_STRATEGIES:
        family = f"vgg16_{strategy}"
        if "vgg16" not in run:
            sets.append(FeatureSet(family, family, reason="vgg16 is not in baselines.run"))
        elif not base.get("vgg16_weights"):
            sets.append(FeatureSet(family, family, reason="no baselines.vgg16_weights file in the config"))
        else:
            sets += [FeatureSet(vgg16_name(strategy, layer), family, layer) for layer in VGG16_LAYERS]
    for name, entry in base.get("imported", {}).items():
        reason = (
            "imported is not in baselines.run"
            if "imported" not in run
            else ""
            if entry.get("path")
            else f"no table given (baselines.imported.{name}.path is null)"
        )
        sets.append(FeatureSet(f"imported_{name}", f"imported_{name}", level=entry.get("level", "cell"), reason=reason))
    return sets


def cellprofiler_set(block: dict) -> FeatureSet:
    """The ``cellprofiler`` set of a labelled HDF5 dataset: it runs where every file holds the
    measurements (``cellprofiler_key``), with no separate import."""
    from pcinpaint.inputs.labelled_hdf5 import missing_dataset

    key = block.get("cellprofiler_key", "Info1")
    if not key:
        return FeatureSet("cellprofiler", "cellprofiler", reason="labelled_hdf5.cellprofiler_key is null")
    why = missing_dataset(block["paths"], key)
    return FeatureSet("cellprofiler", "cellprofiler", reason=why or "")


def baseline_sets(ds: dict) -> list[FeatureSet]:
    """The baseline sets that run (what the ``baselines`` target builds)."""
    own = {"pci", "random", "raw"}
    return [s for s in feature_sets(ds) if s.runs and s.family not in own]


def manifest(sets: list[FeatureSet], folder) -> pd.DataFrame:
    """One row per feature set: status (ran / not run and why), rows and feature count of its table."""
    import pyarrow.parquet as pq

    rows = []
    for s in sets:
        row = s.to_dict() | {"status": "ran" if s.runs else NOT_RUN, "n_rows": 0, "n_features": 0, "path": ""}
        if s.runs:
            path = Path(folder) / f"{s.name}.parquet"
            meta = pq.read_metadata(path)
            row |= {
                "n_rows": meta.num_rows,
                "path": str(path),
                "n_features": sum(not n.startswith(METADATA_PREFIX) for n in meta.schema.names),
            }
        rows.append(row)
    columns = ["name", "family", "layer", "level", "status", "n_rows", "n_features", "path", "reason"]
    return pd.DataFrame(rows, columns=columns)


def unknown_named_sets(name: str, ds: dict) -> list[str]:
    """One line per feature set a dataset's config names for an analysis (``exploratory`` and
    Fig 3's ``umap_proteins.feature_set``) that is not one of its sets that run, with the
    names it has: checked before anything runs, instead of a missing-input report at the end."""
    runs = [s.name for s in feature_sets(ds) if s.runs]
    keys = {
        "exploratory.feature_set": ds.get("exploratory", {}).get("feature_set"),
        "benchmarks.umap_proteins.feature_set": ds.get("benchmarks", {}).get("umap_proteins", {}).get("feature_set"),
    }
    return [
        f"datasets.{name}.{key}: '{value}' is not a feature set of this dataset that runs (have: {', '.join(runs)})"
        for key, value in keys.items()
        if value and value not in runs
    ]
