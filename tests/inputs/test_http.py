"""The download client (``pcinpaint.inputs.http``) against a local server on 127.0.0.1: what is
retried and how long it waits, what is permanent, a body cut short or dripped, a web page where a
file was asked for, and the one-line errors each ends in. Sleeps are recorded, not slept."""

import time
from email.utils import formatdate

import pytest
from local_atlas import MAINTENANCE_PAGE, running_atlas

from pcinpaint.inputs import http
from pcinpaint.inputs.http import ClientSettings, Fetched, PoliteClient, html_page, retry_after_s

BODY = b"<entry>protein</entry>"


@pytest.fixture
def atlas():
    with running_atlas() as server:
        yield server


@pytest.fixture
def sleeps(monkeypatch):
    """The seconds the client asked to sleep, in order (none slept)."""
    asked = []
    monkeypatch.setattr(http.time, "sleep", asked.append)
    return asked


def _client(retries=3, backoff_s=0.5, rate_limit_s=0.0, timeout_s=5.0, **kw):
    return PoliteClient(retries, backoff_s, rate_limit_s, timeout_s, **kw)


def test_a_body_is_fetched_in_one_attempt(atlas, sleeps):
    got = _client().fetch(atlas.add("/a.xml", BODY))
    assert got == Fetched(BODY, 1, "", False)
    assert sleeps == []
    assert _client().get(atlas.add("/b.xml", BODY)) == (BODY, 1, "")


def test_a_missing_file_is_permanent_and_asked_once(atlas, sleeps):
    got = _client().fetch(atlas.base + "/absent.xml")
    assert got == Fetched(None, 1, "HTTP 404 Not Found", True)
    assert atlas.count("/absent.xml") == 1 and sleeps == []


def test_server_errors_are_retried_with_doubling_backoff_then_given_up(atlas, sleeps):
    url = atlas.add("/down.xml", BODY, "error")
    got = _client(retries=3, backoff_s=0.5).fetch(url)
    assert got == Fetched(None, 4, "HTTP 500 Internal Server Error (gave up after 4 attempts)", False)
    assert atlas.count("/down.xml") == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_a_flaky_server_is_retried_until_the_body_comes(atlas, sleeps):
    got = _client().fetch(atlas.add("/flaky.xml", BODY, "flaky"))
    assert got.data == BODY and got.attempts == 2 and not got.permanent
    assert sleeps == [0.5]


def test_retry_after_sets_the_next_request_start_and_is_capped(atlas, sleeps):
    atlas.retry_after = "30"
    got = _client(backoff_s=0.01).fetch(atlas.add("/busy.xml", BODY, "busy", first=1))
    assert got.data == BODY and got.attempts == 2
    assert sleeps[0] == 0.01 and 29 < sleeps[1] <= 30  # backoff, then the rest of the server's wait
    sleeps.clear()
    atlas.retry_after = "3600"
    _client(backoff_s=0.01, max_retry_after_s=5).fetch(atlas.add("/capped.xml", BODY, "busy", first=1))
    assert 4 < sleeps[1] <= 5


def test_requests_are_spaced_by_the_rate_limit(atlas, sleeps):
    client = _client(rate_limit_s=10.0)
    client.fetch(atlas.add("/1.xml", BODY))
    client.fetch(atlas.add("/2.xml", BODY))
    assert sleeps == [pytest.approx(10.0, abs=0.5)]


def test_a_body_cut_short_is_fetched_again_and_named(atlas, sleeps):
    url = atlas.add("/cut.xml", BODY, "cut_declared", first=1)
    assert _client().fetch(url).data == BODY
    got = _client(retries=0).fetch(atlas.add("/always_cut.xml", BODY, "cut_declared"))
    half = len(BODY) // 2
    assert got.error == f"incomplete body: got {half} of {len(BODY)} bytes (gave up after 1 attempts)"


def test_a_dripping_server_is_cut_at_the_whole_request_timeout(atlas):
    url = atlas.add("/drip.xml", BODY * 10, "drip")
    start = time.monotonic()
    got = _client(retries=0, timeout_s=0.3).fetch(url)
    assert time.monotonic() - start < 1.5
    assert got == Fetched(None, 1, "timed out after 0.3 s (gave up after 1 attempts)", False)


def test_a_refused_connection_is_transient(sleeps):
    with running_atlas() as gone:
        url = gone.base + "/a.xml"
    got = _client(retries=1).fetch(url)
    assert got.data is None and got.attempts == 2 and not got.permanent
    assert got.error.startswith("connection failed: ")


def test_a_check_that_refuses_the_body_makes_it_a_retry(atlas, sleeps):
    def no_html(data):
        page = html_page(data)
        if page:
            raise ValueError(f"got {page}")

    got = _client(retries=1).fetch(atlas.add("/page.xml", BODY, "html"), check=no_html)
    assert got.data is None and atlas.count("/page.xml") == 2
    assert got.error == (
        'got an HTML page ("The Human Protein Atlas - Down for maintenance") (gave up after 2 attempts)'
    )


def test_html_pages_are_told_from_files():
    assert html_page(MAINTENANCE_PAGE) == 'an HTML page ("The Human Protein Atlas - Down for maintenance")'
    assert html_page(b"\xef\xbb\xbf<!-- note -->\n<html><body>x</body></html>") == "an HTML page (no title)"
    assert html_page(b"<HTML><HEAD><TITLE>a &amp;\n  b</TITLE>") == 'an HTML page ("a & b")'
    assert html_page(b'<?xml version="1.0"?><entry/>') is None
    assert html_page(b"\xff\xd8\xff\xe0 jpeg") is None


def test_retry_after_values():
    assert retry_after_s(" 12 ") == 12 and retry_after_s("600") == http.MAX_RETRY_AFTER_S
    assert 8 <= retry_after_s(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert retry_after_s(formatdate(time.time() - 10, usegmt=True)) == 0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00") is None  # no zone: not an HTTP-date
    assert retry_after_s("") is None and retry_after_s("-5") is None


def test_settings_make_a_client_asking_as_politely():
    client = ClientSettings(retries=1, backoff_s=2, rate_limit_s=3, timeout_s=4).client()
    assert (client.retries, client.backoff_s, client.rate_limit_s, client.timeout_s) == (1, 2.0, 3.0, 4.0)
    assert client.max_retry_after_s == http.MAX_RETRY_AFTER_S
