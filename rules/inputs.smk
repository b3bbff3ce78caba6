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
    log:
        "results/{dataset}/logs/simulate_screen.log",
    benchmark:
        "results/{dataset}/benchmarks/simulate_screen.tsv"
    conda:
        "../envs/imaging.yaml"
    resources:
        **sized("simulate_screen"),
    params:
        dataset=rule_params("simulate_screen"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "simulate"),
    script:
        "../workflow_scripts/simulate_screen.py"


# a checkpoint: the number of segmentation chunks follows from the sheet's fields
checkpoint samplesheet:
    input:
        sheet=raw_samplesheet,
    output:
        sheet="results/{dataset}/samplesheet.tsv",
    log:
        "results/{dataset}/logs/samplesheet.log",
    benchmark:
        "results/{dataset}/benchmarks/samplesheet.tsv"
    localrule: True
    conda:
        "../envs/imaging.yaml"
    params:
        dataset=rule_params("samplesheet"),
        sheet=sheet_fingerprint,
    script:
        "../workflow_scripts/samplesheet.py"


# failures another run may fix (beyond hpa.max_failures) stop the job before it writes its outputs, so
# a plain rerun runs it again; what was fetched stays in the downloads cache and is not asked for again
rule download_hpa:
    output:
        listing="results/{dataset}/hpa/listing.tsv",
        manifest="results/{dataset}/hpa/manifest.tsv",
        failures="results/{dataset}/hpa/failed_entries.tsv",
    log:
        "results/{dataset}/logs/download_hpa.log",
    benchmark:
        "results/{dataset}/benchmarks/download_hpa.tsv"
    localrule: True
    conda:
        "../envs/imaging.yaml"
    resources:
        network=1,
    params:
        dataset=rule_params("download_hpa"),
        cache=hpa_downloads,
    script:
        "../workflow_scripts/download_hpa.py"


rule hpa_samplesheet:
    input:
        manifest="results/{dataset}/hpa/manifest.tsv",
    output:
        sheet="results/{dataset}/hpa/samplesheet.tsv",
        fields=directory("results/{dataset}/hpa/fields"),
    log:
        "results/{dataset}/logs/hpa_samplesheet.log",
    benchmark:
        "results/{dataset}/benchmarks/hpa_samplesheet.tsv"
    localrule: True
    conda:
        "../envs/imaging.yaml"
    params:
        dataset=rule_params("hpa_samplesheet"),
        cache=hpa_downloads,
    script:
        "../workflow_scripts/hpa_samplesheet.py"


# a plate's metadata (never its pixels) and its plate map: one sheet row per field of a mapped well
rule plate_samplesheet:
    input:
        plate_map=plate_map,
    output:
        sheet="results/{dataset}/plate/samplesheet.tsv",
    log:
        "results/{dataset}/logs/plate_samplesheet.log",
    benchmark:
        "results/{dataset}/benchmarks/plate_samplesheet.tsv"
    localrule: True
    conda:
        "../envs/imaging.yaml"
    params:
        dataset=rule_params("plate_samplesheet"),
    script:
        "../workflow_scripts/plate_samplesheet.py"


rule yeast_screen_samplesheet:
    output:
        sheet="results/{dataset}/yeast_screen/samplesheet.tsv",
        fields=directory("results/{dataset}/yeast_screen/fields"),
    log:
        "results/{dataset}/logs/yeast_screen_samplesheet.log",
    benchmark:
        "results/{dataset}/benchmarks/yeast_screen_samplesheet.tsv"
    localrule: True
    conda:
        "../envs/imaging.yaml"
    params:
        dataset=rule_params("yeast_screen_samplesheet"),
    script:
        "../workflow_scripts/yeast_screen_samplesheet.py"
