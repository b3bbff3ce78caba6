"""Logging for rule scripts: everything to the rule's log, user errors also to the console.

A rule script wraps its body in ``with rule_log(snakemake.log[0]):``. Progress bars and
messages go to the log file. A problem with the user's input (``InputError``,
``ConfigError``) is written as its one line to both the log and the console, so the user
sees what is wrong without opening a traceback, and so is a full disk; anything else keeps
its full traceback in the log.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from pathlib import Path

from pcinpaint.errors import DISK_FULL, ConfigError, DiskFullError, InputError, NotRun, TrainingError

#: NotRun outside a rule that records it (``figures.notrun``) is about the user's data: one line too
USER_ERRORS = (InputError, ConfigError, TrainingError, DiskFullError, NotRun)


@contextlib.contextmanager
def rule_log(path: str | Path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    console = sys.__stderr__
    fh = open(path, "w", buffering=1)
    handler = logging.StreamHandler(fh)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
            yield logging.getLogger("pcinpaint")
    except USER_ERRORS as exc:
        _stop(fh, console, f"error: {exc}")
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:  # a writer outside atomic_path
            _stop(fh, console, f"error: {exc.filename or 'an output'}: {DISK_FULL[exc.errno]} (free space and rerun)")
        with contextlib.suppress(OSError):
            fh.write(traceback.format_exc())
        raise
    finally:
        root.removeHandler(handler)
        with contextlib.suppress(OSError):  # on a full disk the log's last line cannot be flushed
            fh.close()


def _stop(fh, console, message: str):
    """The one line a user error ends a rule with, in the log and on the console."""
    with contextlib.suppress(OSError):  # the log's own disk may be the full one
        fh.write(message + "\n")
    print(message, file=console)
    raise SystemExit(1) from None
