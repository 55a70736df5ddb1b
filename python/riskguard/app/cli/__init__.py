"""The ``riskguard`` command line (``python -m riskguard`` is the same).

Exit codes: 0 success; 1 a check that failed, or an error (a bad file, an invalid
configuration, a journal that cannot be read), printed as ``error: <message>`` lines on stderr
with no traceback unless ``--debug`` is given; 2 bad usage.

What is printed is fit for a terminal and for the people around it (DESIGN.md, principle 11):

- secrets never print: every error line, traceback line and message goes through
  :mod:`riskguard.redact`, with the password of each ``--journal`` URL given as an explicit
  secret (a driver may quote it in its own words), and journal URLs are shown by
  :func:`~riskguard.redact.safe_url`;
- strings that come from users or files (kill reasons, actors, symbols, breaker names,
  setting names) are shown with their control characters escaped
  (:func:`~riskguard.redact.printable`: ESC is ``\\x1b``) and, in rich tables, with their
  markup escaped, so that ``[bold]`` or ``[/]`` print as they are.

The commands, by group: :mod:`~riskguard.app.cli.main` (the root's options and ``demo``),
:mod:`~riskguard.app.cli.live` (``run``),
:mod:`~riskguard.app.cli.backtest` (``backtest``, ``report``), :mod:`~riskguard.app.cli.optimize`
(``optimize``), :mod:`~riskguard.app.cli.journal` (``status``, ``kill``, ``pause``, ``resume``,
``reset``, ``journal check``, ``journal prune``) and :mod:`~riskguard.app.cli.config`
(``config validate``, ``config show``), on the application and error printer of
:mod:`~riskguard.app.cli.base`. Every command does its work through
:mod:`riskguard.app.facade` and only presents the result.

``riskguard.cli`` is the old path of this package, and the same module object.
"""

from __future__ import annotations

from riskguard.app.cli import backtest, config, journal, live, main, optimize
from riskguard.app.cli.base import _error_lines, _traceback_lines, app, config_app, journal_app

__all__ = ["_error_lines", "_traceback_lines", "app"]

# Every command, registered here in the order help lists them (typer keeps the order of
# registration): the root's callback and commands, then the groups.
app.callback()(main.main)
app.command()(main.demo)
app.command()(live.run)
app.command()(backtest.backtest)
app.command()(optimize.optimize)
app.command()(backtest.report)
app.command()(journal.status)
app.command()(journal.kill)
app.command()(journal.pause)
app.command()(journal.resume)
app.command()(journal.reset)

app.add_typer(config_app, name="config")
config_app.callback()(config.config_main)
config_app.command("validate")(config.config_validate)
config_app.command("show")(config.config_show)

app.add_typer(journal_app, name="journal")
journal_app.callback()(journal.journal_main)
journal_app.command("check")(journal.journal_check)
journal_app.command("prune")(journal.journal_prune)
