"""A lost, truncated or overwritten part of a crop store stops its readers with one line; it never
reads as zeros or as changed crops."""

import logging
import os

import numpy as np
import pytest

from pcinpaint.crops.store import open_crop_store, read_crops, write_crop_store, write_unchecked_crop_store
from pcinpaint.errors import InputError

N = 1100  # two shards: cells 0-1,023 and 1,024-1,099
REBUILD = "rebuild it: snakemake -R gather_crops (or -R import_crops for a pre-cropped data set)"


@pytest.fixture
def store(tmp_path):
    crops = np.random.default_rng(3).integers(0, 256, (N, 2, 64, 64), dtype=np.uint8)
    crops[200:240] = 0  # two whole chunks of zeros: written like any other, so never taken for lost ones
    path = write_crop_store(tmp_path / "crops.zarr", [crops[:700], crops[700:]], N, 2, 64)
    return path, crops


def shard(path, i):
    return path / "c" / str(i) / "0" / "0" / "0"


def every_reader(path, cells=(5, 1050)):
    """Each way a stage reads the store: held in memory, streamed from disk, read once (``cells``)."""
    yield lambda: open_crop_store(path)
    yield lambda: open_crop_store(path, memory_limit=None).raw()
    yield lambda: read_crops(path)
    yield lambda: read_crops(path, list(cells))


def assert_one_line(exc, *parts):
    message = str(exc.value)
    assert "\n" not in message
    for part in parts:
        assert part in message


def test_an_intact_store_reads_bit_identical(store):
    path, crops = store
    held, streamed = open_crop_store(path), open_crop_store(path, memory_limit=None)
    assert held.memory is not None and streamed.memory is None
    assert dict(held.array.attrs)["integrity"] == {"checksum": "crc32c", "shards": 2} and held.shards.chunk_checksums
    assert "integrity" not in held.attrs  # the layout record is the store's own, not a writer's attribute
    for reader in (held, streamed):
        np.testing.assert_array_equal(reader.raw(), crops)
        np.testing.assert_array_equal(reader.raw([1099, 0, 210, 1024]), crops[[1099, 0, 210, 1024]])
        np.testing.assert_array_equal(reader.raw(slice(190, 1030)), crops[190:1030])
    np.testing.assert_array_equal(read_crops(path), crops.astype(np.float32) / 255)


def test_a_lost_shard_stops_every_reader(store):
    path, _ = store
    os.remove(shard(path, 1))
    for read in every_reader(path):
        with pytest.raises(InputError) as exc:
            read()
        assert_one_line(exc, f"{path}: shard c/1/0/0/0 (cells 1,024-1,099) is missing", REBUILD)


def test_a_shard_lost_after_opening_stops_the_read(store):
    path, crops = store
    streamed = open_crop_store(path, memory_limit=None)
    np.testing.assert_array_equal(streamed.raw([3]), crops[[3]])
    os.remove(shard(path, 0))
    with pytest.raises(InputError) as exc:
        streamed.raw(slice(0, 64))
    assert_one_line(exc, f"{path}: shard c/0/0/0/0 (cells 0-1,023) is missing", REBUILD)
    np.testing.assert_array_equal(streamed.raw([1030]), crops[[1030]])  # the other shard is whole


def test_random_bytes_over_a_chunk_stop_reads_of_its_cells(store):
    path, crops = store
    at = 5 * (16 * 2 * 64 * 64 + 20) + 1000  # inside the sixth chunk of 16 cells
    with open(shard(path, 0), "r+b") as fh:
        fh.seek(at)
        fh.write(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    streamed = open_crop_store(path, memory_limit=None)  # the shard index is intact
    expected = (
        f"{path}: shard c/0/0/0/0 (cells 0-1,023) is overwritten: the chunk(s) of cells 80-95 fail their checksum"
    )
    for read in [*every_reader(path, (1050, 85)), lambda: streamed.raw(slice(64, 128))]:
        with pytest.raises(InputError) as exc:
            read()
        assert_one_line(exc, expected, REBUILD)
    np.testing.assert_array_equal(streamed.raw(slice(0, 80)), crops[:80])  # the chunks around it read as written
    np.testing.assert_array_equal(streamed.raw(slice(96, 1100)), crops[96:])


@pytest.mark.parametrize("damage", ["truncated", "end overwritten"])
def test_a_damaged_shard_end_stops_the_store_on_opening(store, damage):
    path, _ = store
    file = shard(path, 1)
    size = file.stat().st_size
    with open(file, "r+b") as fh:
        if damage == "truncated":
            fh.truncate(size // 2)
        else:
            fh.seek(size - 500)
            fh.write(bytes(500))
    for read in every_reader(path):
        with pytest.raises(InputError) as exc:
            read()
        assert_one_line(
            exc, f"{path}: shard c/1/0/0/0 (cells 1,024-1,099) has a damaged index (truncated or overwritten)", REBUILD
        )


def test_a_chunk_missing_from_a_shard_index_is_damage(store):
    """Every chunk is written, so a chunk the index marks absent (zarr would read zeros) is lost."""
    import google_crc32c

    path, _ = store
    file = shard(path, 0)
    raw = bytearray(file.read_bytes())
    index = np.frombuffer(bytes(raw[-(64 * 16 + 4) : -4]), "<u8").reshape(-1, 2).copy()
    index[13:15] = np.iinfo(np.uint64).max  # the two all-zero chunks of cells 208-239
    raw[-(64 * 16 + 4) :] = index.tobytes() + google_crc32c.value(index.tobytes()).to_bytes(4, "little")
    file.write_bytes(bytes(raw))
    with pytest.raises(InputError) as exc:
        read_crops(path, [1050])
    assert_one_line(exc, f"{path}: shard c/0/0/0/0 (cells 0-1,023) lacks the chunk(s) of cells 208-239", REBUILD)


def test_a_store_without_checksums_reads_with_one_warning(tmp_path, caplog):
    crops = np.random.default_rng(4).integers(0, 256, (N, 2, 64, 64), dtype=np.uint8)
    path = write_unchecked_crop_store(tmp_path / "old.zarr", [crops], N, 2, 64)
    with caplog.at_level(logging.WARNING, logger="pcinpaint"):
        np.testing.assert_array_equal(open_crop_store(path).raw(), crops)
        np.testing.assert_array_equal(read_crops(path, [1099]), crops[[1099]] / np.float32(255))
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        f"{path}: written before crop stores carried checksums, so a damaged or lost part of it "
        f"may read as zeros unnoticed; {REBUILD}"
    ]
    os.remove(shard(path, 0))  # a lost shard is still found
    with pytest.raises(InputError) as exc:
        read_crops(path)
    assert_one_line(exc, f"{path}: shard c/0/0/0/0 (cells 0-1,023) is missing", REBUILD)
