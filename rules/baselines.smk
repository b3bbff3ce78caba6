# Baseline feature sets the paper compares against: classic features, the autoencoder,
# ImageNet VGG16 (three input strategies), and feature tables imported from elsewhere.


rule extract_classic:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
    output:
        table="results/{dataset}/features/classic.parquet",
    log:
        "results/{dataset}/logs/extract_classic.log",
    benchmark:
        "results/{dataset}/benchmarks/extract_classic.tsv"
    wildcard_constraints:
        dataset=one_of(IMAGED),
    conda:
        "../envs/imaging.yaml"
    threads: sized_threads("extract_classic")
    resources:
        **sized("extract_classic"),
    params:
        dataset=rule_params("extract_classic"),
    script:
        "../workflow_scripts/extract_classic.py"


rule extract_autoencoder:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
        model=model_input("autoencoder"),
    output:
        **{layer: f"results/{{dataset}}/features/{layer_set('ae', layer)}.parquet" for layer in LAYERS},
    log:
        "results/{dataset}/logs/extract_autoencoder.log",
    benchmark:
        "results/{dataset}/benchmarks/extract_autoencoder.tsv"
    wildcard_constraints:
        dataset=one_of(IMAGED),
    conda:
        "../envs/torch.yaml"
    threads: sized_threads("extract_autoencoder")
    resources:
        **sized("extract_autoencoder", gpu=1),
    params:
        dataset=rule_params("extract_autoencoder"),
        prefix="ae",
    script:
        "../workflow_scripts/extract_encoder.py"


rule extract_vgg16:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
        weights=vgg16_weights,
    output:
        **{
            f"{strategy}_{layer}": f"results/{{dataset}}/features/{vgg16_name(strategy, layer)}.parquet"
            for strategy in VGG16_STRATEGIES
            for layer in VGG16_LAYERS
        },
    log:
        "results/{dataset}/logs/extract_vgg16.log",
    benchmark:
        "results/{dataset}/benchmarks/extract_vgg16.tsv"
    wildcard_constraints:
        dataset=one_of(IMAGED),
    conda:
        "../envs/torch.yaml"
    threads: sized_threads("extract_vgg16")
    resources:
        **sized("extract_vgg16", gpu=1),
    params:
        dataset=rule_params("extract_vgg16"),
    script:
        "../workflow_scripts/extract_vgg16.py"


rule import_features:
    input:
        table=lambda wc: baseline(wc.dataset)["imported"][wc.name]["path"],
        cells="results/{dataset}/cells.parquet",
    output:
        table="results/{dataset}/features/imported_{name}.parquet",
    log:
        "results/{dataset}/logs/import_features/{name}.log",
    benchmark:
        "results/{dataset}/benchmarks/import_features/{name}.tsv"
    wildcard_constraints:
        dataset=one_of(IMAGED),
        name="[A-Za-z0-9][A-Za-z0-9_]*",
    conda:
        "../envs/imaging.yaml"
    resources:
        **sized("import_features"),
    params:
        dataset=rule_params("import_features"),
    script:
        "../workflow_scripts/import_features.py"


rule feature_sets:
    input:
        lambda wc: [
            f"results/{wc.dataset}/features/{s.name}.parquet"
            for s in feature_sets(config["datasets"][wc.dataset])
            if s.runs
        ],
    output:
        table="results/{dataset}/features/feature_sets.tsv",
    log:
        "results/{dataset}/logs/feature_sets.log",
    benchmark:
        "results/{dataset}/benchmarks/feature_sets.tsv"
    localrule: True
    conda:
        "../envs/imaging.yaml"
    params:
        sets=lambda wc: [s.to_dict() for s in feature_sets(config["datasets"][wc.dataset])],
        folder=lambda wc: f"results/{wc.dataset}/features",
    script:
        "../workflow_scripts/feature_sets.py"


rule extract_cellprofiler:
    input:
        files=cropped_inputs,
        cells="results/{dataset}/cells.parquet",
    output:
        table="results/{dataset}/features/cellprofiler.parquet",
    log:
        "results/{dataset}/logs/extract_cellprofiler.log",
    benchmark:
        "results/{dataset}/benchmarks/extract_cellprofiler.tsv"
    wildcard_constraints:
        dataset=one_of(IMAGED),
    conda:
        "../envs/imaging.yaml"
    resources:
        **sized("import_features"),
    params:
        dataset=rule_params("extract_cellprofiler"),
    script:
        "../workflow_scripts/extract_cellprofiler.py"


rule baselines:
    input:
        [f for d in IMAGED for f in baseline_files(d)],
        [f"results/{d}/figures/autoencoder_loss.png" for d in TRAINED if "autoencoder" in baseline(d)["run"]],
