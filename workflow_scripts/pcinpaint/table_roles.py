"""Which columns of a feature table made elsewhere play which role of the cell table.

A dataset of ``source: features`` is one table (pycytominer or CytoTable profiles, DeepProfiler,
cytoself or SubCell output); its cell table (``cell_id``, ``image_id``, ``field_id``, ``protein``,
optional ``cell_line``, ``antibody``, ``label``) is taken from columns the config names
(``feature_table.columns``) or, where it names none, from the first candidate the table has:
the cell-table name itself, then the same with pycytominer's ``Metadata_`` prefix, then a
convention (a well, ``Metadata_Plate`` + ``Metadata_Well``, is the image pairs are drawn in; an
AnnData file's ``obs_names`` are its cell ids). A role given by several columns joins their
values with ``/``. Every other ``Metadata_`` column is carried into the cell table without its
prefix (so ``benchmarks.label_column`` may name e.g. ``Metadata_moa`` as ``moa``).

Shared, not part of a stage: the target lists read it at parse time (is there a label column?)
and the rule that writes the cell table reads it to build it.
"""

from __future__ import annotations

from pcinpaint.errors import InputError
from pcinpaint.io import OBS_NAMES

PREFIX = "Metadata_"
#: cell-table roles a feature table fills, in the cell table's column order
ROLES = ("cell_id", "image_id", "field_id", "protein", "cell_line", "antibody", "label")
#: roles without which there is no cell table, per level (a per-protein table needs proteins only)
REQUIRED = {"cell": ("image_id", "protein"), "protein": ("protein",)}
#: candidates for a role the config leaves unnamed, first present wins
DEFAULTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "cell_id": (("cell_id",), ("Metadata_cell_id",), ("obs_names",)),
    "image_id": (("image_id",), ("Metadata_image_id",), ("Metadata_Plate", "Metadata_Well")),
    "field_id": (("field_id",), ("Metadata_field_id",), ("Metadata_Plate", "Metadata_Well", "Metadata_Site")),
    "protein": (("protein",), ("Metadata_protein",)),
    "cell_line": (("cell_line",), ("Metadata_cell_line",)),
    "antibody": (("antibody",), ("Metadata_antibody",)),
    "label": (("label",), ("Metadata_label",)),
}


def _given(value) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def role_columns(block: dict, header: list[str]) -> dict[str, tuple[str, ...]]:
    """role -> the table's columns that give it (only roles the table has), from
    ``feature_table.columns`` or the defaults. A named column the table lacks, or a required
    role with no column, is a one-line error naming the file."""
    path, level = block["path"], block.get("level", "cell")
    named = block.get("columns", {}) or {}
    have = set(header)
    roles = {}
    for role in ROLES:
        given = _given(named.get(role))
        if given is not None:
            absent = [c for c in given if c not in have]
            if absent:
                raise InputError(
                    f"{path}: feature_table.columns.{role} names {absent}, not a column of the table "
                    f"(it has {header[:12]}{' ...' if len(header) > 12 else ''})"
                )
            roles[role] = given
            continue
        found = next((c for c in DEFAULTS[role] if all(x in have for x in c)), None)
        if found:
            roles[role] = found
    for role in REQUIRED[level]:
        if role not in roles:
            options = " or ".join("+".join(c) for c in DEFAULTS[role])
            raise InputError(
                f"{path}: no {role} column: the table has none of {options}; name it in feature_table.columns.{role}"
            )
    return roles


#: cell-table columns the workflow sets itself
OWN = ("store_index",)


def carried_columns(roles: dict[str, tuple[str, ...]], header: list[str], obs: bool = False) -> dict[str, str]:
    """Other metadata columns -> their cell-table name: ``Metadata_`` columns without the prefix,
    and with ``obs`` (an AnnData file's obs, all metadata) every column; except those giving a
    role, the index, and names a role (or the workflow) already has."""
    used = {c for cols in roles.values() for c in cols} | {OBS_NAMES}
    carried = {}
    for c in header:
        name = c.removeprefix(PREFIX)
        if (obs or c.startswith(PREFIX)) and c not in used and name and name not in ROLES + OWN:
            carried[c] = name
    return carried


def is_anndata(path) -> bool:
    """Whether a table is an AnnData file, whose header (obs) is metadata only."""
    return str(path).endswith(".h5ad")


def cell_table_columns(block: dict, header: list[str]) -> list[str]:
    """The columns the dataset's cell table will have (for the target lists: is there a label?)."""
    roles = role_columns(block, header)
    named = [r for r in ROLES if r in roles or r in ("cell_id", "image_id", "field_id")]
    return [*named, *carried_columns(roles, header, is_anndata(block["path"])).values(), "store_index"]
