"""A local stand-in for the Human Protein Atlas (127.0.0.1): entry XMLs in the v18 and later layouts,
blue_red_green composites, and the failures a long download meets. Shared by the HPA adapter's
tests and the workflow test of ``source: hpa``; nothing here touches the internet."""

import collections
import contextlib
import http.server
import threading
import time

import imageio.v3 as iio
import numpy as np

#: what a gateway or a maintenance window serves, with status 200, in place of the file asked for;
#: well-formed XML, so only its content tells it from an entry
MAINTENANCE_PAGE = (
    b'<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="utf-8"/><title>'
    b"The Human Protein Atlas - Down for maintenance</title></head><body><p>Back soon.</p></body></html>"
)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers a request from its ``Atlas``'s routes; ``atlas`` is set on a subclass per server."""

    atlas = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        kind, body = self._route()
        if kind in ("missing", "error"):
            self.send_error(404 if kind == "missing" else 500)
        elif kind == "busy":
            self._busy()
        else:
            self._serve(kind, body)

    def _route(self):
        """(kind, body) this request meets: counted first, so that ``first`` sees this request."""
        atlas = self.atlas
        with atlas.lock:
            atlas.hits[self.path] += 1
            atlas.starts.append(time.monotonic())
            hit = atlas.hits[self.path]
        kind, body, first = atlas.routes.get(self.path, ("missing", b"", None))
        if kind == "flaky":
            kind, first = "error", 1
        if first is not None and hit > first:
            kind = "ok"
        return kind, body

    def _busy(self):
        """429 with the atlas's ``Retry-After``, as a rate-limited server answers."""
        self.send_response(429)
        self.send_header("Retry-After", self.atlas.retry_after)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, kind, body):
        """Status 200 with the body as its kind delivers it (stalled, cut, dripped or whole)."""
        if kind == "stall":
            self.atlas.release.wait(3.0)
        if kind == "html":
            body = MAINTENANCE_PAGE
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if kind == "html" else "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "drip":
            self._drip(body)
            return
        self.wfile.write(body[: len(body) // 2] if kind == "cut_declared" else body)

    def _drip(self, body):
        """The body a byte every ``drip_s``, until the atlas is released."""
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            if self.atlas.release.wait(self.atlas.drip_s):
                return


class Atlas:
    """Routes: path -> (kind, body, first); kinds ok, cut_declared (full Content-Length, half
    body), stall (no answer), flaky (500 on the first request), html (``MAINTENANCE_PAGE`` with
    status 200), drip (the body a byte every ``drip_s``), busy (429 with ``Retry-After:
    retry_after``); with ``first`` n, a kind holds for the first n requests, then the body is
    served; unknown paths are 404."""

    drip_s, retry_after = 0.5, "1"

    def __init__(self):
        self.routes, self.hits, self.starts = {}, collections.Counter(), []
        self.release, self.lock = threading.Event(), threading.Lock()
        handler = type("Handler", (_Handler,), {"atlas": self})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.handle_error = lambda *args: None  # clients that gave up on a stall
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def add(self, path, body, kind="ok", first=None):
        self.routes[path] = (kind, body, first)
        return self.base + path

    def count(self, *paths):
        return sum(self.hits[p] for p in paths) if paths else sum(self.hits.values())


@contextlib.contextmanager
def running_atlas():
    """An ``Atlas`` for the length of a ``with`` block (a pytest fixture's yield), then shut down."""
    server = Atlas()
    try:
        yield server
    finally:
        server.release.set()
        server.server.shutdown()
        server.server.server_close()


def planted(seed: int) -> dict:
    """Distinct colour planes on JPEG block edges: red left half, green top third, blue a square."""
    h, w = 48, 64
    red = np.full((h, w), 30, np.uint8)
    red[:, : w // 2] = 220
    green = np.full((h, w), 10, np.uint8)
    green[:16] = 200
    blue = np.zeros((h, w), np.uint8)
    blue[16:32, 16:48] = 240 - 10 * seed
    return {"red": red, "green": green, "blue": blue}


def jpeg(planes: dict) -> bytes:
    rgb = np.stack([planes["red"], planes["green"], planes["blue"]], axis=-1)
    return iio.imwrite("<bytes>", rgb, extension=".jpg", quality=98)


def entry_xml(ensg, name, antibodies, extra="", reliability="approved", layout="v18") -> bytes:
    """An entry XML; ``antibodies``: {id: [(cell line, [image urls])]}, or (cell line, [image
    urls], [locations]) for the image's own locations (default Cytosol). ``layout`` "v18" (the
    paper's) or "current": a later release's, where ``<cellLine>`` has no attributes and the
    reliability sits on the ``<cellExpression>`` rather than inside the human ``<subAssay>``."""
    v18 = layout == "v18"
    verification = f'<verification type="reliability">{reliability}</verification>'
    cell_line = '<cellLine cellosaurusID="CVCL_X" organ="Skin">' if v18 else "<cellLine>"
    parts = []
    for ab, lines in antibodies.items():
        data = "".join(
            f"<data>{cell_line}{line[0]}</cellLine>"
            + "".join(f'<location GOId="GO:1">{loc}</location>' for loc in (line[2] if len(line) > 2 else ["Cytosol"]))
            + "<assayImage>"
            + "".join(f"<image><channel>x</channel><imageUrl>{u}</imageUrl></image>" for u in line[1])
            + "</assayImage></data>"
            for line in lines
        )
        parts.append(
            f'<antibody id="{ab}"><cellExpression source="HPA" technology="ICC/IF">'
            + ("" if v18 else verification)
            + f'<subAssay type="human">{verification if v18 else ""}{data}</subAssay>'
            + f"{extra}</cellExpression></antibody>"
        )
    version = 18 if v18 else 24
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><proteinAtlas schemaVersion="2.9"><entry version="{version}">'
        f'<name>{name}</name><identifier id="{ensg}" db="Ensembl"/>{"".join(parts)}</entry></proteinAtlas>'
    ).encode()
