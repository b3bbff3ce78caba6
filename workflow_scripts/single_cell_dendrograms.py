"""Rule single_cell_dendrograms: the single cells of spatially variable proteins clustered, with
crops at representative branches (fig6)."""

from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.crops.store import open_crop_store
from pcinpaint.exploratory import multiloc
from pcinpaint.exploratory.analysed import load_analysed
from pcinpaint.features.matrix import Moments
from pcinpaint.figures.multiloc import fig6
from pcinpaint.figures.notrun import outputs_not_run
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

MAX_CELLS = 400  # a dendrogram with more leaves is unreadable; cells are subsampled (seeded)

with rule_log(snakemake.log[0]) as log, outputs_not_run(snakemake.output):
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    ex = params.ds["exploratory"]
    name, meta, x, cells, _ = load_analysed(inp.tables, inp.cells, params.ds, False, inp.get("supptable1"))
    proteins = ex["variable_proteins"]
    if proteins is None:  # simulated: the proteins built with two sub-populations
        truth = read_table(inp.truth)
        proteins = list(truth.loc[truth["kind"] == "variable", "protein"])
    # screen-wide scaling (one pass over the table): within one protein, flat features would
    # weigh as much as telling ones; then only the chosen proteins' cells are read
    stats = Moments.of(x)
    store = open_crop_store(inp.store, memory_limit=None)  # a few crops per protein: read only those
    folder = Path(out.figures)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(params.seed)
    rows = []
    for protein in proteins:
        mine = np.flatnonzero(meta["protein"].astype(str).to_numpy() == protein)
        if len(mine) < ex["n_branches"]:
            log.warning("%s: %d cells, fewer than n_branches=%d; skipped", protein, len(mine), ex["n_branches"])
            continue
        if len(mine) > MAX_CELLS:
            mine = np.sort(rng.choice(mine, MAX_CELLS, replace=False))
        z = stats.transform(x.read(mine))
        tree = multiloc.single_cell_tree(z)
        reps = multiloc.representative_cells(tree, z, ex["n_branches"])
        sub = meta["subpopulation"].to_numpy()[mine] if "subpopulation" in meta.columns else None
        crops = store.raw(meta["store_index"].to_numpy()[mine])
        fig6(
            tree,
            crops,
            reps,
            params.roles,
            folder / f"{protein}.png",
            folder / f"{protein}.pdf",
            title=f"{protein} ({len(mine)} cells, {name})",
            truth=sub,
        )
        ari = multiloc.branch_purity(multiloc.cut_tree(tree, 2), sub) if sub is not None else np.nan
        rows.append(dict(protein=protein, n_cells=len(mine), n_branches=ex["n_branches"], ari_two_branches=ari))
        log.info("%s: %d cells; two-branch agreement with sub-populations (ARI) %s", protein, len(mine), ari)
    write_table(pd.DataFrame(rows, columns=["protein", "n_cells", "n_branches", "ari_two_branches"]), out.branches)
