"""On a simulated screen, the exploratory results against the known truth (the rule
``exploratory_truth``): protein clusters vs true compartments, each large cluster's top GO term
vs its compartment, the multi-localization score vs the simulated mixing, the single-cell
trees vs the sub-populations, and "localize like X" vs the query's class; each check with the
goal the demo is held to."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcinpaint.exploratory.analysed import single_term


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


def truth_checks(
    cells: pd.DataFrame,
    terms: pd.Series,
    tables: dict[str, pd.DataFrame],
    class_names: dict,
    exploratory: dict,
) -> pd.DataFrame:
    """One row per check (check, value, goal, n, detail). ``tables``: ``clusters``, ``top``
    (table3's top terms), ``scores`` (multi-localization), ``branches`` (Fig 6) and ``likes``
    (a list of localize_like tables), each one that ran (the rule checks they are not "not
    run" tables); ``class_names``: compartment class -> its GO term name."""
    alpha = exploratory["go"]["alpha"]
    clusters = tables["clusters"].copy()
    clusters["cluster"] = clusters["cluster"].astype(int)
    ari, n = cluster_agreement(clusters, terms)
    rows = [dict(check="protein clusters vs true compartments (ARI)", value=ari, goal=">= 0.5", n=n)]
    top = tables["top"]
    top = top[~top["cluster"].astype(str).str.contains(".", regex=False)].copy()  # clusters, not sub-clusters
    if len(top):
        top["cluster"] = top["cluster"].astype(int)
        top["fdr"] = top["fdr"].astype(float)
    agree = enrichment_agreement(clusters, top, terms, class_names, alpha=alpha)
    rows.append(
        dict(
            check="large clusters whose top GO term is their true compartment (FDR < alpha)",
            value=agree["agrees"].mean() if len(agree) else float("nan"),
            goal="1.0",
            n=len(agree),
            detail="; ".join(f"{r.cluster}:{r.majority}->{r.top_term}" for r in agree.itertuples()),
        )
    )
    found = agree[agree["fdr"] < alpha]
    rows.append(
        dict(
            check="of those with an enriched term: top term is their true compartment",
            value=found["agrees"].mean() if len(found) else float("nan"),
            goal="1.0",
            n=len(found),
        )
    )
    scores = tables["scores"]
    if len(scores):
        scores = scores.assign(score=scores["score"].astype(float))
        for a, b in exploratory["multiloc"]["pairs"]:
            rho, m = mixing_correlation(scores[scores["pair"] == f"{a}+{b}"], cells, a, b)
            rows.append(dict(check=f"Spearman(score, share of {b}) on {a}+{b} cells", value=rho, goal=">= 0.6", n=m))
    branches = tables["branches"]
    if len(branches):
        ari = branches["ari_two_branches"].astype(float)
        rows.append(
            dict(
                check="variable proteins: two-branch cut vs sub-populations (mean ARI)",
                value=ari.mean(),
                goal="> 0",
                n=len(branches),
                detail="; ".join(f"{p}:{v:.2f}" for p, v in zip(branches["protein"], ari)),
            )
        )
    for like in tables.get("likes", []):
        agree = neighbour_agreement(like, terms)
        rows.append(
            dict(
                check="localize like X: the query's class among its tree-nearest proteins (R-precision)",
                value=agree["r_precision"],
                goal="> 0.5",
                n=agree["queries"],
                detail=f"nearest of its class: {agree['nearest']:.2f}; of {agree['n']} neighbours listed, "
                f"{agree['shares_term']:.2f} share a compartment with the query",
            )
        )
    return pd.DataFrame(rows, columns=["check", "value", "goal", "n", "detail"])
