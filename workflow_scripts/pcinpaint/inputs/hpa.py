"""The Human Protein Atlas as an input source (``source: hpa``): list, download, split.

Listing follows the paper's reference download script: for each protein, fetch the atlas
entry ``<base>/<ENSG>.xml`` and keep the image URLs of the ``<subAssay type="human">``
elements (the cell-line immunofluorescence), taking only the composites that end in
``_blue_red_green.jpg``. Each composite holds the nucleus (blue), microtubules (red) and the
stained protein (green); ``write_fields`` splits it into one TIFF per channel and a sample
sheet whose images group fields by (protein, antibody, cell line), as the paper did. Gene
names resolve to Ensembl ids through the HPA subcellular location table.

Downloads are meant to be re-run and to share the atlas politely:

* politeness: request starts are spaced by at least ``rate_limit_s``; failures are retried
  with exponential backoff (``backoff_s * 2**attempt``); a 404 (or another client error) is
  permanent and not retried;
* integrity: every file is checked by its content before it is kept: an entry XML must parse
  and hold an atlas ``<entry>``, an image must decode as an RGB JPEG; an HTML page where a
  file was expected (a gateway's or a maintenance page, sent with status 200) is named as
  such. A body that fails its check, or is shorter than its Content-Length, is fetched
  again; ``timeout_s`` bounds each request's whole time;
* resume: entry XMLs are cached, images already on disk that decode are kept (``cached``),
  and every file is written to a temporary name and renamed, so an interrupted run never
  leaves a half file that a later run would trust. Failures are recorded in the manifest
  (images) and the failures table (entries), with ``permanent`` telling the atlas's "not
  there" (a 404) from a failure another run may fix; ``retryable_failures`` says when the
  latter are too many for the run to go on.

Only the standard library speaks HTTP, so the adapter adds no dependency.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from pcinpaint.errors import InputError, one_line
from pcinpaint.inputs import annotations
from pcinpaint.inputs.http import ClientSettings, html_page
from pcinpaint.io import atomic_path, named_path, read_table, safe_name

log = logging.getLogger(__name__)

COMPOSITE_SUFFIX = "_blue_red_green.jpg"
COLOURS = ("blue", "red", "green")
#: ``locations``: the image's own annotation (the ``<location>`` elements of its ``<data>``,
#: lower-case, sorted, joined by '+'); ``reliability``: its antibody's human-assay reliability
LISTING_COLUMNS = ["ensg", "protein", "antibody", "cell_line", "url", "locations", "reliability"]
#: ``permanent``: the atlas answered that it does not have the file (a 404); asking again will not help
FAILURE_COLUMNS = ["ensg", "protein", "url", "attempts", "error", "permanent"]
MANIFEST_COLUMNS = [
    "url",
    "ensg",
    "protein",
    "antibody",
    "cell_line",
    "locations",
    "reliability",
    "path",
    "status",
    "bytes",
    "attempts",
    "error",
    "permanent",
]
_ENSG = re.compile(r"^ENSG\d+(\.\d+)?$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Listing: entry XML -> composite image URLs
# --------------------------------------------------------------------------------------------


def _local(tag) -> str:
    """Tag name without a namespace, so a namespaced export parses the same."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(el) -> str:
    return (el.text or "").strip() if el is not None else ""


def parse_entry_xml(xml_bytes: bytes, ensg: str, where: str) -> pd.DataFrame:
    """One row per composite URL of the entry's human cell-line assays (deduplicated).

    Searches anywhere under each ``<subAssay type="human">``, so small changes in nesting
    between atlas versions do not lose images; the antibody is the enclosing ``<antibody
    id=...>``, the cell line the ``<cellLine>`` of the enclosing ``<data>`` and the image's
    locations that ``<data>``'s ``<location>`` elements (the annotation of this antibody in
    this cell line, which can differ from the gene's), the reliability the subAssay's
    ``<verification type="reliability">`` (else its enclosing ``<cellExpression>``'s).

    The layouts read: v18 (the paper's) and the later releases, whose ``<cellLine>`` lost its
    ``organ``/``cellosaurusID`` attributes, whose reliability levels renamed "validated" to
    "enhanced" (``annotations.reliability_tiers``) and whose elements may carry a namespace.
    """
    page = html_page(xml_bytes)
    if page:
        raise InputError(f"{where}: got {page} instead of an entry XML")
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as exc:
        raise InputError(f"{where}: malformed XML: {one_line(exc)}") from None
    parent = {child: node for node in root.iter() for child in node}
    entries = [el for el in root.iter() if _local(el.tag) == "entry"]
    if not entries:  # well-formed but something else: caching it would drop the protein for good
        raise InputError(f"{where}: not an atlas entry: no <entry> element under <{_local(root.tag)}>")
    name = next((_text(c) for e in entries for c in e if _local(c.tag) == "name" and _text(c)), "")

    def enclosing(el, tag):
        while el is not None and _local(el.tag) != tag:
            el = parent.get(el)
        return el

    rows, seen = [], set()
    for assay in root.iter():
        if _local(assay.tag) != "subAssay" or assay.get("type", "").lower() != "human":
            continue
        antibody = enclosing(assay, "antibody")
        expression = enclosing(assay, "cellExpression")
        reliability = next(
            (
                _text(v).lower()
                for scope in (assay.iter(), expression if expression is not None else ())
                for v in scope
                if _local(v.tag) == "verification" and v.get("type") == "reliability"
            ),
            "",
        )
        for el in assay.iter():
            url = _text(el) if _local(el.tag) == "imageUrl" else ""
            if not url.endswith(COMPOSITE_SUFFIX) or url in seen:
                continue
            seen.add(url)
            data = enclosing(el, "data")
            inside = list(data.iter()) if data is not None else []
            cell = next((c for c in inside if _local(c.tag) == "cellLine"), None)
            locations = "+".join(sorted({_text(c).lower() for c in inside if _local(c.tag) == "location" and _text(c)}))
            ab = antibody.get("id", "") if antibody is not None else ""
            rows.append((ensg, name or ensg, ab, _text(cell), url, locations, reliability))
    return pd.DataFrame(rows, columns=LISTING_COLUMNS, dtype=object)


def _text_column(table: pd.DataFrame, name: str) -> pd.Series | None:
    """The column called ``name`` (any case) as stripped text, missing as ""; None if absent."""
    col = annotations.find_column(table, name)
    if col is None:
        return None
    return pd.Series([("" if pd.isna(v) else str(v).strip()) for v in table[col]], index=table.index, dtype=object)


def _gene_table(path: Path, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """``ensg`` and ``protein``: the location table's ``Gene`` and ``Gene name`` columns."""
    table = read_table(path) if table is None else table
    ensg, name = _text_column(table, "Gene"), _text_column(table, "Gene name")
    if ensg is None or name is None:
        raise InputError(f"{path}: expected columns 'Gene' and 'Gene name'; columns are {list(table.columns)}")
    bad = ensg.ne("") & ~ensg.str.match(_ENSG)
    if bad.any():  # the id names the entry's URL and its cached file: never anything else
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: row {row + 2}: Gene '{ensg.iloc[row]}' is not an Ensembl gene id (ENSG...)")
    return pd.DataFrame({"ensg": ensg, "protein": name})


def protein_list(proteins: Sequence[str] | str, location_table: str | Path | None) -> list[str]:
    """The proteins ``hpa.proteins`` names: a list as given; ``all``, every gene of the
    location table (the whole atlas: 12,003 genes in v18); any other text, a file with one
    Ensembl id or gene name per line (first column; ``#`` comments and a header ``gene`` ignored)."""
    if not isinstance(proteins, str):
        return list(proteins)
    if proteins == "all":
        if location_table is None:
            raise InputError("hpa.proteins: 'all' takes every gene of hpa.location_table, which is not set")
        return list(_gene_table(Path(location_table))["ensg"])
    path = Path(proteins)
    if not path.is_file():
        raise InputError(f"hpa.proteins: protein list file not found: {path}")
    items = []
    for line in path.read_text().splitlines():
        item = line.split("#", 1)[0].replace(",", "\t").split("\t")[0].strip()
        if item and not (not items and item.lower() in ("gene", "protein", "ensg", "gene name")):
            items.append(item)
    if not items:
        raise InputError(f"{path}: the protein list is empty")
    return items


def resolve_proteins(proteins: Sequence[str] | str, location_table: str | Path | None) -> pd.DataFrame:
    """``ensg, protein`` for a list of Ensembl ids and/or gene names (case-insensitive), in order
    (or ``all`` / a list file: see ``protein_list``).

    Ensembl ids pass through (their version suffix dropped); gene names need the location
    table. An unknown or ambiguous name is a one-line error naming the table and the name.
    """
    proteins = protein_list(proteins, location_table)
    table = _gene_table(Path(location_table)) if location_table is not None else None
    if table is not None:
        ensg_name, by_name = {}, {}
        for ensg, name in zip(table["ensg"].str.upper(), table["protein"]):
            ensg_name[ensg] = name
            if name and ensg not in by_name.setdefault(name.upper(), []):
                by_name[name.upper()].append(ensg)
    rows = []
    for item in proteins:
        item = str(item).strip()
        if not item:
            continue
        if _ENSG.match(item):
            ensg = item.split(".")[0].upper()
            rows.append((ensg, ensg_name.get(ensg, ensg) if table is not None else ensg))
            continue
        if table is None:
            raise InputError(f"gene name '{item}' needs a location table to find its Ensembl id (or give the ENSG id)")
        ids = by_name.get(item.upper())
        if ids is None:
            raise InputError(f"{location_table}: unknown gene name '{item}' (not in the 'Gene name' column)")
        if len(ids) > 1:
            raise InputError(f"{location_table}: gene name '{item}' is ambiguous ({', '.join(ids)}); give the ENSG id")
        rows.append((ids[0], ensg_name[ids[0]]))
    return pd.DataFrame(rows, columns=["ensg", "protein"], dtype=object).drop_duplicates("ensg").reset_index(drop=True)


#: the paper's v18 download: 41,517 images of (usually) 2 fields for 12,068 proteins
COMPOSITES_PER_PROTEIN = 41_517 * 2 / 12_068
#: assumed until a download measures them (the manifest's ``bytes``): one composite JPEG, and its
#: three channels as deflated 8-bit TIFFs (2048 x 2048 fields)
ASSUMED_JPEG_MB, ASSUMED_TIFF_MB = 1.0, 8.0


def atlas_estimate(n_proteins: int, rate_limit_s: float, manifest: str | Path | None = None) -> str:
    """One line on what downloading ``n_proteins`` costs: requests, hours at the rate limit
    (a floor: transfer time comes on top), and disk. Composite sizes are measured from an
    existing manifest when there is one, else assumed (``ASSUMED_JPEG_MB``)."""
    composites = n_proteins * COMPOSITES_PER_PROTEIN
    jpeg_mb, measured = ASSUMED_JPEG_MB, "assumed"
    if manifest is not None and Path(manifest).exists():
        done = read_table(manifest)
        sizes = pd.to_numeric(done.get("bytes", pd.Series(dtype=float)), errors="coerce").dropna()
        if len(sizes):
            jpeg_mb, measured = float(sizes.mean()) / 1e6, f"measured over {len(sizes):,} files"
    requests = n_proteins + composites
    hours = requests * rate_limit_s / 3600
    gb = composites * (jpeg_mb + ASSUMED_TIFF_MB) / 1000
    return (
        f"{n_proteins:,} proteins: ~{requests:,.0f} requests (~{composites:,.0f} composites, "
        f"{COMPOSITES_PER_PROTEIN:.1f} per protein as in v18), >= {hours:,.1f} h at rate_limit_s "
        f"{rate_limit_s:g}, ~{gb:,.0f} GB ({jpeg_mb:.2f} MB per JPEG, {measured}; "
        f"{ASSUMED_TIFF_MB:g} MB of channel TIFFs per field)"
    )


def list_images(
    proteins: Sequence[str],
    base_url: str,
    cache_dir: str | Path,
    *,
    location_table: str | Path | None = None,
    polite: ClientSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(listing, failures): every protein's composites, and the proteins whose XML failed.

    Entry XMLs are kept in ``cache_dir`` as ``<ENSG>.xml`` (only once they parse as an entry),
    so a rerun reads them from disk instead of asking the atlas again, and asks again for the
    entries that failed. ``polite``: how the atlas is asked (default ``ClientSettings()``).
    """
    cache_dir = Path(cache_dir)
    client = (polite or ClientSettings()).client()
    parts, failures = [], []
    for ensg, protein in resolve_proteins(proteins, location_table).itertuples(index=False):
        cached, url = named_path(cache_dir, ensg, ".xml"), f"{base_url.rstrip('/')}/{ensg}.xml"
        listing = None
        if cached.exists():
            try:
                listing = parse_entry_xml(cached.read_bytes(), ensg, str(cached))
            except InputError as exc:
                log.warning("%s; fetching it again", exc)
        if listing is None:
            parsed = []  # the check's parse is the listing: an entry is parsed once
            got = client.fetch(
                url, check=lambda b, ensg=ensg, url=url, parsed=parsed: parsed.append(parse_entry_xml(b, ensg, url))
            )
            if got.data is None:
                log.warning("%s (%s): %s", url, protein, got.error)
                failures.append((ensg, protein, url, got.attempts, got.error, got.permanent))
                continue
            with atomic_path(cached) as tmp:
                tmp.write_bytes(got.data)
            listing = parsed[-1]
        if listing.empty:
            log.warning("%s (%s): no %s images in the human cell-line assays", url, protein, COMPOSITE_SUFFIX)
        parts.append(listing)
    listing = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=LISTING_COLUMNS, dtype=object)
    return listing, pd.DataFrame(failures, columns=FAILURE_COLUMNS).astype({"attempts": int, "permanent": bool})


# --------------------------------------------------------------------------------------------
# Downloading composites
# --------------------------------------------------------------------------------------------


def _decode_rgb(data: bytes) -> np.ndarray:
    """A JPEG's pixels (H, W, 3); ValueError when it does not decode or is not RGB, naming what
    came instead when it is not a JPEG at all."""
    import imageio.v3 as iio

    page = html_page(data)
    if page:
        raise ValueError(f"got {page} instead of a JPEG image")
    if not data.startswith(b"\xff\xd8\xff"):
        raise ValueError(f"not a JPEG image: {len(data)} bytes starting {data[:8]!r}")
    try:
        image = iio.imread(io.BytesIO(data), extension=".jpg")
    except Exception as exc:  # truncated or corrupt data raises assorted errors
        raise ValueError(f"JPEG does not decode: {one_line(exc)}") from None
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"not an RGB composite: image shape {image.shape}")
    return image


def _relative_path(row) -> str:
    """``<ENSG>/<antibody>/<URL file name>``: unique per composite, readable on disk."""
    return "/".join(safe_name(part) for part in (row["ensg"], row["antibody"], str(row["url"]).rsplit("/", 1)[-1]))


def download_images(
    listing: pd.DataFrame,
    dest_dir: str | Path,
    *,
    polite: ClientSettings | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Fetch every composite of ``listing`` into ``dest_dir``; the manifest, one row per URL.

    A file already there that decodes as an RGB JPEG is ``cached`` and not fetched again;
    otherwise the body must match its Content-Length and decode, or it is fetched again
    (up to ``polite.retries`` times) before being reported ``failed`` with the reason (and
    ``permanent`` when the atlas said it is not there). ``polite``: how the atlas is asked
    (default ``ClientSettings()``).
    """
    if "url" not in listing.columns:
        raise ValueError(f"the image listing needs a 'url' column; columns are {list(listing.columns)}")
    dest_dir = Path(dest_dir)
    client = (polite or ClientSettings()).client()
    rows = listing.reindex(columns=LISTING_COLUMNS, fill_value="").fillna("").astype(str).drop_duplicates("url")
    out = []
    for i, row in enumerate(rows.to_dict("records")):
        rel = _relative_path(row)
        target = dest_dir / rel
        status, size, attempts, error, permanent = "cached", 0, 0, "", False
        try:
            size = target.stat().st_size
            _decode_rgb(target.read_bytes())
        except (OSError, ValueError):
            data, attempts, error, permanent = client.fetch(row["url"], check=_decode_rgb)
            if data is None:
                status, size = "failed", 0
            else:
                with atomic_path(target) as tmp:
                    tmp.write_bytes(data)
                status, size = "fetched", len(data)
        out.append(
            {
                **row,
                "path": rel,
                "status": status,
                "bytes": size,
                "attempts": attempts,
                "error": error,
                "permanent": permanent,
            }
        )
        if progress:
            print(
                f"[{i + 1}/{len(rows)}] {status:7s} {row['url']}" + (f": {error}" if error else ""),
                file=sys.stderr,
                flush=True,
            )
    manifest = pd.DataFrame(out, columns=MANIFEST_COLUMNS).astype({"bytes": int, "attempts": int, "permanent": bool})
    counts = manifest["status"].value_counts().to_dict()
    log.info("%s: %d composites (%s)", dest_dir, len(manifest), ", ".join(f"{v} {k}" for k, v in counts.items()))
    return manifest


def retryable_failures(
    failures: pd.DataFrame, manifest: pd.DataFrame, max_failures: int, where: str, key: str = "hpa.max_failures"
) -> str | None:
    """The one line that stops a download left with more than ``max_failures`` failed entries and
    images that another run may fetch (timeouts, server errors, HTML pages; not a 404), else None.

    Stopping leaves the rule's outputs unwritten, so a plain rerun runs the download again; the
    files already fetched are in the cache, so that rerun asks only for what failed.
    """
    entries = failures[~failures["permanent"].astype(bool)]
    images = manifest[(manifest["status"] == "failed") & ~manifest["permanent"].astype(bool)]
    n = len(entries) + len(images)
    if n <= max_failures:
        return None
    first = (entries if len(entries) else images).iloc[0]
    return (
        f"{where}: {len(images)} of {len(manifest)} images and {len(entries)} atlas entries failed "
        f"(first: {first['url']}: {first['error']}); the {int((manifest['status'] != 'failed').sum())} images "
        f"downloaded are kept: rerun to fetch only the missing ones, or set {key}: {n} to go on without them"
    )


# --------------------------------------------------------------------------------------------
# Composites -> channel TIFFs and a sample sheet
# --------------------------------------------------------------------------------------------


def split_composite(jpg_path: str | Path) -> dict[str, np.ndarray]:
    """``{"blue", "red", "green"}`` -> 2-D uint8 planes of an RGB composite."""
    path = Path(jpg_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read composite: {one_line(exc)}") from None
    try:
        image = _decode_rgb(data)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    if image.dtype != np.uint8:
        raise InputError(f"{path}: expected an 8-bit composite, got {image.dtype}")
    return {
        "red": np.ascontiguousarray(image[..., 0]),
        "green": np.ascontiguousarray(image[..., 1]),
        "blue": np.ascontiguousarray(image[..., 2]),
    }


def write_fields(
    manifest: pd.DataFrame, images_dir: str | Path, fields_dir: str | Path, channel_colours: dict[str, str]
) -> pd.DataFrame:
    """Split each downloaded composite into ``<field_id>_<channel>.tif``; the sample sheet.

    ``image_id`` is ``protein/antibody/cell line`` (the paper's grouping of fields into
    images); ``field_id`` comes from the composite's file path, so it is unique. Channel
    columns hold absolute TIFF paths. TIFFs newer than their composite are kept, so a rerun
    after more downloads only splits the new ones.
    """
    bad = {ch: c for ch, c in channel_colours.items() if c not in COLOURS}
    if bad:
        raise ValueError(f"channel colours must be among {list(COLOURS)}; got {bad}")
    images_dir, fields_dir = Path(images_dir), Path(fields_dir).resolve()
    rows = []
    for row in manifest[manifest["status"].isin(["fetched", "cached"])].to_dict("records"):
        source = images_dir / row["path"]
        field_id = safe_name(str(row["path"]).removesuffix(COMPOSITE_SUFFIX).replace("/", "_"))
        tiffs = {ch: fields_dir / f"{field_id}_{ch}.tif" for ch in channel_colours}
        if not all(p.exists() and p.stat().st_mtime >= source.stat().st_mtime for p in tiffs.values()):
            planes = split_composite(source)
            for ch, colour in channel_colours.items():
                with atomic_path(tiffs[ch]) as tmp:
                    # deflate: the whole atlas's ~83,000 fields are ~1 TB as plain TIFFs
                    tifffile.imwrite(tmp, planes[colour], compression="zlib", compressionargs={"level": 1})
        rows.append(
            {
                "image_id": f"{row['protein']}/{row['antibody']}/{row['cell_line']}",
                "field_id": field_id,
                "protein": row["protein"],
                "cell_line": row["cell_line"],
                "antibody": row["antibody"],
                **{ch: str(p) for ch, p in tiffs.items()},
                "image_locations": row.get("locations") or "",
                "image_reliability": row.get("reliability") or "",
            }
        )
    columns = ["image_id", "field_id", "protein", "cell_line", "antibody", *channel_colours]
    return pd.DataFrame(rows, columns=[*columns, "image_locations", "image_reliability"])


def image_labels(
    sheet: pd.DataFrame, genes: pd.DataFrame | None, reliability: Sequence[str] = ("Validated", "Supported", "Approved")
) -> pd.DataFrame:
    """The sheet with ``label`` per field from its image's own locations (``label_source``
    ``image``) when its antibody's reliability is among ``reliability``, else from the gene's
    row of the location table ``genes`` (``gene``), else none (``""``).

    The atlas annotates each antibody in each cell line: the paper's Fig 5 averages "cells in
    images annotated to localize to each compartment alone", which the gene's summary cannot
    say (it merges every antibody and cell line).
    """
    wanted = annotations.reliability_tiers(reliability)
    sheet = sheet.copy()
    own = sheet["image_locations"].fillna("").astype(str)
    trusted = (own != "") & sheet["image_reliability"].fillna("").astype(str).str.lower().isin(wanted)
    gene = (
        sheet["protein"].map(genes.drop_duplicates("protein").set_index("protein")["label"])
        if genes is not None
        else pd.Series(None, index=sheet.index, dtype=object)
    )
    has_gene = gene.notna().to_numpy()
    sheet["label"] = np.where(trusted, own, np.where(has_gene, gene.astype(object), None))
    sheet["label_source"] = np.select([trusted, has_gene], ["image", "gene"], "")
    return sheet


# --------------------------------------------------------------------------------------------
# Protein-level annotation
# --------------------------------------------------------------------------------------------


def location_columns(
    location_table: str | Path, reliability: Sequence[str] = ("Validated", "Supported", "Approved")
) -> pd.DataFrame:
    """Per gene: ``ensg, protein, label`` and the single-cell variation columns.

    ``label`` is the gene's locations at the given reliability levels, read exactly as
    ``annotations.read_annotations`` reads the HPA layout (lower-case, sorted, joined by '+');
    genes without such a location, and empty variation cells, are missing values.
    """
    path = Path(location_table)
    table = read_table(path)
    classes = annotations.protein_classes(
        annotations.read_annotations(path, layout="hpa", key="Gene", reliability=reliability)
    )
    out = _gene_table(path, table)
    out["label"] = [classes.get(e) for e in out["ensg"]]
    for name, col in (
        ("sc_variation_intensity", "Single-cell variation intensity"),
        ("sc_variation_spatial", "Single-cell variation spatial"),
    ):
        values = _text_column(table, col)
        out[name] = None if values is None else [v or None for v in values]
    return out[out["ensg"] != ""].drop_duplicates("ensg").reset_index(drop=True)
