"""GO files for Table 3 given as URLs: fetched once into ``results/go/`` and read from there.

The human analyses need the full Gene Ontology and a human gene-to-GO file (the paper's Table 3
enriches cellular-component terms), which a user would otherwise download by hand. A
``go.ontology`` or ``go.annotations`` that is an http(s) URL is fetched by the ``download_go``
rule with the atlas adapter's polite, retrying, checked client; the file is written atomically,
so an interrupted download never leaves a half ontology behind.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from pcinpaint.config import is_url
from pcinpaint.errors import InputError
from pcinpaint.inputs.http import PoliteClient, html_page
from pcinpaint.io import atomic_path, named_path

FOLDER = "results/go"


def local_path(value: str) -> str:
    """Where a GO file is read from: a URL's download under ``results/go/`` (named after the URL's
    last part, made a safe file name), or the path as given."""
    return str(named_path(FOLDER, Path(urlparse(value).path).name)) if is_url(value) else value


def _not_html(data: bytes) -> None:
    """A GO file is never a web page: a portal's error or login page with status 200 is a failure."""
    page = html_page(data)
    if page is not None:
        raise ValueError(f"got {page} instead of a GO file")


def fetch(url: str, path: str | Path, retries: int = 4, backoff_s: float = 2.0, timeout_s: float = 900.0) -> int:
    """Download ``url`` to ``path`` (atomically); its size in bytes. One-line error on failure.

    ``timeout_s`` bounds each attempt's whole transfer: the full ontology is ~30 MB, so the
    default allows ~35 kB/s."""
    data, attempts, error = PoliteClient(retries, backoff_s, 0.0, timeout_s).get(url, check=_not_html)
    if data is None:
        raise InputError(f"{url}: download failed after {attempts} attempt(s): {error}")
    if not data.strip():
        raise InputError(f"{url}: the server sent an empty file")
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(data)
    return len(data)
