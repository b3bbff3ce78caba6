"""Rule qc_montage: random crops of the store, coloured by channel."""

import numpy as np

from pcinpaint.crops.store import read_crops
from pcinpaint.figures.common import save_figure
from pcinpaint.figures.qc import crop_montage
from pcinpaint.io import read_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    ds, wc = snakemake.params.dataset, snakemake.wildcards
    cells = read_table(snakemake.input.cells)
    rng = np.random.default_rng(snakemake.params.seed)
    pick = np.sort(rng.choice(len(cells), size=min(48, len(cells)), replace=False))
    crops = read_crops(snakemake.input.store, cells["store_index"].to_numpy()[pick])
    roles = [c["role"] for c in ds["channels"]]
    fig = crop_montage(crops, cells.iloc[pick], roles, f"{wc.dataset}: {len(pick)} random crops of {len(cells)}")
    save_figure(fig, snakemake.output.png)
