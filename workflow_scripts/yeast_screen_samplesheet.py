"""Rule yeast_screen_samplesheet: list a yeast screen's per-ORF folders of fields as a sample
sheet (multi-page stacks split into one file per channel, each field's label mask where the
screen has them), with Huh 2003 labels if given."""

from pathlib import Path

from pcinpaint.inputs import yeast_screen
from pcinpaint.io import write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    out, ds = snakemake.output, snakemake.params.dataset
    src = ds["yeast_screen"]
    channels = src.get("page_order") or [c["name"] for c in ds["channels"]]
    listing = yeast_screen.scan_screen(
        src["root"], channels, src["layout"], src.get("tokens"), src["pattern"], src.get("masks")
    )
    sheet = yeast_screen.write_samplesheet(listing, out.fields)
    # the rule's output folder: a screen of single-channel files has nothing to split into it
    Path(out.fields).mkdir(parents=True, exist_ok=True)
    if src["annotations"]:
        # folders are named by systematic ORF name or by gene name: try both columns
        by_orf = yeast_screen.orf_labels(src["annotations"])
        by_gene = yeast_screen.orf_labels(src["annotations"], key="gene name")
        sheet["label"] = sheet["protein"].map(by_orf).fillna(sheet["protein"].map(by_gene))
        log.info(
            "%d of %d ORFs labelled from %s",
            sheet.dropna(subset="label")["protein"].nunique(),
            sheet["protein"].nunique(),
            src["annotations"],
        )
    write_table(sheet, out.sheet)
    masks = f", a label mask each ({src['masks']} files)" if src.get("masks") else ""
    log.info("%d fields in %d images%s", len(sheet), sheet["image_id"].nunique(), masks)
