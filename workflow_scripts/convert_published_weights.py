"""Rule convert_published_weights: the paper's trained Keras model as this workflow's model file."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.keras_weights import save_published  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    user = snakemake.params.user  # noqa: F821
    channels = [c["name"] for c in user["channels"]]
    roles = [c["role"] for c in user["channels"]]
    _, spec = save_published(snakemake.input.weights, snakemake.output.model, snakemake.wildcards.published,  # noqa: F821
                             channels, roles)
    log.info("converted %s (width %.3g) for channels %s", snakemake.input.weights, spec.width, channels)  # noqa: F821
