"""Rule localize_like: for each query protein, the proteins nearest to it in the clustering tree
and in feature space, with their annotations and example crops (none where the dataset is a
feature table: the figure then lists the proteins)."""

from pcinpaint.config import check_queries
from pcinpaint.exploratory import clustering
from pcinpaint.exploratory.analysed import load_analysed
from pcinpaint.exploratory.neighbours import like_examples, localize_like
from pcinpaint.figures.clustering import ExampleSettings, cluster_examples_figure, example_store
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
    table = localize_like(profiles.index, matrix, linkage, ex["queries"], ex["query_neighbours"], terms)
    table = table.assign(feature_set=name)
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
    examples = like_examples(table)  # each query, then its tree neighbours
    cluster_examples_figure(
        example_store(inp.get("store")),  # None for a feature table: proteins listed, no crops
        meta,
        examples,
        FigureOutput(
            out.png,
            title=f"{snakemake.wildcards.dataset}: proteins that localize like {', '.join(ex['queries'])} ({name})",
        ),
        ExampleSettings(seed=params.seed, clusters=list(dict.fromkeys(examples["cluster"]))),
    )
