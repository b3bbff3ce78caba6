"""Rule umap_proteins: fig3, protein-level UMAPs (mean of each protein's cells) of every dataset
labelled per cell or per protein, side by side, each on its configured or best-ranked layer."""

from pathlib import Path

from pcinpaint.benchmarks.comparisons import dataset_labels, label_columns, protein_means, ranked_set, umap_embedding
from pcinpaint.errors import NotRun
from pcinpaint.features.reading import FeatureFile, read_cells
from pcinpaint.figures import benchmarks as figures
from pcinpaint.figures.common import save_figure
from pcinpaint.io import read_table
from pcinpaint.rule_keys import RuleConfig
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    panels = []
    for panel in snakemake.params.panels:
        dataset, bench = panel["dataset"], RuleConfig(snakemake.rule, panel["config"])["benchmarks"]
        u = bench["umap_proteins"]
        ranking = read_table(panel["supptable1"]) if panel["supptable1"] else None
        name = ranked_set(u.get("feature_set"), None, ranking)
        path = next(t for t in panel["tables"] if Path(t).name == f"{name}.parquet")
        table = read_cells(panel["cells"], label_columns(bench))
        # protein sums one row group at a time, each checked against the cell table's store order
        x = FeatureFile(path, table["store_index"].to_numpy())
        proteins, means = protein_means(table, x, dataset_labels(table, bench))
        if u.get("classes"):  # the labels this panel colours; the others grey
            kept = {c.lower() for c in u["classes"]}
            proteins["label"] = proteins["label"].where(
                proteins["label"].isna() | proteins["label"].str.lower().isin(kept), figures.OTHER
            )
        title = u.get("title") or dataset
        try:
            xy = umap_embedding(means, u["n_neighbors"], u["min_dist"], snakemake.params.seed)
        except NotRun as exc:  # this dataset's panel says so; the others are drawn
            log.warning("%s: not run: %s", dataset, exc)
            panels.append((f"{title}: not run: {exc}", None, proteins["label"]))
            continue
        source = f" (ranked by {Path(panel['supptable1']).parent.parent.name})" if ranking is not None else ""
        log.info(
            "%s: %d proteins, %d labelled, from %s%s",
            dataset,
            len(proteins),
            proteins["label"].notna().sum(),
            name,
            source,
        )
        panels.append((f"{title}\n{len(proteins)} proteins, {name}", xy, proteins["label"]))
    save_figure(figures.fig3(panels), snakemake.output.png, snakemake.output.pdf)
