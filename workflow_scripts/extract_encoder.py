"""Rules extract_pci and extract_autoencoder: per-layer features of every cell from a trained
network's source cell encoder."""

import torch

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.encoder import encoder_features, write_layer_tables
from pcinpaint.io import read_table
from pcinpaint.model.devices import select_device
from pcinpaint.model.train import check_layout, load_model
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out = snakemake.input, snakemake.output
    torch.set_num_threads(snakemake.threads)
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)
    device = select_device(cfg.model["device"])
    model, state = load_model(inp.model, device)
    check_layout(state["config"]["roles"], cfg.roles, inp.model, cfg.name)
    store = open_crop_store(inp.store)
    layers = encoder_features(
        model.source, store, device, cfg.features["batch_size"], cfg.model["precision"], progress=True
    )
    write_layer_tables(read_table(inp.cells), layers, dict(out.items()), snakemake.params.prefix)
    log.info("%d cells, layers %s", len(store), {k: v.shape[1] for k, v in layers.items()})
