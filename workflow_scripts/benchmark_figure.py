"""Rule knn_figure: fig2a (per-class accuracy of each family's best set) or suppfig2 (VGG16
per layer and input strategy)."""

from pcinpaint.benchmarks.comparisons import fig2a_sets, not_run_sets
from pcinpaint.config import RANKING_K
from pcinpaint.figures import benchmarks as figures
from pcinpaint.figures.common import save_figure
from pcinpaint.io import read_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp, out, wc = snakemake.input, snakemake.output, snakemake.wildcards
    supptable1 = read_table(inp.supptable1)
    k = RANKING_K  # the config requires it among benchmarks.ks
    if wc.figure == "fig2a":
        per_class = read_table(inp.per_class).astype({"k": int, "accuracy": float})
        fig = figures.fig2a(
            per_class,
            fig2a_sets(supptable1, k),
            not_run_sets(supptable1),
            k,
            f"{wc.dataset}: {k}-NN accuracy per class, best set of each feature family",
        )
    else:
        fig = figures.suppfig2(supptable1, k, f"{wc.dataset}: VGG16 transfer features, {k}-NN balanced accuracy")
    save_figure(fig, out.png, out.pdf)
