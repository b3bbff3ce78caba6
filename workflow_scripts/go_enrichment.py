"""Rule go_enrichment: GO terms enriched in each protein cluster and sub-cluster (table3), offline
with goatools."""

from pcinpaint.exploratory import enrichment
from pcinpaint.figures import notrun
from pcinpaint.figures.notrun import outputs_not_run
from pcinpaint.io import read_table, write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log, outputs_not_run(snakemake.output):
    inp, out = snakemake.input, snakemake.output
    go = dataset_params(snakemake)["exploratory"]["go"]
    clusters = notrun.check(read_table(inp.clusters), "protein clustering")
    table = enrichment.enrich_clusters(enrichment.two_levels(clusters), go, inp.ontology, inp.associations)
    write_table(table, out.table)
    write_table(enrichment.top_terms(table), out.top)
    log.info(
        "%d enriched (cluster, term) rows at FDR < %s over %d clusters",
        len(table),
        go["alpha"],
        clusters["cluster"].nunique(),
    )
