"""Rule extract_vgg16: ImageNet VGG16 features, 13 conv layers x 3 input strategies."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import torch  # noqa: E402

from pcinpaint.config import DatasetConfig  # noqa: E402
from pcinpaint.featuretable import feature_table  # noqa: E402
from pcinpaint.io import open_crop_store, read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402
from pcinpaint.train import select_device  # noqa: E402
from pcinpaint.vgg16 import load_vgg16, rgb_mapping, vgg16_features  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    torch.set_num_threads(snakemake.threads)  # noqa: F821
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, params.dataset)  # noqa: F821
    rgb = rgb_mapping(cfg.roles, cfg.channels, params.rgb or None)
    log.info("VGG16 weights %s; red, green, blue = %s", inp.weights,
             [cfg.channels[i] if i is not None else None for i in rgb])
    features = vgg16_features(load_vgg16(inp.weights), open_crop_store(inp.store), rgb=rgb, protein=cfg.protein[0],
                              device=select_device(params.device), batch_size=cfg.features["batch_size"],
                              precision=params.precision, progress=True)
    cells = read_table(inp.cells)
    for (strategy, layer), x in features.items():
        write_table(feature_table(cells, x, f"vgg16_{strategy}_{layer}"), out[f"{strategy}_{layer}"])
    log.info("%d cells, %d tables", len(cells), len(features))
