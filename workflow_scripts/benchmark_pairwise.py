"""Rule pairwise_benchmark: pairwise-distance scores per term (fig2b) and the cell-line control (table2)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.benchmarks import image_terms, pairwise_sets, pairwise_tables, read_manifest  # noqa: E402
from pcinpaint.figures import benchmarks as figures  # noqa: E402
from pcinpaint.figures.common import save_figure  # noqa: E402
from pcinpaint.io import read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    bench = params.bench
    cells = read_table(inp.cells).sort_values("store_index").reset_index(drop=True)
    terms = image_terms(cells, bench)
    log.info("%d images of %d terms with >= %d single-term proteins", len(terms), terms.nunique(),
             bench["min_proteins_per_term"])
    supptable1 = read_table(inp.supptable1)
    scores, table2 = pairwise_tables(read_manifest(inp.manifest), pairwise_sets(supptable1), cells, terms,
                                     bench["pairwise_pairs"], bench["cell_line_pairs"], params.seed)
    write_table(scores, out.scores)
    write_table(table2, out.table2)
    save_figure(figures.fig2b(scores, f"{snakemake.wildcards.dataset}: pairwise-distance score per term"),  # noqa: F821
                out.png, out.pdf)
