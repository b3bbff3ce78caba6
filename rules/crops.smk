# Segmentation (chunks of `fields_per_chunk` fields), the crop store, and its quality control.


rule segment:
    input:
        sheet="results/{dataset}/samplesheet.tsv",
        truth_fields=truth_input("truth_fields.tsv"),
    output:
        crops=temp("results/{dataset}/chunks/{chunk}.npy"),
        objects=temp("results/{dataset}/chunks/{chunk}.parquet"),
        fields=temp("results/{dataset}/chunks/{chunk}.fields.tsv"),
    log:
        "results/{dataset}/logs/segment/{chunk}.log",
    benchmark:
        "results/{dataset}/benchmarks/segment/{chunk}.tsv"
    wildcard_constraints:
        chunk=r"\d+-of-\d+",
    conda:
        "../envs/imaging.yaml"
    resources:
        **sized("segment"),
    params:
        dataset=rule_params("segment"),
    script:
        "../workflow_scripts/segment.py"


rule gather_crops:
    input:
        sheet="results/{dataset}/samplesheet.tsv",
        crops=chunk_files("npy"),
        objects=chunk_files("parquet"),
        fields=chunk_files("fields.tsv"),
        truth_cells=truth_input("truth_cells.parquet"),
    output:
        store=directory("results/{dataset}/crops.zarr"),
        cells="results/{dataset}/cells.parquet",
        objects="results/{dataset}/qc/objects.parquet",
        fields="results/{dataset}/qc/fields.tsv",
        dropped="results/{dataset}/qc/dropped_images.tsv",
    log:
        "results/{dataset}/logs/gather_crops.log",
    benchmark:
        "results/{dataset}/benchmarks/gather_crops.tsv"
    wildcard_constraints:
        dataset=one_of(SEGMENTED),
    conda:
        "../envs/imaging.yaml"
    resources:
        **sized("gather_crops"),
    params:
        dataset=rule_params("gather_crops"),
    script:
        "../workflow_scripts/gather_crops.py"


rule qc_detection:
    input:
        objects="results/{dataset}/qc/objects.parquet",
        truth_cells="results/{dataset}/simulated/truth_cells.parquet",
    output:
        table=report(
            "results/{dataset}/qc/detection.tsv",
            caption="../workflow_scripts/report/detection.rst",
            category="Quality control",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/qc_detection.log",
    benchmark:
        "results/{dataset}/benchmarks/qc_detection.tsv"
    localrule: True
    conda:
        "../envs/imaging.yaml"
    script:
        "../workflow_scripts/qc_detection.py"


rule qc_montage:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
    output:
        png=report(
            "results/{dataset}/qc/montage.png",
            caption="../workflow_scripts/report/montage.rst",
            category="Quality control",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/qc_montage.log",
    benchmark:
        "results/{dataset}/benchmarks/qc_montage.tsv"
    conda:
        "../envs/imaging.yaml"
    resources:
        **sized("qc_montage"),
    params:
        dataset=rule_params("qc_montage"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "montage"),
    script:
        "../workflow_scripts/qc_montage.py"


rule qc_overlays:
    input:
        sheet="results/{dataset}/samplesheet.tsv",
    output:
        png=report(
            "results/{dataset}/qc/overlays.png",
            caption="../workflow_scripts/report/overlays.rst",
            category="Quality control",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/qc_overlays.log",
    benchmark:
        "results/{dataset}/benchmarks/qc_overlays.tsv"
    conda:
        "../envs/imaging.yaml"
    params:
        dataset=rule_params("qc_overlays"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "overlays"),
        n_fields=4,
    script:
        "../workflow_scripts/qc_overlays.py"


rule import_crops:
    input:
        files=cropped_inputs,
    output:
        store=directory("results/{dataset}/crops.zarr"),
        cells="results/{dataset}/cells.parquet",
    log:
        "results/{dataset}/logs/import_crops.log",
    benchmark:
        "results/{dataset}/benchmarks/import_crops.tsv"
    wildcard_constraints:
        dataset=one_of(CROPPED),
    conda:
        "../envs/imaging.yaml"
    resources:
        **sized("import_crops"),
    params:
        dataset=rule_params("import_crops"),
    script:
        "../workflow_scripts/import_crops.py"


rule crops:
    input:
        expand("results/{dataset}/crops.zarr", dataset=IMAGED),
        expand("results/{dataset}/cells.parquet", dataset=DATASETS),
        expand("results/{dataset}/qc/fields.tsv", dataset=SEGMENTED),
        expand("results/{dataset}/qc/montage.png", dataset=IMAGED),
        expand("results/{dataset}/qc/overlays.png", dataset=SEGMENTED),
        expand("results/{dataset}/qc/detection.tsv", dataset=SIMULATED),
