"""Rule pairwise_benchmark: pairwise-distance scores per term (fig2b) and the cell-line control (table2).

On datasets labelled per cell the sets compared are PCI conv3 and conv4 and the kNN's best layer
of every other family; on datasets labelled per image (the paper's human protocol) the layers
come from ``benchmarks.image_level_layers``, ``best`` ones chosen by this score itself.
"""

from pcinpaint.benchmarks.comparisons import (
    best_by_pairwise,
    image_level_candidates,
    image_terms,
    label_columns,
    pairwise_sets,
    pairwise_tables,
    read_manifest,
)
from pcinpaint.benchmarks.pairwise import PairDraws
from pcinpaint.benchmarks.sample import benchmark_images
from pcinpaint.errors import NotRun
from pcinpaint.features.reading import read_cells
from pcinpaint.figures import benchmarks as figures
from pcinpaint.figures.common import save_figure
from pcinpaint.figures.notrun import outputs_not_run
from pcinpaint.io import read_table, write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log, outputs_not_run(snakemake.output):
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    bench = dataset_params(snakemake)["benchmarks"]
    cells = read_cells(inp.cells, [*label_columns(bench), "image_id", "cell_line"])
    terms = image_terms(cells, bench)
    log.info(
        "%d images of %d terms with >= %d single-term proteins",
        len(terms),
        terms.nunique(),
        bench["min_proteins_per_term"],
    )
    if not (terms.value_counts() >= 2).any():  # same-term distances need two images of a term
        raise NotRun(
            f"no localization term has two images to compare ({len(terms)} images of {terms.nunique()} terms "
            f"with >= {bench['min_proteins_per_term']} single-term proteins)"
        )
    drawn = benchmark_images(terms, cells["image_id"].value_counts(), bench["max_cells"], params.sample_seed)
    if len(drawn) < len(terms):
        log.info("pairs drawn from %d of %d images, stratified by term (benchmarks.max_cells)", len(drawn), len(terms))
    terms = drawn
    manifest = read_manifest(inp.manifest)
    layers = bench["image_level_layers"]
    sets = (
        pairwise_sets(read_table(inp.supptable1)) if inp.get("supptable1") else image_level_candidates(manifest, layers)
    )
    scores, table2 = pairwise_tables(
        manifest,
        sets,
        cells,
        terms,
        PairDraws(bench["pairwise_pairs"], params.seed),
        PairDraws(bench["cell_line_pairs"], params.seed),
    )
    scores = scores.assign(chosen=True) if inp.get("supptable1") else best_by_pairwise(scores, manifest, layers)
    chosen = set(scores.loc[scores["chosen"], "feature_set"])
    write_table(scores, out.scores)
    write_table(table2[table2["feature_set"].isin(chosen)], out.table2)
    save_figure(
        figures.fig2b(scores[scores["chosen"]], f"{snakemake.wildcards.dataset}: pairwise-distance score per term"),
        out.png,
        out.pdf,
    )
