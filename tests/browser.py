"""A real headless Chromium for tests of self-contained HTML pages (the Bokeh explorer).

The page is opened from ``file://`` with networking disabled, so a test proves that the page works
offline (all JavaScript inlined, no CDN), and the DOM is read after the page's scripts ran.

Waiting: ``--dump-dom`` alone serialises the DOM at the load event, before any ``setTimeout`` or
promise-driven work (Bokeh renders asynchronously after load). ``--virtual-time-budget`` lets the
page run until it is idle or the budget of virtual time is spent; virtual time runs faster than the
clock while the page waits on timers, and with the network refused nothing stalls it, so a Bokeh
page takes about a second of real time whatever the budget.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

#: browser executables looked up on PATH, Debian's package first
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: every host name and IP literal fails to resolve, and every request (loopback included: the
#: ``<-loopback>`` rule removes its implicit bypass) goes to a proxy on a port where nothing listens
OFFLINE_FLAGS = (
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)

#: headless without a GPU or sandbox (root in containers), /tmp instead of a small /dev/shm, and
#: none of the browser's own background traffic (updates, sync, first-run pages, keyring prompts)
BASE_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--password-store=basic",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
)

#: real seconds allowed beyond the virtual-time budget before the browser is killed: start-up, and
#: script work (virtual time stands still while a script computes)
MARGIN_S = 90


def chromium() -> str:
    """Path of a Chromium or Chrome executable, or skip the test saying how to install one."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless browser: none of {', '.join(CANDIDATES)} is on PATH (apt-get install chromium)")


def _url(html: Path, fragment: str) -> str:
    url = Path(html).resolve().as_uri()
    return f"{url}#{fragment}" if fragment else url


def _run(html: Path, fragment: str, wait_ms: int, extra: list[str], offline: bool = True) -> str:
    """Run the browser once on the page and return its stdout; ``offline=False`` only for the
    control that shows the offline test can see a reachable network."""
    timeout = wait_ms / 1000 + MARGIN_S
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [
            chromium(),
            *BASE_FLAGS,
            *(OFFLINE_FLAGS if offline else ()),
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={int(wait_ms)}",
            *extra,
            _url(html, fragment),
        ]
        # its own process group: a timeout kills the renderer and helper processes too
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(f"chromium ran past {timeout:.0f} s on {html}:\n{err[-3000:]}") from None
    if proc.returncode != 0:
        raise AssertionError(f"chromium failed (exit {proc.returncode}) on {html}:\n{err[-3000:]}")
    return out


def render(html: Path, fragment: str = "", wait_ms: int = 15000) -> str:
    """The page's serialised DOM once its scripts ran (up to ``wait_ms`` of virtual time).

    Shadow roots are not serialised: Bokeh's canvases and widgets live in them, so a test reads
    what the page's own script writes into the light DOM (a marker element or ``data-*``)."""
    out = _run(html, fragment, wait_ms, ["--dump-dom"])
    if "<html" not in out.lower():
        raise AssertionError(f"chromium printed no DOM for {html}:\n{out[-3000:]}")
    return out


def screenshot(
    html: Path, png: Path, size: tuple[int, int] = (1400, 900), fragment: str = "", wait_ms: int = 15000
) -> Path:
    """A PNG of the viewport (``size`` in CSS pixels, scale 1) once the page's scripts ran."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    width, height = size
    _run(html, fragment, wait_ms, [f"--screenshot={png}", f"--window-size={width},{height}"])
    assert png.is_file() and png.stat().st_size > 0, f"chromium wrote no screenshot {png} of {html}"
    return png
