"""Rule hpa_samplesheet: split the fetched composites into channel files and write the sample
sheet, with labels and single-cell variation from the HPA location table."""

from pathlib import Path

from pcinpaint.inputs import hpa
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    cfg = params.dataset["hpa"]
    manifest = read_table(inp.manifest)
    sheet = hpa.write_fields(manifest, Path(params.cache) / "images", out.fields, cfg["colours"])
    if cfg["location_table"]:
        locations = hpa.location_columns(cfg["location_table"], tuple(cfg["reliability"])).drop(columns="ensg")
        sheet = sheet.merge(locations.drop_duplicates("protein"), on="protein", how="left", validate="many_to_one")
        log.info(
            "%d of %d proteins have a location at reliability %s",
            sheet.dropna(subset="label")["protein"].nunique(),
            sheet["protein"].nunique(),
            cfg["reliability"],
        )
    write_table(sheet, out.sheet)
    log.info("%d fields in %d images (protein x antibody x cell line)", len(sheet), sheet["image_id"].nunique())
