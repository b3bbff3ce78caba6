"""Rule subset_clustering: suppfig4 / suppfig5, the proteins of chosen terms (in the dataset's labels
or the subset's own annotation table) clustered on their features z-scored over all proteins, with
example crops per cluster (none where the dataset is a feature table) and, given GO files, each
cluster's GO terms enriched against the subset."""

from pcinpaint.errors import ConfigError
from pcinpaint.exploratory import clustering
from pcinpaint.exploratory.analysed import load_analysed, subset_enrichment, subset_proteins, subset_terms
from pcinpaint.exploratory.enrichment import top_terms
from pcinpaint.figures.clustering import (
    ExampleSettings,
    HeatmapRows,
    cluster_examples_figure,
    example_store,
    go_notes,
    heatmap_figure,
)
from pcinpaint.figures.common import FigureOutput
from pcinpaint.figures.notrun import outputs_not_run
from pcinpaint.io import write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log, outputs_not_run(snakemake.output):
    inp, out, params, wc = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
    ds = dataset_params(snakemake)
    ex = ds["exploratory"]
    chosen = ex[wc.subset]
    name, meta, x, cells, terms = load_analysed(inp.tables, inp.cells, ds, params.labelled, inp.get("supptable1"))
    profiles, matrix = clustering.protein_profiles(meta, x, "protein", ex["min_cells"])  # scaled on all proteins
    terms = subset_terms(chosen, terms, profiles.index)
    source = (chosen.get("annotations") or {}).get("path") or "the dataset's labels"
    keep = subset_proteins(profiles.index, terms, chosen["terms"])
    if len(keep) < 2:
        raise ConfigError(
            f"{wc.dataset}: exploratory.{wc.subset}.terms {chosen['terms']}: only {len(keep)} "
            f"protein(s) are annotated to these terms alone in {source}; need 2 or more"
        )
    rows = profiles.index.get_indexer(keep)
    profiles, matrix = profiles.iloc[rows], matrix[rows]
    linkage = clustering.cluster(matrix, ex["linkage"], ex["metric"])
    clusters = clustering.cut(linkage, n_clusters=min(chosen["n_clusters"], len(keep)))
    order = clustering.leaf_order(linkage)
    table = clustering.memberships(profiles, clusters, order).assign(feature_set=name)
    table["terms"] = table["protein"].map(terms)
    write_table(table, out.clusters)
    notes = {}
    with outputs_not_run([out.go]):  # without GO files only this table says so; the figures are drawn
        enriched = subset_enrichment(table, ex["go"], inp.get("ontology"), inp.get("associations"))
        write_table(enriched, out.go)
        notes = go_notes(top_terms(enriched))
    title = f"{wc.dataset}: {'/'.join(chosen['terms'])} proteins ({len(keep)}), {name}"
    heatmap_figure(
        matrix,
        linkage,
        order,
        HeatmapRows(clusters, labels=list(profiles.index.map(terms)), names=list(profiles.index)),
        FigureOutput(out.png, out.pdf, title),
    )
    cluster_examples_figure(
        example_store(inp.get("store")),  # None for a feature table: proteins listed, no crops
        meta,
        table,
        FigureOutput(out.examples, title=title),
        ExampleSettings(n_examples=chosen["n_examples"], seed=params.seed, notes=notes),
    )
    log.info("%s: %d proteins in %d clusters", wc.subset, len(keep), clusters.max())
