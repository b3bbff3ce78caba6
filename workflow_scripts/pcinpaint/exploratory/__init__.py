"""Exploratory biology (rules/exploratory.smk): protein clustering, GO enrichment of clusters,
multi-localization scores and single-cell dendrograms."""
