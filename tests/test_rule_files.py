"""Every rule that runs a script keeps a log, a benchmark (run time and memory, for sizing the
cost table) and a conda env; read from the rule files' text, so no workflow is parsed."""

import re

import pytest
from conftest import REPO

RULE = re.compile(r"^(rule|checkpoint) (\w+):\n", re.M)


def _blocks():
    """(file, rule name, its text) of every rule and checkpoint in rules/*.smk."""
    out = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        text = smk.read_text()
        heads = list(RULE.finditer(text))
        for head, after in zip(heads, heads[1:] + [None]):
            out.append((smk.name, head.group(2), text[head.end() : after.start() if after else len(text)]))
    return out


def _directive(block, name):
    """The first quoted path under a directive of the block (None when it has none)."""
    found = re.search(rf'^    {name}:\n\s+"([^"]+)"', block, re.M)
    return found.group(1) if found else None


SCRIPTED = [(f, name, block) for f, name, block in _blocks() if re.search(r"^    script:", block, re.M)]


def test_the_rule_files_are_read():
    names = {name for _, name, _ in SCRIPTED}
    assert {"samplesheet", "segment", "download_go", "knn_figure", "exploratory_truth"} <= names
    assert len(SCRIPTED) >= 40


@pytest.mark.parametrize("smk, rule, block", SCRIPTED, ids=[f"{f}:{r}" for f, r, _ in SCRIPTED])
def test_a_script_rule_has_log_benchmark_and_conda(smk, rule, block):
    log, benchmark = _directive(block, "log"), _directive(block, "benchmark")
    assert log, f"{smk}: rule {rule} has no log"
    assert benchmark, f"{smk}: rule {rule} has no benchmark"
    assert _directive(block, "conda"), f"{smk}: rule {rule} has no conda env"
    # the benchmark sits where the log does, under benchmarks/ instead of logs/
    assert benchmark == re.sub(r"\.log$", ".tsv", log.replace("/logs/", "/benchmarks/")), (rule, log, benchmark)


def test_rules_without_a_script_only_collect_targets():
    for smk, rule, block in _blocks():
        if (smk, rule, block) not in SCRIPTED:
            assert not re.search(r"^    (shell|run):", block, re.M), f"{smk}: rule {rule}"
