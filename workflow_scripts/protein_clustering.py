"""Rule protein_clustering: proteins' mean features, z-scored and clustered (fig4, clusters.tsv)."""

from pcinpaint.exploratory import clustering
from pcinpaint.exploratory.analysed import default_n_clusters, load_analysed
from pcinpaint.figures.clustering import HeatmapRows, heatmap_figure
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
    profiles, matrix = clustering.protein_profiles(meta, x, ex["level"], ex["min_cells"])
    linkage = clustering.cluster(matrix, ex["linkage"], ex["metric"])
    n = None if ex["height"] else min(ex["n_clusters"] or default_n_clusters(terms), len(profiles))
    clusters = clustering.cut(linkage, n_clusters=n, height=ex["height"])
    sub = None
    if ex["n_subclusters"]:
        finer = clustering.cut(linkage, n_clusters=min(ex["n_subclusters"], len(profiles)))
        sub = clustering.subclusters(clusters, finer)
        if ex["n_subclusters"] <= clusters.max():
            log.warning(
                "exploratory.n_subclusters %d is not above the %d clusters: no sub-clusters",
                ex["n_subclusters"],
                clusters.max(),
            )
    order = clustering.leaf_order(linkage)
    table = clustering.memberships(profiles, clusters, order, sub)
    table["terms"] = table["protein"].map(terms)
    table["feature_set"] = name
    write_table(table, out.clusters)
    proteins = profiles["protein"] if "protein" in profiles.columns else profiles.index.to_series()
    heatmap_figure(
        matrix,
        linkage,
        order,
        HeatmapRows(clusters, labels=list(proteins.map(terms)), subclusters=sub),
        FigureOutput(
            out.png,
            out.pdf,
            f"{snakemake.wildcards.dataset}: {name}, {len(profiles)} "
            f"{ex['level']}s, {clusters.max()} clusters ({ex['linkage']})",
        ),
    )
    log.info("%s: %d %ss in %d clusters (%s linkage)", name, len(profiles), ex["level"], clusters.max(), ex["linkage"])
