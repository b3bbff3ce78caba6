"""Benchmarks (rules/benchmarks.smk): leave-one-out kNN, cross-validated classifiers and the
pairwise-distance score over every feature set, as the paper's tables and figures."""
