"""Which columns of a feature table give which cell-table role (``table_roles``): the defaults
that fit pycytominer and AnnData, columns the config names, and one-line errors for the rest."""

import pytest

from pcinpaint.errors import InputError
from pcinpaint.table_roles import carried_columns, cell_table_columns, role_columns

#: a pycytominer profile's header: metadata with the prefix, CellProfiler features without
PYCYTOMINER = [
    "Metadata_Plate",
    "Metadata_Well",
    "Metadata_Site",
    "Metadata_protein",
    "Metadata_moa",
    "Cells_AreaShape_Area",
    "Nuclei_Intensity_Mean",
]


def _block(**extra) -> dict:
    return {"path": "profiles.parquet", **extra}


def _one_line(match: str, make) -> str:
    """The InputError's message, checked to be one line naming the file."""
    with pytest.raises(InputError, match=match) as err:
        make()
    message = str(err.value)
    assert "\n" not in message and message.startswith("profiles.parquet: ")
    return message


def test_the_bare_name_comes_before_the_metadata_prefix():
    header = ["protein", "Metadata_protein", "image_id", "Metadata_image_id", "label", "Metadata_label", "f"]
    roles = role_columns(_block(), header)
    assert roles == {"image_id": ("image_id",), "protein": ("protein",), "label": ("label",)}


def test_the_metadata_prefix_when_the_bare_name_is_absent():
    names = ["cell_id", "image_id", "field_id", "protein", "cell_line", "antibody", "label"]
    roles = role_columns(_block(), [*(f"Metadata_{name}" for name in names), "f"])
    assert roles == {name: (f"Metadata_{name}",) for name in names}


def test_a_well_is_the_image_and_a_site_the_field():
    roles = role_columns(_block(), PYCYTOMINER)
    assert roles == {
        "image_id": ("Metadata_Plate", "Metadata_Well"),
        "field_id": ("Metadata_Plate", "Metadata_Well", "Metadata_Site"),
        "protein": ("Metadata_protein",),
    }
    no_site = role_columns(_block(), [c for c in PYCYTOMINER if c != "Metadata_Site"])
    assert "field_id" not in no_site and no_site["image_id"] == ("Metadata_Plate", "Metadata_Well")


def test_a_well_needs_its_plate():
    header = ["Metadata_Well", "Metadata_protein", "f"]
    _one_line(
        r"no image_id column: the table has none of image_id or Metadata_image_id or "
        r"Metadata_Plate\+Metadata_Well; name it in feature_table\.columns\.image_id$",
        lambda: role_columns(_block(), header),
    )


def test_an_anndata_files_obs_names_are_its_cell_ids():
    roles = role_columns(_block(), ["obs_names", "image_id", "protein", "f"])
    assert roles["cell_id"] == ("obs_names",)
    assert role_columns(_block(), ["obs_names", "cell_id", "image_id", "protein"])["cell_id"] == ("cell_id",)
    assert "cell_id" not in role_columns(_block(), ["image_id", "protein"])  # the row number then


def test_named_columns_as_a_string_or_a_list():
    header = ["ORF", "plate", "well", "Metadata_Plate", "Metadata_Well", "Metadata_protein", "loc", "f"]
    named = {"protein": "ORF", "image_id": ["plate", "well"], "label": "loc", "cell_line": None}
    roles = role_columns(_block(columns=named), header)
    assert roles == {"image_id": ("plate", "well"), "protein": ("ORF",), "label": ("loc",)}


def test_a_named_column_the_table_lacks_is_one_line_naming_the_file_and_key():
    header = ["image_id", "protein", "f"]
    message = _one_line(
        r"feature_table\.columns\.label names \['Metadata_loc'\], not a column of the table",
        lambda: role_columns(_block(columns={"label": "Metadata_loc"}), header),
    )
    assert "['image_id', 'protein', 'f']" in message
    _one_line(
        r"feature_table\.columns\.image_id names \['well'\]",
        lambda: role_columns(_block(columns={"image_id": ["image_id", "well"]}), header),
    )


def test_a_long_header_is_cut_in_the_message():
    header = ["image_id", "protein", *[f"f{i}" for i in range(40)]]
    message = _one_line("names", lambda: role_columns(_block(columns={"label": "loc"}), header))
    assert "f9" in message and "f10" not in message and message.endswith(" ...)")


@pytest.mark.parametrize(
    ("level", "header", "role"),
    [
        ("cell", ["protein", "f"], "image_id"),
        ("cell", ["image_id", "f"], "protein"),
        ("protein", ["image_id", "gene", "f"], "protein"),
    ],
)
def test_a_required_role_without_a_column_stops(level, header, role):
    _one_line(
        rf"^profiles\.parquet: no {role} column: the table has none of {role} or Metadata_{role}",
        lambda: role_columns(_block(level=level), header),
    )


def test_a_per_protein_table_needs_no_image():
    assert role_columns(_block(level="protein"), ["Metadata_protein", "f"]) == {"protein": ("Metadata_protein",)}


def test_other_metadata_columns_are_carried_without_the_prefix():
    header = [*PYCYTOMINER, "Metadata_Count_Cells", "Metadata_", "moa", "Metadata_label"]
    roles = role_columns(_block(columns={"label": "moa"}), header)
    carried = carried_columns(roles, header)
    # Plate, Well and Site give roles, Metadata_protein and Metadata_label have a role's name,
    # a bare prefix has no name left, and a column without the prefix is a feature
    assert carried == {"Metadata_moa": "moa", "Metadata_Count_Cells": "Count_Cells"}


def test_a_metadata_column_giving_a_named_role_is_not_carried():
    header = ["Metadata_gene", "Metadata_image", "Metadata_batch", "f"]
    roles = role_columns(_block(columns={"protein": "Metadata_gene", "image_id": "Metadata_image"}), header)
    assert carried_columns(roles, header) == {"Metadata_batch": "batch"}


def test_cell_table_columns():
    assert cell_table_columns(_block(), PYCYTOMINER) == [
        "cell_id",
        "image_id",
        "field_id",
        "protein",
        "moa",
        "store_index",
    ]
    header = ["obs_names", "label", "Metadata_cell_line", "image_id", "protein", "Metadata_batch", "f"]
    assert cell_table_columns(_block(), header) == [
        "cell_id",
        "image_id",
        "field_id",
        "protein",
        "cell_line",
        "label",
        "batch",
        "store_index",
    ]
    per_protein = cell_table_columns(_block(level="protein"), ["protein", "Metadata_go", "f"])
    assert per_protein == ["cell_id", "image_id", "field_id", "protein", "go", "store_index"]
    with pytest.raises(InputError, match="no protein column"):
        cell_table_columns(_block(), ["image_id", "f"])
