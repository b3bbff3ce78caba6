"""ImageXpress folders listed from file names: sites and wavelengths (named by the HTD file),
thumbnails and other files left out, TimePoint and ZStep folders chosen by index."""

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from pcinpaint.errors import InputError
from pcinpaint.inputs.imagexpress import FILE_NAME, read_layout, wave_names

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from plate_files import imagexpress_plate  # noqa: E402

PLANES = np.zeros((2, 8, 8), np.uint16)
GUID = "0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D"


def test_file_names_as_metaxpress_writes_them():
    m = FILE_NAME.match(f"Plate 1_B03_s4_w2{GUID}.TIF")
    assert (m["row"], m["column"], m["site"], m["wave"], m["guid"]) == ("B", "03", "4", "2", GUID)
    m = FILE_NAME.match("run_H12_w1.tif")
    assert (m["row"], m["column"], m["site"], m["wave"]) == ("H", "12", None, "1")
    assert FILE_NAME.match("run_H12_s1_w1_thumb.tif")["thumb"]
    assert FILE_NAME.match("notes.txt") is None


def test_a_folder_lists_sites_and_named_wavelengths(tmp_path):
    path = imagexpress_plate(tmp_path / "plate9", {"B03": [PLANES, PLANES], "C10": [PLANES]})
    (path / "TimePoint_1" / "readme.txt").write_text("not an image")
    layout = read_layout(path)
    assert layout.name == "plate9" and layout.channels == ["DAPI", "GFP"]
    assert [(f.row, f.column, f.field) for f in layout.fields] == [("B", "03", "1"), ("B", "03", "2"), ("C", "10", "1")]
    assert layout.fields[0].planes["GFP"].endswith("TimePoint_1/screen_B03_s1_w2.tif")  # not the thumbnail
    assert wave_names(path) == {"w1": "DAPI", "w2": "GFP"}
    (path / "screen.HTD").unlink()
    assert read_layout(path).channels == ["w1", "w2"]


def test_time_points_and_z_steps_are_chosen_by_index(tmp_path):
    root = tmp_path / "run"
    for t in (1, 2):
        for z in (1, 2, 3):
            folder = root / f"TimePoint_{t}" / f"ZStep_{z}"
            folder.mkdir(parents=True)
            for w in (1, 2):
                tifffile.imwrite(folder / f"run_B03_s1_w{w}.tif", PLANES[0] + 10 * t + z)
    with pytest.raises(InputError, match=r"2 TimePoint_<n> folders; name one with the dataset's plate\.t"):
        read_layout(root)
    with pytest.raises(InputError, match=r"3 ZStep_<n> folders; name one with the dataset's plate\.z"):
        read_layout(root, t=1)
    with pytest.raises(InputError, match="chosen by index"):
        read_layout(root, t=1, z="max")
    with pytest.raises(InputError, match=r"plate\.z: 5 has no ZStep_6 folder"):
        read_layout(root, t=1, z=5)
    planes = read_layout(root, t=1, z=2).fields[0].planes
    assert planes["w1"].endswith("TimePoint_2/ZStep_3/run_B03_s1_w1.tif")
    assert tifffile.imread(planes["w2"])[0, 0] == 23


def test_an_empty_or_doubled_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no ImageXpress image files"):
        read_layout(tmp_path / "empty")
    doubled = imagexpress_plate(tmp_path / "d", {"B03": [PLANES]})
    tifffile.imwrite(doubled / "TimePoint_1" / f"screen_B03_s1_w1{GUID}.tif", PLANES[0])
    with pytest.raises(InputError, match="a second file for well B03, site 1, DAPI"):
        read_layout(doubled)
    with pytest.raises(InputError, match="is a folder"):
        read_layout(tmp_path / "none")
