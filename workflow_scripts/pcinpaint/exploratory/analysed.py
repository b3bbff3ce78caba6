"""What the exploratory stage needs from the rest of the workflow: which feature set it
analyses and each protein's annotation terms (the checks against a simulated screen's truth
are in ``truth``).

The analyses themselves live in ``clustering``, ``enrichment``, ``multiloc`` and ``dendrograms``;
this module only connects them to the config and the benchmark tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pcinpaint.benchmarks.comparisons import dataset_labels, label_columns, ranked_set
from pcinpaint.errors import NotRun
from pcinpaint.exploratory import enrichment
from pcinpaint.features.reading import FeatureFile, read_cells
from pcinpaint.io import read_table


def analysed_set(ds: dict, supptable1: pd.DataFrame | None) -> str:
    """The feature set the exploratory stage analyses: ``exploratory.feature_set``, else the
    layer ``ranked_set`` chooses (conv3 on datasets labelled per image, as the paper's human
    analyses; else the PCI layer ranked best by k=11 kNN; conv4 where nothing ranks them)."""
    return ranked_set(
        ds.get("exploratory", {}).get("feature_set"), ds.get("benchmarks", {}).get("label_level"), supptable1
    )


def protein_terms(cells: pd.DataFrame, bench: dict) -> pd.Series:
    """protein -> its sorted annotation terms joined by '+': the union of its cells' labels
    (the benchmarks' label source in combined mode), so a spatially variable protein whose
    cells sit in two compartments is annotated to both, as an image-level annotation is."""
    labels = dataset_labels(cells, {**bench, "label_mode": "combined"})
    table = pd.DataFrame({"protein": cells["protein"].astype(str).to_numpy(), "label": labels.to_numpy()}).dropna()
    terms = table.groupby("protein")["label"].agg(lambda s: "+".join(sorted({t for v in s for t in str(v).split("+")})))
    terms.index.name = "protein"
    return terms


def image_annotations(cells: pd.DataFrame, meta: pd.DataFrame, bench: dict, terms: pd.Series) -> pd.Series:
    """image_id -> its annotation terms, for Fig 5's "images annotated to localize to each
    compartment alone": with labels per image (the atlas) each image's own label (an antibody
    in a cell line can be annotated otherwise than its gene); else its protein's ``terms``."""
    images = meta.drop_duplicates("image_id").set_index("image_id")["protein"].astype(str)
    if bench.get("label_level") != "image":
        return images.map(terms).dropna()
    labels = dataset_labels(cells, {**bench, "label_mode": "combined"})
    own = pd.DataFrame({"image_id": cells["image_id"].astype(str).to_numpy(), "label": labels.to_numpy()}).dropna()
    per_image = own.groupby("image_id")["label"].agg(
        lambda s: "+".join(sorted({t for v in s for t in str(v).split("+")}))
    )
    return per_image.reindex(images.index.astype(str)).dropna()


def single_term(terms: pd.Series) -> pd.Series:
    """The proteins annotated to exactly one term, and that term."""
    return terms[~terms.str.contains("+", regex=False)]


def default_n_clusters(terms: pd.Series, fallback: int = 20) -> int:
    """The number of distinct single-compartment terms (the true number of compartments on a
    simulated screen), or ``fallback`` where there are fewer than two."""
    n = single_term(terms).nunique()
    return int(n) if n >= 2 else fallback


def subset_proteins(proteins, terms: pd.Series, chosen) -> list[str]:
    """Proteins (of ``proteins``) annotated only to terms in ``chosen`` (Supp Fig 4: vesicle-only)."""
    chosen = {t.lower() for t in chosen}
    keep = terms[terms.map(lambda t: set(t.lower().split("+")) <= chosen)]
    return [p for p in proteins if p in keep.index]


def subset_terms(chosen: dict, default_terms: pd.Series, proteins) -> pd.Series:
    """protein (of ``proteins``, the feature table's names) -> its '+'-joined terms, from the
    subset's own ``annotations`` table when given (Supp Fig 5 picks the proteins Weill et al.
    2018 call punctate, which the screen's benchmark labels need not be), else
    ``default_terms``. Names match case-insensitively, through the table's aliases (a Huh 2003
    table finds a screen named by gene or by ORF)."""
    table = chosen.get("annotations")
    if not table:
        return default_terms
    names = pd.Series([str(p) for p in proteins], dtype=object)
    labels = dataset_labels(pd.DataFrame({"protein": names}), {"label_from": "annotation", "annotations": table})
    terms = pd.Series(labels.to_numpy(), index=names.to_numpy(), name="label").dropna()
    terms.index.name = "protein"
    return terms


#: the reason a subset's GO table holds no enrichment: it needs both GO files
NO_GO_FILES = "no GO files configured (exploratory.go.ontology and exploratory.go.annotations)"


def subset_enrichment(clusters: pd.DataFrame, go: dict, ontology=None, associations=None) -> pd.DataFrame:
    """Each cluster's GO terms enriched at FDR < ``go["alpha"]`` against every protein of the
    subset (Supp Fig 5: "relative to all punctate proteins", not the whole screen), in table3's
    columns; NotRun with ``NO_GO_FILES`` without an ontology and a gene-to-GO file."""
    if not (ontology and associations):
        raise NotRun(NO_GO_FILES)
    return enrichment.enrich_clusters(clusters[["protein", "cluster"]], go, ontology, associations)


#: the analysed table's metadata columns the stage uses (the others are never read)
META_COLUMNS = ("cell_id", "store_index", "image_id", "protein", "cell_line", "antibody", "n_cells", "subpopulation")


def load_analysed(tables, cells_path, ds: dict, labelled: bool, supptable1=None):
    """(feature set name, its metadata, the table itself, cell table, protein terms) for the
    stage's rules, from the input files ``analysed_inputs`` lists. The table is a
    ``features.reading.FeatureFile``: the rules sum or read it one row group at a time, and read
    only the metadata columns in ``META_COLUMNS`` and the cell-table columns of the labels."""
    name = analysed_set(ds, read_table(supptable1) if supptable1 else None)
    path = next((t for t in tables if Path(t).name == f"{name}.parquet"), None)
    if path is None:
        raise ValueError(f"feature set '{name}' is not among the inputs {list(tables)}")
    features = FeatureFile(path)
    meta = features.metadata(META_COLUMNS)
    cells = read_cells(cells_path, [*label_columns(ds["benchmarks"]), "image_id"])
    terms = protein_terms(cells, ds["benchmarks"]) if labelled else pd.Series(dtype=str, name="label")
    return name, meta, features, cells, terms
