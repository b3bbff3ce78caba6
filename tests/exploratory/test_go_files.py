"""GO files named by URL: fetched once, atomically, from a local server standing in for the web."""

import gzip

import pytest
from local_atlas import running_atlas

from pcinpaint.errors import InputError
from pcinpaint.exploratory.enrichment import read_associations
from pcinpaint.exploratory.go_files import fetch, is_url, local_path


@pytest.fixture
def server():
    with running_atlas() as atlas:
        yield atlas


def test_urls_map_to_files_under_results_go():
    assert is_url("https://current.geneontology.org/annotations/goa_human.gaf.gz")
    assert local_path("https://current.geneontology.org/annotations/goa_human.gaf.gz") == "results/go/goa_human.gaf.gz"
    assert not is_url("go/go-basic.obo") and local_path("go/go-basic.obo") == "go/go-basic.obo"


def test_a_gzipped_gaf_is_fetched_and_read(server, tmp_path):
    gaf = "!gaf-version: 2.2\n" + "\t".join(
        [
            "UniProtKB",
            "Q9",
            "TSPAN6",
            "located_in",
            "GO:0005829",
            "PMID:1",
            "IDA",
            "",
            "C",
            "",
            "",
            "protein",
            "taxon:9606",
            "20200101",
            "UniProt",
        ]
    )
    url = server.add("/annotations/goa_human.gaf.gz", gzip.compress(gaf.encode()))
    path = tmp_path / "goa_human.gaf.gz"
    assert fetch(url, path, retries=1, backoff_s=0.01, timeout_s=5) > 0
    pairs = read_associations(path)
    assert pairs == {"TSPAN6": {"GO:0005829"}}  # read from the gzipped download by symbol
    with pytest.raises(InputError, match=r"/missing.obo: download failed after 1 attempt\(s\): .*404"):
        fetch(server.base + "/missing.obo", tmp_path / "missing.obo", retries=1, backoff_s=0.01, timeout_s=5)
    assert not (tmp_path / "missing.obo").exists()
    # a portal page served with status 200 is named, retried and never stored as the ontology
    page = b"<!DOCTYPE html><html><head><title>Service unavailable</title></head></html>"
    url = server.add("/ontology/go-basic.obo", page)
    with pytest.raises(
        InputError, match=r'go-basic.obo: .* got an HTML page \("Service unavailable"\) instead of a GO file'
    ):
        fetch(url, tmp_path / "go-basic.obo", retries=1, backoff_s=0.01, timeout_s=5)
    assert not (tmp_path / "go-basic.obo").exists()
