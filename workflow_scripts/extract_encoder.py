"""Rules extract_pci and extract_autoencoder: per-layer features of every cell from a trained
network's source cell encoder."""

import torch

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.encoder import extract_layer_tables
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
    # batches are read in store order: no need to hold the store in memory
    store = open_crop_store(inp.store, memory_limit=None)
    sizes = extract_layer_tables(
        model.source,
        store,
        read_table(inp.cells),
        dict(out.items()),
        snakemake.params.prefix,
        device,
        cfg.features["batch_size"],
        cfg.model["precision"],
        progress=True,
    )
    log.info("%d cells, layers %s", len(store), sizes)
