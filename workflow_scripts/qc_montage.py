"""Rule qc_montage: random crops of the store, coloured by channel."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import numpy as np  # noqa: E402

from pcinpaint.figures.common import save_figure  # noqa: E402
from pcinpaint.figures.qc import crop_montage  # noqa: E402
from pcinpaint.io import read_crops, read_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]):  # noqa: F821
    ds, wc = snakemake.params.dataset, snakemake.wildcards  # noqa: F821
    cells = read_table(snakemake.input.cells)  # noqa: F821
    rng = np.random.default_rng(snakemake.params.seed)  # noqa: F821
    pick = np.sort(rng.choice(len(cells), size=min(48, len(cells)), replace=False))
    crops = read_crops(snakemake.input.store, cells["store_index"].to_numpy()[pick])  # noqa: F821
    roles = [c["role"] for c in ds["channels"]]
    fig = crop_montage(crops, cells.iloc[pick], roles, f"{wc.dataset}: {len(pick)} random crops of {len(cells)}")
    save_figure(fig, snakemake.output.png)  # noqa: F821
