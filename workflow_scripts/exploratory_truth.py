"""Rule exploratory_truth: on a simulated screen, the exploratory results against the truth."""

import pandas as pd

from pcinpaint.exploratory.analysed import (
    cluster_agreement,
    enrichment_agreement,
    mixing_correlation,
    neighbour_agreement,
    protein_terms,
)
from pcinpaint.figures import notrun
from pcinpaint.figures.notrun import outputs_not_run
from pcinpaint.inputs.simulate import CLASS_TERMS
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log, outputs_not_run(snakemake.output):
    inp, out, ds = snakemake.input, snakemake.output, snakemake.params.ds
    cells = read_table(inp.cells)
    terms = protein_terms(cells, ds["benchmarks"])
    clusters = notrun.check(read_table(inp.clusters), "protein clustering")
    clusters["cluster"] = clusters["cluster"].astype(int)
    ari, n = cluster_agreement(clusters, terms)
    rows = [dict(check="protein clusters vs true compartments (ARI)", value=ari, goal=">= 0.5", n=n)]
    top = notrun.check(read_table(inp.top), "table3")
    top = top[~top["cluster"].astype(str).str.contains(".", regex=False)]  # clusters, not sub-clusters
    if len(top):
        top["cluster"] = top["cluster"].astype(int)
        top["fdr"] = top["fdr"].astype(float)
    names = {cls: term[1] for cls, term in CLASS_TERMS[ds["simulate"]["preset"]].items()}
    agree = enrichment_agreement(clusters, top, terms, names, alpha=ds["exploratory"]["go"]["alpha"])
    rows.append(
        dict(
            check="large clusters whose top GO term is their true compartment (FDR < alpha)",
            value=agree["agrees"].mean() if len(agree) else float("nan"),
            goal="1.0",
            n=len(agree),
            detail="; ".join(f"{r.cluster}:{r.majority}->{r.top_term}" for r in agree.itertuples()),
        )
    )
    found = agree[agree["fdr"] < ds["exploratory"]["go"]["alpha"]]
    rows.append(
        dict(
            check="of those with an enriched term: top term is their true compartment",
            value=found["agrees"].mean() if len(found) else float("nan"),
            goal="1.0",
            n=len(found),
        )
    )
    scores = read_table(inp.scores)
    if len(scores):
        scores["score"] = scores["score"].astype(float)
        for a, b in ds["exploratory"]["multiloc"]["pairs"]:
            rho, m = mixing_correlation(scores[scores["pair"] == f"{a}+{b}"], cells, a, b)
            rows.append(dict(check=f"Spearman(score, share of {b}) on {a}+{b} cells", value=rho, goal=">= 0.6", n=m))
    branches = notrun.check(read_table(inp.branches), "fig6")
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
    for path in inp.get("like", []):
        agree = neighbour_agreement(notrun.check(read_table(path), "localize_like"), terms)
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
    table = pd.DataFrame(rows, columns=["check", "value", "goal", "n", "detail"])
    write_table(table, out.table)
    for r in table.itertuples():
        log.info("%s: %s (goal %s, n=%s)", r.check, r.value, r.goal, r.n)
