"""Rule loss_curve: the training loss per epoch (paired cell inpainting or the autoencoder)."""

import pandas as pd

from pcinpaint.figures.common import save_figure
from pcinpaint.figures.training import loss_curve
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    history = pd.read_csv(snakemake.input.history, sep="\t")
    wc = snakemake.wildcards
    what = {"pci": "paired cell inpainting", "autoencoder": "autoencoder baseline"}[wc.network]
    fig = loss_curve(
        history,
        f"{wc.dataset}: {what} training",
        "target protein" if wc.network == "pci" else "source cell, all channels",
    )
    save_figure(fig, snakemake.output.png)
