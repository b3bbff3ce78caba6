"""Rule import_crops: cells that arrive already cropped (a crop folder, or labelled HDF5 test
sets) go straight into the crop store and cell table, skipping segmentation."""

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.import_crops import ImportSettings, LabelledSet, store_crop_folders, store_labelled_hdf5
from pcinpaint.inputs import crop_folders
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
    if ds["source"] == "crop_folders":
        src = ds["crop_folders"]
        patterns = crop_folders.NamePatterns(protein_pattern=src["protein_pattern"])
        listing = crop_folders.scan_crops(src["root"], src["tokens"], src["group"], patterns)
        sizes = listing.groupby("image_id").size()
        small = sizes[sizes < cfg.min_cells]
        if len(small):
            log.info("%d images below min_cells=%d left out: %s", len(small), cfg.min_cells, list(small.index)[:10])
            listing = listing[~listing["image_id"].isin(small.index)]
        settings = ImportSettings(normalise=src["normalise"], **common)
        cells = store_crop_folders(listing, out.store, cfg.channels, cfg.structural, settings)
    else:
        src = ds["labelled_hdf5"]
        file_channels = src.get("file_channels") or list(cfg.channels)
        roles = [cfg.roles[cfg.channels.index(c)] for c in file_channels]
        labelled = LabelledSet.from_block(
            src,
            file_channels,
            roles,
            expect=snakemake.config["datasets"][cfg.name]["labelled_hdf5"]["expect"],  # not a param: stores nothing
        )
        cells = store_labelled_hdf5(labelled, out.store, ImportSettings(**common), store_order=list(cfg.channels))
    write_table(cells, out.cells)
    log.info("%d cells in %d images stored", len(cells), cells["image_id"].nunique())
