"""Stages recorded as not run (``pcinpaint.figures.notrun``): every output of a rule that raised
``NotRun`` is written as a marker carrying the reason, and readers of a marker table pass the
reason on instead of computing on it."""

import logging

import pandas as pd
import pytest

from pcinpaint.errors import NotRun
from pcinpaint.figures.notrun import COLUMN, check, outputs_not_run, reason, write_outputs
from pcinpaint.io import read_table

WHY = "one protein in the screen: nothing to cluster"


def test_a_marker_table_has_one_row_of_one_column_with_the_reason():
    assert reason(pd.DataFrame({COLUMN: [WHY]})) == WHY
    assert reason(pd.DataFrame({"protein": ["A"], "cluster": [1]})) is None
    assert reason(pd.DataFrame({COLUMN: ["a", "b"]})) is None  # two rows: a table of results
    assert reason(pd.DataFrame({COLUMN: [WHY], "x": [1]})) is None


def test_check_passes_results_and_raises_the_reason_of_a_marker():
    results = pd.DataFrame({"protein": ["A"]})
    assert check(results, "clustering") is results
    with pytest.raises(NotRun, match=f"^clustering not run: {WHY}$"):
        check(pd.DataFrame({COLUMN: [WHY]}), "clustering")


def test_each_output_is_written_as_not_run_by_its_suffix(tmp_path):
    paths = [tmp_path / "t.tsv", tmp_path / "t.parquet", tmp_path / "f.png", tmp_path / "f.pdf", tmp_path / "umaps"]
    write_outputs(paths, WHY, title="Fig 4")
    for table in paths[:2]:
        assert reason(read_table(table)) == WHY
    assert paths[2].read_bytes().startswith(b"\x89PNG") and paths[2].stat().st_size > 1000
    assert paths[3].read_bytes().startswith(b"%PDF-")
    assert (paths[4] / "not_run.png").read_bytes().startswith(b"\x89PNG")
    write_outputs([tmp_path / "explorer.html"], "2 <proteins>", title="sim")
    assert "<p>sim: not run: 2 &lt;proteins&gt;</p>" in (tmp_path / "explorer.html").read_text()


def test_a_rule_body_raising_not_run_writes_its_outputs_and_logs_why(tmp_path, caplog):
    out = [tmp_path / "clusters.tsv", tmp_path / "fig4.png"]
    with caplog.at_level(logging.WARNING, logger="pcinpaint"), outputs_not_run(out, "Fig 4"):
        raise NotRun(WHY)
    assert reason(read_table(out[0])) == WHY
    assert out[1].exists()
    assert f"not run: {WHY}" in caplog.text


def test_a_body_that_succeeds_or_fails_otherwise_writes_no_marker(tmp_path):
    out = [tmp_path / "clusters.tsv"]
    with outputs_not_run(out):
        pass
    assert not out[0].exists()
    with pytest.raises(ValueError, match="a real error"), outputs_not_run(out):
        raise ValueError("a real error")
    assert not out[0].exists()


def test_a_not_run_reason_passes_through_a_chain_of_rules(tmp_path):
    """clustering not run -> table3 reads its marker and is itself not run, naming the cause."""
    upstream, downstream = tmp_path / "clusters.tsv", tmp_path / "table3.tsv"
    write_outputs([upstream], WHY)
    with outputs_not_run([downstream]):
        check(read_table(upstream), "protein clustering")
    assert reason(read_table(downstream)) == f"protein clustering not run: {WHY}"
