"""Rule loss_curve: the training loss per epoch (paired cell inpainting or the autoencoder)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import pandas as pd  # noqa: E402

from pcinpaint.figures.common import save_figure  # noqa: E402
from pcinpaint.figures.training import loss_curve  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]):  # noqa: F821
    history = pd.read_csv(snakemake.input.history, sep="\t")  # noqa: F821
    wc = snakemake.wildcards  # noqa: F821
    what = {"pci": "paired cell inpainting", "autoencoder": "autoencoder baseline"}[wc.network]
    fig = loss_curve(history, f"{wc.dataset}: {what} training",
                     "target protein" if wc.network == "pci" else "source cell, all channels")
    save_figure(fig, snakemake.output.png)  # noqa: F821
