# Config validation, dataset lists and input functions shared by every stage.
import re
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))

from pcinpaint.config import (  # noqa: E402  (the library sits beside the rule scripts)
    CONFIG_SCHEMA,
    ConfigError,
    dataset_seed,
    validate_config,
)

try:
    validate_config(config, where=" + ".join(map(str, workflow.configfiles)) or "config")
except ConfigError as exc:
    sys.exit(f"error: {exc}")
validate(config, schema=str(CONFIG_SCHEMA))

DATASETS = list(config["datasets"])
SIMULATED = [d for d, ds in config["datasets"].items() if ds["source"] == "simulate"]


scattergather:
    fields=config["scatter_chunks"],


wildcard_constraints:
    dataset="|".join(re.escape(d) for d in DATASETS),


def dataset_config(wildcards):
    """The dataset's config block: passed as params so that editing it reruns the stage."""
    return config["datasets"][wildcards.dataset]


def raw_samplesheet(wildcards):
    """The sample sheet a dataset starts from: the user's, or the one the simulator writes."""
    ds = config["datasets"][wildcards.dataset]
    if ds["source"] == "simulate":
        return f"results/{wildcards.dataset}/simulated/samplesheet.tsv"
    return ds["samplesheet"]


def truth_input(name):
    """Ground-truth file of simulated datasets; nothing for real data."""

    def inner(wildcards):
        if wildcards.dataset in SIMULATED:
            return f"results/{wildcards.dataset}/simulated/{name}"
        return []

    return inner
