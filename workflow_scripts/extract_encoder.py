"""Rules extract_pci and extract_autoencoder: per-layer features of every cell from a trained
network's source cell encoder."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import torch  # noqa: E402

from pcinpaint.config import DatasetConfig  # noqa: E402
from pcinpaint.features import encoder_features, write_layer_tables  # noqa: E402
from pcinpaint.io import open_crop_store, read_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402
from pcinpaint.train import check_layout, load_model, select_device  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    inp, out = snakemake.input, snakemake.output  # noqa: F821
    torch.set_num_threads(snakemake.threads)  # noqa: F821
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)  # noqa: F821
    device = select_device(cfg.model["device"])
    model, state = load_model(inp.model, device)
    check_layout(state["config"]["roles"], cfg.roles, inp.model, cfg.name)
    store = open_crop_store(inp.store)
    layers = encoder_features(model.source, store, device, cfg.features["batch_size"], cfg.model["precision"], progress=True)
    write_layer_tables(read_table(inp.cells), layers, dict(out.items()), snakemake.params.prefix)  # noqa: F821
    log.info("%d cells, layers %s", len(store), {k: v.shape[1] for k, v in layers.items()})
