"""Rule pairwise_benchmark: pairwise-distance scores per term (fig2b) and the cell-line control (table2)."""

from pcinpaint.benchmarks.comparisons import image_terms, pairwise_sets, pairwise_tables, read_manifest
from pcinpaint.figures import benchmarks as figures
from pcinpaint.figures.common import save_figure
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    bench = params.bench
    cells = read_table(inp.cells).sort_values("store_index").reset_index(drop=True)
    terms = image_terms(cells, bench)
    log.info(
        "%d images of %d terms with >= %d single-term proteins",
        len(terms),
        terms.nunique(),
        bench["min_proteins_per_term"],
    )
    supptable1 = read_table(inp.supptable1)
    scores, table2 = pairwise_tables(
        read_manifest(inp.manifest),
        pairwise_sets(supptable1),
        cells,
        terms,
        bench["pairwise_pairs"],
        bench["cell_line_pairs"],
        params.seed,
    )
    write_table(scores, out.scores)
    write_table(table2, out.table2)
    save_figure(
        figures.fig2b(scores, f"{snakemake.wildcards.dataset}: pairwise-distance score per term"), out.png, out.pdf
    )
