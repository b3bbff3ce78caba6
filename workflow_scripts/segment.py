"""Rule segment: segment, crop and preprocess one chunk of the fields."""

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.segment_chunk import chunk_rows, process_chunk, save_chunk, scale_lines, truth_mask_paths
from pcinpaint.inputs.samplesheet import read_samplesheet
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)
    sheet = read_samplesheet(snakemake.input.sheet, cfg.channels)
    item, n_chunks = map(int, snakemake.wildcards.chunk.split("-of-"))
    rows = chunk_rows(sheet, n_chunks, item - 1)
    truth = snakemake.input.truth_fields
    truth_masks = truth_mask_paths(truth) if truth else None
    result = process_chunk(rows, cfg, truth_masks)
    save_chunk(result, snakemake.output.crops, snakemake.output.objects, snakemake.output.fields)
    for line in scale_lines(result.fields):  # scale auto: each field's diameter and lengths in pixels
        log.info(line)
    if result.fields["n_nonfinite"].any():
        log.warning("%d non-finite pixels read as 0 (nonfinite: zero)", result.fields["n_nonfinite"].sum())
    log.info(
        "chunk %d of %d: %d fields, %d objects, %d crops",
        item,
        n_chunks,
        len(rows),
        len(result.objects),
        len(result.crops),
    )
