# Figures of the paper, one named target each.


rule inpainting_figure:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
        model=model_input("pci"),
    output:
        png=report(
            "results/{dataset}/figures/{figure}.png",
            caption="../workflow_scripts/report/inpainting.rst",
            category="Inpainting",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/{figure}.pdf",
    log:
        "results/{dataset}/logs/{figure}.log",
    benchmark:
        "results/{dataset}/benchmarks/{figure}.tsv"
    wildcard_constraints:
        dataset=one_of(IMAGED),
        figure="fig1c|suppfig1",
    conda:
        "../envs/torch.yaml"
    resources:
        **sized("inpainting_figure"),
    params:
        dataset=rule_params("inpainting_figure"),
        seed=lambda wc: dataset_seed(config, wc.dataset, wc.figure),
    script:
        "../workflow_scripts/inpainting_figure.py"


rule without_images:
    output:
        png=report(
            "results/{dataset}/figures/{figure}.png",
            caption="../workflow_scripts/report/without_images.rst",
            category="Inpainting",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/{figure}.pdf",
    log:
        "results/{dataset}/logs/{figure}.log",
    benchmark:
        "results/{dataset}/benchmarks/{figure}.tsv"
    wildcard_constraints:
        dataset=one_of(FEATURE_TABLES),
        figure="fig1c|suppfig1",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        reason=FEATURE_TABLE_REASON,
    script:
        "../workflow_scripts/without_images.py"


rule fig1c:
    input:
        expand("results/{dataset}/figures/fig1c.png", dataset=DATASETS),


rule suppfig1:
    input:
        expand("results/{dataset}/figures/suppfig1.png", dataset=DATASETS),
