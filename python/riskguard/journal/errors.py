"""The journal's errors, and the one place its messages are made safe to print.

:class:`JournalError` is riskguard's (:mod:`riskguard.errors`); :class:`LeaseHeld` is the
journal's refusal of a second writer. Every message a journal error carries goes through
:func:`safe_url` (a URL with its password masked) or :func:`describe` (a driver's error without
the SQL it ran, its parameters or any password), both built on :mod:`riskguard.redact`, the
shared redaction helper.
"""

from __future__ import annotations

import re

from riskguard.errors import JournalError, LeaseHeld
from riskguard.redact import redact, safe_url, url_secrets

__all__ = ["JournalError", "LeaseHeld", "describe", "redact", "safe_url", "url_secrets"]


def describe(error: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A database error as one line for a message: the driver's own words when it has them
    (SQLAlchemy's wrapper adds the statement and its parameters, which must not be shown),
    never the SQL, never a password (``secrets``: those of the journal's URL)."""
    import sqlalchemy as sa

    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        text = str(error.orig)
    else:
        text = str(error)
    text = re.sub(r"\[SQL: .*", "", text, flags=re.S)  # a wrapper's statement and parameters
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text)
    # A driver may add lines of context (PostgreSQL's "LINE 1: INSERT ..." quotes the SQL):
    # the first line says what went wrong.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return redact(text, *secrets)
