"""Rule extract_random: the same encoder with seeded, untrained weights (the control)."""

import torch

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.encoder import extract_layer_tables, random_encoder
from pcinpaint.io import read_table
from pcinpaint.model.devices import select_device
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp, out = snakemake.input, snakemake.output
    torch.set_num_threads(snakemake.threads)
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)
    encoder = random_encoder(len(cfg.channels), snakemake.params.width, snakemake.params.seed)
    extract_layer_tables(
        encoder,
        open_crop_store(inp.store, memory_limit=None),  # read in store order, batch by batch
        read_table(inp.cells),
        dict(out.items()),
        "random",
        select_device(cfg.model["device"]),
        cfg.features["batch_size"],
        cfg.model["precision"],
        progress=True,
    )
