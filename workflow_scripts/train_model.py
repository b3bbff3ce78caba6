"""Rules train_pci and train_autoencoder: train a network on a dataset's crop store."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import torch  # noqa: E402

from pcinpaint.config import DatasetConfig  # noqa: E402
from pcinpaint.io import open_crop_store, read_table, write_table  # noqa: E402
from pcinpaint.model import ModelSpec  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402
from pcinpaint.train import TrainConfig, save_model, train  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    torch.set_num_threads(snakemake.threads)  # noqa: F821
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, params.dataset)  # noqa: F821
    store = open_crop_store(inp.store)
    cells = read_table(inp.cells).sort_values("store_index")
    m = cfg.model
    spec = ModelSpec(len(cfg.channels), len(cfg.structural), len(cfg.protein), m["width"])
    tcfg = TrainConfig(epochs=params.epochs, batch_size=m["batch_size"], lr=m["lr"], betas=tuple(m["betas"]),
                       precision=m["precision"], device=m["device"], seed=params.seed)
    model, history = train(store.raw(), cells["image_id"].to_numpy(), spec, cfg.structural, cfg.protein, tcfg,
                           params.checkpoint, name=str(inp.store), objective=params.objective)
    save_model(model, out.model, {"dataset": cfg.name, "channels": list(cfg.channels), "roles": list(cfg.roles),
                                  "train": tcfg.to_dict()})
    write_table(history, out.history)
    log.info("saved %s", out.model)
