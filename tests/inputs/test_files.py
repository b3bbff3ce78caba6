"""Reading users' files (``pcinpaint.inputs.files``): one 2-D plane per file as float32, a file
that cannot be read as one line naming it, and channel files grouped by the token in their names."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from pcinpaint.errors import InputError
from pcinpaint.inputs.files import channel_of, file_stem, files_by_key, natural_key, read_image


def test_a_tiff_plane_reads_as_float32_with_its_values(tmp_path):
    plane = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    tifffile.imwrite(tmp_path / "a.tif", plane[None])  # a leading axis of 1 is squeezed away
    img = read_image(tmp_path / "a.tif")
    assert img.dtype == np.float32 and img.shape == (3, 4)
    np.testing.assert_array_equal(img, plane)


def test_a_png_reads_through_the_fallback(tmp_path):
    from skimage.io import imsave

    plane = np.array([[0, 50], [100, 255]], np.uint8)
    imsave(tmp_path / "a.png", plane, check_contrast=False)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), plane)


def test_files_that_cannot_give_one_plane_are_one_line_naming_them(tmp_path):
    with pytest.raises(InputError, match=r"^row 3: image file not found: .*absent\.tif$"):
        read_image(tmp_path / "absent.tif", where="row 3")
    (tmp_path / "broken.tif").write_bytes(b"II*\x00 not really a tiff")
    with pytest.raises(InputError, match=r"^cannot read image .*broken\.tif: ") as err:
        read_image(tmp_path / "broken.tif")
    assert "\n" not in str(err.value)
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(InputError, match=r"has shape \(2, 3, 4\); expected one 2-D plane per channel file"):
        read_image(tmp_path / "stack.tif")


def test_natural_key_orders_numbers_by_value():
    names = ["field_10", "Field_2", "field_1b", "field_1"]
    assert sorted(names, key=natural_key) == ["field_1", "field_1b", "Field_2", "field_10"]


@pytest.mark.parametrize(
    ("name", "stem"),
    [("a_gfp.tif", "a_gfp"), ("a.OME.TIFF", "a"), ("b.ome.tif", "b"), ("c.tiff", "c"), ("d.png", "d")],
)
def test_file_stem_drops_image_suffixes(name, stem):
    assert file_stem(Path(name)) == stem


def test_a_token_at_the_end_wins_the_longest_and_one_inside_is_cut_out():
    tokens = {"protein": "gfp", "nucleus": "_gfp_dapi", "marker": "_rfp"}
    assert channel_of("w1_gfp", {"a": "gfp", "b": "_gfp"}) == ("b", "w1")
    assert channel_of("f1_gfp_dapi", tokens) == ("nucleus", "f1")
    assert channel_of("f1_rfp_z0", tokens) == ("marker", "f1_z0")
    assert channel_of("f1_bf", tokens) is None
    assert channel_of("gfp_x_gfp_y", {"protein": "gfp"}) is None  # twice inside: ambiguous


def test_files_are_grouped_by_field_and_unmatched_names_listed(tmp_path):
    tokens = {"protein": "_gfp", "nucleus": "_dapi"}
    paths = [tmp_path / n for n in ("f1_gfp.tif", "f1_dapi.tif", "f2_gfp.tif", "notes.tif")]
    groups, ignored = files_by_key(paths, tokens, "field")
    assert groups == {"f1": {"protein": paths[0], "nucleus": paths[1]}, "f2": {"protein": paths[2]}}
    assert ignored == ["notes.tif"]


def test_a_second_file_of_one_channel_and_field_is_an_error(tmp_path):
    paths = [tmp_path / "f1_gfp.tif", tmp_path / "f1_gfp.ome.tif"]
    with pytest.raises(InputError, match=r"a second 'protein' file for field 'f1' \(first: f1_gfp\.tif\)"):
        files_by_key(paths, {"protein": "_gfp"}, "field")
