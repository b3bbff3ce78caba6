"""Rule gather_crops: combine the chunks into crops.zarr and cells.parquet, with QC tables."""

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.gather import ChunkFiles, gather
from pcinpaint.crops.qc import describe_flags, qc_settings
from pcinpaint.inputs.samplesheet import read_samplesheet
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out = snakemake.input, snakemake.output
    name = snakemake.wildcards.dataset
    # the qc thresholds come from the config: only those that drop cells are params (rules/common.smk)
    qc = snakemake.config["datasets"][name].get("qc") or {}
    cfg = DatasetConfig.from_dict(name, {**snakemake.params.dataset, "qc": qc})
    sheet = read_samplesheet(inp.sheet, cfg.channels)
    truth = read_table(inp.truth_cells) if inp.truth_cells else None
    result = gather(ChunkFiles(inp.crops, inp.objects, inp.fields), cfg, sheet, out.store, truth)
    write_table(result.cells, out.cells)
    write_table(result.objects, out.objects)
    write_table(result.fields, out.fields)
    write_table(result.dropped_images, out.dropped)
    if "flags" in result.fields.columns:
        for line in describe_flags(result.fields, qc_settings(cfg)["drop_flagged"]):
            log.warning(line)
    log.info(
        "%d cells stored from %d images; %d images dropped below min_cells=%d",
        len(result.cells),
        result.cells["image_id"].nunique(),
        len(result.dropped_images),
        cfg.min_cells,
    )
