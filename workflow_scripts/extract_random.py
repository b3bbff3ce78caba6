"""Rule extract_random: the same encoder with seeded, untrained weights (the control)."""

import torch

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.encoder import encoder_features, random_encoder, write_layer_tables
from pcinpaint.io import read_table
from pcinpaint.model.devices import select_device
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp, out = snakemake.input, snakemake.output
    torch.set_num_threads(snakemake.threads)
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)
    encoder = random_encoder(len(cfg.channels), snakemake.params.width, snakemake.params.seed)
    store = open_crop_store(inp.store)
    layers = encoder_features(
        encoder,
        store,
        select_device(cfg.model["device"]),
        cfg.features["batch_size"],
        cfg.model["precision"],
        progress=True,
    )
    write_layer_tables(read_table(inp.cells), layers, dict(out.items()), "random")
