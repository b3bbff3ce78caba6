"""Rule plate_samplesheet: list a plate's fields (OME-Zarr HCS or ImageXpress; metadata only)
as a sample sheet, each well's protein from the plate map."""

from pcinpaint.inputs.plate import plate_sheet
from pcinpaint.io import write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    ds = snakemake.params.dataset
    sheet, counts = plate_sheet(ds["plate"], [c["name"] for c in ds["channels"]])
    write_table(sheet, snakemake.output.sheet)
    log.info(
        "%d fields in %d wells of %d plate(s); %d wells the plate map does not name left out",
        counts["fields"],
        counts["wells"],
        counts["plates"],
        counts["unmapped_wells"],
    )
