# Paired cell inpainting (Lu, Kraus, Cooper, Moses; PLoS Comput Biol 2019) as a workflow:
# fields of view -> single-cell crops -> self-supervised features -> benchmarks and biology.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# the built-in demo, unless the user names config files (those replace it, not merge into it)
if not workflow.overwrite_configfiles:

    configfile: Path(workflow.basedir) / "config.yaml"


report: "workflow_scripts/report/workflow.rst"


include: "rules/common.smk"
include: "rules/inputs.smk"
include: "rules/crops.smk"
include: "rules/model.smk"
include: "rules/features.smk"
include: "rules/baselines.smk"
include: "rules/benchmarks.smk"
include: "rules/figures.smk"
include: "rules/exploratory.smk"


rule all:
    default_target: True
    input:
        rules.crops.input,
        rules.features.input,
        rules.baselines.input,
        rules.benchmarks.input,
        rules.exploratory.input,
        rules.explorer.input,
        expand("results/{dataset}/figures/pci_loss.png", dataset=TRAINED),
        rules.fig1c.input,
        rules.suppfig1.input,
