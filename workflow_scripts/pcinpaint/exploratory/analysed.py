"""What the exploratory stage needs from the rest of the workflow: which feature set it
analyses, each protein's annotation terms, and, on simulated screens, the checks against the
known truth (cluster agreement, enrichment, multi-localization score, sub-populations).

The analyses themselves live in ``clustering``, ``enrichment``, ``multiloc`` and ``dendrograms``;
this module only connects them to the config and the benchmark tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.benchmarks.comparisons import dataset_labels, label_columns, ranked_set
from pcinpaint.errors import NotRun
from pcinpaint.exploratory import enrichment
from pcinpaint.features.reading import FeatureFile, read_cells
from pcinpaint.inputs.annotations import aliases, protein_classes, read_annotations
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
    layout, key = table.get("layout") or "auto", table.get("key")
    reliability = table.get("reliability") or ("Validated", "Supported", "Approved")
    long = read_annotations(table["path"], layout, key, reliability, table.get("column"))
    classes = protein_classes(long.assign(protein=long["protein"].str.upper()))
    alias = {name: canonical.upper() for name, canonical in aliases(table["path"], layout, key).items()}
    names = pd.Series([str(p) for p in proteins], dtype=object)
    found = names.str.upper().map(lambda p: alias.get(p, p)).map(classes)
    terms = pd.Series(found.to_numpy(), index=names.to_numpy(), name="label").dropna()
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


# --------------------------------------------------------------------------------------------
# Checks against the simulator's truth
# --------------------------------------------------------------------------------------------


def cluster_agreement(clusters: pd.DataFrame, terms: pd.Series) -> tuple[float, int]:
    """Adjusted Rand index between protein clusters and true compartments, over single-term
    proteins; and how many proteins it was measured on."""
    from sklearn.metrics import adjusted_rand_score

    truth = single_term(terms)
    joined = clusters.set_index("protein").join(truth.rename("term"), how="inner")
    return float(adjusted_rand_score(joined["term"], joined["cluster"])), len(joined)


def enrichment_agreement(
    clusters: pd.DataFrame,
    top: pd.DataFrame,
    terms: pd.Series,
    term_names: dict,
    min_size: int = 3,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per large cluster: its majority true compartment, its top GO term and whether they agree
    at FDR < alpha. ``term_names`` maps a compartment class to its GO term name."""
    truth = single_term(terms)
    rows = []
    for cluster, members in clusters.groupby("cluster"):
        if len(members) < min_size:
            continue
        known = truth.reindex(members["protein"]).dropna()
        majority = known.mode().iloc[0] if len(known) else None
        hit = top[top["cluster"] == cluster]
        name = hit["name"].iloc[0] if len(hit) else None
        fdr = float(hit["fdr"].iloc[0]) if len(hit) else np.nan
        expected = term_names.get(majority) if majority else None
        rows.append(
            dict(
                cluster=cluster,
                size=len(members),
                majority=majority,
                top_term=name,
                fdr=fdr,
                agrees=bool(name is not None and name == expected and fdr < alpha),
            )
        )
    return pd.DataFrame(rows, columns=["cluster", "size", "majority", "top_term", "fdr", "agrees"])


def mixing_correlation(scores: pd.DataFrame, cells: pd.DataFrame, a: str, b: str) -> tuple[float, int]:
    """Spearman correlation between the A-vs-B score and the simulated share of B, over the
    A+B cells of multi-localized proteins (score = log d_A / d_B rises as a cell moves to B).

    The simulator's ``mixing_fraction`` is the share of the first class of the sorted pair name."""
    from scipy.stats import spearmanr

    mixed = scores[scores["group"] == f"{a}+{b}"].merge(
        cells[["cell_id", "true_class", "mixing_fraction"]], on="cell_id", how="left"
    )
    mixed = mixed[mixed["true_class"] == "+".join(sorted((a, b)))]
    if len(mixed) < 3:
        return np.nan, len(mixed)
    share_b = mixed["mixing_fraction"] if sorted((a, b))[0] == b else 1 - mixed["mixing_fraction"]
    return float(spearmanr(mixed["score"], share_b).statistic), len(mixed)


def neighbour_agreement(like: pd.DataFrame, terms: pd.Series) -> dict:
    """How often "localize like X" (``neighbours.nearest_proteins`` rows, any number of
    queries) finds proteins of the query's own true class, by tree rank:

    - ``r_precision``: of the R other proteins of the query's exact class (R capped at the
      neighbours listed), the share among its R nearest: 1.0 when they come first;
    - ``nearest``: the share of queries whose nearest protein is of its exact class;
    - ``shares_term``: the share of all listed neighbours with at least one of its compartments;

    averaged over ``queries`` (those whose class has another protein), over ``n`` neighbours."""
    ranked = like[pd.to_numeric(like["tree_rank"], errors="coerce").notna()].copy()
    ranked["tree_rank"] = ranked["tree_rank"].astype(int)
    own = ranked["query"].map(terms)
    theirs = ranked["protein"].map(terms)
    ranked["same"] = (own.to_numpy() == theirs.to_numpy()) & own.notna().to_numpy()
    ranked["overlap"] = [
        bool(set(str(a).split("+")) & set(str(b).split("+"))) if isinstance(a, str) and isinstance(b, str) else False
        for a, b in zip(own, theirs)
    ]
    class_size = terms.value_counts()
    precisions, nearest = [], []
    for query, rows in ranked.sort_values("tree_rank").groupby("query"):
        r = min(int(class_size.get(terms.get(query), 1)) - 1, len(rows))
        if r < 1:
            continue
        precisions.append(rows["same"].iloc[:r].mean())
        nearest.append(bool(rows["same"].iloc[0]))
    return dict(
        r_precision=float(np.mean(precisions)) if precisions else np.nan,
        nearest=float(np.mean(nearest)) if nearest else np.nan,
        shares_term=float(ranked["overlap"].mean()) if len(ranked) else np.nan,
        queries=len(precisions),
        n=len(ranked),
    )


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
