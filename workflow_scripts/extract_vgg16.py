"""Rule extract_vgg16: ImageNet VGG16 features, 13 conv layers x 3 input strategies."""

import torch

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.table import feature_table
from pcinpaint.features.vgg16 import load_vgg16, rgb_mapping, vgg16_features
from pcinpaint.io import read_table, write_table
from pcinpaint.model.devices import select_device
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    torch.set_num_threads(snakemake.threads)
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, params.dataset)
    rgb = rgb_mapping(cfg.roles, cfg.channels, params.rgb or None)
    log.info(
        "VGG16 weights %s; red, green, blue = %s",
        inp.weights,
        [cfg.channels[i] if i is not None else None for i in rgb],
    )
    features = vgg16_features(
        load_vgg16(inp.weights),
        open_crop_store(inp.store),
        rgb=rgb,
        protein=cfg.protein[0],
        device=select_device(params.device),
        batch_size=cfg.features["batch_size"],
        precision=params.precision,
        progress=True,
    )
    cells = read_table(inp.cells)
    for (strategy, layer), x in features.items():
        write_table(feature_table(cells, x, f"vgg16_{strategy}_{layer}"), out[f"{strategy}_{layer}"])
    log.info("%d cells, %d tables", len(cells), len(features))
