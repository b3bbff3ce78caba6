"""Rule hpa_samplesheet: split the fetched composites into channel files and write the sample
sheet, with each image's labels from its own annotation in the atlas (the location table's
gene-level labels where it has none) and single-cell variation from the location table."""

from pathlib import Path

from pcinpaint.inputs import hpa
from pcinpaint.io import read_table, write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    cfg = dataset_params(snakemake)["hpa"]
    manifest = read_table(inp.manifest)
    sheet = hpa.write_fields(manifest, Path(params.cache) / "images", out.fields, cfg["colours"])
    genes = None
    if cfg["location_table"]:
        genes = hpa.location_columns(cfg["location_table"], tuple(cfg["reliability"])).drop(columns="ensg")
        variation = genes.drop(columns="label").drop_duplicates("protein")
        sheet = sheet.merge(variation, on="protein", how="left", validate="many_to_one")
    sheet = hpa.image_labels(sheet, genes, tuple(cfg["reliability"]))
    images = sheet.drop_duplicates("image_id")["label_source"].value_counts().to_dict()
    log.info(
        "labels of %d images at reliability %s: %d from the image's own annotation, %d from the gene's, %d none",
        sheet["image_id"].nunique(),
        cfg["reliability"],
        images.get("image", 0),
        images.get("gene", 0),
        images.get("", 0),
    )
    write_table(sheet, out.sheet)
    log.info("%d fields in %d images (protein x antibody x cell line)", len(sheet), sheet["image_id"].nunique())
