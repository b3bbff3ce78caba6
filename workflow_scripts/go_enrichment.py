"""Rule go_enrichment: GO terms enriched in each protein cluster (table3), offline with goatools."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint import enrichment  # noqa: E402
from pcinpaint.io import read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    inp, out, go = snakemake.input, snakemake.output, snakemake.params.go  # noqa: F821
    godag = enrichment.read_ontology(inp.ontology)
    associations = enrichment.read_associations(inp.associations, go["layout"], go["namespace"], godag=godag)
    clusters = read_table(inp.clusters)
    table = enrichment.cluster_enrichment(clusters[["protein", "cluster"]], associations, godag, alpha=go["alpha"],
                                          min_cluster_size=go["min_cluster_size"], namespace=go["namespace"])
    write_table(table, out.table)
    write_table(enrichment.top_terms(table), out.top)
    log.info("%d enriched (cluster, term) rows at FDR < %s over %d clusters", len(table), go["alpha"],
             clusters["cluster"].nunique())
