"""Every exception class of the library, in one place.

``InputError``, ``ConfigError`` and ``TrainingError`` stop a rule with one line for the user
(see ``runlog``); the download errors steer the atlas downloader's retries.
"""


class InputError(ValueError):
    """A problem with a user's input file, described in one line naming the file."""


class ConfigError(ValueError):
    """A problem with the configuration, described in one line naming the key."""


class TrainingError(RuntimeError):
    """Training cannot go on (too few pairs, NaN loss); the message says where and what is kept."""


class TransientDownloadError(Exception):
    """A download failure worth another attempt (server error, timeout, short or corrupt body)."""


class PermanentDownloadError(Exception):
    """A download failure that another attempt will not fix (404 and other client errors)."""
