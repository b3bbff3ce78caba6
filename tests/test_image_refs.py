"""Sample-sheet cells naming one plane of a multi-dimensional file (``<file>#c=1&z=max``)."""

import pytest

from pcinpaint.errors import InputError
from pcinpaint.image_refs import ImageRef, file_part, is_reference, parse_reference


def test_a_reference_names_a_file_and_its_plane():
    ref = parse_reference("/data/f1.ome.tiff#c=GFP&z=max&scene=2&t=0")
    assert ref == ImageRef("/data/f1.ome.tiff", c="GFP", z="max", t=0, scene=2)
    assert str(ref) == "/data/f1.ome.tiff#c=GFP&z=max&t=0&scene=2"
    assert parse_reference(str(ref)) == ref
    assert parse_reference("a.ome.tif#c=1") == ImageRef("a.ome.tif", c=1)
    assert parse_reference("plate.czi#scene=Well A1&c=0").scene == "Well A1"


def test_a_plain_path_is_not_a_reference():
    for text in ("field_rfp.tif", "/data/run#3/field.tif", "x.png"):
        assert not is_reference(text) and file_part(text) == text
        assert parse_reference(text) == ImageRef(text)
    assert is_reference("/data/run#3/stack.ome.tif#c=0") and file_part("/data/run#3/stack.ome.tif#c=0") == (
        "/data/run#3/stack.ome.tif"
    )


@pytest.mark.parametrize(
    "text, words",
    [
        ("a.ome.tif#ch=1", "'ch=1' is not one of c=, z=, t=, scene="),
        ("a.ome.tif#c=", "'c=' is not one of"),
        ("a.ome.tif#c=1&c=2", "c= is given twice"),
        ("a.ome.tif#c=1&z=mean", "z='mean' is not an index or max"),
        ("a.ome.tif#t=last", "t='last' is not an index"),
    ],
)
def test_a_bad_reference_is_one_line_naming_it(text, words):
    with pytest.raises(InputError) as err:
        parse_reference(text)
    assert str(err.value).startswith(text) and words in str(err.value) and "\n" not in str(err.value)
