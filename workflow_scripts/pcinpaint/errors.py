"""Errors that stop a rule with one line for the user (see runlog)."""


class TrainingError(RuntimeError):
    """Training cannot go on (too few pairs, NaN loss); the message says where and what is kept."""
