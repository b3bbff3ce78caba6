"""Rule inpainting_figure: fig1c (one pair) or suppfig1 (sources x targets from other images)."""

import numpy as np

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store, read_crops
from pcinpaint.errors import InputError
from pcinpaint.figures import inpainting
from pcinpaint.figures.common import save_figure
from pcinpaint.io import read_table
from pcinpaint.model.train import check_layout, load_model
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp, out, wc = snakemake.input, snakemake.output, snakemake.wildcards
    cfg = DatasetConfig.from_dict(wc.dataset, snakemake.params.dataset)
    rng = np.random.default_rng(snakemake.params.seed)
    model, state = load_model(inp.model)
    check_layout(state["config"]["roles"], cfg.roles, inp.model, cfg.name)
    store = open_crop_store(inp.store, memory_limit=None)
    cells = read_table(inp.cells)
    label = cfg.figures["label_column"]
    classes = cfg.figures["inpainting_classes"]
    if wc.figure == "fig1c":
        try:
            s, t = inpainting.pick_pair(cells, label, rng, prefer=classes)
        except ValueError as exc:
            raise InputError(f"{inp.cells}: {exc}") from None
        source, target = read_crops(store, [s, t])
        fig = inpainting.fig1c(model, source, target, cfg.roles, f"{wc.dataset}: source and target cell of one image")
    else:
        try:
            sources, targets = inpainting.pick_sources_and_targets(cells, label, classes, rng)
        except ValueError as exc:
            raise InputError(f"{inp.cells}: {exc}") from None
        src = read_crops(store, [i for _, i in sources])
        tgt = read_crops(store, [i for _, i in targets])
        fig = inpainting.suppfig1(
            model,
            [(c, x) for (c, _), x in zip(sources, src)],
            [(c, x) for (c, _), x in zip(targets, tgt)],
            cfg.roles,
            f"{wc.dataset}: sources paired with target cells from other images",
        )
    save_figure(fig, out.png, out.pdf)
