"""Errors a user can act on: each message is one sentence saying what is wrong and how to fix it."""


class RnnopsError(Exception):
    """Base of every error that the CLI prints as one sentence instead of a traceback."""


class InvalidParameter(RnnopsError, ValueError):
    """A configuration value that cannot work (negative window, unknown cell, ...)."""


class TrainingDiverged(RnnopsError, RuntimeError):
    """The loss became NaN or infinite; training stops instead of saving garbage."""


class SourceUnavailable(RnnopsError):
    """A remote source could not be reached; the interactive run skips that dataset, a schedule fails."""


class DiskFull(RnnopsError):
    """A write hit ENOSPC/EDQUOT; the write was staged, so what was there before is still there."""
