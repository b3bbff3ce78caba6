"""Rule import_crops: cells that arrive already cropped (a crop folder, or labelled HDF5 test
sets) go straight into the crop store and cell table, skipping segmentation."""

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.importing import store_crop_folders, store_labelled_hdf5
from pcinpaint.inputs import precropped
from pcinpaint.io import write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    out = snakemake.output
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)
    ds = cfg.raw
    common = dict(
        model_size=cfg.crops["model_size"],
        clip_structural_below=cfg.preprocess["clip_structural_below"],
        dataset=cfg.name,
    )
    if ds["source"] == "crops":
        src = ds["precropped"]
        listing = precropped.scan_crops(src["root"], src["tokens"], src["group"], src["protein_pattern"])
        sizes = listing.groupby("image_id").size()
        small = sizes[sizes < cfg.min_cells]
        if len(small):
            log.info("%d images below min_cells=%d left out: %s", len(small), cfg.min_cells, list(small.index)[:10])
            listing = listing[~listing["image_id"].isin(small.index)]
        cells = store_crop_folders(
            listing, out.store, cfg.channels, cfg.structural, normalise=src["normalise"], roles=cfg.roles, **common
        )
    else:
        src = ds["labelled_hdf5"]
        file_channels = src.get("file_channels") or list(cfg.channels)
        roles = [cfg.roles[cfg.channels.index(c)] for c in file_channels]
        cells = store_labelled_hdf5(
            src["paths"],
            out.store,
            src["classes"],
            src["merge"],
            file_channels,
            roles,
            data_key=src["data_key"],
            label_key=src["label_key"],
            channel_order=src["channel_order"],
            protein_key=src["protein_key"],
            store_order=list(cfg.channels),
            expect=snakemake.config["datasets"][cfg.name]["labelled_hdf5"]["expect"],  # not a param: stores nothing
            **common,
        )
    write_table(cells, out.cells)
    log.info("%d cells in %d images stored", len(cells), cells["image_id"].nunique())
