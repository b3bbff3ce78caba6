"""Class labels for cells: from a cell-table column or from protein-level annotation tables.

The benchmarks need one class per cell (kNN accuracy) or per protein (pairwise distances, the
paper's Fig 2B). Screens rarely carry cell-level labels, so most come from a protein-level
annotation: Huh et al. 2003 for yeast (true/false compartment columns), the Human Protein Atlas
for human cells (locations by reliability), the simulator's truth table, or a plain
protein-to-term table. Everything is first read into one long form (``protein``, ``term``;
one row per pair, terms lower-cased and stripped) so that merging classes, choosing single- or
multi-localized proteins and joining to cells work the same for every source.

Protein names are stripped of surrounding spaces. Matching proteins between a cell table and an
annotation is case-insensitive (both sides upper-cased: yeast ORFs and gene names, human gene
symbols and Ensembl ids are all unique regardless of case), so ``aac1`` finds ``AAC1``.
Annotation tables keep the names as written. Both yeast ORFs and gene names (HPA: Ensembl ids
and gene names) can be used: pick the column with ``key``, or map either to the key with
``aliases``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.errors import InputError
from pcinpaint.io import read_table

log = logging.getLogger(__name__)

LAYOUTS = ("auto", "huh2003", "hpa", "simulated", "long")
MODES = ("combined", "single")
LABEL_FROM = ("annotation", "column", "protein")

#: Huh 2003 columns that describe the protein or the experiment, not a compartment
HUH_NOT_TERMS = ("yorf", "gene name", "gfp tagged?", "gfp visualized?", "abundance", "ambiguous")
HUH_TRUE = {"t", "true", "1", "yes"}
HUH_FALSE = {"f", "false", "0", "no", ""}
#: HPA reliability columns (v18: Validated; from v19: Enhanced), most to least reliable
HPA_RELIABILITY = ("Enhanced", "Validated", "Supported", "Approved", "Uncertain")
#: one tier under its two names: v19 renamed v18's "Validated" to "Enhanced"
HPA_SAME_TIER = {"validated": "enhanced", "enhanced": "validated"}
DEFAULT_KEYS = {"huh2003": "yORF", "hpa": "Gene name", "simulated": "protein", "long": "protein"}
ALIAS_KEYS = {"huh2003": ("yORF", "gene name"), "hpa": ("Gene", "Gene name")}


# --------------------------------------------------------------------------------------------
# Reading annotation tables
# --------------------------------------------------------------------------------------------


def find_column(table: pd.DataFrame, name: str) -> str | None:
    """The table's column called ``name``, ignoring case and surrounding spaces."""
    want = name.strip().lower()
    for col in table.columns:
        if str(col).strip().lower() == want:
            return col
    return None


def detect_layout(table: pd.DataFrame) -> str | None:
    """Which annotation layout the columns show, or None.

    huh2003: a ``yORF`` column; hpa: ``Gene name`` or ``Gene`` with at least one reliability
    column; simulated: ``protein``, ``kind`` and ``classes``; long: ``protein`` with ``term``
    or ``terms``, or any two-column table.
    """
    has = lambda name: find_column(table, name) is not None  # noqa: E731
    if has("yORF"):
        return "huh2003"
    if (has("Gene name") or has("Gene")) and any(has(r) for r in HPA_RELIABILITY):
        return "hpa"
    if has("protein") and has("kind") and has("classes"):
        return "simulated"
    if (has("protein") and (has("term") or has("terms"))) or len(table.columns) == 2:
        return "long"
    return None


def _as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Every column as text, missing values as "" (parquet tables keep their types)."""
    return pd.DataFrame(
        {c: [("" if pd.isna(v) else str(v)) for v in table[c]] for c in table.columns},
        index=table.index,
        columns=table.columns,
        dtype=str,
    )


def _split(values: pd.Series, sep: str) -> pd.Series:
    """Each string split on ``sep`` into stripped, lower-cased, non-empty terms (one per row)."""
    out = values.astype(str).str.split(sep).explode().str.strip().str.lower()
    return out[out.notna() & (out != "")]


def _long(proteins: pd.Series, terms: pd.Series) -> pd.DataFrame:
    """Long table from aligned protein and term series; blank proteins and terms dropped."""
    frame = pd.DataFrame({"protein": proteins.astype(str).str.strip().reindex(terms.index), "term": terms.astype(str)})
    frame = frame[(frame["protein"] != "") & (frame["term"] != "")]
    return frame.drop_duplicates().reset_index(drop=True)


def _key_column(table: pd.DataFrame, layout: str, key: str | None, path: Path) -> str:
    name = key or DEFAULT_KEYS[layout]
    col = find_column(table, name)
    if col is None:
        raise InputError(f"{path}: no key column '{name}' for layout {layout}; columns are {list(table.columns)}")
    return col


def _huh2003(table: pd.DataFrame, key: str, path: Path) -> pd.DataFrame:
    """Huh 2003: every true/false column other than the descriptive ones is a compartment."""
    parts = []
    for col in table.columns:
        if str(col).strip().lower() in HUH_NOT_TERMS:
            continue
        values = table[col].astype(str).str.strip().str.lower()
        if not values.isin(HUH_TRUE | HUH_FALSE).all():
            log.info("%s: column '%s' is not true/false; not a localization term", path, col)
            continue
        hit = values.isin(HUH_TRUE)
        parts.append(pd.Series(str(col).strip().lower(), index=table.index[hit]))
    if not parts:
        raise InputError(f"{path}: no true/false compartment columns found (Huh 2003 layout)")
    terms = pd.concat(parts)
    return _long(table[key], terms)


def reliability_tiers(reliability) -> set[str]:
    """The lower-case HPA reliability names that count for ``reliability``, with each tier's
    other name: a config written for v18 ("Validated") keeps the top tier of a current atlas
    ("Enhanced"), and the reverse, instead of silently dropping its most reliable locations."""
    names = {str(r).strip().lower() for r in ([reliability] if isinstance(reliability, str) else reliability)}
    return names | {HPA_SAME_TIER[n] for n in names if n in HPA_SAME_TIER}


def _hpa(table: pd.DataFrame, key: str, reliability, path: Path) -> pd.DataFrame:
    """HPA: the ';'-separated locations of the chosen reliability columns, united."""
    if isinstance(reliability, str):
        reliability = (reliability,)
    cols = [find_column(table, r) for r in reliability]
    renamed = [find_column(table, HPA_SAME_TIER.get(str(r).strip().lower(), "")) for r in reliability]
    present = list(dict.fromkeys(c or other for c, other in zip(cols, renamed) if c or other))
    if not present:
        raise InputError(
            f"{path}: none of the reliability columns {list(reliability)} is present; columns are {list(table.columns)}"
        )
    absent = [r for r, c, other in zip(reliability, cols, renamed) if c is None and other is None]
    if absent:
        log.warning("%s: reliability column(s) %s absent, using %s", path, absent, present)
    terms = pd.concat([_split(table[c], ";") for c in present])
    return _long(table[key], terms)


def _simulated(table: pd.DataFrame, key: str | None, path: Path) -> pd.DataFrame:
    """The simulator's truth table: each protein's '+'-joined ``classes``."""
    col = find_column(table, "classes")
    if col is None:
        raise InputError(f"{path}: no 'classes' column for the simulated layout")
    return _long(table[_key_column(table, "simulated", key, path)], _split(table[col], "+"))


def _long_layout(table: pd.DataFrame, key: str | None, column: str | None, path: Path) -> pd.DataFrame:
    """A long table: ';'-separated terms in ``column``, ``term`` or ``terms``, or in the one
    column beside the key."""
    keycol = find_column(table, key) if key else (find_column(table, "protein") or table.columns[0])
    if keycol is None:
        raise InputError(f"{path}: no key column '{key}'; columns are {list(table.columns)}")
    termcol = find_column(table, column) if column else find_column(table, "term") or find_column(table, "terms")
    if column and termcol is None:
        raise InputError(f"{path}: no term column '{column}'; columns are {list(table.columns)}")
    if termcol is None:
        others = [c for c in table.columns if c != keycol]
        if len(others) != 1:
            raise InputError(
                f"{path}: a long annotation table needs a 'term' or 'terms' column; columns are {list(table.columns)}"
            )
        termcol = others[0]
    return _long(table[keycol], _split(table[termcol], ";"))


def _checked_layout(table: pd.DataFrame, layout: str, path: Path) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown annotation layout '{layout}'; choose one of {list(LAYOUTS)}")
    if layout == "auto":
        found = detect_layout(table)
        if found is None:
            raise InputError(
                f"{path}: cannot tell the annotation layout from the columns {list(table.columns)}; "
                f"expected Huh 2003 (yORF), HPA (Gene name + reliability columns), "
                f"the simulator's truth_proteins, or protein + term(s)"
            )
        return found
    return layout


def read_annotations(
    path,
    layout: str = "auto",
    key: str | None = None,
    reliability=("Validated", "Supported", "Approved"),
    column: str | None = None,
) -> pd.DataFrame:
    """A protein annotation file as a long table (``protein``, ``term``), one row per pair.

    ``layout`` is "huh2003", "hpa", "simulated", "long" or "auto" (see ``detect_layout``).
    ``key`` names the protein column (huh2003: "yORF" or "gene name"; hpa: "Gene name" or
    "Gene"; others: "protein"); rows with a blank key are dropped, and a key that appears on
    several rows gets the union of their terms. ``reliability`` lists the HPA columns whose
    locations count ("Uncertain" is left out by default). Long tables hold one term per row
    (``term``) or ';'-separated terms (``terms``), or in the column named by ``column`` (a
    published table's localization column); a two-column table without those names is read
    as protein, term. Terms are lower-cased and stripped; blank terms are ignored.
    Proteins without any term do not appear.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: annotation file not found")
    table = _as_text(read_table(path))
    layout = _checked_layout(table, layout, path)
    if column and layout != "long":
        raise InputError(
            f"{path}: a term column ('{column}') is read from long tables only; this one is layout {layout}"
        )
    if layout == "huh2003":
        out = _huh2003(table, _key_column(table, layout, key, path), path)
    elif layout == "hpa":
        out = _hpa(table, _key_column(table, layout, key, path), reliability, path)
    elif layout == "simulated":
        out = _simulated(table, key, path)
    else:
        out = _long_layout(table, key, column, path)
    if out.empty:
        raise InputError(f"{path}: no protein has any localization term (layout {layout})")
    log.info(
        "%s: %d proteins, %d distinct terms (layout %s)", path, out["protein"].nunique(), out["term"].nunique(), layout
    )
    return out


def aliases(path, layout: str = "auto", key: str | None = None) -> dict[str, str]:
    """{upper-cased name: name in the ``key`` column} for every protein identifier in the file.

    Huh 2003 maps both ORFs and gene names, HPA both Ensembl ids and gene names, to the key
    column (the same default as ``read_annotations``); other layouts map each protein to
    itself. A name shared by several rows with different keys is left out (it cannot be
    resolved). Pass the result to ``cell_labels`` so a screen named either way finds its terms.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: annotation file not found")
    table = _as_text(read_table(path))
    layout = _checked_layout(table, layout, path)
    if layout == "long" and not key:
        keycol = find_column(table, "protein") or table.columns[0]
    else:
        keycol = _key_column(table, layout, key, path)
    canonical = table[keycol].astype(str).str.strip()
    pairs = []
    for name in ALIAS_KEYS.get(layout, ()) + (keycol,):
        col = find_column(table, name)
        if col is not None:
            alias = table[col].astype(str).str.strip()
            pairs.append(pd.DataFrame({"alias": alias.str.upper(), "canonical": canonical}))
    frame = pd.concat(pairs).drop_duplicates()
    frame = frame[(frame["alias"] != "") & (frame["canonical"] != "")]
    ambiguous = frame["alias"].duplicated(keep=False)
    if ambiguous.any():
        log.info("%s: %d names map to several proteins and are left out", path, frame.loc[ambiguous, "alias"].nunique())
    frame = frame[~ambiguous]
    return dict(zip(frame["alias"], frame["canonical"]))


# --------------------------------------------------------------------------------------------
# Classes
# --------------------------------------------------------------------------------------------


def _merge_map(merge: dict | None) -> dict[str, str | None]:
    out = {}
    for k, v in (merge or {}).items():
        v = None if v is None else str(v).strip().lower()
        out[str(k).strip().lower()] = v or None
    return out


def merge_terms(terms: pd.DataFrame, merge: dict[str, str]) -> pd.DataFrame:
    """Apply a class-merge map (case-insensitive; e.g. {"spindle pole": "spindle"}); drop duplicate rows.

    A term mapped to None or "" is removed.
    """
    mapping = _merge_map(merge)
    out = terms.copy()
    term = out["term"].astype(str).str.strip().str.lower()
    out["term"] = term.map(lambda t: mapping.get(t, t))
    out = out[out["term"].notna() & (out["term"] != "")]
    return out.drop_duplicates().reset_index(drop=True)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown label mode '{mode}'; choose one of {list(MODES)}")


def protein_classes(terms: pd.DataFrame, mode: str = "combined") -> pd.Series:
    """protein -> class: its sorted distinct terms joined by '+' ("combined"), or, in "single"
    mode, its one term for proteins with exactly one term (others left out)."""
    _check_mode(mode)
    distinct = terms[["protein", "term"]].drop_duplicates()
    grouped = distinct.groupby("protein", sort=True)["term"]
    if mode == "single":
        counts = grouped.transform("size")
        single = distinct[counts == 1]
        out = pd.Series(single["term"].to_numpy(), index=single["protein"].to_numpy()).sort_index()
    else:
        out = grouped.agg(lambda t: "+".join(sorted(t)))
    out.index.name = "protein"
    return out.rename("class").astype(object)


def terms_for_pairwise(terms: pd.DataFrame, min_proteins_per_term: int = 30) -> pd.Series:
    """protein -> term for single-term proteins whose term has at least ``min_proteins_per_term``
    such proteins (the paper's pairwise-distance analysis, Fig 2B)."""
    single = protein_classes(terms, mode="single")
    counts = single.value_counts()
    keep = counts.index[counts >= min_proteins_per_term]
    return single[single.isin(keep)].rename("term")


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------


def _norm(names: pd.Series, alias: dict[str, str] | None = None) -> pd.Series:
    """Names as join keys: stripped, upper-cased, mapped through ``alias`` when given."""
    out = names.astype(str).str.strip().str.upper()
    if alias:
        mapped = out.map(alias)
        out = mapped.astype(str).str.upper().where(mapped.notna(), out)
    return out


def _class_of(label, mapping: dict, mode: str):
    """One cell's label string -> its class (None when unlabelled)."""
    if label is None or (not isinstance(label, str) and pd.isna(label)):
        return None
    parts = {p.strip().lower() for p in str(label).split("+")}
    parts = {mapping.get(p, p) for p in parts if p}
    parts = {p for p in parts if p}
    if not parts or (mode == "single" and len(parts) != 1):
        return None
    return "+".join(sorted(parts))


@dataclass(frozen=True)
class LabelSettings:
    """Where a cell's label comes from (``label_from``: "annotation", "column" or "protein"), the
    cell-table column read for "column", the mode ("combined" or "single") and the class merge
    map: the ``benchmarks`` block's label keys, as ``cell_labels`` reads them."""

    label_from: str = "annotation"
    column: str | None = None
    mode: str = "combined"
    merge: dict | None = None


def cell_labels(
    cells: pd.DataFrame,
    settings: LabelSettings | None = None,
    *,
    annotations: pd.DataFrame | None = None,
    aliases: dict[str, str] | None = None,
) -> pd.Series:
    """One label per cell, aligned with ``cells``; None where a cell is unlabelled.

    ``label_from="column"``: the cell table's ``column`` (default "label"), split on '+',
    lower-cased, merged, then combined or single as in ``protein_classes``.
    ``"annotation"``: the class of the cell's protein in ``annotations`` (a long table from
    ``read_annotations``), matched on ``cells["protein"]`` case-insensitively, after
    ``aliases`` (from ``aliases()``) when given. ``"protein"``: the protein name itself.
    Mode "single" leaves cells of multi-term classes unlabelled. ``settings``: the defaults
    of ``LabelSettings`` when not given.
    """
    settings = settings or LabelSettings()
    column, mode, label_from, merge = settings.column, settings.mode, settings.label_from, settings.merge
    _check_mode(mode)
    if label_from not in LABEL_FROM:
        raise ValueError(f"unknown label source '{label_from}'; choose one of {list(LABEL_FROM)}")
    if label_from == "column":
        column = column or "label"
        if column not in cells.columns:
            raise InputError(f"cell table: no label column '{column}'; columns are {list(cells.columns)}")
        mapping = _merge_map(merge)
        values = _per_value(cells[column], lambda v: _class_of(v, mapping, mode))
    elif label_from == "protein":
        values = _per_value(cells["protein"], lambda p: None if pd.isna(p) or str(p).strip() == "" else str(p).strip())
    else:
        if annotations is None:
            raise ValueError("label_from='annotation' needs an annotation table")
        terms = merge_terms(annotations, merge) if merge else annotations
        keyed = terms.assign(protein=_norm(terms["protein"]))
        classes = protein_classes(keyed, mode=mode)
        names, codes = _distinct(cells["protein"])
        found = _norm(pd.Series(names, dtype=object), aliases).map(classes)
        values = _spread([None if pd.isna(v) else v for v in found], codes)
    return pd.Series(values, index=cells.index, dtype=object, name="label")


def _distinct(column: pd.Series) -> tuple[list, np.ndarray]:
    """(the distinct values, missing ones as one None, and each row's index into them): a label
    is worked out once per protein or label string, not once per cell of a million-cell table."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return [*uniques.tolist(), None], np.where(codes < 0, len(uniques), codes)


def _spread(per_value: list, codes: np.ndarray) -> np.ndarray:
    """Per-row objects from per-distinct-value ones: one reference per row, shared strings."""
    table = np.empty(len(per_value), dtype=object)
    table[:] = per_value
    return table[codes]


def _per_value(column: pd.Series, label) -> np.ndarray:
    names, codes = _distinct(column)
    return _spread([label(v) for v in names], codes)


def unmatched_report(
    cells: pd.DataFrame, annotations: pd.DataFrame, aliases: dict[str, str] | None = None
) -> tuple[int, int]:
    """(proteins of the screen with no annotation, proteins of the screen), for logging."""
    screen = set(_norm(cells["protein"].dropna(), aliases))
    screen.discard("")
    known = set(_norm(annotations["protein"]))
    return len(screen - known), len(screen)
