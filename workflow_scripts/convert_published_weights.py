"""Rule convert_published_weights: the paper's trained Keras model as this workflow's model file."""

from pcinpaint.model.published import save_published
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    user = snakemake.params.user
    channels = [c["name"] for c in user["channels"]]
    roles = [c["role"] for c in user["channels"]]
    _, spec = save_published(
        snakemake.input.weights, snakemake.output.model, snakemake.wildcards.published, channels, roles
    )
    log.info("converted %s (width %.3g) for channels %s", snakemake.input.weights, spec.width, channels)
