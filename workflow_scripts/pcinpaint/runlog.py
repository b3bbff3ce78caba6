"""Logging for rule scripts: everything to the rule's log, user errors also to the console.

A rule script wraps its body in ``with rule_log(snakemake.log[0]):``. Progress bars and
messages go to the log file. A problem with the user's input (``InputError``,
``ConfigError``) is written as its one line to both the log and the console, so the user
sees what is wrong without opening a traceback, and so is a full disk; anything else keeps
its full traceback in the log.

A rule job also checks that it imported the library beside its own Snakefile (the workflow
names it in ``PCINPAINT_LIBRARY``): another checkout's ``pcinpaint``, installed in the same
environment, would otherwise compute the results silently.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from pathlib import Path

from pcinpaint.errors import DISK_FULL, ConfigError, DiskFullError, InputError, NotRun, TrainingError

#: NotRun outside a rule that records it (``figures.notrun``) is about the user's data: one line too
USER_ERRORS = (InputError, ConfigError, TrainingError, DiskFullError, NotRun)
#: set by the workflow (rules/common.smk) to its own ``workflow_scripts/pcinpaint`` folder
LIBRARY_ENV = "PCINPAINT_LIBRARY"


def library_mismatch(expected: str | Path | None) -> str | None:
    """The one line saying that the imported ``pcinpaint`` is not the workflow's own, or None."""
    here = Path(__file__).resolve().parent
    if not expected or Path(expected).resolve() == here:
        return None
    return (
        f"this workflow's library is {Path(expected).resolve()} but Python imported pcinpaint from {here} "
        "(another checkout, installed in this environment or put ahead on its path); remove it "
        "(pip uninstall pcinpaint) or give each checkout its own environment"
    )


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
        mismatch = library_mismatch(os.environ.get(LIBRARY_ENV))
        if mismatch:
            raise ConfigError(mismatch)
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
