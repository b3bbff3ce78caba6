"""GO enrichment of protein clusters (the paper's Table 3).

The paper asks, for each cluster of proteins picked from the clustered feature map, which GO
cellular-component terms its proteins share more often than the clustered proteins as a whole
("We used all human proteins in our clustering solution as the background"), and reports the
FDR-adjusted enrichment and "proteins with the term / proteins in the cluster". GOrilla ran
that test on the web; here goatools runs it offline with the same ingredients: annotations
propagated up the ontology (a protein in the "mitochondrial membrane" is also in the
"mitochondrion"), a one-sided Fisher exact test per term (the hypergeometric tail GOrilla
reports) and Benjamini-Hochberg FDR over all tested terms.

Protein names are matched case-insensitively (both sides upper-cased), as in ``labels``: yeast
ORFs and gene names and human gene symbols are unique regardless of case, so ``aac1`` finds
``AAC1``. Results report counts, not names, so nothing is lost by that.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.errors import InputError, one_line

log = logging.getLogger(__name__)

NAMESPACES = {"CC": "cellular_component", "BP": "biological_process", "MF": "molecular_function"}
#: GAF and SGD files give the namespace as a one-letter aspect
ASPECTS = {"C": "CC", "P": "BP", "F": "MF"}
LAYOUTS = ("auto", "gaf", "sgd", "plain")
KEYS = ("auto", "symbol", "id", "both")
BACKGROUNDS = ("clustered", "annotated")
ALTERNATIVES = ("greater", "two-sided", "less")
GO_ID = re.compile(r"^GO:\d{7}$")

ENRICH_COLUMNS = [
    "go_id",
    "name",
    "namespace",
    "study_count",
    "study_n",
    "pop_count",
    "pop_n",
    "ratio_in_study",
    "p_uncorrected",
    "fdr",
    "enrichment",
    "significant",
]
CLUSTER_COLUMNS = [
    "cluster",
    "cluster_size",
    "go_id",
    "name",
    "namespace",
    "count",
    "ratio",
    "study_n",
    "pop_count",
    "pop_n",
    "fdr",
    "p_uncorrected",
]


@contextlib.contextmanager
def _quiet():
    """goatools prints progress to stdout in places no argument reaches; keep it off ours."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


# --------------------------------------------------------------------------------------------
# Ontology and associations
# --------------------------------------------------------------------------------------------


def read_ontology(obo_path):
    """The GO ontology (an OBO file, full GO or a slim) as a goatools ``GODag``.

    Obsolete terms are left out; alternative ids stay keys of the DAG, pointing to their term.
    """
    from goatools.obo_parser import GODag

    path = Path(obo_path)
    if not path.exists():
        raise InputError(f"{path}: ontology file not found")
    try:
        with _quiet():
            dag = GODag(str(path), optional_attrs=None, load_obsolete=False, prt=None)
    except Exception as exc:
        raise InputError(f"{path}: cannot read OBO ontology: {one_line(exc)}") from None
    if len(dag) == 0:
        raise InputError(f"{path}: no GO terms found (not an OBO ontology?)")
    return dag


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _rows(path: Path) -> tuple[list[tuple[int, list[str]]], bool]:
    """Non-blank, non-comment rows split on tabs (with 1-based line numbers), and whether a
    GAF header (``!gaf-version``) was seen."""
    rows, gaf_header = [], False
    try:
        with _open_text(path) as fh:
            for i, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if line.startswith("!"):
                    gaf_header |= line.lower().startswith("!gaf-version")
                    continue
                if line.strip():
                    rows.append((i, [c.strip() for c in line.split("\t")]))
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read association file: {one_line(exc)}") from None
    return rows, gaf_header


def _detect(rows, gaf_header: bool, path: Path) -> str:
    """gaf: '!gaf-version' or 15+ columns with a GO id in column 5 and an aspect in column 9;
    sgd: 7 columns with an aspect in column 4 (GO id in column 6, blank for 'other');
    plain: 2 columns with a GO id in the second (a header row allowed)."""
    if gaf_header:
        return "gaf"
    sample = rows[:50]
    widths = {len(r) for _, r in sample}
    if all(len(r) >= 15 for _, r in sample) and all(GO_ID.match(r[4]) and r[8] in ASPECTS for _, r in sample):
        return "gaf"
    if widths == {7} and all(r[3] in ASPECTS and (r[5] == "" or GO_ID.match(r[5])) for _, r in sample):
        return "sgd"
    first = sample[0][1]
    body = sample if len(first) > 1 and GO_ID.match(first[1]) else sample[1:]  # header row allowed
    if widths == {2} and body and all(GO_ID.match(r[1]) for _, r in body):
        return "plain"
    raise InputError(
        f"{path}: cannot tell the association layout: expected a GAF file, SGD "
        f"go_slim_mapping.tab (7 columns) or 'protein<TAB>go_id'; first row has "
        f"{len(rows[0][1])} column(s)"
    )


def _gaf(rows, key: str, path: Path):
    """GAF 2.x: column 2 DB Object ID, 3 symbol, 4 qualifier, 5 GO id, 9 aspect."""
    cols = {"auto": (2,), "symbol": (2,), "id": (1,), "both": (1, 2)}[key]
    for i, r in rows:
        if len(r) < 15:
            raise InputError(f"{path}: line {i}: {len(r)} columns, a GAF row has at least 15")
        if "NOT" in r[3].upper().split("|"):
            continue  # a negative annotation says the protein is *not* there
        if not GO_ID.match(r[4]) or r[8] not in ASPECTS:
            raise InputError(f"{path}: line {i}: no GO id in column 5 or aspect in column 9 ('{r[4]}', '{r[8]}')")
        for c in cols:
            yield r[c], r[4], ASPECTS[r[8]]


def _sgd(rows, key: str, path: Path):
    """SGD go_slim_mapping.tab: ORF, gene, SGDID, aspect, term name, GO id, feature type.

    By default ("auto"/"both") the ORF *and* the gene name both map to the terms, so a
    dataset naming proteins either way (yeast screens use ORFs, figures use gene names)
    matches; "id" keeps the ORF only, "symbol" the gene name only. Rows for the slim's
    "other" bin carry no GO id and are skipped.
    """
    cols = {"auto": (0, 1), "both": (0, 1), "id": (0,), "symbol": (1,)}[key]
    for i, r in rows:
        if len(r) != 7:
            raise InputError(f"{path}: line {i}: {len(r)} columns, an SGD go_slim_mapping row has 7")
        if r[3] not in ASPECTS:
            raise InputError(f"{path}: line {i}: aspect '{r[3]}' in column 4 is not C, F or P")
        if r[5] == "":
            continue
        if not GO_ID.match(r[5]):
            raise InputError(f"{path}: line {i}: '{r[5]}' in column 6 is not a GO id")
        for c in cols:
            yield r[c], r[5], ASPECTS[r[3]]


def _plain(rows, path: Path):
    """protein<TAB>go_id, with an optional header row; the namespace comes from the ontology."""
    if rows and not GO_ID.match(rows[0][1][1] if len(rows[0][1]) > 1 else ""):
        rows = rows[1:]
    for i, r in rows:
        if len(r) != 2 or not GO_ID.match(r[1]):
            raise InputError(f"{path}: line {i}: expected 'protein<TAB>GO:nnnnnnn', got {r[:3]}")
        yield r[0], r[1], None


def _add_synonyms(assoc: dict[str, set[str]], rows) -> None:
    """GAF column 11's synonyms as names of their protein, in place: SGD's GAF gives the gene
    name as the symbol and the systematic ORF name (what yeast screens are named by) as a
    synonym. A synonym that is a symbol in the file, or that names two proteins, is left out,
    so no protein takes another's terms."""
    owners: dict[str, set[str]] = {}
    for _, r in rows:
        for synonym in filter(None, (s.strip() for s in r[10].split("|"))):
            owners.setdefault(synonym, set()).add(r[2])
    added = 0
    for synonym, symbols in owners.items():
        if len(symbols) == 1 and synonym not in assoc and (symbol := next(iter(symbols))) in assoc:
            assoc[synonym] = set(assoc[symbol])
            added += 1
    if added:
        log.info("%d synonyms (GAF column 11) name their protein too", added)


def read_associations(
    path, layout: str = "auto", namespace: str | None = None, key: str = "auto", godag=None
) -> dict[str, set[str]]:
    """Protein -> set of GO ids, from a GAF 2.x file, SGD's ``go_slim_mapping.tab`` or a plain
    ``protein<TAB>go_id`` table (the simulator's).

    ``layout``: "gaf", "sgd", "plain" or "auto" (told from the columns). ``namespace``: "CC",
    "BP", "MF" or None (all); GAF and SGD rows carry their aspect, a plain table's terms are
    looked up in ``godag``. ``key`` picks the protein name: GAF "symbol" (column 3; by default
    with the unambiguous synonyms of column 11, ``_add_synonyms``) or "id" (column 2), SGD ORF
    and gene name both by default (see ``_sgd``), "both" both columns; plain tables have one.
    GAF rows qualified NOT are skipped.

    With ``godag`` (a GODag or an OBO path), ids missing from the ontology are dropped (a slim
    does not hold every term; the count is logged) and alternative ids become their term's
    id, so counts are not split between synonyms.
    """
    path = Path(path)
    _check_choices(layout, key, namespace)
    if not path.exists():
        raise InputError(f"{path}: association file not found")
    if isinstance(godag, (str, Path)):
        godag = read_ontology(godag)
    rows, gaf_header = _rows(path)
    if not rows:
        raise InputError(f"{path}: the association file has no rows")
    if layout == "auto":
        layout = _detect(rows, gaf_header, path)
    if layout == "plain" and namespace is not None and godag is None:
        raise ValueError(
            f"{path}: a two-column association table has no aspect column; pass godag to filter it by namespace"
        )
    triples = list(
        _gaf(rows, key, path) if layout == "gaf" else _sgd(rows, key, path) if layout == "sgd" else _plain(rows, path)
    )
    assoc, unknown = _collect(triples, namespace, godag)
    if unknown:
        log.info("%s: %d GO id(s) not in the ontology dropped (e.g. %s)", path, len(unknown), sorted(unknown)[0])
    if layout == "gaf" and key == "auto":
        _add_synonyms(assoc, rows)
    if not assoc:
        why = " (none of its GO ids is in the ontology)" if unknown else ""
        raise InputError(
            f"{path}: no protein has a GO annotation{' in namespace ' + namespace if namespace else ''}"
            f" (layout {layout}){why}"
        )
    log.info("%s: %d proteins, %d GO ids (layout %s)", path, len(assoc), len(set().union(*assoc.values())), layout)
    return assoc


def _check_choices(layout: str, key: str, namespace: str | None) -> None:
    """Fail on a layout, key or namespace this reader does not know, before any file is read."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown association layout '{layout}'; choose one of {list(LAYOUTS)}")
    if key not in KEYS:
        raise ValueError(f"unknown association key '{key}'; choose one of {list(KEYS)}")
    if namespace is not None and namespace not in NAMESPACES:
        raise ValueError(f"unknown GO namespace '{namespace}'; choose one of {list(NAMESPACES)} or None")


def _collect(triples, namespace: str | None, godag) -> tuple[dict[str, set[str]], set[str]]:
    """Protein -> GO ids of ``namespace`` from (protein, GO id, namespace) triples, and the ids
    ``godag`` lacks (dropped); with ``godag``, alternative ids become their term's id and a
    triple without a namespace takes its term's."""
    assoc: dict[str, set[str]] = {}
    unknown: set[str] = set()
    for protein, go, ns in triples:
        if not protein:
            continue
        if godag is not None:
            if go not in godag:
                unknown.add(go)
                continue
            term = godag[go]
            go, ns = term.id, ns or _ns_code(term.namespace)
        if namespace is not None and ns != namespace:
            continue
        assoc.setdefault(protein, set()).add(go)
    return assoc, unknown


def _ns_code(namespace: str) -> str:
    return {v: k for k, v in NAMESPACES.items()}.get(namespace, namespace)


# --------------------------------------------------------------------------------------------
# Enrichment
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrichmentTest:
    """The test run for each GO term: FDR ``method`` at ``alpha``; ``propagate`` counts a
    protein for every ancestor of its terms (what GOrilla and the paper's counts assume);
    ``alternative`` "greater" is the one-sided test for over-representation (GOrilla's
    hypergeometric tail; "two-sided" is goatools' own default, which also finds depletion);
    ``keep_depleted`` keeps under-represented ("p") rows; ``namespace`` ("CC", "BP", "MF")
    restricts the tested terms. The defaults are the paper's Table 3 test."""

    alpha: float = 0.05
    method: str = "fdr_bh"
    propagate: bool = True
    keep_depleted: bool = False
    alternative: str = "greater"
    namespace: str | None = None


class _Background:
    """A goatools study for one population, built once so many study sets (clusters) share
    the propagated associations.

    The associations are copied (names upper-cased, sets new) before goatools propagates
    counts, because goatools adds the ancestors into the sets it is given in place.
    """

    def __init__(self, population, associations: dict, godag, test: EnrichmentTest):
        from goatools.go_enrichment import GOEnrichmentStudy

        self.godag, self.alpha, self.method = godag, test.alpha, test.method
        if test.alternative not in ALTERNATIVES:
            raise ValueError(f"unknown alternative '{test.alternative}'; choose one of {list(ALTERNATIVES)}")
        namespace = test.namespace
        assoc: dict[str, set[str]] = {}
        unknown: set[str] = set()
        for protein, gos in associations.items():
            kept = set()
            for go in gos:
                term = godag.get(go)
                if term is None:
                    unknown.add(go)
                    continue
                if namespace is not None and term.namespace != NAMESPACES[namespace]:
                    continue
                kept.add(term.id)
            if kept:
                assoc.setdefault(_norm(protein), set()).update(kept)
        if unknown:
            log.info("%d GO id(s) of the associations are not in the ontology; ignored", len(unknown))
        self.population = {_norm(p) for p in population}
        if not self.population:
            raise ValueError("the population (background) is empty")
        self.assoc = {p: set(gos) for p, gos in assoc.items() if p in self.population}
        self.annotated = set(self.assoc)
        if not self.assoc:
            raise ValueError("no population protein has a GO annotation (names do not match the association file?)")
        with _quiet():
            self.study = GOEnrichmentStudy(
                self.population,
                self.assoc,
                godag,
                propagate_counts=test.propagate,
                alpha=test.alpha,
                methods=[test.method],
                log=None,
                alternative=test.alternative,
            )
        self.keep_depleted = test.keep_depleted

    def run(self, study) -> pd.DataFrame:
        study = {_norm(p) for p in study}
        if not study & self.population:
            return pd.DataFrame(columns=ENRICH_COLUMNS)
        with _quiet():
            records = self.study.run_study(study, log=None)
        rows = []
        for r in records:
            rows.append(
                {
                    "go_id": r.GO,
                    "name": r.name,
                    "namespace": r.NS,
                    "study_count": r.study_count,
                    "study_n": r.study_n,
                    "pop_count": r.pop_count,
                    "pop_n": r.pop_n,
                    "ratio_in_study": f"{r.study_count}/{r.study_n}",
                    "p_uncorrected": float(r.p_uncorrected),
                    "fdr": float(getattr(r, f"p_{self.method}")),
                    "enrichment": r.enrichment,
                }
            )
        table = pd.DataFrame(rows, columns=ENRICH_COLUMNS[:-1])
        table["significant"] = table["fdr"] < self.alpha
        if not self.keep_depleted:
            table = table[table["enrichment"] == "e"]
        return table.sort_values(["p_uncorrected", "go_id"], kind="stable").reset_index(drop=True)


def _norm(protein) -> str:
    return str(protein).strip().upper()


def enrich(study, population, associations: dict, godag, test: EnrichmentTest | None = None) -> pd.DataFrame:
    """GO terms over-represented in ``study`` against ``population``, one row per tested term.

    Columns: go_id, name, namespace, study_count, study_n (study proteins in the population),
    pop_count, pop_n (all population proteins, annotated or not, as goatools counts them),
    ratio_in_study ("k/n"), p_uncorrected (Fisher's exact test), fdr (``test.method``,
    Benjamini-Hochberg by default, over every tested term), enrichment ("e" over-, "p"
    under-represented), significant (fdr < ``test.alpha``); sorted by p.

    ``test`` (``EnrichmentTest``; default: propagated counts, one-sided for
    over-representation, FDR 0.05). Only "e" rows are returned unless ``test.keep_depleted``;
    the FDR is computed over all tested terms either way. The caller's ``associations`` are
    not modified.
    """
    return _Background(population, associations, godag, test or EnrichmentTest()).run(study)


@dataclass(frozen=True)
class ClusterEnrichmentSettings:
    """How ``cluster_enrichment`` tests clusters: FDR ``method`` at ``alpha``, terms of
    ``namespace`` (None: all), clusters of at least ``min_cluster_size`` proteins, against the
    ``background`` "clustered" (the paper) or "annotated"."""

    alpha: float = 0.05
    min_cluster_size: int = 2
    background: str = "clustered"
    namespace: str | None = None
    method: str = "fdr_bh"

    def test(self) -> EnrichmentTest:
        """The per-term test: propagated, one-sided for over-representation, enriched rows only."""
        return EnrichmentTest(alpha=self.alpha, method=self.method, namespace=self.namespace)


def cluster_enrichment(
    memberships: pd.DataFrame,
    associations: dict,
    godag,
    settings: ClusterEnrichmentSettings | None = None,
) -> pd.DataFrame:
    """Table 3: for every cluster, the GO terms enriched in it (fdr < alpha), as ``settings``
    (``ClusterEnrichmentSettings``, the paper's by default) say.

    ``memberships`` has one row per (protein, cluster); a protein may sit in several
    clusters (nested clusters such as A and A1 are tested independently). The background is,
    as in the paper, every clustered protein ("clustered"), annotated or not; "annotated"
    keeps only clustered proteins with at least one GO term (in ``namespace``) in both the
    background and the clusters, so a cluster richer in annotated proteins does not look
    enriched for every term. Clusters smaller than ``min_cluster_size`` are skipped; the
    ontology roots ("cellular_component", ...) are left out as they say nothing.

    Columns: cluster, cluster_size (all its proteins), go_id, name, namespace, count (cluster
    proteins with the term, propagated), ratio ("count/cluster_size", the paper's "Number of
    Proteins"), study_n (cluster proteins in the background), pop_count, pop_n, fdr,
    p_uncorrected; clusters in order of first appearance, terms by p.
    """
    settings = settings or ClusterEnrichmentSettings()
    background, alpha, min_cluster_size = settings.background, settings.alpha, settings.min_cluster_size
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background '{background}'; choose one of {list(BACKGROUNDS)}")
    missing = [c for c in ("protein", "cluster") if c not in memberships.columns]
    if missing:
        raise ValueError(f"memberships need columns 'protein' and 'cluster'; missing {missing}")
    members = memberships[["protein", "cluster"]].dropna()
    members = members.assign(protein=[_norm(p) for p in members["protein"]])
    members = members[members["protein"] != ""].drop_duplicates()
    if members.empty:
        return pd.DataFrame(columns=CLUSTER_COLUMNS)
    population = set(members["protein"])
    bg = _Background(population, associations, godag, settings.test())
    if background == "annotated":
        bg = _Background(bg.annotated, associations, godag, settings.test())
    parts = []
    for cluster, group in members.groupby("cluster", sort=False):
        proteins = set(group["protein"])
        if len(proteins) < min_cluster_size:
            log.info(
                "cluster %s: %d protein(s), below min_cluster_size=%d; not tested",
                cluster,
                len(proteins),
                min_cluster_size,
            )
            continue
        table = bg.run(proteins)
        if table.empty:
            continue
        depth = [getattr(godag.get(go), "depth", 1) for go in table["go_id"]]
        table = table[(table["fdr"] < alpha) & (pd.Series(depth, index=table.index) > 0)]
        if table.empty:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "cluster": cluster,
                    "cluster_size": len(proteins),
                    "go_id": table["go_id"],
                    "name": table["name"],
                    "namespace": table["namespace"],
                    "count": table["study_count"],
                    "ratio": [f"{k}/{len(proteins)}" for k in table["study_count"]],
                    "study_n": table["study_n"],
                    "pop_count": table["pop_count"],
                    "pop_n": table["pop_n"],
                    "fdr": table["fdr"],
                    "p_uncorrected": table["p_uncorrected"],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=CLUSTER_COLUMNS)
    return pd.concat(parts, ignore_index=True)[CLUSTER_COLUMNS]


def enrich_clusters(memberships: pd.DataFrame, go: dict, ontology, associations) -> pd.DataFrame:
    """``cluster_enrichment`` as an ``exploratory.go`` block configures it (GO files read here),
    background every protein of ``memberships``, with table3's ``level`` column: Table 3 over the
    whole clustering, Supp Fig 5 over a subset's clusters."""
    godag = read_ontology(ontology)
    assoc = read_associations(associations, go["layout"], go["namespace"], godag=godag)
    settings = ClusterEnrichmentSettings(
        alpha=go["alpha"], min_cluster_size=go["min_cluster_size"], namespace=go["namespace"]
    )
    table = cluster_enrichment(memberships, assoc, godag, settings)
    table.insert(1, "level", cluster_level(table["cluster"]))
    return table


def two_levels(clusters: pd.DataFrame) -> pd.DataFrame:
    """(protein, cluster) memberships of clusters and sub-clusters together (``clusters.tsv``:
    sub-clusters are named ``<cluster>.<k>``), for ``cluster_enrichment``, which tests each
    independently as the paper's Table 3 does A, A1 and A2."""
    major = clusters[["protein", "cluster"]].astype({"cluster": str})
    if "subcluster" not in clusters.columns:
        return major
    sub = clusters[["protein", "subcluster"]].rename(columns={"subcluster": "cluster"})
    sub = sub[sub["cluster"].fillna("").astype(str) != ""].astype({"cluster": str})
    both = pd.concat([major, sub], ignore_index=True)
    key = both["cluster"].str.split(".", expand=True).reindex(columns=[0, 1]).fillna("0").astype(int)
    return both.iloc[np.lexsort((key[1], key[0]))].reset_index(drop=True)  # 1, 1.1, 1.2, 2, ...


def cluster_level(names: pd.Series) -> pd.Series:
    """``cluster`` or ``sub-cluster`` for each name of ``two_levels``."""
    return names.astype(str).str.contains(".", regex=False).map({True: "sub-cluster", False: "cluster"})


def top_terms(table: pd.DataFrame) -> pd.DataFrame:
    """The most significant term of each cluster (lowest FDR, then p), one row per cluster,
    clusters in their order in ``table``: the one-line summary Table 3 gives most clusters."""
    if table.empty:
        return table.copy()
    order = {c: i for i, c in enumerate(pd.unique(table["cluster"]))}
    ranked = table.assign(_order=table["cluster"].map(order)).sort_values(
        ["_order", "fdr", "p_uncorrected", "go_id"], kind="stable"
    )
    return ranked.groupby("_order", sort=True).head(1).drop(columns="_order").reset_index(drop=True)
