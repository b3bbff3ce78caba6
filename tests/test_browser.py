"""The headless-browser harness (tests/browser.py) that the explorer page's tests stand on.

Each render starts a fresh Chromium: about 1 s here for these pages and for a Bokeh page of
1000 points (2 s at 100 000 points). Without Chromium on PATH the tests skip with the reason.
"""

import re
import threading
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import browser
import numpy as np
import pytest

#: ``mark(key, value)`` writes ``data-key="value"`` on <body>, which --dump-dom serialises
MARK_JS = "function mark(key, value) { document.body.dataset[key] = String(value); }"


def page(tmp_path, body_script: str, name: str = "page.html"):
    html = tmp_path / name
    html.write_text(
        f'<!doctype html><html><head><meta charset="utf-8"><title>t</title></head>'
        f"<body><script>{MARK_JS}\n{body_script}</script></body></html>"
    )
    return html


class _BodyAttrs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.attrs = None

    def handle_starttag(self, tag, attrs):
        if tag == "body" and self.attrs is None:
            self.attrs = dict(attrs)


def marks(dom: str) -> dict[str, str]:
    """The ``data-*`` attributes of <body> in a dumped DOM (parsed: Bokeh's inlined scripts hold
    "<body>" in their text, and attribute values come back entity-escaped)."""
    parser = _BodyAttrs()
    parser.feed(dom)
    assert parser.attrs is not None, dom[-2000:]
    return {key[5:]: value for key, value in parser.attrs.items() if key.startswith("data-")}


def test_marker_written_after_load_and_timeout(tmp_path):
    """--dump-dom alone would serialise at the load event; the harness waits for the timers."""
    html = page(
        tmp_path,
        """
        document.addEventListener("DOMContentLoaded", () => mark("ready", "yes"));
        window.addEventListener("load", () => setTimeout(() => mark("marker", "after-timeout"), 500));
        """,
    )
    got = marks(browser.render(html))
    assert got == {"ready": "yes", "marker": "after-timeout"}


def test_fragment_reaches_the_page(tmp_path):
    html = page(tmp_path, 'mark("hash", window.location.hash);')
    assert marks(browser.render(html, fragment="gene=YAL001C&k=3"))["hash"] == "#gene=YAL001C&k=3"
    assert marks(browser.render(html))["hash"] == ""


@pytest.fixture
def local_server():
    """An HTTP server on loopback that records the paths asked of it: loopback is the one network
    every machine has, so it shows whether the browser can reach a network at all."""
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()
    thread.join()


def network_page(tmp_path, local: str, remote: bool = True):
    """Fetches and images from the internet (``remote``) and from the loopback server, each marked
    online/offline, then ``done``."""
    probes = {
        "local": f"{local}/fetch",
        "localhost": f"{local.replace('127.0.0.1', 'localhost')}/fetch-by-name",
    }
    images = {"localimg": f"{local}/img.png"}
    if remote:
        probes |= {"remote": "http://example.com/", "remotetls": "https://example.com/"}
        images |= {"img": "https://example.com/logo.png"}
    fetches = ",\n".join(
        f'fetch("{url}", {{mode: "no-cors", cache: "no-store"}})'
        f'.then(() => mark("{key}", "online"), () => mark("{key}", "offline"))'
        for key, url in probes.items()
    )
    images = ",\n".join(
        f"""new Promise(done => {{ const img = new Image();
            img.onload = () => {{ mark("{key}", "online"); done(); }};
            img.onerror = () => {{ mark("{key}", img.naturalWidth ? "online" : "offline"); done(); }};
            img.src = "{url}"; }})"""
        for key, url in images.items()
    )
    return page(tmp_path, f'Promise.allSettled([{fetches},\n{images}]).then(() => mark("done", "yes"));')


def test_network_is_disabled(tmp_path, local_server):
    local, hits = local_server
    got = marks(browser.render(network_page(tmp_path, local)))
    assert got.pop("done") == "yes"
    assert got == dict.fromkeys(["remote", "remotetls", "local", "localhost", "img", "localimg"], "offline")
    assert hits == [], "the browser reached the loopback server"


def test_network_control_sees_a_reachable_server(tmp_path, local_server):
    """Control: the page's loopback probes with the offline flags left out reach the server, so
    the "offline" above comes from the flags, not from file:// pages being unable to fetch (the
    image is asked for but an empty 204 is no image; the internet is left out: where it is
    unreachable, its DNS look-ups stall in real time)."""
    local, hits = local_server
    html = network_page(tmp_path, local, remote=False)
    got = marks(browser._run(html, "", 5000, ["--dump-dom"], offline=False))
    assert got == {"local": "online", "localhost": "online", "localimg": "offline", "done": "yes"}
    assert sorted(hits) == ["/fetch", "/fetch-by-name", "/img.png"]


def bokeh_page(tmp_path, n: int):
    """A standalone Bokeh scatter with its JavaScript inlined; a DocumentReady callback (on the
    Document: standalone pages fire it there, not on the plot) writes the number of points."""
    pytest.importorskip("bokeh")
    from bokeh.document import Document
    from bokeh.embed import file_html
    from bokeh.models import ColumnDataSource, CustomJS
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    rng = np.random.default_rng(0)
    source = ColumnDataSource({"x": rng.normal(size=n), "y": rng.normal(size=n)})
    plot = figure(width=800, height=600, title="harness check")
    plot.scatter("x", "y", source=source, size=8, color="firebrick")
    doc = Document()
    doc.add_root(plot)
    doc.js_on_event(
        "document_ready",
        CustomJS(
            args={"source": source},
            code="""
            const div = document.createElement("div");
            div.id = "status";
            div.textContent = `points=${source.data.x.length} hash=${window.location.hash}`;
            document.body.appendChild(div);
            document.body.dataset.points = source.data.x.length;
            """,
        ),
    )
    html = tmp_path / "bokeh.html"
    html.write_text(file_html(doc, resources=INLINE, title="harness check"))
    return html


def test_bokeh_standalone_page_renders(tmp_path):
    import imageio.v3 as iio

    n = 1000
    html = bokeh_page(tmp_path, n)
    assert not re.search(r"<script[^>]+src=", html.read_text()), "the page loads a script from outside"

    dom = browser.render(html, fragment="check")
    assert f'<div id="status">points={n} hash=#check</div>' in dom
    assert marks(dom)["points"] == str(n)

    png = browser.screenshot(html, tmp_path / "shot.png", size=(1000, 700))
    image = iio.imread(png)
    assert image.shape[:2] == (700, 1000)
    rgb = image[..., :3].reshape(-1, 3).astype(int)
    assert len(np.unique(rgb, axis=0)) > 50, "the screenshot is blank"
    firebrick = np.abs(rgb - (178, 34, 34)).max(axis=1) <= 10
    assert firebrick.sum() > 20 * n, "the scatter's points are not drawn"
