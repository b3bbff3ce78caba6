"""Crops (rules/crops.smk): segmentation of fields, cropping and preprocessing of single cells,
and the crop store every later stage reads through ``store.read_crops``."""
