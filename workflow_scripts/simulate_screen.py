"""Rule simulate_screen: write a simulated screen (fields, sample sheet, ground truth)."""
import sys
from pathlib import Path

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821  (the library lives beside the scripts)
from pcinpaint.runlog import rule_log  # noqa: E402
from pcinpaint.simulate import write_screen  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    ds = snakemake.params.dataset  # noqa: F821
    outdir = Path(snakemake.output.sheet).parent  # noqa: F821
    paths = write_screen(ds["simulate"], outdir, snakemake.params.seed, [c["name"] for c in ds["channels"]])  # noqa: F821
    log.info("wrote %s", {k: str(v) for k, v in paths.items()})
