"""Rule multiloc_scores: per cell, how far it sits between two compartments (fig5), and per
image the mean and spread of that score (Supp Data 2)."""

import pandas as pd

from pcinpaint.exploratory import multiloc
from pcinpaint.exploratory.analysed import image_annotations, load_analysed
from pcinpaint.figures.multiloc import FigureFolder, fig5_per_pair
from pcinpaint.io import write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    ds = dataset_params(snakemake)
    ex = ds["exploratory"]
    name, meta, x, cells, terms = load_analysed(inp.tables, inp.cells, ds, params.labelled, inp.get("supptable1"))
    images = image_annotations(cells, meta, ds["benchmarks"], terms)
    scores = fig5_per_pair(x, meta, images, ex["multiloc"]["pairs"], FigureFolder(out.figures, name, log), params.seed)
    write_table(scores, out.scores)
    summary = multiloc.image_summary(scores) if len(scores) else pd.DataFrame()
    if len(summary):
        top = multiloc.top_variable(summary, ex["multiloc"]["top"])
        summary["top_variable"] = summary["image_id"].isin(top["image_id"])
    write_table(summary, out.suppdata2)
