# Single-cell feature tables: PCI encoder layers, the untrained-encoder control, raw pixels.


rule extract_pci:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
        model=model_input("pci"),
    output:
        **{layer: f"results/{{dataset}}/features/{layer_set('pci', layer)}.parquet" for layer in LAYERS},
    log:
        "results/{dataset}/logs/extract_pci.log",
    benchmark:
        "results/{dataset}/benchmarks/extract_pci.tsv"
    wildcard_constraints:
        dataset=one_of(IMAGED),
    conda:
        "../envs/torch.yaml"
    threads: sized_threads("extract_pci")
    resources:
        **sized("extract_pci", gpu=1),
    params:
        dataset=rule_params("extract_pci"),
        prefix="pci",
    script:
        "../workflow_scripts/extract_encoder.py"


rule extract_random:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
    output:
        **{layer: f"results/{{dataset}}/features/{layer_set('random', layer)}.parquet" for layer in LAYERS},
    log:
        "results/{dataset}/logs/extract_random.log",
    benchmark:
        "results/{dataset}/benchmarks/extract_random.tsv"
    wildcard_constraints:
        dataset=one_of(IMAGED),
    conda:
        "../envs/torch.yaml"
    threads: sized_threads("extract_random")
    resources:
        **sized("extract_random", gpu=1),
    params:
        dataset=rule_params("extract_random"),
        # the untrained start of the model this dataset's PCI features come from
        seed=lambda wc: dataset_seed(config, model_dataset(wc), "train_pci"),
        width=model_width,
    script:
        "../workflow_scripts/extract_random.py"


rule extract_raw:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
    output:
        table="results/{dataset}/features/raw.parquet",
    log:
        "results/{dataset}/logs/extract_raw.log",
    benchmark:
        "results/{dataset}/benchmarks/extract_raw.tsv"
    wildcard_constraints:
        dataset=one_of(IMAGED),
    conda:
        "../envs/torch.yaml"
    resources:
        **sized("extract_raw"),
    params:
        dataset=rule_params("extract_raw"),
    script:
        "../workflow_scripts/extract_raw.py"


rule export_h5ad:
    input:
        table="results/{dataset}/features/{features}.parquet",
    output:
        h5ad="results/{dataset}/features/{features}.h5ad",
    log:
        "results/{dataset}/logs/export_h5ad/{features}.log",
    benchmark:
        "results/{dataset}/benchmarks/export_h5ad/{features}.tsv"
    wildcard_constraints:
        features=one_of(layer_sets("pci")),  # what features.h5ad asks for
    conda:
        "../envs/anndata.yaml"
    resources:
        **sized("export_h5ad"),
    script:
        "../workflow_scripts/export_h5ad.py"


rule feature_table_cells:
    input:
        table=feature_table_path,
    output:
        cells="results/{dataset}/cells.parquet",
    log:
        "results/{dataset}/logs/feature_table_cells.log",
    benchmark:
        "results/{dataset}/benchmarks/feature_table_cells.tsv"
    wildcard_constraints:
        dataset=one_of(FEATURE_TABLES),
    conda:
        "../envs/imaging.yaml"
    resources:
        **sized("feature_table_cells"),
    params:
        dataset=rule_params("feature_table_cells"),
    script:
        "../workflow_scripts/feature_table_cells.py"


rule feature_table:
    input:
        table=feature_table_path,
        cells="results/{dataset}/cells.parquet",
    output:
        table="results/{dataset}/features/{table_set}.parquet",
    log:
        "results/{dataset}/logs/feature_table/{table_set}.log",
    benchmark:
        "results/{dataset}/benchmarks/feature_table/{table_set}.tsv"
    wildcard_constraints:
        dataset=one_of(FEATURE_TABLES),
        table_set=one_of(TABLE_SETS),
    conda:
        "../envs/imaging.yaml"
    resources:
        **sized("feature_table"),
    params:
        dataset=rule_params("feature_table"),
    script:
        "../workflow_scripts/feature_table.py"


rule features:
    input:
        [f for d in DATASETS for f in feature_files(d)],
