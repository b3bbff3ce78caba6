"""Inputs (rules/inputs.smk): the simulated screen, sample sheets and the adapters that turn real
layouts (the Human Protein Atlas, yeast screen folders, crop folders, labelled HDF5 sets) into
them, and the annotation tables labels come from."""
