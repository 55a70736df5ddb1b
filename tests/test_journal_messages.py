"""Journal errors never print a password, nor the SQL that failed (issue 14, row 12 for the
journal's own messages, and row 13's "SQL in the message")."""

from __future__ import annotations

import sqlite3

import pytest
from riskguard.journal import Journal, JournalError

SECRET = "s3cret-Pa55word"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://rg:{SECRET}@127.0.0.1:1/journal",  # nothing listens on port 1
        f"postgresql+psycopg://rg:{SECRET}@127.0.0.1:notaport/journal",  # a bad port
        f"postgresql+nosuchdriver://rg:{SECRET}@127.0.0.1/journal",  # a missing driver
        f"postgresql+psycopg://rg:{SECRET}@127.0.0.1:1/journal?connect_timeout=1",
    ],
)
def test_a_journal_that_cannot_be_opened_never_shows_its_password(url):
    with pytest.raises(JournalError) as refused:
        Journal(url, create=False)
    message = str(refused.value)
    assert SECRET not in message
    assert "cannot open the journal" in message


def test_a_url_that_is_not_a_string_is_refused_without_echoing_it():
    with pytest.raises(JournalError, match="url must be a non-empty str"):
        Journal("")
    with pytest.raises(JournalError, match="url must be a non-empty str") as refused:
        Journal(b"postgresql://rg:" + SECRET.encode() + b"@h/db")  # type: ignore[arg-type]
    assert SECRET not in str(refused.value)


def test_a_failed_write_names_the_problem_without_sql(tmp_path):
    db = tmp_path / "journal.db"
    with Journal(f"sqlite:///{db}") as j:
        c = sqlite3.connect(db)
        c.execute("DROP TABLE rg_orders")
        c.commit()
        c.close()
        with pytest.raises(JournalError, match="journal write failed: no such table") as failed:
            j.record_order(1, "c-1", "BTC", 1.0, "market", "sent")
        message = str(failed.value)
        assert "INSERT" not in message and "[SQL" not in message and "parameters" not in message
        assert j.failure is not None and j.failure[0] == message
