"""Rules train_pci and train_autoencoder: train a network on a dataset's crop store."""

import torch

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store
from pcinpaint.io import read_table, write_table
from pcinpaint.model.spec import ModelSpec
from pcinpaint.model.train import RunOptions, TrainConfig, TrainingTask, save_model, train
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    torch.set_num_threads(snakemake.threads)
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, params.dataset)
    store = open_crop_store(inp.store, memory_limit=None)  # held or streamed by train(), per memory_gb
    cells = read_table(inp.cells, columns=["image_id", "store_index"]).sort_values("store_index")
    m = cfg.model
    spec = ModelSpec(len(cfg.channels), len(cfg.structural), len(cfg.protein), m["width"])
    tcfg = TrainConfig(
        epochs=params.epochs,
        batch_size=m["batch_size"],
        lr=m["lr"],
        betas=tuple(m["betas"]),
        precision=m["precision"],
        device=m["device"],
        seed=params.seed,
        memory_gb=m["memory_gb"],
        compile=m["compile"],
    )
    task = TrainingTask(spec, cfg.structural, cfg.protein, params.objective)
    model, history = train(
        store, cells["image_id"].to_numpy(), task, tcfg, params.checkpoint, RunOptions(name=str(inp.store))
    )
    save_model(
        model,
        out.model,
        {
            "dataset": cfg.name,
            "channels": list(cfg.channels),
            "roles": list(cfg.roles),
            "train": tcfg.to_dict(),
            "precision": history["precision"].iloc[-1] if len(history) else None,  # auto: what the probe chose
        },
    )
    write_table(history, out.history)
    log.info("saved %s", out.model)
