"""Rule extract_vgg16: ImageNet VGG16 features, 13 conv layers x 3 input strategies, input scaled
as the weights expect (``baselines.vgg16_input``)."""

import torch

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.manifest import vgg16_name
from pcinpaint.features.table import stream_feature_tables
from pcinpaint.features.vgg16 import VGG16Settings, load_vgg16, rgb_mapping, table_sizes, vgg16_batches, vgg16_input
from pcinpaint.io import read_table
from pcinpaint.model.devices import select_device
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    ds = dataset_params(snakemake)
    vgg16_setting = ds["baselines"]["vgg16_input"]
    torch.set_num_threads(snakemake.threads)
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, params.dataset)
    rgb = rgb_mapping(cfg.roles, cfg.channels, ds["baselines"].get("vgg16_rgb") or None)
    # the weights' format, which is the input scaling: a setting naming the other one is refused
    scaling = vgg16_input(vgg16_setting, inp.weights)
    log.info(
        "VGG16 weights %s (%s format); input scaling %s (baselines.vgg16_input: %s); red, green, blue = %s",
        inp.weights,
        scaling,
        scaling,
        vgg16_setting,
        [cfg.channels[i] if i is not None else None for i in rgb],
    )
    store = open_crop_store(inp.store, memory_limit=None)  # read in store order, batch by batch
    batches = vgg16_batches(
        load_vgg16(inp.weights),
        store,
        VGG16Settings(
            rgb=rgb,
            protein=cfg.protein[0],
            device=select_device(ds["model"]["device"]),
            batch_size=cfg.features["batch_size"],
            precision=ds["model"]["precision"],
            progress=True,
            input_scaling=scaling,
        ),
    )
    # every table written as its rows come: memory does not grow with the cells
    tables = {
        (strategy, layer): (out[f"{strategy}_{layer}"], vgg16_name(strategy, layer), size)
        for (strategy, layer), size in table_sizes(store.shape[1]).items()
    }
    cells = read_table(inp.cells)
    stream_feature_tables(cells, batches, tables)
    log.info("%d cells, %d tables", len(cells), len(tables))
