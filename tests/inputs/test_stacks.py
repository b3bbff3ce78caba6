"""Planes of multi-dimensional files through bioio: OME-TIFF and ImageJ stacks written with
tifffile read back exactly; the sheet check reads metadata only; crops from stacks are the crops
from one TIFF per channel; the other formats' plugins are asked with the right plane."""

import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from pcinpaint.errors import InputError
from pcinpaint.image_refs import parse_reference, plane_header
from pcinpaint.inputs.files import read_image
from pcinpaint.inputs.samplesheet import check_files, image_header, read_samplesheet
from pcinpaint.io import write_table
from pcinpaint.resources import image_pixels

pytest.importorskip("bioio_ome_tiff", reason="bioio-ome-tiff reads OME-TIFF planes (requirements.txt)")

STACK = (np.arange(3 * 2 * 40 * 50) % 251).astype(np.uint16).reshape(3, 2, 40, 50)  # C, Z, Y, X


def _ome(path: Path, data=STACK, axes="CZYX", names=("dapi", "tub", "gfp")) -> Path:
    tifffile.imwrite(path, data, metadata={"axes": axes, "Channel": {"Name": list(names)}}, ome=True)
    return path


def _ome_zarr(path: Path, data: np.ndarray, names) -> Path:
    """An OME-Zarr image (C, Y, X) written by the ome-zarr package, its channels named."""
    pytest.importorskip("ome_zarr", reason="the ome-zarr package writes OME-Zarr images (requirements-dev.txt)")
    import zarr
    from ome_zarr.format import FormatV05
    from ome_zarr.writer import write_image

    window = {"start": 0, "end": 1, "min": 0, "max": 1}
    omero = {"channels": [{"label": n, "color": "FFFFFF", "window": window} for n in names]}
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    write_image(data, group, scale_factors=[], fmt=FormatV05(), axes="cyx", omero=omero)
    return path


def test_an_ome_zarr_image_plane_and_its_header(tmp_path):
    path = _ome_zarr(tmp_path / "field.ome.zarr", STACK[:, 0], ("dapi", "tub", "gfp"))
    assert np.array_equal(read_image(f"{path}#c=gfp"), STACK[2, 0])
    assert image_header(f"{path}#c=1") == ((40, 50), None)
    assert image_pixels(f"{path}#c=0") == 40 * 50
    with pytest.raises(InputError, match=r"no c named 'GFP' \(the file has \['dapi', 'tub', 'gfp'\]\)"):
        read_image(f"{path}#c=GFP")


def test_the_sheet_check_opens_a_stack_once_for_all_its_planes(tmp_path, monkeypatch):
    from pcinpaint.inputs import samplesheet

    _ome(tmp_path / "a.ome.tif")
    opened = []
    real = samplesheet.open_file
    monkeypatch.setattr(samplesheet, "open_file", lambda path: opened.append(path) or real(path))
    rows = [
        {
            "image_id": "i",
            "field_id": f"f{z}",
            "protein": "P",
            "rfp": f"a.ome.tif#c=0&z={z}",
            "gfp": f"a.ome.tif#c=2&z={z}",
        }
        for z in (0, 1)
    ]
    write_table(pd.DataFrame(rows), tmp_path / "sheet.tsv")
    check_files(read_samplesheet(tmp_path / "sheet.tsv", ["rfp", "gfp"]), ["rfp", "gfp"])
    assert opened == [str(tmp_path / "a.ome.tif")]


def test_an_unreadable_field_sizes_jobs_by_default_and_says_so(tmp_path, capsys):
    image_pixels.cache_clear()
    assert image_pixels(f"{tmp_path / 'gone.ome.tif'}#c=0") == 2048 * 2048
    assert "warning: cannot read the field size of" in capsys.readouterr().err


def test_an_ome_tiff_plane_by_index_name_and_projection(tmp_path):
    path = str(_ome(tmp_path / "f.ome.tif"))
    assert np.array_equal(read_image(f"{path}#c=1&z=1"), STACK[1, 1])
    assert np.array_equal(read_image(f"{path}#c=gfp&z=max"), STACK[2].max(axis=0))
    assert read_image(f"{path}#c=0&z=0").dtype == np.float32
    assert image_header(f"{path}#c=2&z=0") == ((40, 50), None)
    assert image_pixels(f"{path}#c=2&z=0") == 40 * 50


def test_an_imagej_stack_plane(tmp_path):
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, STACK[:, 0], imagej=True, metadata={"axes": "CYX"})
    assert np.array_equal(read_image(f"{path}#c=2"), STACK[2, 0])
    assert image_header(f"{path}#c=2") == ((40, 50), None)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("c=1", "the file has 2 z planes; name one with #z=<index> or z=max"),
        ("z=0", "the file has 3 c planes; name one with #c=<index>"),
        ("c=3&z=0", "c=3 is out of range (the file has 3)"),
        ("c=GFP&z=0", "no c named 'GFP' (the file has ['dapi', 'tub', 'gfp'])"),
        ("c=0&z=0&scene=1", "scene=1 is out of range (the file has 1)"),
    ],
)
def test_a_plane_the_file_does_not_have_is_one_line(tmp_path, spec, words):
    path = _ome(tmp_path / "f.ome.tif")
    shape, problem = image_header(f"{path}#{spec}")
    assert shape is None and words in problem and "\n" not in problem
    with pytest.raises(InputError, match=r"^sheet\.tsv: row 2: .*" + words.split("(")[0][:20]):
        read_image(f"{path}#{spec}", "sheet.tsv: row 2")


def test_a_missing_plugin_or_format_names_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "f.czi"
    path.write_bytes(b"\0")
    monkeypatch.setitem(sys.modules, "bioio_czi", None)  # not installed
    with pytest.raises(
        InputError, match=r"f\.czi: reading \.czi files needs bioio and its plugin: pip install .*bioio-czi"
    ):
        read_image(f"{path}#c=0")
    other = tmp_path / "f.xyz"
    other.write_bytes(b"\0")
    with pytest.raises(InputError, match=r"f\.xyz: no bioio plugin for this file's format"):
        read_image(f"{other}#c=0")


@pytest.mark.parametrize("ending, module", [(".czi", "bioio_czi"), (".nd2", "bioio_nd2"), (".lif", "bioio_lif")])
def test_vendor_files_go_to_their_plugin_with_the_plane_asked_for(tmp_path, monkeypatch, ending, module):
    """CZI, ND2 and LIF have no Python writers: bioio is asked with the right plugin, scene
    (by name), channel (by name) and z, and its plane is returned."""
    calls = {}

    class Reader:  # the plugin's reader class, only passed to BioImage
        pass

    class FakeImage:
        scenes = ("Well A1", "Well B2")
        channel_names = ["DAPI", "GFP"]
        dtype = np.uint16
        dims = types.SimpleNamespace(T=1, C=2, Z=3, Y=4, X=5)

        def __init__(self, path, reader):
            calls.update(path=Path(path), reader=reader)

        def set_scene(self, scene):
            calls["scene"] = scene

        def get_image_data(self, order, **at):
            calls.update(order=order, at=at)
            return np.full((4, 5), 7, np.uint16)

    monkeypatch.setitem(sys.modules, module, types.SimpleNamespace(Reader=Reader))
    monkeypatch.setattr("bioio.BioImage", FakeImage)
    path = tmp_path / f"plate{ending}"
    path.write_bytes(b"\0")
    plane = read_image(f"{path}#scene=Well B2&c=GFP&z=2")
    assert calls == {"path": path, "reader": Reader, "scene": 1, "order": "YX", "at": {"Z": 2, "T": 0, "C": 1}}
    assert plane.shape == (4, 5) and plane.dtype == np.float32 and plane.max() == 7
    assert plane_header(parse_reference(f"{path}#scene=0&c=1&z=0")) == ((4, 5), np.dtype(np.uint16))


def test_the_sheet_check_reads_references_and_compares_their_shapes(tmp_path):
    _ome(tmp_path / "a.ome.tif")
    _ome(tmp_path / "b.ome.tif", STACK[:, :, :30], names=("dapi", "tub", "gfp"))
    rows = [
        {"image_id": "i1", "field_id": "a", "protein": "P", "rfp": "a.ome.tif#c=0&z=0", "gfp": "a.ome.tif#c=gfp&z=max"},
        {"image_id": "i1", "field_id": "b", "protein": "P", "rfp": "a.ome.tif#c=0&z=0", "gfp": "b.ome.tif#c=2&z=0"},
        {"image_id": "i1", "field_id": "c", "protein": "P", "rfp": "a.ome.tif#c=9&z=0", "gfp": "a.ome.tif#c=2&z=0"},
    ]
    write_table(pd.DataFrame(rows), tmp_path / "sheet.tsv")
    sheet = read_samplesheet(tmp_path / "sheet.tsv", ["rfp", "gfp"])
    assert sheet.loc[0, "gfp"] == f"{tmp_path / 'a.ome.tif'}#c=gfp&z=max"  # resolved beside the sheet
    with pytest.raises(InputError) as err:
        check_files(sheet, ["rfp", "gfp"])
    message = str(err.value)
    assert "2 problem(s)" in message
    assert "row 3 (field_id=b): channels have different shapes {'rfp': (40, 50), 'gfp': (30, 50)}" in message
    assert "row 4 (field_id=c): rfp: " in message and "c=9 is out of range (the file has 3)" in message
    check_files(sheet.iloc[:1], ["rfp", "gfp"])  # a good row passes


@pytest.mark.parametrize("layout", ["ome", "imagej", "ome_z_max", "ome_zarr"])
def test_crops_from_stacks_are_the_crops_from_one_tiff_per_channel(tmp_path, monkeypatch, layout):
    """The same pixels as one OME-TIFF (or ImageJ) stack per field, named by plane references,
    give bit-identical crops and object tables to one TIFF per channel."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "crops"))
    from synthetic_fields import FIELDS, _dataset

    from pcinpaint.crops.segment_chunk import process_chunk

    sheet, cfg = _dataset(tmp_path, FIELDS)
    expected = process_chunk(sheet, cfg, progress=False)
    stacked = sheet.copy()
    for i, row in sheet.iterrows():
        planes = np.stack([tifffile.imread(row[ch]) for ch in ("rfp", "gfp")])
        path = tmp_path / f"{row['field_id']}.ome.tif"
        if layout == "ome":
            _ome(path, planes, "CYX", ("rfp", "gfp"))
            refs = {"rfp": "c=0", "gfp": "c=gfp"}
        elif layout == "ome_z_max":  # a dimmer second slice: the projection is the first
            _ome(path, np.stack([planes, planes // 2], axis=1), "CZYX", ("rfp", "gfp"))
            refs = {"rfp": "c=0&z=max", "gfp": "c=1&z=max"}
        elif layout == "ome_zarr":  # one OME-Zarr image per field (NGFF 0.5), written by ome-zarr
            path = _ome_zarr(tmp_path / f"{row['field_id']}.ome.zarr", planes, ("rfp", "gfp"))
            refs = {"rfp": "c=rfp", "gfp": "c=1"}
        else:
            path = tmp_path / f"{row['field_id']}.tif"
            tifffile.imwrite(path, planes, imagej=True, metadata={"axes": "CYX"})
            refs = {"rfp": "c=0", "gfp": "c=1"}
        for ch, spec in refs.items():
            stacked.loc[i, ch] = f"{path}#{spec}"
    check_files(stacked, ["rfp", "gfp"])
    got = process_chunk(stacked, cfg, progress=False)
    assert len(expected.crops) > 10
    assert np.array_equal(got.crops, expected.crops)
    pd.testing.assert_frame_equal(got.objects, expected.objects)
