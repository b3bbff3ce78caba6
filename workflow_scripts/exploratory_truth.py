"""Rule exploratory_truth: on a simulated screen, the exploratory results against the truth
(the checks: pcinpaint.exploratory.truth)."""

from pcinpaint.exploratory.analysed import protein_terms
from pcinpaint.exploratory.truth import truth_checks
from pcinpaint.figures import notrun
from pcinpaint.figures.notrun import outputs_not_run
from pcinpaint.inputs.simulate import CLASS_TERMS
from pcinpaint.io import read_table, write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log, outputs_not_run(snakemake.output):
    inp, out = snakemake.input, snakemake.output
    ds = dataset_params(snakemake)
    cells = read_table(inp.cells)
    # stages that did not run stop the checks with their reason
    what = {"clusters": "protein clustering", "top": "table3", "branches": "fig6"}
    tables = {key: notrun.check(read_table(inp[key]), step) for key, step in what.items()}
    tables["scores"] = read_table(inp.scores)
    tables["likes"] = [notrun.check(read_table(path), "localize_like") for path in inp.get("like", [])]
    names = {cls: term[1] for cls, term in CLASS_TERMS[ds["simulate"]["preset"]].items()}
    table = truth_checks(cells, protein_terms(cells, ds["benchmarks"]), tables, names, ds["exploratory"])
    write_table(table, out.table)
    for r in table.itertuples():
        log.info("%s: %s (goal %s, n=%s)", r.check, r.value, r.goal, r.n)
