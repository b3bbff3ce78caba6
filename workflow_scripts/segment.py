"""Rule segment: segment, crop and preprocess one chunk of the fields."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.config import DatasetConfig  # noqa: E402
from pcinpaint.cropstore import chunk_rows, process_chunk, save_chunk, truth_mask_paths  # noqa: E402
from pcinpaint.io import read_samplesheet  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)  # noqa: F821
    sheet = read_samplesheet(snakemake.input.sheet, cfg.channels)  # noqa: F821
    item, n_chunks = map(int, snakemake.wildcards.scatteritem.split("-of-"))  # noqa: F821
    rows = chunk_rows(sheet, n_chunks, item - 1)
    truth = snakemake.input.truth_fields  # noqa: F821
    truth_masks = truth_mask_paths(truth) if truth else None
    result = process_chunk(rows, cfg, truth_masks)
    save_chunk(result, snakemake.output.crops, snakemake.output.objects)  # noqa: F821
    log.info("chunk %d of %d: %d fields, %d objects, %d crops", item, n_chunks, len(rows), len(result.objects), len(result.crops))
