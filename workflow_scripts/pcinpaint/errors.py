"""Every exception class of the library, in one place.

``InputError``, ``ConfigError``, ``TrainingError`` and ``DiskFullError`` stop a rule with one
line for the user (see ``runlog``); ``NotRun`` marks a stage that cannot run on this data
(its outputs say so, see ``notrun``); the download errors steer the atlas downloader's retries.
"""

import errno


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


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line (HTTP, parser and torch errors carry several)."""
    return " ".join(str(exc).split())[:limit] or type(exc).__name__
