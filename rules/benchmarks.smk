# The paper's quantitative comparisons over every feature set of a labelled dataset:
# kNN (table1, supptable1, fig2a, suppfig2), classifiers (supptable2), pairwise distances
# (fig2b, table2) and UMAPs (suppfig3, fig3). Datasets labelled per image (the atlas) get the
# pairwise distances only, as in the paper; those labelled per protein (the yeast screens of
# Fig 3) are never scored: they appear in fig3 only.


rule knn_benchmark:
    input:
        manifest="results/{dataset}/features/feature_sets.tsv",
        cells="results/{dataset}/cells.parquet",
        annotations=annotation_input,
    output:
        supptable1="results/{dataset}/tables/supptable1.tsv",
        table1="results/{dataset}/tables/table1.tsv",
        per_class="results/{dataset}/tables/knn_per_class.tsv",
    log:
        "results/{dataset}/logs/knn_benchmark.log",
    benchmark:
        "results/{dataset}/benchmarks/knn_benchmark.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: sized_threads("knn_benchmark")
    resources:
        **sized("knn_benchmark"),
    params:
        dataset=rule_params("knn_benchmark"),
        sample_seed=benchmark_sample_seed,
    script:
        "../workflow_scripts/benchmark_knn.py"


rule knn_figure:
    input:
        supptable1="results/{dataset}/tables/supptable1.tsv",
        per_class="results/{dataset}/tables/knn_per_class.tsv",
    output:
        png=report(
            "results/{dataset}/figures/{figure}.png",
            caption="../workflow_scripts/report/knn.rst",
            category="Benchmarks",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/{figure}.pdf",
    log:
        "results/{dataset}/logs/{figure}.log",
    benchmark:
        "results/{dataset}/benchmarks/{figure}.tsv"
    wildcard_constraints:
        figure="fig2a|suppfig2",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow_scripts/benchmark_figure.py"


rule classifier_benchmark:
    input:
        manifest="results/{dataset}/features/feature_sets.tsv",
        supptable1="results/{dataset}/tables/supptable1.tsv",
        cells="results/{dataset}/cells.parquet",
        annotations=annotation_input,
    output:
        table=report(
            "results/{dataset}/tables/supptable2.tsv",
            caption="../workflow_scripts/report/supptable2.rst",
            category="Benchmarks",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/classifier_benchmark.log",
    benchmark:
        "results/{dataset}/benchmarks/classifier_benchmark.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: sized_threads("classifier_benchmark")
    resources:
        **sized("classifier_benchmark"),
    params:
        dataset=rule_params("classifier_benchmark"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "classifiers"),
        sample_seed=benchmark_sample_seed,
    script:
        "../workflow_scripts/benchmark_classifiers.py"


rule pairwise_benchmark:
    input:
        unpack(ranking_input),
        manifest="results/{dataset}/features/feature_sets.tsv",
        cells="results/{dataset}/cells.parquet",
        annotations=annotation_input,
    output:
        scores="results/{dataset}/tables/fig2b.tsv",
        table2=report(
            "results/{dataset}/tables/table2.tsv",
            caption="../workflow_scripts/report/table2.rst",
            category="Benchmarks",
            subcategory="{dataset}",
        ),
        png=report(
            "results/{dataset}/figures/fig2b.png",
            caption="../workflow_scripts/report/fig2b.rst",
            category="Benchmarks",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/fig2b.pdf",
    log:
        "results/{dataset}/logs/pairwise_benchmark.log",
    benchmark:
        "results/{dataset}/benchmarks/pairwise_benchmark.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **sized("pairwise_benchmark"),
    params:
        dataset=rule_params("pairwise_benchmark"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "pairwise"),
        sample_seed=benchmark_sample_seed,
    script:
        "../workflow_scripts/benchmark_pairwise.py"


rule umap_cells:
    input:
        manifest="results/{dataset}/features/feature_sets.tsv",
        supptable1="results/{dataset}/tables/supptable1.tsv",
        cells="results/{dataset}/cells.parquet",
        annotations=annotation_input,
    output:
        png=report(
            "results/{dataset}/figures/suppfig3.png",
            caption="../workflow_scripts/report/suppfig3.rst",
            category="Benchmarks",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/suppfig3.pdf",
    log:
        "results/{dataset}/logs/umap_cells.log",
    benchmark:
        "results/{dataset}/benchmarks/umap_cells.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **sized("umap_cells"),
    params:
        dataset=rule_params("umap_cells"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "umap_cells"),
        sample_seed=benchmark_sample_seed,
    script:
        "../workflow_scripts/umap_cells.py"


rule umap_proteins:
    input:
        fig3_inputs,
    output:
        png=report(
            "results/figures/fig3.png",
            caption="../workflow_scripts/report/fig3.rst",
            category="Benchmarks",
        ),
        pdf="results/figures/fig3.pdf",
    log:
        "results/logs/umap_proteins.log",
    benchmark:
        "results/benchmarks/umap_proteins.tsv"
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        panels=fig3_panels(),
        seed=dataset_seed(config, "all", "umap_proteins"),
    script:
        "../workflow_scripts/umap_proteins.py"


rule table1:
    input:
        expand("results/{dataset}/tables/table1.tsv", dataset=CELL_LABELLED),


rule supptable1:
    input:
        expand("results/{dataset}/tables/supptable1.tsv", dataset=CELL_LABELLED),


rule fig2a:
    input:
        expand("results/{dataset}/figures/fig2a.png", dataset=CELL_LABELLED),


rule suppfig2:
    input:
        expand("results/{dataset}/figures/suppfig2.png", dataset=CELL_LABELLED),


rule supptable2:
    input:
        expand("results/{dataset}/tables/supptable2.tsv", dataset=CELL_LABELLED),


rule fig2b:
    input:
        expand("results/{dataset}/figures/fig2b.png", dataset=SCORED),


rule table2:
    input:
        expand("results/{dataset}/tables/table2.tsv", dataset=SCORED),


rule suppfig3:
    input:
        expand("results/{dataset}/figures/suppfig3.png", dataset=CELL_LABELLED),


rule fig3:
    input:
        ["results/figures/fig3.png"] if FIG3 else [],


rule benchmarks:
    input:
        rules.table1.input,
        rules.supptable1.input,
        rules.fig2a.input,
        rules.suppfig2.input,
        rules.supptable2.input,
        rules.fig2b.input,
        rules.table2.input,
        rules.suppfig3.input,
        rules.fig3.input,
