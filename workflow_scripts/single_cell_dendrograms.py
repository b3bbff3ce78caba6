"""Rule single_cell_dendrograms: the single cells of spatially variable proteins clustered, with
crops at representative branches (fig6; without crops where the dataset is a feature table)."""

import numpy as np

from pcinpaint.exploratory.analysed import load_analysed
from pcinpaint.figures.clustering import example_store
from pcinpaint.figures.multiloc import Fig6Settings, FigureFolder, fig6_per_protein
from pcinpaint.figures.notrun import outputs_not_run
from pcinpaint.io import read_table, write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log, outputs_not_run(snakemake.output):
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    ds = dataset_params(snakemake)
    ex = ds["exploratory"]
    name, meta, x, cells, _ = load_analysed(inp.tables, inp.cells, ds, False, inp.get("supptable1"))
    proteins = ex["variable_proteins"]
    if proteins is None:  # simulated: the proteins built with two sub-populations
        truth = read_table(inp.truth)
        proteins = list(truth.loc[truth["kind"] == "variable", "protein"])
    store = example_store(inp.get("store"))  # a few crops per protein; None for a feature table
    branches = fig6_per_protein(
        proteins,
        meta,
        x,
        store.raw if store is not None else None,
        Fig6Settings(
            [c["role"] for c in ds.get("channels") or []], ex["n_branches"], np.random.default_rng(params.seed)
        ),
        FigureFolder(out.figures, feature_set=name, log=log),
    )
    write_table(branches, out.branches)
