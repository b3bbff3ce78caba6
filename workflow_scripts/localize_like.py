"""Rule localize_like: for each query protein, the proteins nearest to it in the clustering tree
and in feature space, with their annotations and example crops."""

import pandas as pd

from pcinpaint.config import check_queries
from pcinpaint.crops.store import open_crop_store
from pcinpaint.exploratory import clustering
from pcinpaint.exploratory.analysed import load_analysed
from pcinpaint.exploratory.neighbours import nearest_proteins
from pcinpaint.figures.clustering import ExampleSettings, cluster_examples_figure
from pcinpaint.figures.common import FigureOutput
from pcinpaint.figures.notrun import outputs_not_run
from pcinpaint.io import write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log, outputs_not_run(snakemake.output):
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    ds = dataset_params(snakemake)
    ex = ds["exploratory"]
    name, meta, x, cells, terms = load_analysed(inp.tables, inp.cells, ds, params.labelled, inp.get("supptable1"))
    profiles, matrix = clustering.protein_profiles(meta, x, "protein", ex["min_cells"])
    # a protein of the sheet may have too few cells to be profiled: one line, not a traceback
    check_queries(
        ex["queries"],
        profiles.index,
        f"datasets.{snakemake.wildcards.dataset}.exploratory.queries",
        f"{name} with exploratory.min_cells ({ex['min_cells']}) cells or more",
    )
    linkage = clustering.cluster(matrix, ex["linkage"], ex["metric"])  # Fig 4's tree
    n = min(ex["query_neighbours"], len(profiles) - 1)
    tables = [nearest_proteins(profiles.index, matrix, linkage, q, n, terms) for q in ex["queries"]]
    table = pd.concat(tables, ignore_index=True).assign(feature_set=name)
    write_table(table, out.table)
    for query, rows in table.groupby("query", sort=False):
        near = rows[rows["tree_rank"].notna()]
        log.info(
            "%s (%s): %d tree neighbours, terms %s",
            query,
            terms.get(query, "unannotated"),
            len(near),
            near["terms"].value_counts().head(5).to_dict(),
        )
    # example rows: each query, then its tree neighbours
    groups = []
    for query, rows in table.groupby("query", sort=False):
        groups.append(pd.DataFrame({"protein": [query], "cluster": query}))
        near = rows.loc[rows["tree_rank"].notna(), "protein"]
        groups.append(pd.DataFrame({"protein": near, "cluster": f"like {query}"}))
    examples = pd.concat(groups, ignore_index=True)
    cluster_examples_figure(
        open_crop_store(inp.store, memory_limit=None),  # a few example crops: read only those
        meta,
        examples,
        FigureOutput(
            out.png,
            title=f"{snakemake.wildcards.dataset}: proteins that localize like {', '.join(ex['queries'])} ({name})",
        ),
        ExampleSettings(seed=params.seed, clusters=list(dict.fromkeys(examples["cluster"]))),
    )
