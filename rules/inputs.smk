# Inputs: every source ends as results/<dataset>/samplesheet.tsv, the one format segmentation reads.


rule simulate_screen:
    output:
        sheet="results/{dataset}/simulated/samplesheet.tsv",
        fields=directory("results/{dataset}/simulated/fields"),
        masks=directory("results/{dataset}/simulated/masks"),
        truth_proteins="results/{dataset}/simulated/truth_proteins.tsv",
        truth_cells="results/{dataset}/simulated/truth_cells.parquet",
        truth_fields="results/{dataset}/simulated/truth_fields.tsv",
        ontology="results/{dataset}/simulated/compartments.obo",
        annotations="results/{dataset}/simulated/annotations.tsv",
    params:
        dataset=dataset_config("simulate"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "simulate"),
    log:
        "results/{dataset}/logs/simulate_screen.log",
    benchmark:
        "results/{dataset}/benchmarks/simulate_screen.tsv"
    conda:
        "../envs/imaging.yaml"
    script:
        "../workflow_scripts/simulate_screen.py"


rule samplesheet:
    input:
        sheet=raw_samplesheet,
    output:
        sheet="results/{dataset}/samplesheet.tsv",
    params:
        dataset=dataset_config("segmentation"),
    log:
        "results/{dataset}/logs/samplesheet.log",
    conda:
        "../envs/imaging.yaml"
    script:
        "../workflow_scripts/samplesheet.py"
