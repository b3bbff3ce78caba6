"""Model (rules/model.smk): the paired cell inpainting network, training pairs, the training
loop, devices and precision, and the paper's published weights."""
