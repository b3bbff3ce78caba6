# Exploratory biology: protein clustering (fig4, suppfig4/5, Supp Data 1), GO enrichment of the
# clusters (table3), multi-localization scores (fig5, Supp Data 2), single-cell dendrograms of
# spatially variable proteins (fig6), the proteins that localize like a query protein
# (localize_like), and on simulated screens the checks against the truth.


rule protein_clustering:
    input:
        unpack(analysed_inputs),
    output:
        clusters="results/{dataset}/tables/clusters.tsv",
        png=report(
            "results/{dataset}/figures/fig4.png",
            caption="../workflow_scripts/report/fig4.rst",
            category="Exploratory",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/fig4.pdf",
    log:
        "results/{dataset}/logs/protein_clustering.log",
    benchmark:
        "results/{dataset}/benchmarks/protein_clustering.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **sized("protein_clustering"),
    params:
        dataset=rule_params("protein_clustering"),
        labelled=lambda wc: wc.dataset in LABELLED,
    script:
        "../workflow_scripts/protein_clustering.py"


rule subset_clustering:
    input:
        unpack(analysed_inputs),
        unpack(subset_inputs),
        store=crop_store_input,
    output:
        clusters="results/{dataset}/tables/{subset}_clusters.tsv",
        go="results/{dataset}/tables/{subset}_go.tsv",
        png=report(
            "results/{dataset}/figures/{subset}.png",
            caption="../workflow_scripts/report/subset_clusters.rst",
            category="Exploratory",
            subcategory="{dataset}",
        ),
        pdf="results/{dataset}/figures/{subset}.pdf",
        examples=report(
            "results/{dataset}/figures/{subset}_examples.png",
            caption="../workflow_scripts/report/subset_examples.rst",
            category="Exploratory",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/{subset}.log",
    benchmark:
        "results/{dataset}/benchmarks/{subset}.tsv"
    wildcard_constraints:
        subset="suppfig4|suppfig5",
    conda:
        "../envs/analysis.yaml"
    resources:
        **sized("subset_clustering"),
    params:
        dataset=rule_params("subset_clustering"),
        labelled=lambda wc: wc.dataset in LABELLED,
        seed=lambda wc: dataset_seed(config, wc.dataset, wc.subset),
    script:
        "../workflow_scripts/subset_clustering.py"


rule download_go:
    output:
        path="results/go/{filename}",
    log:
        "results/logs/download_go/{filename}.log",
    benchmark:
        "results/benchmarks/download_go/{filename}.tsv"
    wildcard_constraints:
        filename="|".join(re.escape(f) for f in go_urls()) or "(?!x)x",
    localrule: True
    conda:
        "../envs/analysis.yaml"
    resources:
        network=1,
    params:
        url=lambda wc: go_urls()[wc.filename],
    script:
        "../workflow_scripts/download_go.py"


rule go_enrichment:
    input:
        unpack(go_inputs),
        clusters="results/{dataset}/tables/clusters.tsv",
    output:
        table=report(
            "results/{dataset}/tables/table3.tsv",
            caption="../workflow_scripts/report/table3.rst",
            category="Exploratory",
            subcategory="{dataset}",
        ),
        top="results/{dataset}/tables/table3_top_terms.tsv",
    log:
        "results/{dataset}/logs/go_enrichment.log",
    benchmark:
        "results/{dataset}/benchmarks/go_enrichment.tsv"
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        dataset=rule_params("go_enrichment"),
    script:
        "../workflow_scripts/go_enrichment.py"


# one self-contained HTML page (BokehJS inlined): no server, no network
rule explorer_page:
    input:
        unpack(analysed_inputs),
        clusters="results/{dataset}/tables/clusters.tsv",
        multiloc=multiloc_input,
        store=crop_store_input,
    output:
        html=report(
            "results/{dataset}/explorer.html",
            caption="../workflow_scripts/report/explorer.rst",
            category="Explorer",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/explorer.log",
    benchmark:
        "results/{dataset}/benchmarks/explorer.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **sized("explorer_page"),
    params:
        dataset=rule_params("explorer_page"),
        labelled=lambda wc: wc.dataset in LABELLED,
        seed=lambda wc: dataset_seed(config, wc.dataset, "explorer"),
        sample_seed=benchmark_sample_seed,
    script:
        "../workflow_scripts/explorer.py"


rule multiloc_scores:
    input:
        unpack(analysed_inputs),
    output:
        scores="results/{dataset}/tables/multiloc_scores.tsv",
        suppdata2=report(
            "results/{dataset}/tables/suppdata2.tsv",
            caption="../workflow_scripts/report/suppdata2.rst",
            category="Exploratory",
            subcategory="{dataset}",
        ),
        figures=report(
            directory("results/{dataset}/figures/fig5"),
            patterns=["{pair}.png"],
            caption="../workflow_scripts/report/fig5.rst",
            category="Exploratory",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/multiloc_scores.log",
    benchmark:
        "results/{dataset}/benchmarks/multiloc_scores.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **sized("multiloc_scores"),
    params:
        dataset=rule_params("multiloc_scores"),
        labelled=lambda wc: wc.dataset in LABELLED,
        seed=lambda wc: dataset_seed(config, wc.dataset, "fig5"),
    script:
        "../workflow_scripts/multiloc_scores.py"


rule single_cell_dendrograms:
    input:
        unpack(analysed_inputs),
        store=crop_store_input,
        truth=truth_input("truth_proteins.tsv"),
    output:
        branches="results/{dataset}/tables/fig6_branches.tsv",
        figures=report(
            directory("results/{dataset}/figures/fig6"),
            patterns=["{protein}.png"],
            caption="../workflow_scripts/report/fig6.rst",
            category="Exploratory",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/single_cell_dendrograms.log",
    benchmark:
        "results/{dataset}/benchmarks/single_cell_dendrograms.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **sized("single_cell_dendrograms"),
    params:
        dataset=rule_params("single_cell_dendrograms"),
        seed=lambda wc: dataset_seed(config, wc.dataset, "fig6"),
    script:
        "../workflow_scripts/single_cell_dendrograms.py"


rule exploratory_truth:
    input:
        clusters="results/{dataset}/tables/clusters.tsv",
        top="results/{dataset}/tables/table3_top_terms.tsv",
        scores="results/{dataset}/tables/multiloc_scores.tsv",
        branches="results/{dataset}/tables/fig6_branches.tsv",
        cells="results/{dataset}/cells.parquet",
        like=lambda wc: (
            [f"results/{wc.dataset}/tables/localize_like.tsv"] if exploratory(wc.dataset)["queries"] else []
        ),
    output:
        table="results/{dataset}/tables/exploratory_truth.tsv",
    log:
        "results/{dataset}/logs/exploratory_truth.log",
    benchmark:
        "results/{dataset}/benchmarks/exploratory_truth.tsv"
    wildcard_constraints:
        dataset=one_of(SIMULATED),
    localrule: True
    conda:
        "../envs/analysis.yaml"
    params:
        dataset=rule_params("exploratory_truth"),
    script:
        "../workflow_scripts/exploratory_truth.py"


rule localize_like:
    input:
        unpack(analysed_inputs),
        store=crop_store_input,
    output:
        table=report(
            "results/{dataset}/tables/localize_like.tsv",
            caption="../workflow_scripts/report/localize_like.rst",
            category="Exploratory",
            subcategory="{dataset}",
        ),
        png=report(
            "results/{dataset}/figures/localize_like.png",
            caption="../workflow_scripts/report/localize_like.rst",
            category="Exploratory",
            subcategory="{dataset}",
        ),
    log:
        "results/{dataset}/logs/localize_like.log",
    benchmark:
        "results/{dataset}/benchmarks/localize_like.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        **sized("localize_like"),
    params:
        dataset=rule_params("localize_like"),
        labelled=lambda wc: wc.dataset in LABELLED,
        seed=lambda wc: dataset_seed(config, wc.dataset, "localize_like"),
    script:
        "../workflow_scripts/localize_like.py"


rule localize_like_all:
    input:
        [f"results/{d}/tables/localize_like.tsv" for d in DATASETS if exploratory(d)["queries"]],


rule fig4:
    input:
        expand("results/{dataset}/figures/fig4.png", dataset=DATASETS),
        expand("results/{dataset}/tables/clusters.tsv", dataset=DATASETS),


rule suppfig4:
    input:
        [f"results/{d}/figures/suppfig4.png" for d in DATASETS if exploratory(d).get("suppfig4")],


rule suppfig5:
    input:
        [f"results/{d}/figures/suppfig5.png" for d in DATASETS if exploratory(d).get("suppfig5")],


rule table3:
    input:
        [f"results/{d}/tables/table3.tsv" for d in DATASETS if has_go(d)],


rule fig5:
    input:
        [f"results/{d}/figures/fig5" for d in LABELLED if exploratory(d)["multiloc"]["pairs"]],


rule suppdata2:
    input:
        [f"results/{d}/tables/suppdata2.tsv" for d in LABELLED if exploratory(d)["multiloc"]["pairs"]],


rule fig6:
    input:
        [f"results/{d}/figures/fig6" for d in DATASETS if has_fig6(d)],


rule explorer:
    input:
        expand("results/{dataset}/explorer.html", dataset=DATASETS),


rule exploratory:
    input:
        rules.fig4.input,
        rules.suppfig4.input,
        rules.suppfig5.input,
        rules.table3.input,
        rules.fig5.input,
        rules.suppdata2.input,
        rules.fig6.input,
        rules.localize_like_all.input,
        expand("results/{dataset}/tables/exploratory_truth.tsv", dataset=SIMULATED),
