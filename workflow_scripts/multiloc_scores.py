"""Rule multiloc_scores: per cell, how far it sits between two compartments (fig5), and per
image the mean and spread of that score (Supp Data 2)."""

from pathlib import Path

import pandas as pd

from pcinpaint.exploratory import multiloc
from pcinpaint.exploratory.analysed import image_annotations, load_analysed
from pcinpaint.figures.multiloc import fig5
from pcinpaint.io import write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    ex = params.ds["exploratory"]
    name, meta, x, cells, terms = load_analysed(
        inp.tables, inp.cells, params.ds, params.labelled, inp.get("supptable1")
    )
    images = image_annotations(cells, meta, params.ds["benchmarks"], terms)
    folder = Path(out.figures)
    folder.mkdir(parents=True, exist_ok=True)
    scores = []
    for a, b in ex["multiloc"]["pairs"]:
        try:
            pair = multiloc.pair_scores(x, meta, images, a, b)
        except ValueError as exc:
            log.warning("pair %s / %s skipped: %s", a, b, exc)
            continue
        stem = f"{a}_vs_{b}".replace(" ", "-")
        fig5(pair, None, folder / f"{stem}.png", folder / f"{stem}.pdf", title=f"{name}: {a} vs {b}", seed=params.seed)
        scores.append(pair)
        log.info("%s vs %s: %s cells per group", a, b, pair["group"].value_counts().to_dict())
    scores = pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(columns=["pair", "group", "score"])
    write_table(scores, out.scores)
    summary = multiloc.image_summary(scores) if len(scores) else pd.DataFrame()
    if len(summary):
        top = multiloc.top_variable(summary, ex["multiloc"]["top"])
        summary["top_variable"] = summary["image_id"].isin(top["image_id"])
    write_table(summary, out.suppdata2)
