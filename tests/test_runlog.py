"""Rule logging (``pcinpaint.runlog``): output and progress to the rule's log, a user's error as
one line on the console and in the log, any other error with its traceback, and a rule that
imported another checkout's library stopped before it computes anything."""

import errno
import logging
import os
import sys
from pathlib import Path

import pytest

import pcinpaint
from pcinpaint.errors import ConfigError, InputError, NotRun
from pcinpaint.runlog import LIBRARY_ENV, library_mismatch, rule_log

OWN_LIBRARY = Path(pcinpaint.__file__).resolve().parent


@pytest.fixture(autouse=True)
def _own_library(monkeypatch):
    monkeypatch.setenv(LIBRARY_ENV, str(OWN_LIBRARY))


def test_output_and_log_messages_go_to_the_log_file(tmp_path, capfd):
    path = tmp_path / "logs" / "deep" / "rule.log"
    handlers = list(logging.getLogger().handlers)
    with rule_log(path) as log:
        print("printed")
        print("to stderr", file=sys.stderr)
        log.info("a message")
    text = path.read_text()
    assert "printed" in text and "to stderr" in text
    assert "INFO a message" in text
    assert capfd.readouterr().err == ""
    assert logging.getLogger().handlers == handlers  # the rule's handler is removed again


@pytest.mark.parametrize("error", [InputError("bad sheet: row 3"), ConfigError("bad key"), NotRun("one protein")])
def test_a_users_error_ends_the_rule_with_one_line_on_console_and_log(tmp_path, capfd, error):
    path = tmp_path / "rule.log"
    with pytest.raises(SystemExit) as stop, rule_log(path):
        raise error
    assert stop.value.code == 1
    line = f"error: {error}"
    assert capfd.readouterr().err == line + "\n"
    assert path.read_text().splitlines()[-1] == line
    assert "Traceback" not in path.read_text()


def test_any_other_error_keeps_its_traceback_in_the_log_and_is_raised(tmp_path, capfd):
    path = tmp_path / "rule.log"
    with pytest.raises(KeyError, match="column"), rule_log(path):
        raise KeyError("column")
    text = path.read_text()
    assert "Traceback" in text and "KeyError: 'column'" in text
    assert "error:" not in capfd.readouterr().err


def test_a_full_disk_outside_an_atomic_writer_is_one_line(tmp_path, capfd):
    path = tmp_path / "rule.log"
    with pytest.raises(SystemExit), rule_log(path):
        raise OSError(errno.ENOSPC, "No space left on device", "out/table.tsv")
    assert capfd.readouterr().err == "error: out/table.tsv: no space left on device (free space and rerun)\n"


def test_the_library_check_passes_for_its_own_folder_or_when_unset():
    assert library_mismatch(None) is None
    assert library_mismatch("") is None
    assert library_mismatch(OWN_LIBRARY) is None
    assert library_mismatch(os.path.relpath(OWN_LIBRARY)) is None  # the same folder, spelt otherwise


def test_another_checkouts_library_stops_the_rule_before_its_body(tmp_path, capfd, monkeypatch):
    other = tmp_path / "other_checkout" / "workflow_scripts" / "pcinpaint"
    message = library_mismatch(other)
    assert str(other) in message and str(OWN_LIBRARY) in message and "pip uninstall pcinpaint" in message
    monkeypatch.setenv(LIBRARY_ENV, str(other))
    ran = []
    with pytest.raises(SystemExit), rule_log(tmp_path / "rule.log"):
        ran.append(True)
    assert not ran
    assert capfd.readouterr().err == f"error: {message}\n"
