"""What riskguard shows a person: secrets masked, control characters escaped.

DESIGN.md's principle 11, "secrets never print", goes through this one module. Every message,
status, log line, report and error that can hold a URL, a driver's error text or a user's
string passes through it before it is printed:

- :func:`safe_url`: a URL with its password masked, for showing where a journal is;
- :func:`redact`: any text (an exception's message, a traceback line) with the secrets in it
  masked: URL passwords, ``password=...``-style key-values, ``Authorization`` credentials and
  ``Bearer`` tokens, Telegram bot tokens in a path, and the explicit secrets the caller knows
  (the password of the URL it was given, a bot token), each replaced by :data:`REDACTED`;
- :func:`url_secrets`: the explicit secrets a URL carries, to hand to :func:`redact` for the
  text a driver writes about that URL in its own words (a DSN, an unparseable URL);
- :func:`printable`: text with its control characters shown escaped (``\\x1b``), so that a
  kill reason or a symbol cannot move the cursor, clear the screen or recolour a terminal.

The functions take any value (``str()`` of it) and never raise: a redaction that fails would
otherwise replace the message it protects. They import nothing heavy at module level (SQLAlchemy
only when :func:`safe_url` parses a URL), so any part of the package may use them.

Masking errs on the side of hiding: text that merely looks like a credential is masked too, and
an explicit secret is replaced wherever it occurs, even inside other words.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

__all__ = ["REDACTED", "printable", "redact", "safe_url", "url_secrets"]

REDACTED = "***"
"""What a secret is replaced by (SQLAlchemy's own mask, so a URL reads the same either way)."""

# scheme://user:PASSWORD@host. The password runs to the last "@" of the token, so that a
# password holding an unencoded "@" (which SQLAlchemy splits at its first "@") is masked whole.
# The user part may be empty (redis://:pw@host).
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"<>]*:)"
    r"(?P<secret>[^\s'\"<>]*)"
    r"(?=@[^\s@'\"<>]*(?:[\s'\"<>]|$))"
)
# password=..., sslpassword=..., access_token=..., api_key=..., client_secret=..., in URL
# queries, libpq DSNs and reprs; also 'password': '...' in a dict's repr. The key is matched
# whole (token_env=RG_TELEGRAM_TOKEN names a variable and is not masked).
_KEYS = r"[A-Za-z0-9_\-]*(?:password|passwd|pwd|token|api[_\-]?key|secret)"
_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_KEY_VALUE = re.compile(
    rf"(?P<head>(?<![\w\-])(?P<key>{_KEYS})\s*=\s*)(?P<secret>{_QUOTED}|[^\s&;,'\")\]}}]+)",
    re.IGNORECASE,
)
_KEY_QUOTED = re.compile(
    rf"(?P<head>(?P<q>['\"]){_KEYS}(?P=q)\s*:\s*)(?P<secret>{_QUOTED})", re.IGNORECASE
)
# Authorization: Bearer xyz, Authorization: Basic xyz, X-Api-Key: xyz, and a bare Bearer token.
_HEADER = re.compile(
    r"(?P<head>(?<![\w\-])(?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?"
    r"(?:(?:bearer|basic|token|digest)\s+)?)(?P<secret>[^\s'\",;]+)",
    re.IGNORECASE,
)
_API_KEY_HEADER = re.compile(
    r"(?P<head>(?<![\w\-])x-(?:api-)?(?:key|token)['\"]?\s*:\s*['\"]?)(?P<secret>[^\s'\",;]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<head>\bbearer\s+)(?P<secret>[A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
# Telegram's API puts the bot token in the path: /bot123456:ABC-def/sendMessage.
_BOT_TOKEN = re.compile(r"(?P<head>/bot)(?P<secret>\d+:[A-Za-z0-9_\-]+)")

_PATTERNS = (_URL_PASSWORD, _KEY_QUOTED, _KEY_VALUE, _HEADER, _API_KEY_HEADER, _BEARER, _BOT_TOKEN)


def _mask(match: re.Match[str]) -> str:
    secret = match.group("secret")
    if secret == REDACTED:
        return match.group(0)
    # A quoted value keeps its quotes, so a repr stays readable.
    if len(secret) >= 2 and secret[0] == secret[-1] and secret[0] in "'\"":
        return f"{match.group('head')}{secret[0]}{REDACTED}{secret[0]}"
    return f"{match.group('head')}{REDACTED}"


def redact(text: Any, *secrets: str | None) -> str:
    """``text`` (``str()`` of any value) with every secret in it replaced by ``***``.

    Masked: the password of a URL (``scheme://user:PASSWORD@host``, to the last ``@`` of the
    URL); the value of a key named like a secret (``password=``, ``sslpassword=``,
    ``token=``, ``access_token=``, ``api_key=``, ``client_secret=`` ..., quoted or not, and
    ``'password': '...'`` in a repr); ``Authorization:`` credentials and any ``Bearer`` token;
    ``X-Api-Key:`` values; a Telegram bot token in a path (``/bot<id>:<token>``); and every
    occurrence of each non-empty string of ``secrets`` (the longest first), as given and
    percent-encoded. ``None`` secrets are skipped, so ``redact(msg, url.password)`` works for a
    URL without one.

    Never raises; the result is the same text when there is nothing to mask.
    """
    try:
        out = str(text)
    except Exception:  # a __str__ that fails: show nothing of it rather than fail
        return f"<{type(text).__name__}>"
    explicit = {s for s in secrets if isinstance(s, str) and s and s != REDACTED}
    for s in list(explicit):
        explicit.add(quote(s, safe=""))
    for secret in sorted(explicit, key=len, reverse=True):
        out = out.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        out = pattern.sub(_mask, out)
    return out


def url_secrets(url: Any) -> tuple[str, ...]:
    """The secrets of ``url``: its password as written and percent-decoded (a driver may show
    either), and the values of secret-named query parameters (``?password=...``). Empty for a
    URL without any, or a value that is not a string. Never raises."""
    if not isinstance(url, str):
        return ()
    found: list[str] = []
    for pattern in (_URL_PASSWORD, _KEY_VALUE):
        for match in pattern.finditer(url):
            secret = match.group("secret").strip("'\"")
            if secret:
                found += [secret, unquote(secret)]
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except Exception:  # not a SQLAlchemy URL: the patterns above are all there is
        password = None
    # SQLAlchemy splits an unencoded "@" at the first one: its password is then a piece of
    # the one the pattern found, and replacing that piece everywhere would only garble text.
    if password and not any(str(password) in s for s in found):
        found += [str(password), quote(str(password), safe="")]
    return tuple(dict.fromkeys(s for s in found if s and s != REDACTED))


def safe_url(url: Any) -> str:
    """``url`` fit to show: a SQLAlchemy URL rendered with its password as ``***``
    (``postgresql+psycopg://u:***@host/db``), and secret-named query parameters masked
    (``?sslpassword=***``).

    A URL SQLAlchemy cannot parse (a bad port, a password holding ``@``) is masked by the
    patterns of :func:`redact` instead, so its password is never shown either. Never raises.
    """
    text = url if isinstance(url, str) else str(url)
    # The patterns first: SQLAlchemy splits "u:p@ss@host" at its first "@" and would show
    # "ss@host" as the host.
    masked = redact(text)
    try:
        from sqlalchemy.engine import make_url

        rendered = make_url(masked).render_as_string(hide_password=True)
    except Exception:  # not parseable: the masked text is what can be shown
        return masked
    return redact(rendered)


# C0 controls, DEL, C1 controls, and the Unicode characters that reorder or hide text
# (bidirectional overrides and isolates, zero-width characters, the BOM, line and paragraph
# separators), which a terminal or a browser would act on rather than show.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: Any) -> str:
    """``text`` (``str()`` of any value) with each control character shown as an escape:
    ``\\n``, ``\\r``, ``\\t``, ``\\xNN`` for the other C0 controls, DEL and the C1 controls
    (ESC is ``\\x1b``), ``\\uNNNN`` for Unicode's bidirectional overrides, zero-width
    characters and line separators. The result is one line that a terminal shows as it is.

    It does not escape rich markup (``rich.markup.escape`` does) or HTML (``html.escape``):
    apply those after this. Never raises.
    """
    try:
        out = str(text)
    except Exception:
        return f"<{type(text).__name__}>"
    return _CONTROL.sub(_escaped, out)
