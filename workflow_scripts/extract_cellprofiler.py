"""Rule extract_cellprofiler: the CellProfiler measurements a labelled HDF5 set carries (Chong
et al.'s Info1) as the cellprofiler feature set."""

from pcinpaint.features.cellprofiler import write_cellprofiler_features
from pcinpaint.io import read_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp = snakemake.input
    cells = read_table(inp.cells)  # its columns become the table's Metadata_ columns
    write_cellprofiler_features(
        inp.files, dataset_params(snakemake)["labelled_hdf5"]["cellprofiler_key"], cells, snakemake.output.table
    )
