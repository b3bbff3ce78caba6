"""HTTP for the workflow's downloads (the atlas, GO files): polite, retrying, checked.

Only the standard library speaks HTTP, so downloading adds no dependency. Request starts are
spaced by ``rate_limit_s``; failures are retried with exponential backoff, or after the
server's ``Retry-After`` on a 429 or 503 (capped at ``max_retry_after_s``); a client error (a
404) is permanent and not retried; a body shorter than its Content-Length is fetched again.
``timeout_s`` bounds each request's whole time (connect, headers and body together): a
socket timeout alone is per read, so a server dripping a byte at a time would never end.
"""

from __future__ import annotations

import contextlib
import email.utils
import html
import http.client
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from pcinpaint.errors import PermanentDownloadError, TransientDownloadError, one_line

log = logging.getLogger(__name__)

USER_AGENT = "pcinpaint-hpa/0.1 (research workflow; polite, rate-limited)"
#: the longest a server's Retry-After is obeyed; a longer one is cut to this (and retried as usual)
MAX_RETRY_AFTER_S = 60.0
_HTML = re.compile(
    rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|(html|head|body)[\s>])", re.IGNORECASE | re.DOTALL
)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


def html_page(data: bytes) -> str | None:
    """``an HTML page ("<title>")`` when ``data`` is a web page, else None: gateways, maintenance
    and rate-limit pages come back with status 200 where a file was asked for."""
    head = data[:4096].removeprefix(b"\xef\xbb\xbf")
    if not _HTML.match(head):
        return None
    title = _TITLE.search(head)
    text = one_line(html.unescape(title.group(1).decode("utf-8", "replace")), 80) if title else ""
    return f'an HTML page ("{text}")' if text else "an HTML page (no title)"


def retry_after_s(value: str | None, cap: float = MAX_RETRY_AFTER_S) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP-date), at most
    ``cap``; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT
        return None
    return min(max(when.timestamp() - time.time(), 0.0), cap)


class _Deadline:
    """Shuts a request's socket at its deadline, so no read can outlast it however the server drips."""

    def __init__(self, seconds: float):
        self.expired, self._sock, self._lock = False, None, threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self):
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self):
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def watch(self, sock):
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shut()

    def cancel(self):
        self._timer.cancel()


def _watched(base: type[http.client.HTTPConnection], deadline: _Deadline):
    """A connection class of ``base`` whose socket ``deadline`` can shut."""

    class Connection(base):
        def connect(self):
            super().connect()
            deadline.watch(self.sock)

    return Connection


class _DeadlineMixin:
    """An HTTP(S) handler whose connections ``deadline`` can shut (whatever the Python version's
    connection arguments)."""

    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class, req, **kwargs):
        return super().do_open(_watched(http_class, self.deadline), req, **kwargs)


class _HTTPHandler(_DeadlineMixin, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_DeadlineMixin, urllib.request.HTTPSHandler):
    pass


class Fetched(NamedTuple):
    """A download's outcome: the body (None on failure), attempts made, the error, and whether
    the server said the file is not there (a client error: another run will not change it)."""

    data: bytes | None
    attempts: int
    error: str
    permanent: bool


@dataclass(frozen=True)
class ClientSettings:
    """How politely a download asks (the ``hpa`` config block's keys): retries after a failure,
    the first backoff (doubled each retry), the least time between request starts, and each
    request's whole time limit."""

    retries: int = 4
    backoff_s: float = 1.0
    rate_limit_s: float = 0.5
    timeout_s: float = 30.0

    def client(self) -> PoliteClient:
        """A client asking this politely."""
        return PoliteClient(self.retries, self.backoff_s, self.rate_limit_s, self.timeout_s)


def _status_error(exc: urllib.error.HTTPError, max_retry_after_s: float) -> Exception:
    """The error an HTTP error status becomes: permanent for a client error (a 404), transient
    otherwise, carrying the server's Retry-After on a 429 or 503."""
    wait = retry_after_s(exc.headers.get("Retry-After"), max_retry_after_s)
    exc.close()
    message = f"HTTP {exc.code} {exc.reason}"
    if 400 <= exc.code < 500 and exc.code not in (408, 429):
        return PermanentDownloadError(message)
    error = TransientDownloadError(message)
    error.retry_after_s = wait if exc.code in (429, 503) else None
    return error


def _transport_error(exc: Exception, expired: bool, timed_out: str) -> TransientDownloadError:
    """The error a failed connection or read becomes: a timeout (the deadline's or the socket's),
    a body cut short, or a connection that failed."""
    if expired or any(isinstance(e, TimeoutError) for e in (exc, getattr(exc, "reason", None))):
        return TransientDownloadError(timed_out)
    if isinstance(exc, http.client.IncompleteRead):
        got = len(exc.partial)
        expected = got + (exc.expected or 0)
        return TransientDownloadError(f"incomplete body: got {got} of {expected} bytes")
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return TransientDownloadError(f"connection failed: {one_line(reason)}")


class PoliteClient:
    """Spaces request starts by ``rate_limit_s`` and retries with exponential backoff."""

    def __init__(
        self,
        retries: int,
        backoff_s: float,
        rate_limit_s: float,
        timeout_s: float,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
    ):
        self.retries, self.backoff_s = int(retries), float(backoff_s)
        self.rate_limit_s, self.timeout_s = float(rate_limit_s), float(timeout_s)
        self.max_retry_after_s = float(max_retry_after_s)
        self._next_start = 0.0

    def _wait_turn(self) -> None:
        """Sleep until this request may start, and book the next start ``rate_limit_s`` later."""
        wait = self._next_start - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next_start = time.monotonic() + self.rate_limit_s

    def _once(self, url: str) -> bytes:
        """One request: the checked body, or the download error it ends in."""
        self._wait_turn()
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        deadline = _Deadline(self.timeout_s)
        opener = urllib.request.build_opener(_HTTPHandler(deadline), _HTTPSHandler(deadline))
        timed_out = f"timed out after {self.timeout_s:g} s"
        try:
            with opener.open(request, timeout=self.timeout_s) as response:
                declared = response.headers.get("Content-Length")
                data = response.read()
        except urllib.error.HTTPError as exc:
            raise _status_error(exc, self.max_retry_after_s) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _transport_error(exc, deadline.expired, timed_out) from None
        except ValueError:  # an SSL socket shut mid-read by the deadline ("Read on closed ... socket")
            if deadline.expired:
                raise TransientDownloadError(timed_out) from None
            raise
        finally:
            deadline.cancel()
        if deadline.expired:  # the body ended at the shut socket: without a length it reads as whole
            raise TransientDownloadError(timed_out)
        if declared and declared.isdigit() and int(declared) != len(data):
            raise TransientDownloadError(f"length mismatch: Content-Length {declared}, got {len(data)} bytes")
        return data

    def fetch(self, url: str, check: Callable[[bytes], object] | None = None) -> Fetched:
        """The body of ``url`` once ``check`` accepts it (``check`` raising ValueError means retry)."""
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                data = self._once(url)
                if check is not None:
                    check(data)
                return Fetched(data, attempt + 1, "", False)
            except PermanentDownloadError as exc:
                return Fetched(None, attempt + 1, str(exc), True)
            except (TransientDownloadError, ValueError) as exc:
                error, wait = one_line(exc), getattr(exc, "retry_after_s", None)
                log.info("%s: attempt %d failed: %s", url, attempt + 1, error)
                if wait is not None:  # the server's wait holds for every request, not only this URL's
                    self._next_start = max(self._next_start, time.monotonic() + wait)
        return Fetched(None, self.retries + 1, f"{error} (gave up after {self.retries + 1} attempts)", False)

    def get(self, url: str, check: Callable[[bytes], object] | None = None) -> tuple[bytes | None, int, str]:
        """(body or None, attempts made, error): ``fetch`` without telling permanent failures apart."""
        return self.fetch(url, check)[:3]
