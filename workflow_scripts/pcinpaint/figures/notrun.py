"""Stages that cannot run on this data, recorded instead of failing the workflow.

A screen of one protein, or of proteins whose profiles are identical, cannot be clustered or
embedded; the default target should still finish and say so. A rule script raises
``errors.NotRun`` with the reason, inside ``with rule_log(...) as log, outputs_not_run(snakemake.output):``;
``outputs_not_run`` then writes every output as "not run":
tables as one row of one column ``not_run`` holding the reason, figures as a panel stating it,
pages as one line stating it, folders holding such a panel. Rules that read a not-run table
pass the reason on (``check``), so table3 says that the clustering it needs was not run, and why.
"""

from __future__ import annotations

import contextlib
import html
import logging
from pathlib import Path

import pandas as pd

from pcinpaint.errors import NotRun
from pcinpaint.figures.common import not_run_figure, save_figure
from pcinpaint.io import atomic_path, write_table

COLUMN = "not_run"
TABLE_SUFFIXES = (".tsv", ".csv", ".parquet")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
PAGE_SUFFIXES = (".html",)


def reason(table: pd.DataFrame) -> str | None:
    """The reason a table was not run, or None for a table of results."""
    if list(table.columns) == [COLUMN] and len(table) == 1:
        return str(table[COLUMN].iloc[0])
    return None


def check(table: pd.DataFrame, what: str) -> pd.DataFrame:
    """``table``, unless it is a not-run table: then NotRun naming ``what`` and its reason."""
    why = reason(table)
    if why is not None:
        raise NotRun(f"{what} not run: {why}")
    return table


def write_outputs(paths, why: str, title: str = "") -> None:
    """Every output path as "not run" with ``why`` (by suffix: table, figure, page; no suffix: folder)."""
    for path in map(Path, paths):
        if path.suffix in TABLE_SUFFIXES:
            write_table(pd.DataFrame({COLUMN: [why]}), path)
        elif path.suffix in FIGURE_SUFFIXES:
            save_figure(not_run_figure(why, title), path)
        elif path.suffix in PAGE_SUFFIXES:
            with atomic_path(path) as tmp:
                text = html.escape(f"{title}: not run: {why}" if title else f"not run: {why}")
                tmp.write_text(f"<!DOCTYPE html>\n<html><body><p>{text}</p></body></html>\n", encoding="utf-8")
        else:
            path.mkdir(parents=True, exist_ok=True)
            save_figure(not_run_figure(why, title), path / "not_run.png")


@contextlib.contextmanager
def outputs_not_run(paths, title: str = ""):
    """Run a rule's body; on ``NotRun`` write its outputs as not run and log the reason."""
    try:
        yield
    except NotRun as exc:
        logging.getLogger("pcinpaint").warning("not run: %s", exc)
        write_outputs(paths, str(exc), title)
