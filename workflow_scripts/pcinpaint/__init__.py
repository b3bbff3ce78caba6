"""Paired cell inpainting workflow library.

The Snakemake rules in ``rules/`` call thin scripts in ``workflow_scripts/``; every piece of
logic worth testing lives here, one subpackage per pipeline stage (docs/layout.md) and one
module per concept, with no Snakemake imports.
"""

__version__ = "0.1.0"
