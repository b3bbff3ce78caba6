"""The HPA adapter against a local HTTP server: listing, polite checked downloads, resume, split.

Nothing here touches the internet: a server on 127.0.0.1 plays the atlas, serving entry XMLs
in the v18 layout, small composites with known colour planes, and the failures a long
download meets (404, truncated bodies, a stalled or dripping connection, a transient 500, an
HTML page with status 200, a 429 with Retry-After).
"""

import time
from dataclasses import asdict, replace

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import require_shared
from local_atlas import MAINTENANCE_PAGE, entry_xml, jpeg, planted, running_atlas

from pcinpaint.errors import InputError
from pcinpaint.inputs import hpa
from pcinpaint.inputs.http import ClientSettings, PoliteClient, retry_after_s
from pcinpaint.inputs.samplesheet import read_samplesheet
from pcinpaint.io import write_table

HPA_TABLE = ("annotations", "hpa_subcellular_location_v18.tsv")
TSPAN6, SCYL3 = "ENSG00000000003", "ENSG00000000457"
COLOURS = {"nucleus": "blue", "microtubules": "red", "stain": "green"}
FAST = ClientSettings(retries=2, backoff_s=0.01, rate_limit_s=0.01, timeout_s=0.5)


# --------------------------------------------------------------------------------------------
# The local atlas
# --------------------------------------------------------------------------------------------


@pytest.fixture
def atlas():
    with running_atlas() as server:
        yield server


@pytest.fixture
def site(atlas):
    """Two proteins: TSPAN6 (four composites in three images, one composite flaky; its images
    annotated cytosol, nucleoli + nucleoplasm and not at all, the gene cytosol) and SCYL3
    (one good composite and every failure), plus a malformed entry; other entries are 404."""
    good = {k: jpeg(planted(k)) for k in range(5)}

    def img(ab, name, body, kind="ok"):
        return atlas.add(f"/images/{ab}/{name}_blue_red_green.jpg", body, kind)

    t1, t2 = img(4109, "1_A1_1", good[0]), img(4109, "1_A1_2", good[1])
    t3 = img(4109, "2_B1_1", good[2], "flaky")
    t4 = img(1, "3_C1_1", good[3])
    noise = [
        atlas.base + "/images/4109/1_A1_1_blue.jpg",
        atlas.base + "/images/4109/1_A1_1_green.jpg",
        atlas.base + "/images/4109/1_A1_1_red_green.jpg",
    ]
    mouse = (
        '<subAssay type="mouse"><data><cellLine>NIH 3T3</cellLine><assayImage><image><imageUrl>'
        f"{atlas.base}/images/4109/9_Z9_9_blue_red_green.jpg</imageUrl></image></assayImage></data></subAssay>"
    )
    atlas.add(
        f"/{TSPAN6}.xml",
        entry_xml(
            TSPAN6,
            "TSPAN6",
            {
                # one antibody annotated differently in two cell lines; another without annotation
                "HPA004109": [("A-431", [t1, *noise, t2, t1]), ("U-2 OS", [t3], ["Nucleoli", "Nucleoplasm"])],
                "CAB000001": [("A-431", [t4], [])],
            },
            extra=mouse,
        ),
    )
    s_good = img(5948, "4_D1_1", good[4])
    s_404 = atlas.base + "/images/5948/4_D1_2_blue_red_green.jpg"
    s_cut_declared = img(5948, "4_D1_3", good[0], "cut_declared")
    s_cut = img(5948, "4_D1_4", good[0][: len(good[0]) // 2])
    s_stall = img(5948, "4_D1_5", good[0], "stall")
    atlas.add(
        f"/{SCYL3}.xml",
        entry_xml(SCYL3, "SCYL3", {"HPA005948": [("U-2 OS", [s_good, s_404, s_cut_declared, s_cut, s_stall])]}),
    )
    atlas.add("/ENSG00000888888.xml", b"<proteinAtlas><entry><name>BROKEN</name>")
    return dict(
        good=[t1, t2, t3, t4, s_good],
        s_404=s_404,
        s_cut_declared=s_cut_declared,
        s_cut=s_cut,
        s_stall=s_stall,
        planes={t1: planted(0), t2: planted(1), t4: planted(3)},
    )


def path_of(url):
    return "/" + url.split("/", 3)[3]


# --------------------------------------------------------------------------------------------
# Listing
# --------------------------------------------------------------------------------------------


def test_listing_keeps_human_composites_with_antibody_and_cell_line(atlas, site, tmp_path):
    listing, failures = hpa.list_images(
        [TSPAN6, SCYL3, "ENSG00000999999", "ENSG00000888888"], atlas.base, tmp_path / "xml", polite=FAST
    )
    tspan = listing[listing["ensg"] == TSPAN6]
    assert list(tspan["url"]) == site["good"][:4]  # composites only, deduplicated, in order
    assert list(tspan["antibody"]) == ["HPA004109"] * 3 + ["CAB000001"]
    assert list(tspan["cell_line"]) == ["A-431", "A-431", "U-2 OS", "A-431"]
    assert set(tspan["protein"]) == {"TSPAN6"}
    assert (listing["ensg"] == SCYL3).sum() == 5
    assert list(failures["ensg"]) == ["ENSG00000999999", "ENSG00000888888"]
    missing, broken = failures.to_dict("records")
    assert "HTTP 404" in missing["error"] and missing["attempts"] == 1 and missing["permanent"]
    assert "malformed XML" in broken["error"] and broken["attempts"] == FAST.retries + 1
    assert not broken["permanent"]  # worth asking again on a rerun
    # the cache answers a rerun: no request reaches the atlas
    before = atlas.count()
    again, _ = hpa.list_images([TSPAN6, SCYL3], atlas.base, tmp_path / "xml", polite=FAST)
    assert atlas.count() == before
    pd.testing.assert_frame_equal(again, listing)


def test_parse_entry_xml_without_name_and_malformed():
    xml = entry_xml(TSPAN6, "", {"HPA1": [("HeLa", ["http://x/a_blue_red_green.jpg"])]})
    got = hpa.parse_entry_xml(xml, TSPAN6, "entry.xml")
    assert got.to_dict("records") == [
        dict(
            ensg=TSPAN6,
            protein=TSPAN6,
            antibody="HPA1",
            cell_line="HeLa",
            url="http://x/a_blue_red_green.jpg",
            locations="cytosol",
            reliability="approved",
        )
    ]
    with pytest.raises(InputError, match=r"^somewhere/ENSG1\.xml: malformed XML") as err:
        hpa.parse_entry_xml(b"<entry><name>X</entry>", "ENSG1", "somewhere/ENSG1.xml")
    assert "\n" not in str(err.value)


def test_a_current_release_entry_reads_like_v18():
    """Later releases: no attributes on <cellLine>, the reliability on <cellExpression>, the
    top tier called "enhanced" (v18: "validated"); the listing and the labels come out the same."""
    lines = {"HPA1": [("U-2 OS", ["http://x/a_blue_red_green.jpg"], ["Nucleoli", "Nucleoplasm"])]}
    mouse = '<subAssay type="mouse"><verification type="reliability">uncertain</verification></subAssay>'
    rows = {
        layout: hpa.parse_entry_xml(entry_xml(TSPAN6, "TSPAN6", lines, mouse, level, layout), TSPAN6, "e.xml")
        for layout, level in (("v18", "validated"), ("current", "enhanced"))
    }
    for got in rows.values():
        assert got.drop(columns="reliability").to_dict("records") == [
            dict(
                ensg=TSPAN6,
                protein="TSPAN6",
                antibody="HPA1",
                cell_line="U-2 OS",
                url="http://x/a_blue_red_green.jpg",
                locations="nucleoli+nucleoplasm",
            )
        ]
    assert rows["current"]["reliability"].tolist() == ["enhanced"]
    for got in rows.values():  # the default reliability, written for v18, trusts both names of the top tier
        sheet = got.rename(columns={"locations": "image_locations", "reliability": "image_reliability"})
        labelled = hpa.image_labels(sheet, None)
        assert labelled[["label", "label_source"]].values.tolist() == [["nucleoli+nucleoplasm", "image"]]


def test_a_current_release_location_table_keeps_its_enhanced_locations(tmp_path, caplog):
    """From v19 the table's top tier is the column "Enhanced" (v18: "Validated") and it gains
    main/additional location columns; the default reliability must not drop that tier."""
    table = tmp_path / "subcellular_location.tsv"
    write_table(
        pd.DataFrame(
            {
                "Gene": ["ENSG1", "ENSG2", "ENSG3"],
                "Gene name": ["ABC", "XYZ", "UVW"],
                "Reliability": ["Enhanced", "Approved", "Uncertain"],
                "Main location": ["Nucleoli", "Cytosol", "Vesicles"],
                "Additional location": ["Nucleoplasm", "", ""],
                "Extracellular location": ["", "", ""],
                "Enhanced": ["Nucleoli;Nucleoplasm", "", ""],
                "Supported": ["", "", ""],
                "Approved": ["", "Cytosol", ""],
                "Uncertain": ["", "", "Vesicles"],
                "Single-cell variation intensity": ["", "", ""],
                "Single-cell variation spatial": ["Nucleoplasm", "", ""],
                "Cell cycle dependency": ["", "", ""],
                "GO id": ["", "", ""],
            }
        ),
        table,
    )
    with caplog.at_level("WARNING"):
        cols = hpa.location_columns(table).set_index("protein")
    assert "absent" not in caplog.text
    assert cols["label"].dropna().to_dict() == {"ABC": "nucleoli+nucleoplasm", "XYZ": "cytosol"}
    assert cols.loc["ABC", "sc_variation_spatial"] == "Nucleoplasm"
    enhanced_only = hpa.location_columns(table, reliability=["Validated"]).set_index("protein")["label"]
    assert enhanced_only.dropna().to_dict() == {"ABC": "nucleoli+nucleoplasm"}


# --------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------


def test_download_statuses_attempts_and_resume(atlas, site, tmp_path):
    listing, _ = hpa.list_images([TSPAN6, SCYL3], atlas.base, tmp_path / "xml", polite=FAST)
    start = time.monotonic()
    manifest = hpa.download_images(listing, tmp_path / "img", polite=FAST)
    assert time.monotonic() - start < 6
    assert list(manifest.columns) == hpa.MANIFEST_COLUMNS
    by = manifest.set_index("url")
    good = site["good"]
    assert set(by.loc[good, "status"]) == {"fetched"}
    assert list(by.loc[good, "attempts"]) == [1, 1, 2, 1, 1]  # the flaky one needed a second try
    tries = FAST.retries + 1
    expect = {
        "s_404": (1, "HTTP 404"),
        "s_cut_declared": (tries, "incomplete body"),
        "s_cut": (tries, "JPEG does not decode"),
        "s_stall": (tries, "timed out"),
    }
    for key, (attempts, reason) in expect.items():
        row = by.loc[site[key]]
        assert row["status"] == "failed" and row["attempts"] == attempts and reason in row["error"], key
        assert row["permanent"] == (key == "s_404"), key
        assert not (tmp_path / "img" / row["path"]).exists()
    assert atlas.hits[path_of(site["s_404"])] == 1  # permanent: not retried
    for url in good:
        row = by.loc[url]
        assert (tmp_path / "img" / row["path"]).stat().st_size == row["bytes"] > 0
    assert not list((tmp_path / "img").rglob(".*"))  # no temporary files left behind

    # resume: files on disk are trusted once they decode; a damaged one is fetched again
    ok = listing[listing["url"].isin(good)]
    damaged = tmp_path / "img" / by.loc[good[0], "path"]
    damaged.write_bytes(damaged.read_bytes()[:100])
    before = atlas.count()
    again = hpa.download_images(ok, tmp_path / "img", polite=FAST).set_index("url")
    assert again.loc[good[0], "status"] == "fetched" and atlas.count() == before + 1
    assert set(again.loc[good[1:], "status"]) == {"cached"} and set(again.loc[good[1:], "attempts"]) == {0}
    before = atlas.count()
    assert set(hpa.download_images(ok, tmp_path / "img", polite=FAST)["status"]) == {"cached"}
    assert atlas.count() == before


def test_request_starts_are_rate_limited(atlas, tmp_path):
    urls = [atlas.add(f"/images/{i}_blue_red_green.jpg", jpeg(planted(0))) for i in range(4)]
    listing = pd.DataFrame({"url": urls, "ensg": TSPAN6, "protein": "TSPAN6", "antibody": "A", "cell_line": "C"})
    manifest = hpa.download_images(listing, tmp_path, polite=replace(FAST, rate_limit_s=0.1))
    assert set(manifest["status"]) == {"fetched"}
    assert min(np.diff(atlas.starts)) >= 0.08


MAINTENANCE = '"The Human Protein Atlas - Down for maintenance"'


def test_an_html_page_is_never_kept_as_an_entry_and_a_rerun_asks_again(atlas, tmp_path):
    """A maintenance page (well-formed XHTML, status 200) in place of an entry: the protein is a
    named failure, not an empty entry; nothing is cached, so a later run fetches the real entry.
    A page cached by an older version as the entry is asked for again too."""
    url = atlas.add(f"/{TSPAN6}.xml", b"", "html")
    cache = tmp_path / "xml"
    cache.mkdir()
    (cache / f"{TSPAN6}.xml").write_bytes(MAINTENANCE_PAGE)
    listing, failures = hpa.list_images([TSPAN6], atlas.base, cache, polite=FAST)
    assert listing.empty
    assert failures.to_dict("records") == [
        dict(
            ensg=TSPAN6,
            protein=TSPAN6,
            url=url,
            attempts=3,
            error=f"{url}: got an HTML page ({MAINTENANCE}) instead of an entry XML (gave up after 3 attempts)",
            permanent=False,
        )
    ]
    assert (cache / f"{TSPAN6}.xml").read_bytes() == MAINTENANCE_PAGE  # not replaced by another page
    image = atlas.add("/images/1/1_A1_1_blue_red_green.jpg", jpeg(planted(0)))
    atlas.add(f"/{TSPAN6}.xml", entry_xml(TSPAN6, "TSPAN6", {"HPA1": [("A-431", [image])]}))
    listing, failures = hpa.list_images([TSPAN6], atlas.base, cache, polite=FAST)
    assert failures.empty and listing["url"].tolist() == [image]
    assert atlas.hits[f"/{TSPAN6}.xml"] == 4 and b"<entry" in (cache / f"{TSPAN6}.xml").read_bytes()


def test_other_xml_is_not_an_entry():
    with pytest.raises(InputError, match=r"^e\.xml: not an atlas entry: no <entry> element under <error>$"):
        hpa.parse_entry_xml(b"<error><message>quota exceeded</message></error>", TSPAN6, "e.xml")


def test_an_html_page_or_other_bytes_for_an_image_are_named_and_not_kept(atlas, tmp_path):
    page = atlas.add("/images/1/1_A1_1_blue_red_green.jpg", b"", "html")
    gif = atlas.add("/images/1/1_A1_2_blue_red_green.jpg", b"GIF89a\x01\x00\x01\x00")
    listing = pd.DataFrame({"url": [page, gif], "ensg": TSPAN6, "protein": "TSPAN6", "antibody": "A", "cell_line": "C"})
    manifest = hpa.download_images(listing, tmp_path, polite=FAST).set_index("url")
    assert manifest.loc[page, "error"] == (
        f"got an HTML page ({MAINTENANCE}) instead of a JPEG image (gave up after 3 attempts)"
    )
    assert manifest.loc[gif, "error"].startswith("not a JPEG image: 10 bytes starting b'GIF89a")
    assert set(manifest["status"]) == {"failed"} and not manifest["permanent"].any()
    assert not list(tmp_path.rglob("*.jpg"))


def test_a_dripping_server_is_cut_at_the_timeout(atlas, tmp_path):
    """A byte every 0.5 s never trips a per-read socket timeout; ``timeout_s`` bounds the request."""
    url = atlas.add("/images/1/1_A1_1_blue_red_green.jpg", jpeg(planted(0)), "drip")
    listing = pd.DataFrame({"url": [url], "ensg": TSPAN6, "protein": "TSPAN6", "antibody": "A", "cell_line": "C"})
    start = time.monotonic()
    manifest = hpa.download_images(listing, tmp_path, polite=replace(FAST, retries=0, timeout_s=1))
    assert time.monotonic() - start < 2.5
    assert manifest[["status", "error"]].values.tolist() == [
        ["failed", "timed out after 1 s (gave up after 1 attempts)"]
    ]
    assert not list(tmp_path.rglob("*.jpg"))


def test_retry_after_is_honoured_and_capped(atlas):
    url = atlas.add("/busy.xml", b"<entry/>", "busy", first=1)
    got = replace(FAST, retries=1).client().fetch(url)
    assert got.data == b"<entry/>" and got.attempts == 2
    assert atlas.starts[1] - atlas.starts[0] >= 0.9  # Retry-After: 1, not the 0.01 s backoff
    atlas.retry_after = "3600"
    capped = atlas.add("/capped.xml", b"<entry/>", "busy", first=1)
    start = time.monotonic()
    assert PoliteClient(**{**asdict(FAST), "retries": 1}, max_retry_after_s=0.2).fetch(capped).attempts == 2
    assert time.monotonic() - start < 1.0
    # a server that asks to wait is asked nothing else in the meantime: the next URL waits too
    atlas.retry_after = "1"
    client = replace(FAST, retries=0).client()
    assert client.fetch(atlas.add("/busy2.xml", b"<entry/>", "busy", first=1)).data is None
    ask = time.monotonic()
    assert client.fetch(atlas.add("/next.xml", b"<entry/>")).data == b"<entry/>"
    assert time.monotonic() - ask >= 0.9


def test_retry_after_reads_seconds_and_http_dates():
    from email.utils import formatdate

    assert retry_after_s("7") == 7 and retry_after_s("120") == 60 and retry_after_s("120", cap=300) == 120
    assert 28 <= retry_after_s(formatdate(time.time() + 30, usegmt=True)) <= 30
    assert retry_after_s(formatdate(time.time() - 30, usegmt=True)) == 0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_failures_another_run_may_fix_stop_the_download_beyond_max_failures():
    def table(rows, columns):
        return pd.DataFrame(rows, columns=columns).astype({"permanent": bool})

    gone = table([("ENSG1", "A", "u/ENSG1.xml", 1, "HTTP 404 Not Found", True)], hpa.FAILURE_COLUMNS)
    images = table(
        [
            {"url": "u/a.jpg", "status": "fetched", "permanent": False},
            {"url": "u/b.jpg", "status": "failed", "permanent": True, "error": "HTTP 404 Not Found"},
        ],
        hpa.MANIFEST_COLUMNS,
    )
    assert hpa.retryable_failures(gone, images, 0, "m.tsv") is None  # the atlas's 404s never stop it
    timeout = {"url": "u/c.jpg", "status": "failed", "permanent": False, "error": "timed out after 30 s"}
    images = pd.concat([images, table([timeout], hpa.MANIFEST_COLUMNS)], ignore_index=True)
    assert hpa.retryable_failures(gone, images, 0, "m.tsv") == (
        "m.tsv: 1 of 3 images and 0 atlas entries failed (first: u/c.jpg: timed out after 30 s); the 1 images "
        "downloaded are kept: rerun to fetch only the missing ones, or set hpa.max_failures: 1 to go on without them"
    )
    assert hpa.retryable_failures(gone, images, 1, "m.tsv") is None


# --------------------------------------------------------------------------------------------
# Splitting composites and the sample sheet
# --------------------------------------------------------------------------------------------


def test_split_and_sample_sheet(atlas, site, tmp_path):
    listing, _ = hpa.list_images([TSPAN6, SCYL3], atlas.base, tmp_path / "xml", polite=FAST)
    manifest = hpa.download_images(listing[listing["url"] != site["s_stall"]], tmp_path / "img", polite=FAST)
    by = manifest.set_index("url")
    for url, planes in site["planes"].items():
        split = hpa.split_composite(tmp_path / "img" / by.loc[url, "path"])
        for colour, plane in planes.items():
            got = split[colour]
            assert got.dtype == np.uint8 and got.shape == plane.shape
            assert np.abs(got.astype(int) - plane).mean() < 8, colour
        assert abs(int(split["blue"][24, 40]) - int(planes["blue"][24, 40])) < 20 and split["blue"][2, 2] < 20

    sheet = hpa.write_fields(manifest, tmp_path / "img", tmp_path / "fields", COLOURS)
    assert list(sheet.columns) == [
        "image_id",
        "field_id",
        "protein",
        "cell_line",
        "antibody",
        *COLOURS,
        "image_locations",
        "image_reliability",
    ]
    assert len(sheet) == 5 and sheet["field_id"].is_unique
    assert sheet["image_id"].value_counts().to_dict() == {
        "TSPAN6/HPA004109/A-431": 2,
        "TSPAN6/HPA004109/U-2 OS": 1,
        "TSPAN6/CAB000001/A-431": 1,
        "SCYL3/HPA005948/U-2 OS": 1,
    }
    first = sheet.iloc[0]
    split = hpa.split_composite(tmp_path / "img" / by.loc[site["good"][0], "path"])
    for channel, colour in COLOURS.items():
        assert first[channel].endswith(f"{first['field_id']}_{channel}.tif")
        np.testing.assert_array_equal(tifffile.imread(first[channel]), split[colour])
    # the sheet is a valid input for the rest of the workflow
    write_table(sheet, tmp_path / "sheet.tsv")
    assert len(read_samplesheet(tmp_path / "sheet.tsv", list(COLOURS))) == 5


def test_labels_come_from_each_image_and_the_gene_only_where_it_has_none(atlas, site, tmp_path):
    listing, _ = hpa.list_images([TSPAN6, SCYL3], atlas.base, tmp_path / "xml", polite=FAST)
    manifest = hpa.download_images(listing[listing["url"] != site["s_stall"]], tmp_path / "img", polite=FAST)
    sheet = hpa.write_fields(manifest, tmp_path / "img", tmp_path / "fields", COLOURS)
    genes = pd.DataFrame({"protein": ["TSPAN6", "SCYL3"], "label": ["cytosol", None]})  # as the v18 table
    labelled = hpa.image_labels(sheet, genes).drop_duplicates("image_id").set_index("image_id")
    assert labelled[["label", "label_source"]].to_dict("index") == {
        "TSPAN6/HPA004109/A-431": {"label": "cytosol", "label_source": "image"},
        "TSPAN6/HPA004109/U-2 OS": {"label": "nucleoli+nucleoplasm", "label_source": "image"},
        "TSPAN6/CAB000001/A-431": {"label": "cytosol", "label_source": "gene"},  # no own annotation
        "SCYL3/HPA005948/U-2 OS": {"label": "cytosol", "label_source": "image"},
    }
    # an antibody below the reliability asked for keeps only the gene's label
    uncertain = hpa.image_labels(sheet.assign(image_reliability="uncertain"), genes)
    assert set(uncertain["label_source"]) == {"gene", ""}
    assert pd.isna(uncertain.set_index("protein").loc["SCYL3", "label"])


def test_split_rejects_non_rgb(tmp_path):
    grey = tmp_path / "grey.jpg"
    iio.imwrite(grey, planted(0)["red"], extension=".jpg")
    with pytest.raises(InputError, match=r"grey\.jpg: not an RGB composite") as err:
        hpa.split_composite(grey)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=r"absent\.jpg"):
        hpa.split_composite(tmp_path / "absent.jpg")


# --------------------------------------------------------------------------------------------
# Gene names and the location table
# --------------------------------------------------------------------------------------------


def test_gene_names_resolve_through_a_table(tmp_path):
    table = tmp_path / "locations.tsv"
    write_table(
        pd.DataFrame({"Gene": ["ENSG1", "ENSG2"], "Gene name": ["ABC", "XYZ"], "Approved": ["Cytosol", ""]}), table
    )
    got = hpa.resolve_proteins(["abc", "ENSG2", "ENSG3.4", "ABC"], table)
    assert got.to_dict("records") == [
        dict(ensg="ENSG1", protein="ABC"),
        dict(ensg="ENSG2", protein="XYZ"),
        dict(ensg="ENSG3", protein="ENSG3"),
    ]
    with pytest.raises(InputError, match=r"locations\.tsv: unknown gene name 'NOPE'") as err:
        hpa.resolve_proteins(["ABC", "NOPE"], table)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="location table"):
        hpa.resolve_proteins(["ABC"], None)
    # the id becomes the entry's URL and cached file name: a table cannot smuggle a path in
    hostile = tmp_path / "hostile.tsv"
    write_table(pd.DataFrame({"Gene": ["ENSG1", "../../x"], "Gene name": ["ABC", "XYZ"]}), hostile)
    with pytest.raises(InputError, match=r"hostile\.tsv: row 3: Gene '\.\./\.\./x' is not an Ensembl gene id"):
        hpa.resolve_proteins(["XYZ"], hostile)


def test_all_proteins_are_the_location_tables_genes_without_the_network(monkeypatch):
    """The whole atlas (the paper's v18: 12,003 genes) is listed from the table alone."""
    path = require_shared(*HPA_TABLE)

    def offline(*args, **kwargs):
        raise AssertionError("no network access while resolving proteins")

    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    got = hpa.resolve_proteins("all", path)
    assert len(got) == 12_003 and got["ensg"].is_unique and got["ensg"].str.startswith("ENSG").all()
    assert got.iloc[0].to_dict() == dict(ensg="ENSG00000000003", protein="TSPAN6")
    with pytest.raises(InputError, match="'all' takes every gene of hpa.location_table, which is not set"):
        hpa.resolve_proteins("all", None)


def test_a_protein_list_file(tmp_path):
    table = tmp_path / "locations.tsv"
    write_table(pd.DataFrame({"Gene": ["ENSG1", "ENSG2"], "Gene name": ["ABC", "XYZ"]}), table)
    listed = tmp_path / "mine.txt"
    listed.write_text("gene\nxyz  # a comment\n\nENSG1\tmore columns\n")
    assert list(hpa.resolve_proteins(str(listed), table)["protein"]) == ["XYZ", "ABC"]
    with pytest.raises(InputError, match="protein list file not found: .*nope.txt"):
        hpa.resolve_proteins(str(tmp_path / "nope.txt"), table)


def test_real_location_table_names_and_columns(atlas, site, tmp_path):
    path = require_shared(*HPA_TABLE)
    listing, failures = hpa.list_images(
        ["tspan6", "SCYL3"], atlas.base, tmp_path / "xml", location_table=path, polite=FAST
    )
    assert failures.empty and set(listing["ensg"]) == {TSPAN6, SCYL3}
    with pytest.raises(InputError, match=rf"{path.name}: unknown gene name 'NOT_A_GENE'"):
        hpa.resolve_proteins(["NOT_A_GENE"], path)
    cols = hpa.location_columns(path).set_index("protein")
    assert cols.loc["TSPAN6", "label"] == "cytosol" and cols.loc["TSPAN6", "ensg"] == TSPAN6
    assert pd.isna(cols.loc["SCYL3", "label"])  # uncertain only
    assert cols.loc["ICA1", "label"] == "cytosol+vesicles"
    assert cols.loc["ICA1", "sc_variation_intensity"] == "Vesicles"
    assert pd.isna(cols.loc["ICA1", "sc_variation_spatial"])
    every = hpa.location_columns(path, reliability=("Validated", "Supported", "Approved", "Uncertain"))
    assert every.set_index("protein").loc["SCYL3", "label"] == "microtubules+nuclear bodies"


def test_the_atlas_estimate_uses_measured_sizes_once_there_are_downloads(tmp_path):
    line = hpa.atlas_estimate(12_068, 0.5)
    assert line.startswith("12,068 proteins: ~95,102 requests (~83,034 composites")  # the paper's v18 download
    assert ">= 13.2 h at rate_limit_s 0.5" in line and "1.00 MB per JPEG, assumed" in line
    manifest = tmp_path / "manifest.tsv"
    write_table(pd.DataFrame({"url": ["a", "b"], "bytes": [2_000_000, 4_000_000]}), manifest)
    assert "3.00 MB per JPEG, measured over 2 files" in hpa.atlas_estimate(10, 1.0, manifest)
