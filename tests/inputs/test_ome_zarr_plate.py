"""OME-Zarr HCS plates listed from metadata: wells, fields and channel names of NGFF 0.4 and 0.5
plates written by the ome-zarr package; what is not a plate says so in one line."""

import sys
from pathlib import Path

import numpy as np
import pytest

from pcinpaint.errors import InputError
from pcinpaint.inputs.ome_zarr_plate import plate_name, read_layout

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from plate_files import ome_zarr_plate  # noqa: E402

pytest.importorskip("ome_zarr", reason="the ome-zarr package writes the test plates (requirements-dev.txt)")

PLANES = np.zeros((2, 16, 16), np.uint16)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_plate_lists_its_wells_fields_and_channels(tmp_path, version):
    path = ome_zarr_plate(tmp_path / "screen.ome.zarr", {"B03": [PLANES, PLANES], "H12": [PLANES]}, version)
    layout = read_layout(path, z="max")
    assert layout.name == "screen" and layout.channels == ["DAPI", "GFP"]
    assert [(f.row, f.column, f.field) for f in layout.fields] == [("B", "3", "0"), ("B", "3", "1"), ("H", "12", "0")]
    assert layout.fields[2].planes == {
        "DAPI": f"{path.resolve()}/H/12/0#c=DAPI&z=max",
        "GFP": f"{path.resolve()}/H/12/0#c=GFP&z=max",
    }


def test_unnamed_channels_are_their_indices_and_odd_names_are_refused(tmp_path):
    import zarr

    path = ome_zarr_plate(tmp_path / "p.ome.zarr", {"B03": [PLANES]}, "0.4")
    image = zarr.open_group(str(path / "B/3/0"), mode="a")
    image.attrs["omero"] = {"channels": [{"label": "DAPI"}, {}]}
    assert read_layout(path).channels == ["DAPI", "1"]
    image.attrs["omero"] = {"channels": [{"label": "a&b"}, {"label": "GFP"}]}
    with pytest.raises(InputError, match="channel name 'a&b' holds one of"):
        read_layout(path)


def test_what_is_not_a_plate_is_one_line(tmp_path):
    import zarr

    single = zarr.open_group(str(tmp_path / "image.ome.zarr"), mode="w")
    single.attrs["multiscales"] = []
    with pytest.raises(InputError, match=r"not an OME-Zarr HCS plate .*<image>\.ome\.zarr#c=<channel>"):
        read_layout(tmp_path / "image.ome.zarr")
    old = zarr.open_group(str(tmp_path / "old.zarr"), mode="w")
    old.attrs["plate"] = {"version": "0.1", "wells": [{"path": "A/1"}]}
    with pytest.raises(InputError, match="version 0.1; this reads versions 0.4, 0.5"):
        read_layout(tmp_path / "old.zarr")
    with pytest.raises(InputError, match="not a readable zarr group"):
        read_layout(tmp_path / "missing.zarr")
    assert plate_name("a/plate7.ome.zarr") == "plate7" and plate_name("b/plate8.zarr/") == "plate8"
