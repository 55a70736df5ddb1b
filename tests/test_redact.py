"""riskguard.redact: the one helper every message, status, log, report and error goes through
(DESIGN.md, principle 11), and the escaping of control characters for terminals."""

from __future__ import annotations

import sys

import pytest
from riskguard.redact import REDACTED, printable, redact, safe_url, url_secrets

PW = "Hunt3r2xyzzy"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql+psycopg://u:{PW}@db.example:5432/risk",
            "postgresql+psycopg://u:***@db.example:5432/risk",
        ),
        # A port SQLAlchemy parses but the driver refuses, and one it cannot parse at all.
        (
            f"postgresql+psycopg://u:{PW}@127.0.0.1:99999/db",
            "postgresql+psycopg://u:***@127.0.0.1:99999/db",
        ),
        (
            f"postgresql+psycopg://u:{PW}@127.0.0.1:abc/db",
            "postgresql+psycopg://u:***@127.0.0.1:abc/db",
        ),
        # An unencoded "@" in the password: SQLAlchemy splits at the first one.
        (f"postgresql://u:{PW}@x@host/db", "postgresql://u:***@host/db"),
        (f"postgresql://u:{PW}%40x@host/db", "postgresql://u:***@host/db"),
        (f"redis://:{PW}@host:6379/0", "redis://:***@host:6379/0"),
        (f"postgresql://host/db?user=u&password={PW}", "postgresql://host/db?password=***&user=u"),
        (f"postgresql://u@host/db?sslpassword={PW}", "postgresql://u@host/db?sslpassword=***"),
        ("sqlite:///riskguard.db", "sqlite:///riskguard.db"),
        ("sqlite:////tmp/a b/j.db", "sqlite:////tmp/a b/j.db"),
        (f"not a url at all :{PW}@", f"not a url at all :{PW}@"),  # nothing URL-shaped
    ],
)
def test_safe_url_masks_the_password_of_any_url(url, shown):
    assert safe_url(url) == shown


def test_safe_url_never_raises():
    for value in (None, 5, b"postgresql://u:pw@h/db", "", "://", "\x00"):
        assert isinstance(safe_url(value), str)
    assert "pw" not in safe_url(b"postgresql://u:pw@h/db".decode())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The shapes drivers and libraries put secrets in.
        (
            f"cannot open the journal at 'postgresql+psycopg://u:{PW}@h:1/db': refused",
            "cannot open the journal at 'postgresql+psycopg://u:***@h:1/db': refused",
        ),
        (
            f"host=127.0.0.1 port=99999 user=u password={PW} dbname=db",
            "host=127.0.0.1 port=99999 user=u password=*** dbname=db",
        ),
        (f"password='{PW} with space'", "password='***'"),
        (f"{{'password': '{PW}', 'user': 'u'}}", "{'password': '***', 'user': 'u'}"),
        (f'{{"api_key": "{PW}"}}', '{"api_key": "***"}'),
        (f"token={PW}&x=1", "token=***&x=1"),
        (f"access_token={PW}", "access_token=***"),
        (f"API_KEY={PW}", "API_KEY=***"),
        (f"client_secret={PW};next", "client_secret=***;next"),
        (f"Authorization: Bearer {PW}", "Authorization: Bearer ***"),
        (f"authorization=Basic {PW}", "authorization=Basic ***"),
        (f"'Authorization': '{PW}'", "'Authorization': '***'"),
        (f"X-Api-Key: {PW}", "X-Api-Key: ***"),
        (f"sent with bearer {PW}.abc", "sent with bearer ***"),
        (
            f"POST https://api.telegram.org/bot123456:{PW}-_x/sendMessage",
            "POST https://api.telegram.org/bot***/sendMessage",
        ),
        # Names of secrets are not secrets.
        (
            "token_env: environment variable RG_TELEGRAM_TOKEN is not set",
            "token_env: environment variable RG_TELEGRAM_TOKEN is not set",
        ),
        ("password: must be a string", "password: must be a string"),
        ("no secret here: 3 < 5, x=1", "no secret here: 3 < 5, x=1"),
    ],
)
def test_redact_masks_secrets_in_free_text(text, expected):
    assert redact(text) == expected


def test_redact_masks_explicit_secrets_wherever_they_occur():
    # A driver may quote the password alone, decoded, in its own words.
    url = "postgresql+psycopg://u:p%40ss%2Fw0rd!@h/db"
    secrets = url_secrets(url)
    assert "p@ss/w0rd!" in secrets and "p%40ss%2Fw0rd!" in secrets
    text = "auth failed for password p@ss/w0rd! (p%40ss%2Fw0rd!)"
    assert redact(text, *secrets) == f"auth failed for password {REDACTED} ({REDACTED})"
    # None and empty secrets are skipped; the text is otherwise untouched.
    assert redact("nothing to hide", None, "") == "nothing to hide"
    assert redact(ValueError(f"x {PW} y"), PW) == "x *** y"
    assert url_secrets("sqlite:///riskguard.db") == ()
    assert url_secrets(None) == ()  # type: ignore[arg-type]


def test_redact_never_raises():
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert redact(Broken()) == "<Broken>"
    assert printable(Broken()) == "<Broken>"


def test_printable_shows_control_characters_escaped():
    hostile = "ok\x1b[2J\x1b[31mPWNED\r\x07\n\t\x00\x7f\x9b\u202eevil\u200b"
    shown = printable(hostile)
    assert shown == r"ok\x1b[2J\x1b[31mPWNED\r\x07\n\t\x00\x7f\x9b\u202eevil\u200b"
    assert all(ch.isprintable() for ch in shown)
    # Ordinary text, accents and symbols included, is left as it is.
    assert printable("BTC/USDT – naïve ×2 [bold] €") == "BTC/USDT – naïve ×2 [bold] €"


def test_the_module_is_light():
    """Any part of the package may redact: importing the helper imports no database layer."""
    import subprocess

    code = "import sys, riskguard.redact; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
