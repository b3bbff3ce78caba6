"""GO enrichment of protein clusters (Table 3): planted ontologies with known answers, the
three association layouts, and the real yeast GO slim recovering the mitochondrion."""

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import require_shared
from scipy.stats import fisher_exact

from pcinpaint.errors import InputError
from pcinpaint.exploratory import enrichment as en

ROOT, A, A1, A2, B = "GO:0000001", "GO:0000010", "GO:0000011", "GO:0000012", "GO:0000020"
P1 = "GO:0000030"  # a biological-process term, for namespace filtering

OBO = f"""format-version: 1.2

[Term]
id: {ROOT}
name: planted component
namespace: cellular_component

[Term]
id: {A}
name: compartment A
namespace: cellular_component
is_a: {ROOT} ! planted component

[Term]
id: {A1}
name: compartment A1
namespace: cellular_component
alt_id: GO:0000111
is_a: {A} ! compartment A

[Term]
id: {A2}
name: compartment A2
namespace: cellular_component
is_a: {A} ! compartment A

[Term]
id: {B}
name: compartment B
namespace: cellular_component
is_a: {ROOT} ! planted component

[Term]
id: {P1}
name: planted process
namespace: biological_process
"""


@pytest.fixture
def godag(tmp_path):
    path = tmp_path / "planted.obo"
    path.write_text(OBO)
    return en.read_ontology(path)


def planted_associations():
    """40 proteins: P01-P10 in A1, P11-P15 in A2, P16-P30 in B, P31-P40 unannotated."""
    assoc = {}
    for i in range(1, 31):
        go = A1 if i <= 10 else A2 if i <= 15 else B
        assoc[f"P{i:02d}"] = {go}
    assoc["P99"] = {"GO:9999999"}  # not in the ontology, not in the population: ignored
    return assoc


def bh(p):
    """Benjamini-Hochberg by hand: q_(i) = min over j >= i of p_(j) m / j."""
    p = np.asarray(p, float)
    order = np.argsort(p)
    ranked = p[order] * len(p) / np.arange(1, len(p) + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    out = np.empty_like(q)
    out[order] = q
    return out


# --------------------------------------------------------------------------------------------
# 1. Fisher test, propagation, FDR on a planted ontology
# --------------------------------------------------------------------------------------------


def test_planted_enrichment_matches_fisher_and_bh(godag):
    assoc = planted_associations()
    before = copy.deepcopy(assoc)
    population = {f"P{i:02d}" for i in range(1, 41)}
    study = {f"P{i:02d}" for i in range(1, 9)} | {"P16", "P31"}  # 8 of the 10 A1 proteins
    table = en.enrich(study, population, assoc, godag)

    assert assoc == before, "enrich must not modify the caller's associations"
    assert list(table.columns) == en.ENRICH_COLUMNS
    assert set(table["enrichment"]) == {"e"}
    assert table["p_uncorrected"].is_monotonic_increasing
    top = table.iloc[0]
    assert top["go_id"] == A1 and top["name"] == "compartment A1" and top["namespace"] == "CC"
    N, n, K, k = 40, 10, 10, 8
    assert (top["study_count"], top["study_n"], top["pop_count"], top["pop_n"]) == (k, n, K, N)
    assert top["ratio_in_study"] == "8/10"
    expected = fisher_exact([[k, n - k], [K - k, N - n - (K - k)]], alternative="greater")[1]
    assert top["p_uncorrected"] == pytest.approx(expected, rel=1e-12)

    # A is enriched only through propagation: its counts hold the A1 and A2 proteins
    row_a = table.set_index("go_id").loc[A]
    assert (row_a["study_count"], row_a["pop_count"]) == (8, 15)
    assert row_a["p_uncorrected"] == pytest.approx(
        fisher_exact([[8, 2], [7, 40 - 10 - 7]], alternative="greater")[1], rel=1e-12
    )
    assert row_a["fdr"] < 0.05 and row_a["significant"]

    # BH over every tested term (depleted ones too), as goatools runs it
    everything = en.enrich(study, population, assoc, godag, en.EnrichmentTest(keep_depleted=True))
    assert set(everything["go_id"]) == {ROOT, A, A1, A2, B}
    assert set(everything["enrichment"]) == {"e", "p"}
    assert np.allclose(everything["fdr"], bh(everything["p_uncorrected"]), rtol=1e-12)
    statsmodels = pytest.importorskip("statsmodels.stats.multitest")
    assert np.allclose(everything["fdr"], statsmodels.multipletests(everything["p_uncorrected"], method="fdr_bh")[1])
    assert assoc == before

    # without propagation A has no proteins of its own and is not tested
    flat = en.enrich(study, population, assoc, godag, en.EnrichmentTest(propagate=False, keep_depleted=True))
    assert A not in set(flat["go_id"]) and flat.iloc[0]["go_id"] == A1


def test_enrich_matches_names_case_insensitively(godag):
    assoc = planted_associations()
    population = {f"p{i:02d}" for i in range(1, 41)}
    study = {f"p{i:02d} " for i in range(1, 9)}
    table = en.enrich(study, population, assoc, godag)
    assert table.iloc[0]["go_id"] == A1 and table.iloc[0]["study_count"] == 8


def test_enrich_two_sided_finds_depletion(godag):
    assoc = planted_associations()
    population = {f"P{i:02d}" for i in range(1, 41)}
    study = {f"P{i:02d}" for i in range(16, 31)}  # all of B, none of A
    two_sided = en.EnrichmentTest(alternative="two-sided", keep_depleted=True)
    table = en.enrich(study, population, assoc, godag, two_sided)
    depleted = table.set_index("go_id").loc[A]
    assert depleted["enrichment"] == "p" and depleted["study_count"] == 0
    assert depleted["p_uncorrected"] == pytest.approx(fisher_exact([[0, 15], [15, 40 - 15 - 15]])[1], rel=1e-12)


# --------------------------------------------------------------------------------------------
# 2. Association layouts
# --------------------------------------------------------------------------------------------

#: (ORF, gene, GO id, aspect)
PAIRS = [
    ("YAL001C", "TFC3", A1, "C"),
    ("YAL001C", "TFC3", B, "C"),
    ("YAL002W", "VPS8", A2, "C"),
    ("YAL002W", "VPS8", P1, "P"),
    ("YAL003W", "EFB1", B, "C"),
]


def gaf_file(path, extra_rows=()):
    """GAF 2.2: DB, DB Object ID, symbol, qualifier, GO id, reference, evidence, with, aspect,
    name, synonyms, type, taxon, date, assigned by, extensions, product form."""
    lines = ["!gaf-version: 2.2", "!generated-by: SGD"]
    for orf, gene, go, aspect in PAIRS:
        cols = [
            "SGD",
            f"SGD_{orf}",
            gene,
            "located_in",
            go,
            "SGD_REF:S0001",
            "IDA",
            "",
            aspect,
            "protein",
            orf,
            "protein",
            "taxon:559292",
            "20200101",
            "SGD",
            "",
            "",
        ]
        lines.append("\t".join(cols))
    # a negative annotation: the protein is *not* in A2
    lines.append(
        "\t".join(
            [
                "SGD",
                "SGD_YAL003W",
                "EFB1",
                "NOT|located_in",
                A2,
                "SGD_REF:S0001",
                "IDA",
                "",
                "C",
                "protein",
                "YAL003W",
                "protein",
                "taxon:559292",
                "20200101",
                "SGD",
                "",
                "",
            ]
        )
    )
    lines.extend(extra_rows)
    path.write_text("\n".join(lines) + "\n")
    return path


def sgd_file(path):
    rows = [
        f"{orf}\t{gene}\tS00000000{i}\t{aspect}\tterm\t{go}\tORF|Verified"
        for i, (orf, gene, go, aspect) in enumerate(PAIRS)
    ]
    rows.append("YAL003W\tEFB1\tS000000002\tF\tother\t\tORF|Verified")  # slim 'other': no GO id
    path.write_text("\n".join(rows) + "\n")
    return path


def plain_file(path, header=True):
    rows = (["protein\tgo_id"] if header else []) + [f"{gene}\t{go}" for _, gene, go, _ in PAIRS]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_layouts_parse_to_the_same_associations(tmp_path, godag):
    gaf, sgd = gaf_file(tmp_path / "genes.gaf"), sgd_file(tmp_path / "go_slim_mapping.tab")
    plain, bare = plain_file(tmp_path / "assoc.tsv"), plain_file(tmp_path / "bare.tsv", header=False)
    expected = {"TFC3": {A1, B}, "VPS8": {A2, P1}, "EFB1": {B}}

    assert en._detect(*en._rows(gaf), gaf) == "gaf"
    assert en._detect(*en._rows(sgd), sgd) == "sgd"
    assert en._detect(*en._rows(plain), plain) == "plain"
    assert en._detect(*en._rows(bare), bare) == "plain"
    assert en.read_associations(gaf, key="symbol") == expected  # the NOT row is skipped
    assert en.read_associations(sgd, key="symbol") == expected
    assert en.read_associations(plain) == expected
    assert en.read_associations(bare) == expected
    for path, key in ((gaf, "symbol"), (sgd, "symbol"), (plain, "auto")):
        assert en.read_associations(path, key=key, godag=godag) == expected

    # SGD: ORF and gene name both map to the terms by default
    both = en.read_associations(sgd)
    assert both["YAL001C"] == both["TFC3"] == {A1, B}
    assert set(both) == {"TFC3", "VPS8", "EFB1", "YAL001C", "YAL002W", "YAL003W"}
    assert set(en.read_associations(sgd, key="id")) == {"YAL001C", "YAL002W", "YAL003W"}
    assert set(en.read_associations(gaf, key="id")) == {"SGD_YAL001C", "SGD_YAL002W", "SGD_YAL003W"}


def test_gaf_synonyms_name_their_protein_unless_ambiguous(tmp_path):
    """SGD's GAF: the gene name is the symbol and the ORF (what a yeast screen's folders are
    named by) a synonym in column 11, so by default the ORF finds the terms too; a synonym
    that is another protein's symbol, or names two proteins, finds nothing."""
    extra = []
    for symbol, synonyms in (("VPS8", "EFB1|SHARED"), ("EFB1", "SHARED")):
        cols = ["SGD", f"SGD_{symbol}", symbol, "located_in", B, "SGD_REF:S1", "IDA", "", "C", "protein"]
        extra.append("\t".join([*cols, synonyms, "protein", "taxon:559292", "20200101", "SGD", "", ""]))
    assoc = en.read_associations(gaf_file(tmp_path / "sgd.gaf", extra_rows=extra))
    assert assoc["YAL001C"] == assoc["TFC3"] == {A1, B} and assoc["YAL002W"] == assoc["VPS8"] == {A2, P1, B}
    assert assoc["EFB1"] == {B} and "SHARED" not in assoc  # EFB1 keeps its own terms, not VPS8's


def test_namespace_filtering(tmp_path, godag):
    gaf, sgd, plain = gaf_file(tmp_path / "g.gaf"), sgd_file(tmp_path / "s.tab"), plain_file(tmp_path / "p.tsv")
    cc = {"TFC3": {A1, B}, "VPS8": {A2}, "EFB1": {B}}
    assert en.read_associations(gaf, namespace="CC", key="symbol") == cc
    assert en.read_associations(sgd, namespace="CC", key="symbol") == cc
    assert en.read_associations(plain, namespace="CC", godag=godag) == cc
    assert en.read_associations(gaf, namespace="BP") == {"VPS8": {P1}, "YAL002W": {P1}}
    assert en.read_associations(sgd, namespace="BP", key="symbol") == {"VPS8": {P1}}
    with pytest.raises(InputError, match="no protein has a GO annotation in namespace MF"):
        en.read_associations(gaf, namespace="MF")
    with pytest.raises(ValueError, match="pass godag"):
        en.read_associations(plain, namespace="CC")


def test_unknown_ids_dropped_and_alt_ids_resolved(tmp_path, godag):
    path = tmp_path / "assoc.tsv"
    path.write_text("protein\tgo_id\nX\tGO:0000111\nX\tGO:9999999\nY\tGO:9999998\n")
    assert en.read_associations(path, godag=godag) == {"X": {A1}}
    path.write_text("protein\tgo_id\nY\tGO:9999998\n")
    with pytest.raises(InputError, match="none of its GO ids is in the ontology"):
        en.read_associations(path, godag=godag)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("just some words\nand more words here\n", "cannot tell the association layout"),
        ("a\tb\tc\n", "cannot tell the association layout"),
        ("", "has no rows"),
    ],
)
def test_malformed_files_give_one_line_errors(tmp_path, content, problem):
    path = tmp_path / "broken.txt"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        en.read_associations(path)
    message = str(err.value)
    assert str(path) in message and problem in message and "\n" not in message


def test_malformed_rows_are_named(tmp_path):
    gaf = gaf_file(tmp_path / "bad.gaf", extra_rows=["SGD\tS1\tXYZ\ttoo few columns"])
    with pytest.raises(InputError, match=r"bad\.gaf: line \d+: 4 columns"):
        en.read_associations(gaf)
    sgd = sgd_file(tmp_path / "bad.tab")
    sgd.write_text(sgd.read_text() + "YAL009W\tSPO7\tS1\tC\tterm\tnot-a-go-id\tORF\n")
    with pytest.raises(InputError, match=r"bad\.tab: line 7: 'not-a-go-id'"):
        en.read_associations(sgd, layout="sgd")
    with pytest.raises(InputError, match="not found"):
        en.read_associations(tmp_path / "absent.tsv")
    with pytest.raises(InputError, match="ontology file not found"):
        en.read_ontology(tmp_path / "absent.obo")
    junk = tmp_path / "junk.obo"
    junk.write_text("this is not an ontology\n")
    with pytest.raises(InputError, match=r"junk\.obo"):
        en.read_ontology(junk)


# --------------------------------------------------------------------------------------------
# 3. Real data: Huh 2003 mitochondrial proteins against all Huh 2003 proteins
# --------------------------------------------------------------------------------------------


def test_real_yeast_mitochondrion(capsys):
    huh = require_shared("annotations", "yeastgfp_huh2003.csv")
    mapping = require_shared("go", "go_slim_mapping.tab")
    obo = require_shared("go", "goslim_yeast.obo")
    godag = en.read_ontology(obo)
    assoc = en.read_associations(mapping, namespace="CC", godag=godag)
    table = pd.read_csv(huh, dtype=str, keep_default_na=False)
    population = set(table["yORF"])
    study = set(table.loc[table["mitochondrion"].str.upper().isin(["T", "TRUE"]), "yORF"])
    assert len(population) > 4000 and len(study) > 400

    result = en.enrich(study, population, assoc, godag)
    assert capsys.readouterr().out == "", "goatools' chatter must not reach stdout"
    top = result.iloc[0]
    print(
        f"\nHuh 2003 mitochondrion: top {top['go_id']} {top['name']} {top['ratio_in_study']} "
        f"(population {top['pop_count']}/{top['pop_n']}), FDR {top['fdr']:.3g}"
    )
    assert top["go_id"] == "GO:0005739" and top["name"] == "mitochondrion"
    assert top["fdr"] < 1e-50
    assert top["study_count"] > 0.8 * top["study_n"]
    assert set(result["namespace"]) == {"CC"}


# --------------------------------------------------------------------------------------------
# 4. Cluster enrichment (Table 3 layout)
# --------------------------------------------------------------------------------------------


def planted_clusters():
    """Three clusters of 15: 12 proteins carry the cluster's term, 3 another cluster's term;
    one singleton; every term is held by 15 of the 46 clustered proteins."""
    terms = {"c1": A1, "c2": A2, "c3": B}
    other = {"c1": B, "c2": A1, "c3": A2}
    rows, assoc = [], {}
    for c, term in terms.items():
        for i in range(15):
            name = f"{c}_{i:02d}"
            rows.append((name.lower() if i % 2 else name.upper(), c))  # names in any case
            assoc[name.upper()] = {term if i < 12 else other[c]}
    rows.append(("LONER", "c4"))
    assoc["LONER"] = {A1}
    return pd.DataFrame(rows, columns=["protein", "cluster"]), assoc, terms


def test_cluster_enrichment_recovers_planted_terms(godag):
    memberships, assoc, terms = planted_clusters()
    before = copy.deepcopy(assoc)
    table = en.cluster_enrichment(memberships, assoc, godag)
    assert assoc == before
    assert list(table.columns) == en.CLUSTER_COLUMNS
    assert list(pd.unique(table["cluster"])) == ["c1", "c2", "c3"]  # c4 is below min_cluster_size
    assert (table["fdr"] < 0.05).all() and ROOT not in set(table["go_id"])

    top = en.top_terms(table)
    assert list(top["cluster"]) == ["c1", "c2", "c3"]
    assert list(top["go_id"]) == [terms[c] for c in top["cluster"]]
    assert list(top["ratio"]) == ["12/15"] * 3
    assert (top["cluster_size"] == 15).all() and (top["pop_n"] == 46).all()
    assert (top["pop_count"] == 15 + (top["go_id"] == A1)).all()  # the singleton is in the background
    for _, row in top.iterrows():
        k, n, K, N = row["count"], row["cluster_size"], row["pop_count"], row["pop_n"]
        p = fisher_exact([[k, n - k], [K - k, N - n - (K - k)]], alternative="greater")[1]
        assert row["p_uncorrected"] == pytest.approx(p, rel=1e-12)


def test_cluster_enrichment_background_choices(godag):
    memberships, assoc, _ = planted_clusters()
    # 20 clustered proteins without any annotation, half of them in c1
    unannotated = pd.DataFrame({"protein": [f"U{i}" for i in range(20)], "cluster": ["c1"] * 10 + ["c5"] * 10})
    memberships = pd.concat([memberships, unannotated], ignore_index=True)
    clustered = en.top_terms(en.cluster_enrichment(memberships, assoc, godag)).set_index("cluster")
    annotated = en.top_terms(
        en.cluster_enrichment(memberships, assoc, godag, en.ClusterEnrichmentSettings(background="annotated"))
    )
    annotated = annotated.set_index("cluster")
    c1 = clustered.loc["c1"]  # the paper's background: every clustered protein counts
    assert (c1["go_id"], c1["ratio"], c1["pop_n"], c1["study_n"]) == (A1, "12/25", 66, 25)
    c1 = annotated.loc["c1"]  # only annotated proteins count, in the background and the cluster
    assert (c1["go_id"], c1["ratio"], c1["pop_n"], c1["study_n"]) == (A1, "12/25", 46, 15)
    assert annotated.loc["c1", "p_uncorrected"] < clustered.loc["c1", "p_uncorrected"]
    assert "c5" not in clustered.index and "c5" not in annotated.index
    with pytest.raises(ValueError, match="unknown background"):
        en.cluster_enrichment(memberships, assoc, godag, en.ClusterEnrichmentSettings(background="everything"))
    with pytest.raises(ValueError, match="protein"):
        en.cluster_enrichment(memberships.rename(columns={"protein": "gene"}), assoc, godag)
    empty = en.cluster_enrichment(memberships.iloc[:0], assoc, godag)
    assert empty.empty and list(empty.columns) == en.CLUSTER_COLUMNS


def test_clusters_and_sub_clusters_are_enriched_independently(godag):
    """Table 3's two levels: cluster 1 holds the A1 and A2 proteins, which its sub-clusters 1.1
    and 1.2 separate; the cluster is enriched for their common parent, each sub-cluster for its
    own term, and rows run 1, 1.1, 1.2, 2."""
    memberships, assoc, _ = planted_clusters()
    number = {"c1": 1, "c2": 1, "c3": 2, "c4": 3}
    clusters = pd.DataFrame(
        {
            "protein": memberships["protein"],
            "cluster": memberships["cluster"].map(number),
            "subcluster": memberships["cluster"].map({"c1": "1.1", "c2": "1.2"}).fillna(""),
        }
    )
    both = en.two_levels(clusters)
    assert list(pd.unique(both["cluster"])) == ["1", "1.1", "1.2", "2", "3"]
    table = en.cluster_enrichment(both, assoc, godag)
    top = en.top_terms(table).set_index("cluster")
    assert list(top.index) == ["1", "1.1", "1.2", "2"]
    assert top.loc["1.1", "go_id"] == A1 and top.loc["1.2", "go_id"] == A2 and top.loc["2", "go_id"] == B
    assert top.loc["1", "ratio"] == "27/30" and godag[top.loc["1", "go_id"]].depth < godag[A1].depth
    assert list(en.cluster_level(top.index.to_series())) == ["cluster", "sub-cluster", "sub-cluster", "cluster"]
