"""Every exception class of the library, in one place, and the helpers that keep their
messages on one line.

``InputError``, ``ConfigError``, ``TrainingError`` and ``DiskFullError`` stop a rule with one
line for the user (see ``runlog``); ``NotRun`` marks a stage that cannot run on this data
(its outputs say so, see ``notrun``); the download errors steer the atlas downloader's retries.
A message quoting another library's error goes through ``one_line``, and one naming many
items through ``listed``.
"""

import errno
from collections.abc import Sequence


class InputError(ValueError):
    """A problem with a user's input file, described in one line naming the file."""


class ConfigError(ValueError):
    """A problem with the configuration, described in one line naming the key."""


class TrainingError(RuntimeError):
    """Training cannot go on (too few pairs, NaN loss); the message says where and what is kept."""


#: out of space: the device is full, or (the usual case on clusters) the user's quota
DISK_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}


class DiskFullError(OSError):
    """No space left (device or quota) while writing an output; nothing partial was kept."""

    def __init__(self, path, code: int = errno.ENOSPC):
        what = DISK_FULL.get(code, DISK_FULL[errno.ENOSPC])
        message = f"{path}: {what}; nothing partial was kept (free space and rerun)"
        super().__init__(code, message)

    def __str__(self):
        return self.args[1]


class NotRun(ValueError):
    """A stage that cannot run on this data (one protein, identical profiles): its outputs are
    written as "not run" with this reason, and the rest of the workflow goes on."""


class TransientDownloadError(Exception):
    """A download failure worth another attempt (server error, timeout, short or corrupt body)."""


class PermanentDownloadError(Exception):
    """A download failure that another attempt will not fix (404 and other client errors)."""


def one_line(message: BaseException | str, limit: int | None = 200) -> str:
    """A message on one line, whitespace runs collapsed, cut at ``limit`` characters (None: whole).

    HTTP, parser and torch errors carry several lines; a user error must end a rule in one. An
    exception with no message gives its class name.
    """
    text = " ".join(str(message).split())[:limit]
    return text or (type(message).__name__ if isinstance(message, BaseException) else "")


def listed(items: Sequence[str], limit: int = 4) -> str:
    """The first ``limit`` items, comma-separated, and how many more: a one-line error naming
    every missing layer or key of a file would be unreadable."""
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
