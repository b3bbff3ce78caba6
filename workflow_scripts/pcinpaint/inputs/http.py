"""HTTP for the workflow's downloads (the atlas, GO files): polite, retrying, checked.

Only the standard library speaks HTTP, so downloading adds no dependency. Request starts are
spaced by ``rate_limit_s``; failures are retried with exponential backoff; a client error (a
404) is permanent and not retried; a body shorter than its Content-Length is fetched again.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from pcinpaint.errors import PermanentDownloadError, TransientDownloadError

log = logging.getLogger(__name__)

USER_AGENT = "pcinpaint-hpa/0.1 (research workflow; polite, rate-limited)"


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line (HTTP and parser errors carry several)."""
    return " ".join(str(exc).split())[:limit] or type(exc).__name__


class PoliteClient:
    """Spaces request starts by ``rate_limit_s`` and retries with exponential backoff."""

    def __init__(self, retries: int, backoff_s: float, rate_limit_s: float, timeout_s: float):
        self.retries, self.backoff_s = int(retries), float(backoff_s)
        self.rate_limit_s, self.timeout_s = float(rate_limit_s), float(timeout_s)
        self._next_start = 0.0

    def _once(self, url: str) -> bytes:
        wait = self._next_start - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next_start = time.monotonic() + self.rate_limit_s
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                declared = response.headers.get("Content-Length")
                data = response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            message = f"HTTP {exc.code} {exc.reason}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise PermanentDownloadError(message) from None
            raise TransientDownloadError(message) from None
        except http.client.IncompleteRead as exc:
            got = len(exc.partial)
            raise TransientDownloadError(f"incomplete body: got {got} of {got + (exc.expected or 0)} bytes") from None
        except TimeoutError:
            raise TransientDownloadError(f"timed out after {self.timeout_s:g} s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TransientDownloadError(f"timed out after {self.timeout_s:g} s") from None
            raise TransientDownloadError(f"connection failed: {one_line(exc.reason)}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise TransientDownloadError(f"connection failed: {one_line(exc)}") from None
        if declared and declared.isdigit() and int(declared) != len(data):
            raise TransientDownloadError(f"length mismatch: Content-Length {declared}, got {len(data)} bytes")
        return data

    def get(self, url: str, check: Callable[[bytes], object] | None = None) -> tuple[bytes | None, int, str]:
        """(body or None, attempts made, error): ``check`` raising ValueError means retry."""
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                data = self._once(url)
                if check is not None:
                    check(data)
                return data, attempt + 1, ""
            except PermanentDownloadError as exc:
                return None, attempt + 1, str(exc)
            except (TransientDownloadError, ValueError) as exc:
                error = one_line(exc)
                log.info("%s: attempt %d failed: %s", url, attempt + 1, error)
        return None, self.retries + 1, f"{error} (gave up after {self.retries + 1} attempts)"
