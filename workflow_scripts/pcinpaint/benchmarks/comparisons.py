"""The paper's quantitative comparisons over every feature set of a dataset.

Inputs are the feature-set manifest (``features/feature_sets.tsv``: every set, run or not),
the feature tables and the cell table; labels come from ``labels`` as the dataset's
``benchmarks`` config says. Every table keeps the sets that were not run as rows marked
"not run", so a missing baseline is visible rather than silently absent.

- kNN (``supptable1``, ``table1``, per-class accuracies for ``fig2a``/``suppfig2``): z-scored
  features, leave-one-out Euclidean kNN for each k from one neighbour query. The paper's rows
  this workflow cannot compute (``PAPER_ONLY``) are listed as not run, with the reason.
- Classifiers (``supptable2``): L1 logistic regression and a random forest on the best kNN layer
  of each family, stratified folds and folds grouped by image.
- Pairwise distances (``fig2b``, ``table2``): see ``pairwise``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pcinpaint.errors import NotRun
from pcinpaint.features.manifest import NOT_RUN, VGG16_STRATEGIES
from pcinpaint.features.reading import FeatureFile, FeatureRows, read_cell_rows
from pcinpaint.inputs.annotations import LabelSettings, aliases, cell_labels, read_annotations, terms_for_pairwise
from pcinpaint.io import read_table

if TYPE_CHECKING:  # for annotations only: scikit-learn and the distance code load when a table is scored
    from pcinpaint.benchmarks.classify import ClassifierSettings
    from pcinpaint.benchmarks.pairwise import PairDraws

log = logging.getLogger(__name__)

#: families whose layers are compared and of which the best layer represents the family
LAYERED = ("pci", "random", "ae", "vgg16_rgb", "vgg16_concat", "vgg16_protein")

#: the paper's Supp Table 1/2 rows that no feature set of this workflow stands for: name (also
#: its family) -> why; ``knn_tables`` lists them as not run so the tables keep the paper's rows
PAPER_ONLY = {
    "designed": "the paper's expert-designed yeast features (Handfield et al. 2013; 62.04 at k=11): computed with "
    "the authors' own segmentation and feature software, not part of this workflow; to compare, import them as "
    "baselines.imported.<name>",
    "supervised": "the paper's supervised row (DeepLoc, Kraus et al. 2017; 92.44 at k=11): a CNN trained end to end "
    "on these labels, a classifier rather than an unsupervised feature set, not part of this workflow",
}

#: ``benchmarks.umap_cells.families`` names that stand for several families (the best set of all of them)
FAMILY_GROUPS = {"vgg16": tuple(f"vgg16_{s}" for s in VGG16_STRATEGIES)}


def dataset_labels(cells: pd.DataFrame, bench: dict) -> pd.Series:
    """One class per cell (None where unlabelled), as the ``benchmarks`` config block says. An
    annotation table finds proteins by any of its names (Huh et al. 2003: ORF or gene; the atlas:
    Ensembl id or gene name), so a screen's folders may be named either way."""
    annotations, names = None, None
    if bench["label_from"] == "annotation":
        if "annotations" not in bench:
            raise ValueError("benchmarks.label_from is 'annotation' but no benchmarks.annotations table is given")
        a = bench["annotations"]
        annotations = read_annotations(
            a["path"],
            a.get("layout", "auto"),
            a.get("key"),
            tuple(a.get("reliability", ("Validated", "Supported", "Approved"))),
            a.get("column"),
        )
        names = aliases(a["path"], a.get("layout", "auto"), a.get("key"))
    settings = LabelSettings(
        label_from=bench["label_from"],
        column=bench.get("label_column"),
        mode=bench.get("label_mode", "combined"),
        merge=bench.get("merge") or None,
    )
    return cell_labels(cells, settings, annotations=annotations, aliases=names)


def label_columns(bench: dict) -> list[str]:
    """The cell-table columns ``dataset_labels`` reads under this ``benchmarks`` config: a rule
    reads these (and what else it uses), never the whole table."""
    columns = ["protein"]
    if bench["label_from"] == "column":
        columns.append(bench.get("label_column") or "label")
    return columns


def image_terms(cells: pd.DataFrame, bench: dict) -> pd.Series:
    """image_id -> localization term for the pairwise-distance score: images whose cells all
    carry one single-term label, of terms with at least ``min_proteins_per_term`` proteins."""
    single = dataset_labels(cells, {**bench, "label_mode": "single"})
    table = pd.DataFrame(
        {"image_id": cells["image_id"].to_numpy(), "protein": cells["protein"].to_numpy(), "term": single.to_numpy()}
    )
    per_image = (
        table.groupby("image_id")["term"]
        .agg(lambda t: t.iloc[0] if t.notna().all() and t.nunique() == 1 else None)
        .dropna()
    )
    proteins = table[table["image_id"].isin(per_image.index)].drop_duplicates("protein")
    protein_terms = pd.DataFrame({"protein": proteins["protein"], "term": proteins["image_id"].map(per_image)})
    keep = terms_for_pairwise(protein_terms, bench.get("min_proteins_per_term", 30))
    return per_image[per_image.isin(set(keep))]


def cell_sets(manifest: pd.DataFrame) -> pd.DataFrame:
    """Manifest rows of per-cell feature sets (per-protein imported tables are not cell-level)."""
    return manifest[manifest["level"].fillna("cell") == "cell"].reset_index(drop=True)


def knn_tables(
    manifest: pd.DataFrame, labels: pd.Series, ks, note: str = "", store_index: np.ndarray | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``supptable1`` (one row per feature set, a column per k) and the per-class accuracies.

    ``labels``: one per cell in store order. Cells without a label take no part, and only the
    labelled cells' rows are read from each table (checked against ``store_index``, the cell
    table's, when given); ``note`` (which cells, e.g. "100,000 of 638,640" under
    ``benchmarks.max_cells``) goes into the table's ``cells`` column beside ``n_cells``. The
    ``PAPER_ONLY`` rows close the table, not run.
    """
    from pcinpaint.benchmarks.knn import knn_report, scored_cells

    ks = sorted(int(k) for k in ks)
    keep = labels.notna().to_numpy().copy()
    scored, skipped = scored_cells(labels[keep])
    keep[keep] = scored
    if skipped:
        log.warning("kNN: %s", skipped)
    y = labels[keep].astype(str).to_numpy()
    wide, per_class = [], []
    for _, row in cell_sets(manifest).iterrows():
        out = {
            "feature_set": row["name"],
            "family": row["family"],
            "layer": row["layer"],
            "n_features": row["n_features"],
            "status": row["status"],
            "reason": row["reason"],
        }
        if row["status"] == "ran":
            x = read_cell_rows(row["path"], keep, store_index)
            overall, classes = knn_report(x, y, ks)
            out |= {f"k{int(r.k)}": round(float(r.balanced_accuracy), 4) for r in overall.itertuples()}
            out |= {"n_cells": int(keep.sum()), "cells": note, "note": skipped}
            per_class.append(classes.assign(feature_set=row["name"]))
            log.info("%s: k=11 %s", row["name"], out.get("k11"))
        wide.append(out)
    wide += [
        {"feature_set": name, "family": name, "layer": "", "status": NOT_RUN, "reason": reason}
        for name, reason in PAPER_ONLY.items()
    ]
    table = pd.DataFrame(
        wide,
        columns=["feature_set", "family", "layer", "n_features", "status"]
        + [f"k{k}" for k in ks]
        + ["n_cells", "cells", "reason", "note"],
    ).astype({"n_cells": "Int64", "n_features": "Int64"})  # blank, not NaN, for sets that did not run
    classes = pd.concat(per_class, ignore_index=True) if per_class else pd.DataFrame()
    return table, classes


def best_layers(table: pd.DataFrame, k: int = 11) -> pd.DataFrame:
    """The best-scoring set of each family at ``k`` (single-table families as they are)."""
    ran = table[table["status"] == "ran"].copy()
    ran["score"] = ran[f"k{k}"].astype(float)
    return ran.sort_values("score", ascending=False).drop_duplicates("family").sort_values("feature_set")


#: the layer analysed where no benchmark ranks the layers: the paper's best yeast layer (Table 1),
#: and the layer of its Supp Fig 5
DEFAULT_LAYER = "pci_conv4"
#: the layer of the paper's human analyses (Figs 4-6), where labels are per image
IMAGE_LEVEL_LAYER = "pci_conv3"


def ranked_set(named: str | None, label_level: str | None, supptable1: pd.DataFrame | None) -> str:
    """The feature set a protein-level analysis uses (the exploratory stage, a Fig 3 panel):
    ``named`` where the config names one; conv3 where labels are per image (the paper's human
    analyses); else the PCI layer ranked best at k = 11 in ``supptable1`` (the dataset's own kNN
    table, or that of a labelled set scored with its network); conv4 where none ranks them."""
    if named:
        return named
    if label_level == "image":
        return IMAGE_LEVEL_LAYER
    if supptable1 is None or "k11" not in supptable1.columns:
        return DEFAULT_LAYER
    pci = supptable1[(supptable1["family"] == "pci") & (supptable1["status"] == "ran")]
    scores = pd.to_numeric(pci["k11"], errors="coerce")
    return str(pci.loc[scores.idxmax(), "feature_set"]) if scores.notna().any() else DEFAULT_LAYER


def not_run_sets(table: pd.DataFrame) -> dict[str, str]:
    """Each set of ``supptable1`` that was not run -> why (what figures name beside their data)."""
    rows = table[table["status"] != "ran"]
    return dict(zip(rows["feature_set"], rows["reason"].fillna("").astype(str)))


def fig2a_sets(supptable1: pd.DataFrame, k: int = 11) -> pd.DataFrame:
    """Fig 2A's sets: the best set at ``k`` of every family that ran (layered families by their
    best layer, single-table ones such as raw, classic, cellprofiler and imported tables as they
    are), lowest score first, so every feature set benchmarked is compared class by class."""
    return best_layers(supptable1, k).sort_values(["score", "feature_set"]).reset_index(drop=True)


def umap_panels(supptable1: pd.DataFrame, families, k: int = 11) -> list[tuple[str, str | None, str]]:
    """Supp Fig 3's panels, one per configured family, as (family, feature set, reason): the
    family's best set at ``k`` (``vgg16``: the best of the three input strategies), or None and
    why where none of its sets ran. A family ``supptable1`` does not list is left out: the
    dataset does not have it, so a panel would only say so."""
    panels = []
    for family in families:
        members = supptable1[supptable1["family"].isin(FAMILY_GROUPS.get(family, (family,)))]
        if members.empty:
            continue
        ran = members[members["status"] == "ran"]
        if len(ran):
            scores = ran[f"k{k}"].astype(float)
            panels.append((family, str(ran.loc[scores.idxmax(), "feature_set"]), ""))
        else:
            reasons = dict.fromkeys(members["reason"].fillna("").astype(str))
            panels.append((family, None, "; ".join(r for r in reasons if r) or "no reason recorded"))
    return panels


def table1(supptable1: pd.DataFrame, k: int = 11) -> pd.DataFrame:
    """The paper's Table 1: k-NN balanced accuracy of each PCI layer."""
    pci = supptable1[supptable1["family"] == "pci"]
    return pd.DataFrame({"layer": pci["layer"], f"balanced_accuracy_k{k}": pci[f"k{k}"]}).reset_index(drop=True)


@dataclass(frozen=True)
class ClassifierTableSettings:
    """How ``classifier_table`` scores: the classifier settings (each row sets its own model),
    the folds, and the k at which ``supptable1`` picks each family's best layer."""

    classifier: ClassifierSettings
    folds: int
    k: int = 11


def classifier_table(
    manifest: pd.DataFrame,
    supptable1: pd.DataFrame,
    labels: pd.Series,
    cells: pd.DataFrame,
    settings: ClassifierTableSettings,
    note: str = "",
) -> pd.DataFrame:
    """``supptable2``: CV balanced accuracy of both classifiers on each family's best layer,
    with stratified folds (the paper) and folds grouped by image (no protein in both). Cells
    without a label take no part, and only their rows are read (checked against the store
    indices of ``cells``, the cell table in store order); ``note`` says which cells (its
    ``cells`` column). Sets not run in ``supptable1`` (the ``PAPER_ONLY`` rows too) are rows
    marked not run with their ``reason``."""
    from pcinpaint.benchmarks.classify import cross_validate

    folds, k = settings.folds, settings.k
    keep = labels.notna().to_numpy()
    y = labels[keep].astype(str).to_numpy()
    groups = cells["image_id"].to_numpy()[keep]
    rows = []
    best = best_layers(supptable1, k)
    paths = manifest.set_index("name")["path"]
    for name in best["feature_set"]:
        x = read_cell_rows(paths[name], keep, cells["store_index"].to_numpy())
        for model in ("logreg", "forest"):
            for split, g in (("stratified", None), ("grouped by image", groups)):
                row = {"feature_set": name, "model": model, "folds": split}
                try:
                    r = cross_validate(x, y, replace(settings.classifier, model=model), groups=g, folds=folds)
                except ValueError as exc:  # too few classes with enough cells (or images) for the folds
                    rows.append(row | {"balanced_accuracy": "", "cells": note, "note": str(exc)})
                    continue
                rows.append(
                    row
                    | {
                        "balanced_accuracy": round(r["balanced_accuracy"], 4),
                        "sd": round(r["sd"], 4),
                        "n_cells": r["n_cells"],
                        "cells": note,
                        "n_classes": r["n_classes"],
                        "note": f"{r['n_dropped']} cells of classes with fewer than {folds} "
                        f"{'images' if g is not None else 'cells'} left out"
                        if r["n_dropped"]
                        else "",
                    }
                )
    rows += [
        {"feature_set": name, "model": "", "folds": "", "balanced_accuracy": NOT_RUN, "reason": reason}
        for name, reason in not_run_sets(supptable1).items()
    ]
    columns = [
        "feature_set",
        "model",
        "folds",
        "balanced_accuracy",
        "sd",
        "n_cells",
        "cells",
        "n_classes",
        "reason",
        "note",
    ]
    # blank, not NaN (and counts not printed as floats), where a set did not run
    return pd.DataFrame(rows, columns=columns).astype({"n_cells": "Int64", "n_classes": "Int64"})


def pairwise_sets(supptable1: pd.DataFrame, k: int = 11) -> list[str]:
    """Sets compared by pairwise distances: PCI conv3 and conv4 (the paper's Fig 2B), and the
    best layer of every other family."""
    names = [n for n in PAIRWISE_PCI if n in set(supptable1.loc[supptable1["status"] == "ran", "feature_set"])]
    others = best_layers(supptable1, k)
    return names + [n for n, f in zip(others["feature_set"], others["family"]) if f != "pci"]


#: Fig 2B's PCI layers, compared on every dataset
PAIRWISE_PCI = ("pci_conv3", "pci_conv4")


def image_level_candidates(manifest: pd.DataFrame, layers: dict) -> list[str]:
    """Sets the pairwise score compares on a dataset labelled per image (the paper's human
    protocol, where no classification on image-level labels may choose a layer): PCI conv3 and
    conv4; for each layered family named in ``layers`` its fixed layer, or every layer when the
    value is ``best`` (``best_by_pairwise`` then keeps the best); every set without layers
    (classic, raw, imported). Layered families not named are left out (the paper's human VGG16
    baseline is the yeast-established ``protein`` strategy only)."""
    ran = cell_sets(manifest)
    ran = ran[ran["status"] == "ran"]
    names = [n for n in PAIRWISE_PCI if n in set(ran["name"])]
    for name, family, layer in zip(ran["name"], ran["family"], ran["layer"]):
        if family == "pci":
            continue
        if family not in LAYERED:
            names.append(name)
        elif family in layers and layers[family] in ("best", layer):
            names.append(name)
    return names


def best_by_pairwise(scores: pd.DataFrame, manifest: pd.DataFrame, layers: dict) -> pd.DataFrame:
    """``scores`` with a ``chosen`` column: of each family whose layer is ``best``, only the set
    with the lowest overall score (the most separated terms) is chosen; all others are."""
    family = manifest.set_index("name")["family"]
    overall = scores[scores["term"] == "overall"].set_index("feature_set")["score"].astype(float)
    chosen = set(scores["feature_set"])
    for fam, layer in layers.items():
        if layer != "best":
            continue
        members = [n for n in overall.dropna().index if family.get(n) == fam]
        if len(members) > 1:
            best = overall[members].idxmin()
            chosen -= set(members) - {best}
            log.info("%s: layer chosen by the pairwise score: %s (%.3f)", fam, best, overall[best])
    return scores.assign(chosen=scores["feature_set"].isin(chosen))


def pairwise_tables(
    manifest: pd.DataFrame,
    sets: list[str],
    cells: pd.DataFrame,
    terms: pd.Series,
    fig2b_draws: PairDraws,
    table2_draws: PairDraws,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``fig2b`` (score per term and overall, per feature set) and ``table2`` (cell-line control),
    each from its own draws (``benchmarks.pairwise_pairs`` and ``benchmarks.cell_line_pairs`` pairs)."""
    from pcinpaint.benchmarks.pairwise import cell_line_scores, pairwise_scores

    paths = manifest.set_index("name")["path"]
    in_terms = cells["image_id"].isin(terms.index).to_numpy()
    scores, lines = [], []
    has_lines = "cell_line" in cells.columns and cells["cell_line"].nunique() > 1
    image_lines = cells.groupby("image_id")["cell_line"].first() if has_lines else None
    ids = cells["image_id"].to_numpy()[in_terms]
    if terms.nunique() < 2:  # no term to compare with another
        log.warning("fewer than two localization terms qualify; no pairwise scores")
        sets = []
    for name in sets:
        # the cells of the drawn images only, z-scored over every cell in the terms
        x = FeatureRows(FeatureFile(paths[name], cells["store_index"].to_numpy()), np.flatnonzero(in_terms))
        scores.append(pairwise_scores(x, ids, terms, fig2b_draws).assign(feature_set=name))
        if has_lines:
            lines.append(
                cell_line_scores(x, ids, image_lines[terms.index], terms, table2_draws).assign(feature_set=name)
            )
    fig2b = pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(columns=["feature_set", "term", "score"])
    table2 = (
        pd.concat(lines, ignore_index=True) if lines else pd.DataFrame(columns=["feature_set", "comparison", "score"])
    )
    return fig2b, table2


def read_manifest(path: str | Path) -> pd.DataFrame:
    table = read_table(path)
    for col in ("n_rows", "n_features"):
        table[col] = pd.to_numeric(table[col])
    return table.fillna({"layer": "", "reason": ""})


def umap_embedding(features: np.ndarray, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    """2-D UMAP (umap-learn, Euclidean, seeded so reruns draw the same map) of z-scored features."""
    import umap

    from pcinpaint.features.matrix import zscore

    x = zscore(features)
    if len(x) < 3 or x.shape[1] == 0:
        raise NotRun(f"{len(x)} profile(s) with {x.shape[1]} varying feature(s); a map needs 3 or more that differ")
    n_neighbors = max(2, min(int(n_neighbors), len(x) - 1))
    # the spectral start needs more points than its eigenvectors (a handful of proteins has not)
    init = "spectral" if len(x) > 10 else "random"
    return umap.UMAP(
        n_neighbors=n_neighbors, min_dist=min_dist, metric="euclidean", init=init, random_state=seed
    ).fit_transform(x)


def protein_means(meta: pd.DataFrame, features: np.ndarray, labels: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    """Per protein (pooling images and cell lines): its mean feature vector and its most common label."""
    from pcinpaint.features.matrix import group_means

    proteins = meta["protein"].astype(str).to_numpy()
    names, _, means = group_means(proteins, features)
    label = (
        pd.Series(labels.to_numpy(), index=proteins)
        .groupby(level=0)
        .agg(lambda s: s.mode().iloc[0] if s.notna().any() else None)
    )
    return pd.DataFrame({"protein": names, "label": label.reindex(names).to_numpy()}), means.astype(np.float32)
