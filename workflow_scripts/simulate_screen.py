"""Rule simulate_screen: write a simulated screen (fields, sample sheet, ground truth)."""

from pathlib import Path

from pcinpaint.inputs.simulate import write_screen
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    ds = snakemake.params.dataset
    outdir = Path(snakemake.output.sheet).parent
    paths = write_screen(ds["simulate"], outdir, snakemake.params.seed, [c["name"] for c in ds["channels"]])
    log.info("wrote %s", {k: str(v) for k, v in paths.items()})
