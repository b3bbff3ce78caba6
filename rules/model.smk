# Paired cell inpainting training (GPU when present; resumes from its last epoch).


rule train_pci:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
    output:
        model="results/{dataset}/models/pci/model.pt",
        history="results/{dataset}/models/pci/training_log.tsv",
    log:
        "results/{dataset}/logs/train_pci.log",
    benchmark:
        "results/{dataset}/benchmarks/train_pci.tsv"
    wildcard_constraints:
        dataset=one_of(TRAINED),
    conda:
        "../envs/torch.yaml"
    threads: sized_threads("train_pci")
    resources:
        **sized("train_pci", gpu=1),
    params:
        dataset=rule_params("train_pci"),
        objective="pci",
        epochs=lambda wc: training_epochs(config["datasets"][wc.dataset], "pci"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "train_pci"),
        # beside the outputs, not among them: Snakemake deletes a failed job's outputs
        checkpoint=lambda wc: f"results/{wc.dataset}/models/pci/checkpoint.pt",
    script:
        "../workflow_scripts/train_model.py"


rule train_autoencoder:
    input:
        store="results/{dataset}/crops.zarr",
        cells="results/{dataset}/cells.parquet",
    output:
        model="results/{dataset}/models/autoencoder/model.pt",
        history="results/{dataset}/models/autoencoder/training_log.tsv",
    log:
        "results/{dataset}/logs/train_autoencoder.log",
    benchmark:
        "results/{dataset}/benchmarks/train_autoencoder.tsv"
    wildcard_constraints:
        dataset=one_of(TRAINED),
    conda:
        "../envs/torch.yaml"
    threads: sized_threads("train_autoencoder")
    resources:
        **sized("train_autoencoder", gpu=1),
    params:
        dataset=rule_params("train_autoencoder"),
        objective="autoencoder",
        # the same budget as paired cell inpainting unless baselines.autoencoder.epochs says otherwise
        epochs=lambda wc: training_epochs(config["datasets"][wc.dataset], "autoencoder"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "train_autoencoder"),
        checkpoint=lambda wc: f"results/{wc.dataset}/models/autoencoder/checkpoint.pt",
    script:
        "../workflow_scripts/train_model.py"


rule loss_curve:
    input:
        history="results/{dataset}/models/{network}/training_log.tsv",
    output:
        png=report(
            "results/{dataset}/figures/{network}_loss.png",
            caption="../workflow_scripts/report/loss_curve.rst",
            category="Training",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/loss_curve_{network}.log",
    benchmark:
        "results/{dataset}/benchmarks/loss_curve_{network}.tsv"
    localrule: True
    conda:
        "../envs/imaging.yaml"
    script:
        "../workflow_scripts/loss_curve.py"


rule convert_published_weights:
    input:
        weights=lambda wc: config["published_weights"][wc.published],
    output:
        model="results/{published}/models/pci/model.pt",
    log:
        "results/{published}/logs/convert_published_weights.log",
    benchmark:
        "results/{published}/benchmarks/convert_published_weights.tsv"
    conda:
        "../envs/torch.yaml"
    params:
        user=published_user,
    script:
        "../workflow_scripts/convert_published_weights.py"
