"""Features (rules/features.smk and rules/baselines.smk): per-layer encoder features, the
feature-table contract and manifest, the baselines (classic, VGG16, raw pixels, imported
tables) and the feature-matrix arithmetic later stages share."""
