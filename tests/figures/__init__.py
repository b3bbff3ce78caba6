"""A package, so that this folder's test modules (test_qc, test_clustering, test_multiloc: named
after the figure modules they test) do not clash with the same basenames under tests/crops and
tests/exploratory when pytest collects the whole suite."""
