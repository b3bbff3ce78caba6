"""Rule download_go: fetch a GO file (ontology or gene-to-GO associations) named by URL in the config."""

from pcinpaint.exploratory.go_files import fetch
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    size = fetch(snakemake.params.url, snakemake.output.path)
    log.info("%s: %d bytes from %s", snakemake.output.path, size, snakemake.params.url)
