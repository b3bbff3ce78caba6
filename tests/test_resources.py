"""What rules ask a cluster for: sizes read from the inputs' headers, costs that grow with the
data and with each attempt, and <TBD> before the inputs exist."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import REPO, TEST_CONFIG, run_snakemake

from pcinpaint.crops.store import write_crop_store
from pcinpaint.resources import (
    COSTS,
    KNN_PAIR_OVERHEAD,
    MAX_RUNTIME,
    MIN_RUNTIME,
    JobSize,
    SizeHints,
    docs_table,
    job_size,
    n_chunks,
    plan,
    typical_size,
)


def test_sizes_come_from_the_inputs_headers(tmp_path):
    store = tmp_path / "crops.zarr"
    crops = np.zeros((37, 2, 64, 64), np.uint8)
    write_crop_store(store, [crops], n_cells=37, n_channels=2)
    table = tmp_path / "pci_conv1.parquet"
    pd.DataFrame(np.zeros((37, 5), np.float32)).rename(columns=str).to_parquet(table)
    manifest = tmp_path / "feature_sets.tsv"
    pd.DataFrame({"name": ["a", "b"], "n_rows": [37, 37], "n_features": [10, 1000]}).to_csv(
        manifest, sep="\t", index=False
    )
    size = job_size([store, table, manifest])
    assert (size.cells, size.channels) == (37, 2)
    assert size.values == 37 * 5 + 37 * 10 + 37 * 1000
    assert size.input_mb > 0
    assert size.knn_work == 37**2 * (10 + KNN_PAIR_OVERHEAD) + 37**2 * (1000 + KNN_PAIR_OVERHEAD)

    field = tmp_path / "f1.tif"
    tifffile.imwrite(field, np.zeros((300, 500), np.uint16))
    sheet = tmp_path / "samplesheet.tsv"
    pd.DataFrame({"image_id": ["i1", "i1", "i2"], "field_id": ["f1", "f2", "f3"], "dapi": [str(field)] * 3}).to_csv(
        sheet, sep="\t", index=False
    )
    size = job_size([sheet], SizeHints(fields_per_chunk=2))  # 3 fields in 2 chunks
    assert size.fields == 1.5 and size.field_pixels == 300 * 500
    assert job_size([sheet], SizeHints(fields_per_chunk=1)).fields == 1.0
    assert job_size([sheet]).fields == 3.0  # one chunk
    # read once per version of the sheet: a rewritten sheet is read again
    pd.DataFrame({"image_id": ["i1"] * 4, "field_id": ["f1", "f2", "f3", "f4"], "dapi": [str(field)] * 4}).to_csv(
        sheet, sep="\t", index=False
    )
    assert job_size([sheet]).fields == 4.0
    # a bigger screen means more segmentation jobs of the same size
    assert [n_chunks(n, 100) for n in (0, 1, 100, 101, 1_000_000)] == [1, 1, 1, 2, 10_000]
    assert plan("segment", JobSize(fields=100)) == plan("segment", JobSize(fields=1_000_000 / n_chunks(1_000_000, 100)))

    other = tmp_path / "cells.h5"
    other.write_bytes(b"x" * 2**20)
    assert job_size([other]).input_mb == pytest.approx(1.0)
    # a gather's cells are all its chunks' rows; the benchmarks' cap bounds the work, not the rows read
    assert job_size([table, table], SizeHints(summed=True)).cells == 74
    capped = job_size([manifest], SizeHints(max_cells=10))
    assert capped.cells == 37 and capped.knn_work == 10**2 * (10 + KNN_PAIR_OVERHEAD) + 10**2 * (
        1000 + KNN_PAIR_OVERHEAD
    )


def test_a_missing_input_is_named_so_snakemake_decides_later(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        job_size([tmp_path / "crops.zarr"])
    assert err.value.filename == str(tmp_path / "crops.zarr")
    (tmp_path / "half.zarr").mkdir()  # a store folder without its metadata yet: still the input named
    with pytest.raises(FileNotFoundError) as err:
        job_size([str(tmp_path / "half.zarr")])
    assert err.value.filename == str(tmp_path / "half.zarr")


@pytest.mark.parametrize("rule", sorted(COSTS))
def test_asks_grow_with_the_data_and_the_attempt(rule):
    small, large = (plan(rule, typical_size(rule, n)) for n in (10_000, 1_000_000))
    assert small.mem_mb >= 500 and small.runtime >= MIN_RUNTIME
    assert large.mem_mb >= small.mem_mb and large.runtime >= small.runtime
    assert large.runtime <= MAX_RUNTIME
    assert 1 <= small.threads <= large.threads <= COSTS[rule].max_threads
    if COSTS[rule].unit != "fixed":
        assert large.mem_mb > small.mem_mb or large.runtime > small.runtime
    second = plan(rule, typical_size(rule, 10_000), attempt=2)
    assert second.mem_mb == 2 * small.mem_mb
    assert second.runtime == min(MAX_RUNTIME, 2 * small.runtime)


def test_training_asks_for_its_store_and_its_epochs():
    base = JobSize(cells=100_000, channels=3, epochs=10, width=1.0)
    more_epochs = plan("train_pci", JobSize(cells=100_000, channels=3, epochs=20, width=1.0))
    narrower = plan("train_pci", JobSize(cells=100_000, channels=3, epochs=10, width=0.25))
    four_channels = plan("train_pci", JobSize(cells=100_000, channels=4, epochs=10, width=1.0))
    assert more_epochs.runtime > plan("train_pci", base).runtime > narrower.runtime
    # the whole store is held: 100,000 three-channel crops are 1.2 GB, a fourth channel 0.4 GB more
    assert four_channels.mem_mb - plan("train_pci", base).mem_mb >= 400
    # a store over the crops budget is streamed: memory stops at the budget, time still grows
    budget = dict(crops_budget_mb=8 * 1024)
    million = plan("train_pci", JobSize(cells=1_000_000, channels=3, epochs=10, width=1.0, **budget))
    ten_million = plan("train_pci", JobSize(cells=10_000_000, channels=3, epochs=1, width=1.0, **budget))
    assert million.mem_mb == ten_million.mem_mb < 8 * 1024 * 1.25 + 5000
    assert plan("train_pci", JobSize(cells=100_000, channels=3, epochs=10, width=1.0, **budget)) == plan(
        "train_pci", base
    )


def test_process_workers_add_their_memory():
    one = plan("extract_classic", JobSize(cells=1_000, channels=3))
    many = plan("extract_classic", JobSize(cells=1_000_000, channels=3))
    assert one.threads == 1 and many.threads == 8
    assert many.mem_mb - one.mem_mb >= 1.25 * 150 * 7


def test_rules_without_a_measured_cost_take_the_defaults():
    assert plan("fig2a", JobSize(cells=10**6)).mem_mb == 1000
    assert plan("fig2a", JobSize(cells=10**6), attempt=3).runtime == 3 * MIN_RUNTIME


def test_the_docs_table_lists_every_sized_rule_and_is_current():
    table = docs_table()
    for rule in COSTS:
        assert f"`{rule}`" in table
    assert table in (REPO / "docs" / "cluster.md").read_text(), "regenerate with python -m pcinpaint.resources"


def test_a_dry_run_leaves_sizes_of_inputs_not_yet_made_to_be_decided(tmp_path):
    proc = run_snakemake("-n", "results/sim_human/models/pci/model.pt", f"--configfile={TEST_CONFIG}", cwd=tmp_path)
    block = proc.stdout[proc.stdout.index("rule train_pci:") :]
    resources = next(line for line in block.splitlines() if "resources:" in line)
    assert "mem_mb=<TBD>" in resources and "runtime=<TBD>" in resources and "gpu=1" in resources


def test_the_cost_tables_layer_widths_and_caps_are_the_networks_and_the_schemas():
    """One definition each: the feature counts per PCI layer are the network's source-encoder
    filters, the caps and budgets the schema's defaults."""
    from pcinpaint import resources
    from pcinpaint.config import schema_default
    from pcinpaint.model.spec import SOURCE_FILTERS

    assert resources.PCI_LAYER_FEATURES == SOURCE_FILTERS
    assert resources.FIELDS_PER_CHUNK == schema_default(None, "fields_per_chunk")
    assert resources.MAX_CELLS == schema_default("benchmarks", "max_cells")
    assert resources.MEMORY_GB == schema_default("model", "memory_gb")
