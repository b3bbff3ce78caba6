"""Rule extract_random: the same encoder with seeded, untrained weights (the control)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import torch  # noqa: E402

from pcinpaint.config import DatasetConfig  # noqa: E402
from pcinpaint.features import encoder_features, random_encoder, write_layer_tables  # noqa: E402
from pcinpaint.io import open_crop_store, read_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402
from pcinpaint.train import select_device  # noqa: E402

with rule_log(snakemake.log[0]):  # noqa: F821
    inp, out = snakemake.input, snakemake.output  # noqa: F821
    torch.set_num_threads(snakemake.threads)  # noqa: F821
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)  # noqa: F821
    encoder = random_encoder(len(cfg.channels), snakemake.params.width, snakemake.params.seed)  # noqa: F821
    store = open_crop_store(inp.store)
    layers = encoder_features(encoder, store, select_device(cfg.model["device"]), cfg.features["batch_size"],
                              cfg.model["precision"], progress=True)
    write_layer_tables(read_table(inp.cells), layers, dict(out.items()), "random")
