"""Rule gather_crops: combine the chunks into crops.zarr and cells.parquet, with QC tables."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.config import DatasetConfig  # noqa: E402
from pcinpaint.cropstore import gather  # noqa: E402
from pcinpaint.io import read_samplesheet, read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    inp, out = snakemake.input, snakemake.output  # noqa: F821
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)  # noqa: F821
    sheet = read_samplesheet(inp.sheet, cfg.channels)
    truth = read_table(inp.truth_cells) if inp.truth_cells else None
    result = gather(inp.crops, inp.objects, cfg, sheet, out.store, truth)
    write_table(result.cells, out.cells)
    write_table(result.objects, out.objects)
    write_table(result.fields, out.fields)
    write_table(result.dropped_images, out.dropped)
    log.info("%d cells stored from %d images; %d images dropped below min_cells=%d",
             len(result.cells), result.cells["image_id"].nunique(), len(result.dropped_images), cfg.min_cells)
