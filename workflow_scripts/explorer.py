"""Rule explorer: the dataset's interactive explorer page (maps of the analysed layer, crops on
hover, protein search with its nearest proteins, selections exported as CSV), one HTML file."""

import numpy as np
import pandas as pd

from pcinpaint.benchmarks.comparisons import dataset_labels
from pcinpaint.exploratory.analysed import load_analysed
from pcinpaint.exploratory.explorer import MapSettings, explorer_data
from pcinpaint.figures.explorer import page, thumbnails
from pcinpaint.figures.notrun import outputs_not_run, reason
from pcinpaint.io import atomic_path, read_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log, outputs_not_run(snakemake.output, snakemake.wildcards.dataset):
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    ds = dataset_params(snakemake)
    bench, ex = ds["benchmarks"], ds["explorer"]
    loaded = load_analysed(inp.tables, inp.cells, ds, params.labelled, inp.get("supptable1"))
    cells = loaded[3]
    labels = (
        dataset_labels(cells, {**bench, "label_mode": "combined"})
        if params.labelled
        else pd.Series(pd.NA, index=cells.index, dtype=object)
    )
    settings = MapSettings(
        max_cells=ex["max_cells"],
        neighbours=ex["neighbours"],
        min_cells=ds["exploratory"]["min_cells"],
        cell_umap=bench["umap_cells"],
        protein_umap=bench["umap_proteins"],
        sample_seed=params.sample_seed,
        seed=params.seed,
    )
    clusters = read_table(inp.clusters)
    if reason(clusters) is not None:  # Fig 4 not run: the points are not coloured by cluster
        log.warning("no clusters: %s", reason(clusters))
        clusters = pd.DataFrame({"protein": [], "cluster": []})
    data = explorer_data(loaded, labels, clusters, inp.get("multiloc"), settings)
    roles = [c["role"] for c in ds["channels"]]
    size = ex["thumbnail_size"]
    store = inp.get("store")
    cell_thumbs = protein_thumbs = None
    if store:  # each crop once: most proteins show one of the drawn cells
        wanted = np.union1d(data.cells["store_index"], data.proteins["store_index"].astype("int64"))
        by_index = dict(zip(wanted.tolist(), thumbnails(store, wanted, roles, size)))
        cell_thumbs = [by_index[i] for i in data.cells["store_index"].tolist()]
        protein_thumbs = [by_index[i] for i in data.proteins["store_index"].astype("int64").tolist()]
    title = f"{snakemake.wildcards.dataset}: {data.feature_set}"
    with atomic_path(out.html) as tmp:
        tmp.write_text(page(data, title, cell_thumbs, protein_thumbs, size), encoding="utf-8")
    for what, reason in data.not_run.items():
        log.warning("%s map: not drawn: %s", what, reason)
    log.info("%s cells and %d proteins of %s", data.note, len(data.proteins), data.feature_set)
